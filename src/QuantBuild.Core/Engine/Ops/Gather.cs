using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Gather along an axis with int32/int64 indices (negative ones count from the end). Output shape is
/// data[:axis] + indices.shape + data[axis+1:]; each picked slice is one block copy. The gradient
/// scatter-adds into the data gradient (repeated indices accumulate), sequentially for determinism.
/// </summary>
[OnnxOp("Gather")]
public sealed class GatherKernel : OpKernel
{
    private readonly long _axis;

    public GatherKernel(Node node, KernelContext context) : base(node, context) => _axis = node.GetInt("axis", 0);

    private (int Axis, int[] Index, int[] OutShape, int Outer, int Inner) Plan(Tensor data, Tensor indices)
    {
        int axis = ShapeOpHelpers.NormalizeAxis(Node, _axis, data.Rank);
        int dim = data.Shape[axis];
        var raw = indices.ToInt64Array();
        var index = new int[raw.Length];
        for (int i = 0; i < raw.Length; i++)
        {
            long v = raw[i] < 0 ? raw[i] + dim : raw[i];
            if (v < 0 || v >= dim) throw Node.Error(DiagnosticCodes.InvalidInputValue, $"index {raw[i]} is out of range for axis {axis} of size {dim}");
            index[i] = (int)v;
        }
        var outShape = data.Shape.Take(axis).Concat(indices.Shape).Concat(data.Shape.Skip(axis + 1)).ToArray();
        return (axis, index, outShape, ShapeOpHelpers.Product(data.Shape, 0, axis), ShapeOpHelpers.Product(data.Shape, axis + 1));
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var data = inputs[0]!;
        var (axis, index, outShape, outer, inner) = Plan(data, inputs[1]!);
        var y = Tensor.Create(data.Type, outShape);
        int dim = data.Shape[axis];
        if (inner == 1)
        {
            // Shape-vector gathers (e.g. Shape -> Gather) land here: avoid per-element Array.Copy calls.
            switch (DataTypes.SizeInBytes(data.Type))
            {
                case 1: Pick<byte>(data.Data, y.Data, index, outer, dim); break;
                case 2: Pick<ushort>(data.Data, y.Data, index, outer, dim); break;
                case 4: Pick<uint>(data.Data, y.Data, index, outer, dim); break;
                default: Pick<ulong>(data.Data, y.Data, index, outer, dim); break;
            }
            return new[] { y };
        }
        int n = index.Length;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < n; j++)
                Array.Copy(data.Data, (o * dim + index[j]) * inner, y.Data, (o * n + j) * inner, inner);
        return new[] { y };
    }

    private static void Pick<T>(Array src, Array dst, int[] index, int outer, int dim) where T : unmanaged
    {
        var s = ShapeOpHelpers.Raw<T>(src);
        var d = ShapeOpHelpers.Raw<T>(dst);
        int n = index.Length;
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < n; j++)
                d[o * n + j] = s[o * dim + index[j]];
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var data = args.Inputs[0]!;
        var (axis, index, _, outer, inner) = Plan(data, args.Inputs[1]!);
        var gx = new float[data.Length];
        if (args.OutputGrads[0] is { } g)
        {
            var gy = g.Floats;
            int dim = data.Shape[axis], n = index.Length;
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < n; j++)
                {
                    int src = (o * n + j) * inner, dst = (o * dim + index[j]) * inner;
                    for (int k = 0; k < inner; k++) gx[dst + k] += gy[src + k];
                }
        }
        result[0] = Tensor.FromFloats(gx, data.Shape);
        return result;
    }
}
