using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Split along an axis into parts given by 'split' (attribute before opset 13, input from 13), or by
/// num_outputs (opset 18: ceil-sized parts, the last one smaller), or equally between the outputs.
/// Each part is a block copy per outer index.
/// </summary>
[OnnxOp("Split")]
public sealed class SplitKernel : OpKernel
{
    private readonly long _axis;
    private readonly bool _splitFromInput;
    private readonly long _numOutputs;

    public SplitKernel(Node node, KernelContext context) : base(node, context)
    {
        _axis = node.GetInt("axis", 0);
        _splitFromInput = context.OpsetVersion >= 13;
        _numOutputs = node.GetInt("num_outputs", 0);
        if (_numOutputs > 0 && _numOutputs != node.Outputs.Count)
            throw node.Error(DiagnosticCodes.InvalidAttribute, $"num_outputs is {_numOutputs} but the node has {node.Outputs.Count} outputs");
    }

    /// <summary>Size along the axis of each output (the float-kernel binding places its copies with them).</summary>
    public int[] PartSizes(Tensor?[] inputs, int dim)
    {
        int count = Node.Outputs.Count;
        var split = ShapeOpHelpers.IntsFromInputOrAttribute(Node, inputs, 1, "split", _splitFromInput);
        if (split is not null && split.Length > 0)
        {
            if (split.Length != count) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"split has {split.Length} entries for {count} outputs");
            if (split.Sum() != dim || split.Any(s => s < 0))
                throw Node.Error(DiagnosticCodes.ShapeMismatch, $"split [{string.Join(",", split)}] does not add up to the axis size {dim}");
            return Array.ConvertAll(split, s => (int)s);
        }
        var sizes = new int[count];
        if (_numOutputs > 0)
        {
            int each = (dim + count - 1) / count;
            for (int i = 0; i < count; i++) sizes[i] = Math.Max(0, Math.Min(each, dim - i * each));
            return sizes;
        }
        if (dim % count != 0) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"axis size {dim} cannot be split equally into {count} parts");
        Array.Fill(sizes, dim / count);
        return sizes;
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        int axis = ShapeOpHelpers.NormalizeAxis(Node, _axis, x.Rank);
        var sizes = PartSizes(inputs, x.Shape[axis]);
        int outer = ShapeOpHelpers.Product(x.Shape, 0, axis);
        int inner = ShapeOpHelpers.Product(x.Shape, axis + 1);
        int inBlock = x.Shape[axis] * inner;
        var outputs = new Tensor[sizes.Length];
        int offset = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            var shape = (int[])x.Shape.Clone();
            shape[axis] = sizes[i];
            var y = Tensor.Create(x.Type, shape);
            int block = sizes[i] * inner;
            if (block > 0)
                for (int o = 0; o < outer; o++)
                    Array.Copy(x.Data, o * inBlock + offset, y.Data, o * block, block);
            offset += block;
            outputs[i] = y;
        }
        return outputs;
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var x = args.Inputs[0]!;
        int axis = ShapeOpHelpers.NormalizeAxis(Node, _axis, x.Rank);
        int outer = ShapeOpHelpers.Product(x.Shape, 0, axis);
        int inner = ShapeOpHelpers.Product(x.Shape, axis + 1);
        int inBlock = x.Shape[axis] * inner;
        var sizes = PartSizes(args.Inputs, x.Shape[axis]);
        var gx = new float[x.Length];
        int offset = 0;
        for (int i = 0; i < sizes.Length; i++)
        {
            int block = sizes[i] * inner;
            if (i < args.OutputGrads.Length && args.OutputGrads[i] is { } g && block > 0)
                for (int o = 0; o < outer; o++)
                    Array.Copy(g.Floats, o * block, gx, o * inBlock + offset, block);
            offset += block;
        }
        result[0] = Tensor.FromFloats(gx, x.Shape);
        return result;
    }
}
