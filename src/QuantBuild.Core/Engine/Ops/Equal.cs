using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>Equal with numpy broadcasting; bool output. Floating types compare by value (so -0 equals +0 and NaN equals nothing), others by bits.</summary>
[OnnxOp("Equal")]
public sealed class EqualKernel : OpKernel
{
    public EqualKernel(Node node, KernelContext context) : base(node, context) { }

    public override bool IsDifferentiable => false;

    private Tensor Broadcast(Tensor t, int[] shape) =>
        Tensor.SameShape(t.Shape, shape) ? t : ShapeOpHelpers.SeparableGather(t, ShapeOpHelpers.BroadcastOffsets(t.Shape, shape), shape, Context.Parallel);

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var a = inputs[0]!;
        var b = inputs[1]!;
        if (a.Type != b.Type) throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"inputs are {DataTypes.Name(a.Type)} and {DataTypes.Name(b.Type)}");
        var shape = ShapeOpHelpers.BroadcastShape(Node, a.Shape, b.Shape);
        var ab = Broadcast(a, shape);
        var bb = Broadcast(b, shape);
        var r = new bool[ab.Length];
        switch (ab.Data)
        {
            case float[] x: { var y = bb.Floats; for (int i = 0; i < r.Length; i++) r[i] = x[i] == y[i]; break; }
            case double[] x: { var y = bb.Doubles; for (int i = 0; i < r.Length; i++) r[i] = x[i] == y[i]; break; }
            case Half[] x: { var y = (Half[])bb.Data; for (int i = 0; i < r.Length; i++) r[i] = x[i] == y[i]; break; }
            default:
                switch (DataTypes.SizeInBytes(a.Type))
                {
                    case 1: Compare<byte>(ab.Data, bb.Data, r); break;
                    case 2: Compare<ushort>(ab.Data, bb.Data, r); break;
                    case 4: Compare<uint>(ab.Data, bb.Data, r); break;
                    default: Compare<ulong>(ab.Data, bb.Data, r); break;
                }
                break;
        }
        return new[] { new Tensor(DataType.Bool, shape, r) };
    }

    private static void Compare<T>(Array a, Array b, bool[] r) where T : unmanaged, IEquatable<T>
    {
        var x = ShapeOpHelpers.Raw<T>(a);
        var y = ShapeOpHelpers.Raw<T>(b);
        for (int i = 0; i < r.Length; i++) r[i] = x[i].Equals(y[i]);
    }
}
