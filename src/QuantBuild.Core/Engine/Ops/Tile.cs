using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>Tile: repeats the input 'repeats[d]' times along each axis; output index i on axis d reads i mod dim. The gradient sums the copies.</summary>
[OnnxOp("Tile")]
public sealed class TileKernel : OpKernel
{
    public TileKernel(Node node, KernelContext context) : base(node, context) { }

    private (int[][] Offsets, int[] Shape) Plan(Tensor x, Tensor repeatsTensor)
    {
        var repeats = repeatsTensor.ToInt64Array();
        if (repeats.Length != x.Rank) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"repeats has {repeats.Length} entries for a rank-{x.Rank} input");
        var sizes = new long[x.Rank];
        for (int d = 0; d < x.Rank; d++)
        {
            if (repeats[d] < 0) throw Node.Error(DiagnosticCodes.InvalidInputValue, $"repeats[{d}] = {repeats[d]} is negative");
            // A repeat count beyond 32 bits makes a dimension the check below refuses; saturate rather than wrap.
            sizes[d] = repeats[d] > int.MaxValue ? (x.Shape[d] == 0 ? 0 : long.MaxValue) : x.Shape[d] * repeats[d];
        }
        var shape = ShapeOpHelpers.CheckedOutputShape(x.Type, sizes);
        var strides = ShapeOpHelpers.Strides(x.Shape);
        var offsets = new int[x.Rank][];
        for (int d = 0; d < x.Rank; d++)
        {
            var t = new int[shape[d]];
            for (int i = 0; i < t.Length; i++) t[i] = (i % x.Shape[d]) * strides[d];
            offsets[d] = t;
        }
        return (offsets, shape);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var (offsets, shape) = Plan(x, inputs[1]!);
        return new[] { ShapeOpHelpers.SeparableGather(x, offsets, shape, Context.Parallel) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var x = args.Inputs[0]!;
        var (offsets, shape) = Plan(x, args.Inputs[1]!);
        var gx = new float[x.Length];
        if (args.OutputGrads[0] is { } g) ShapeOpHelpers.SeparableScatterAdd(g.Floats, offsets, shape, gx);
        result[0] = Tensor.FromFloats(gx, x.Shape);
        return result;
    }
}
