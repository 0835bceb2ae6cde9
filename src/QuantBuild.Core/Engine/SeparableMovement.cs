namespace QuantBuild.Engine;

/// <summary>
/// A data-movement op's output as per-axis offset tables into its first input: output element o reads
/// input element Σ_k Offsets[k][o_k], or takes <see cref="Fill"/> where a table holds
/// <see cref="Ops.ShapeOpHelpers.Outside"/>. This is how the engine itself computes Slice, Pad, Tile and
/// Resize-nearest (<see cref="Ops.ShapeOpHelpers.SeparableGather"/>), so code that copies with these
/// tables reproduces the engine exactly.
/// </summary>
public sealed record SeparableMovement(int[][] Offsets, int[] Shape, float Fill);

/// <summary>An op kernel whose forward pass is one <see cref="SeparableMovement"/> of its first input.</summary>
public interface ISeparableMovementKernel
{
    /// <summary>
    /// The tables for an input of <paramref name="inputShape"/>; <paramref name="inputs"/> holds the
    /// op's other inputs (element 0 is not read), or null when this node is not a pure per-axis gather
    /// (a Resize that interpolates).
    /// </summary>
    SeparableMovement? Separable(Tensor?[] inputs, int[] inputShape);
}
