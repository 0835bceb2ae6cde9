using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>Flatten: a 2-D view [d0*..*d(axis-1), d(axis)*..*dn] over the input buffer; axis may be negative (opset 11+) or equal the rank.</summary>
[OnnxOp("Flatten")]
public sealed class FlattenKernel : OpKernel
{
    private readonly long _axis;

    public FlattenKernel(Node node, KernelContext context) : base(node, context) => _axis = node.GetInt("axis", 1);

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        int axis = ShapeOpHelpers.NormalizeAxis(Node, _axis, x.Rank, allowEnd: true);
        int outer = ShapeOpHelpers.Product(x.Shape, 0, axis);
        int inner = ShapeOpHelpers.Product(x.Shape, axis);
        return new[] { x.Reshape(outer, inner) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.NeedInputGrad[0])
            result[0] = ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape).Reshape(args.Inputs[0]!.Shape);
        return result;
    }
}
