using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Unsqueeze: inserts size-1 axes at the given positions of the OUTPUT (any order, negative counts
/// from the output's end); a view, no copy. Axes are an attribute before opset 13 and an input from 13.
/// </summary>
[OnnxOp("Unsqueeze")]
public sealed class UnsqueezeKernel : OpKernel
{
    private readonly bool _axesFromInput;

    public UnsqueezeKernel(Node node, KernelContext context) : base(node, context)
    {
        _axesFromInput = context.OpsetVersion >= 13;
        if (_axesFromInput ? !node.HasInput(1) : !node.HasAttribute("axes"))
            throw node.Error(DiagnosticCodes.MissingInput, _axesFromInput ? "the axes input is missing" : "the axes attribute is missing");
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var axes = ShapeOpHelpers.IntsFromInputOrAttribute(Node, inputs, 1, "axes", _axesFromInput)!;
        int outRank = x.Rank + axes.Length;
        var inserted = new bool[outRank];
        foreach (var a in axes)
        {
            int d = ShapeOpHelpers.NormalizeAxis(Node, a, outRank);
            if (inserted[d]) throw Node.Error(DiagnosticCodes.InvalidAttribute, $"axis {a} is listed twice");
            inserted[d] = true;
        }
        var shape = new int[outRank];
        for (int d = 0, k = 0; d < outRank; d++)
            shape[d] = inserted[d] ? 1 : x.Shape[k++];
        return new[] { x.Reshape(shape) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.NeedInputGrad[0])
            result[0] = ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape).Reshape(args.Inputs[0]!.Shape);
        return result;
    }
}
