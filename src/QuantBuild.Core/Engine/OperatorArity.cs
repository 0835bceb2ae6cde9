using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine;

/// <summary>
/// How many leading inputs each supported operator requires (ONNX operator specs). Kernels index their
/// required inputs directly, so a model whose node lists fewer, or leaves a required one empty (""), is
/// reported here as QB2004 when the graph is validated, before constant folding runs any kernel.
/// </summary>
public static class OperatorArity
{
    private static readonly Dictionary<string, Func<int, int>> Required = new(StringComparer.Ordinal)
    {
        // Two operands.
        ["Add"] = _ => 2, ["Sub"] = _ => 2, ["Mul"] = _ => 2, ["Div"] = _ => 2, ["Pow"] = _ => 2, ["Equal"] = _ => 2,
        ["Greater"] = _ => 2, ["GreaterOrEqual"] = _ => 2, ["Less"] = _ => 2, ["LessOrEqual"] = _ => 2,
        ["And"] = _ => 2, ["Or"] = _ => 2, ["Xor"] = _ => 2,
        ["MatMul"] = _ => 2, ["PRelu"] = _ => 2, ["Gather"] = _ => 2, ["Expand"] = _ => 2, ["Tile"] = _ => 2,
        ["CastLike"] = _ => 2, ["Conv"] = _ => 2, ["ConvTranspose"] = _ => 2, ["LayerNormalization"] = _ => 2,
        // C became optional in opset 11.
        ["Gemm"] = opset => opset >= 11 ? 2 : 3,
        ["Where"] = _ => 3, ["Range"] = _ => 3,
        ["BatchNormalization"] = _ => 5,
        // Not run by the float engine, but read by the QDQ import (x and scale; the zero point is optional).
        ["QuantizeLinear"] = _ => 2, ["DequantizeLinear"] = _ => 2,
        // Attributes became inputs: shape (Reshape 5), starts/ends (Slice 10), pads (Pad 11), axes (Unsqueeze 13),
        // scales (Upsample 9, Resize 10; Resize 11 made every one after X optional; the kernel reads a Resize
        // in an older model, which only a mutated or hand-made file has, as the opset 10 form).
        ["Reshape"] = opset => opset >= 5 ? 2 : 1,
        ["Slice"] = opset => opset >= 10 ? 3 : 1,
        ["Pad"] = opset => opset >= 11 ? 2 : 1,
        ["Unsqueeze"] = opset => opset >= 13 ? 2 : 1,
        ["Upsample"] = opset => opset >= 9 ? 2 : 1,
        ["Resize"] = opset => opset < 11 ? 2 : 1,
    };

    /// <summary>Required leading inputs of <paramref name="opType"/> at <paramref name="opset"/>: 1 for every operator not listed (unary, variadic, reductions...).</summary>
    public static int RequiredInputs(string opType, int opset) => Required.TryGetValue(opType, out var f) ? f(opset) : 1;

    /// <summary>
    /// Throws QB2004 for the first node that lacks a required input or has no output. Operators neither
    /// listed nor supported are left alone: their arity is unknown, and some legitimately take no input.
    /// </summary>
    public static void Validate(ModelGraph graph)
    {
        foreach (var node in graph.Nodes)
        {
            if (!Required.ContainsKey(node.OpType) && !OpRegistry.IsSupported(node)) continue;
            int required = RequiredInputs(node.OpType, graph.OpsetVersion);
            for (int k = 0; k < required; k++)
                if (!node.HasInput(k))
                    throw new QuantBuildException(DiagnosticCodes.MissingInput,
                        $"{node.OpType} node '{node.Name}' needs at least {required} input(s) but input {k} is {(k < node.Inputs.Count ? "empty" : "missing")}",
                        graph.SourcePath, node: node.Name);
            if (node.Outputs.Count == 0 || node.Outputs[0].Length == 0)
                throw new QuantBuildException(DiagnosticCodes.MissingInput, $"{node.OpType} node '{node.Name}' has no output", graph.SourcePath, node: node.Name);
        }
    }
}
