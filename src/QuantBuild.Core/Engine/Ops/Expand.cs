using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>Expand: broadcasts the input against the given shape (bidirectionally, like numpy: a 1 in the shape keeps the input's dimension). The gradient sums over the broadcast axes.</summary>
[OnnxOp("Expand")]
public sealed class ExpandKernel : OpKernel
{
    public ExpandKernel(Node node, KernelContext context) : base(node, context) { }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var target = Array.ConvertAll(inputs[1]!.ToInt64Array(), d => ShapeOpHelpers.CheckedDim(Node, d));
        var outShape = ShapeOpHelpers.CheckedOutputShape(x.Type, ShapeOpHelpers.BroadcastShape(Node, x.Shape, target));
        if (Tensor.SameShape(outShape, x.Shape)) return new[] { x };
        return new[] { ShapeOpHelpers.SeparableGather(x, ShapeOpHelpers.BroadcastOffsets(x.Shape, outShape), outShape, Context.Parallel) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.NeedInputGrad[0])
            result[0] = ShapeOpHelpers.ReduceToShape(ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape), args.Inputs[0]!.Shape);
        return result;
    }
}
