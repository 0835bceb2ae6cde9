using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Concat along one axis, any dtype (int64 shape vectors are concatenated all the time in exported
/// graphs). Each input contributes one contiguous block per outer index, moved with a block copy.
/// </summary>
[OnnxOp("Concat")]
public sealed class ConcatKernel : OpKernel
{
    private readonly long _axis;

    public ConcatKernel(Node node, KernelContext context) : base(node, context)
    {
        if (!node.HasAttribute("axis")) throw node.Error(DiagnosticCodes.InvalidAttribute, "required attribute 'axis' is missing");
        _axis = node.GetInt("axis");
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var parts = inputs.Where(t => t is not null).Select(t => t!).ToArray();
        if (parts.Length == 0) throw Node.Error(DiagnosticCodes.MissingInput, "needs at least one input");
        var first = parts[0];
        int rank = first.Rank;
        int axis = ShapeOpHelpers.NormalizeAxis(Node, _axis, rank);
        var outShape = (int[])first.Shape.Clone();
        outShape[axis] = 0;
        foreach (var p in parts)
        {
            if (p.Type != first.Type) throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"inputs mix {DataTypes.Name(first.Type)} and {DataTypes.Name(p.Type)}");
            if (p.Rank != rank) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"inputs have ranks {rank} and {p.Rank}");
            for (int d = 0; d < rank; d++)
                if (d != axis && p.Shape[d] != first.Shape[d])
                    throw Node.Error(DiagnosticCodes.ShapeMismatch, $"input shapes {first.ShapeString} and {p.ShapeString} differ outside axis {axis}");
            outShape[axis] += p.Shape[axis];
        }
        var y = OutputBuffers.Uninitialized(first.Type, outShape);
        int outer = ShapeOpHelpers.Product(outShape, 0, axis);
        int inner = ShapeOpHelpers.Product(outShape, axis + 1);
        int outBlock = outShape[axis] * inner;
        int offset = 0;
        foreach (var p in parts)
        {
            int block = p.Shape[axis] * inner;
            if (block > 0)
                for (int o = 0; o < outer; o++)
                    Array.Copy(p.Data, o * block, y.Data, o * outBlock + offset, block);
            offset += block;
        }
        return new[] { y };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        var g = ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape);
        int axis = ShapeOpHelpers.NormalizeAxis(Node, _axis, g.Rank);
        int outer = ShapeOpHelpers.Product(g.Shape, 0, axis);
        int inner = ShapeOpHelpers.Product(g.Shape, axis + 1);
        int outBlock = g.Shape[axis] * inner;
        int offset = 0;
        for (int i = 0; i < args.Inputs.Length; i++)
        {
            if (args.Inputs[i] is not { } x) continue;
            int block = x.Shape[axis] * inner;
            if (args.NeedInputGrad[i])
            {
                var gx = new float[x.Length];
                for (int o = 0; o < outer && block > 0; o++)
                    Array.Copy(g.Floats, o * outBlock + offset, gx, o * block, block);
                result[i] = Tensor.FromFloats(gx, x.Shape);
            }
            offset += block;
        }
        return result;
    }
}
