using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Squeeze: drops size-1 axes (all of them when no axes are given); a view, no copy.
/// Axes are an attribute before opset 13 and an optional input from 13; negative axes count from the end.
/// </summary>
[OnnxOp("Squeeze")]
public sealed class SqueezeKernel : OpKernel
{
    private readonly bool _axesFromInput;

    public SqueezeKernel(Node node, KernelContext context) : base(node, context) => _axesFromInput = context.OpsetVersion >= 13;

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var axes = ShapeOpHelpers.IntsFromInputOrAttribute(Node, inputs, 1, "axes", _axesFromInput);
        var drop = new bool[x.Rank];
        if (axes is null || axes.Length == 0)
        {
            for (int d = 0; d < x.Rank; d++) drop[d] = x.Shape[d] == 1;
        }
        else
        {
            foreach (var a in axes)
            {
                int d = ShapeOpHelpers.NormalizeAxis(Node, a, x.Rank);
                if (x.Shape[d] != 1) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"cannot squeeze axis {a}: its size is {x.Shape[d]}, not 1");
                drop[d] = true;
            }
        }
        var shape = new List<int>(x.Rank);
        for (int d = 0; d < x.Rank; d++)
            if (!drop[d]) shape.Add(x.Shape[d]);
        return new[] { x.Reshape(shape.ToArray()) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.NeedInputGrad[0])
            result[0] = ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape).Reshape(args.Inputs[0]!.Shape);
        return result;
    }
}
