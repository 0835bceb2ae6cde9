using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>Where(condition, X, Y) with numpy broadcasting of all three; gradients flow to X where the condition holds and to Y elsewhere.</summary>
[OnnxOp("Where")]
public sealed class WhereKernel : OpKernel
{
    public WhereKernel(Node node, KernelContext context) : base(node, context) { }

    private Tensor Broadcast(Tensor t, int[] shape) => ShapeOpHelpers.BroadcastTo(t, shape, Context.Parallel);

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var cond = inputs[0]!;
        var x = inputs[1]!;
        var y = inputs[2]!;
        if (cond.Type != DataType.Bool) throw Node.Error(DiagnosticCodes.UnsupportedDataType, "condition must be bool");
        if (x.Type != y.Type) throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"X is {DataTypes.Name(x.Type)} but Y is {DataTypes.Name(y.Type)}");
        var shape = ShapeOpHelpers.BroadcastShape(Node, cond.Shape, x.Shape, y.Shape);
        var c = Broadcast(cond, shape).Bools;
        var xb = Broadcast(x, shape);
        var yb = Broadcast(y, shape);
        var result = Tensor.Create(x.Type, shape);
        switch (DataTypes.SizeInBytes(x.Type))
        {
            case 1: Select<byte>(c, xb.Data, yb.Data, result.Data); break;
            case 2: Select<ushort>(c, xb.Data, yb.Data, result.Data); break;
            case 4: Select<uint>(c, xb.Data, yb.Data, result.Data); break;
            default: Select<ulong>(c, xb.Data, yb.Data, result.Data); break;
        }
        return new[] { result };
    }

    private static void Select<T>(bool[] cond, Array x, Array y, Array result) where T : unmanaged
    {
        var xs = ShapeOpHelpers.Raw<T>(x);
        var ys = ShapeOpHelpers.Raw<T>(y);
        var r = ShapeOpHelpers.Raw<T>(result);
        for (int i = 0; i < r.Length; i++) r[i] = cond[i] ? xs[i] : ys[i];
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        var g = ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape);
        var c = Broadcast(args.Inputs[0]!, g.Shape).Bools;
        for (int k = 1; k <= 2; k++)
        {
            if (!args.NeedInputGrad[k]) continue;
            bool takeWhen = k == 1;
            var masked = new float[g.Length];
            var gs = g.Floats;
            for (int i = 0; i < masked.Length; i++) masked[i] = c[i] == takeWhen ? gs[i] : 0f;
            result[k] = ShapeOpHelpers.ReduceToShape(Tensor.FromFloats(masked, g.Shape), args.Inputs[k]!.Shape);
        }
        return result;
    }
}
