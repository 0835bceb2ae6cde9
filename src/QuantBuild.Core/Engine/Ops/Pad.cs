using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Pad with mode constant, reflect (mirror without repeating the edge), edge or wrap (opset 19).
/// Pads are [begin_0..begin_n, end_0..end_n]: an attribute (with a float 'value') before opset 11, then
/// inputs (pads, optional constant_value, and from opset 18 optional axes naming which axes the pads cover).
/// Negative pads crop. Every mode is a per-axis index map, so one separable gather does the work and its
/// transpose (scatter-add) is the gradient.
/// </summary>
[OnnxOp("Pad")]
public sealed class PadKernel : OpKernel, ISeparableMovementKernel
{
    private enum Mode { Constant, Reflect, Edge, Wrap }

    private readonly Mode _mode;
    private readonly bool _fromInputs;

    public PadKernel(Node node, KernelContext context) : base(node, context)
    {
        _mode = node.GetString("mode", "constant") switch
        {
            "constant" => Mode.Constant,
            "reflect" => Mode.Reflect,
            "edge" => Mode.Edge,
            "wrap" => Mode.Wrap,
            var m => throw node.Error(DiagnosticCodes.InvalidAttribute, $"unknown pad mode '{m}'"),
        };
        _fromInputs = context.OpsetVersion >= 11;
        if (_fromInputs ? !node.HasInput(1) : !node.HasAttribute("pads"))
            throw node.Error(DiagnosticCodes.MissingInput, "pads are required");
    }

    private (int[][] Offsets, int[] Shape) Plan(Tensor?[] inputs, int[] inShape, DataType type)
    {
        int rank = inShape.Length;
        long[] pads = _fromInputs ? inputs[1]!.ToInt64Array() : Node.GetInts("pads")!;
        var axes = _fromInputs && inputs.Length > 3 && inputs[3] is { } a
            ? a.ToInt64Array().Select(v => ShapeOpHelpers.NormalizeAxis(Node, v, rank)).ToArray()
            : Enumerable.Range(0, rank).ToArray();
        if (pads.Length != 2 * axes.Length)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"pads has {pads.Length} values; expected {2 * axes.Length}");
        var before = new long[rank];
        var after = new long[rank];
        for (int i = 0; i < axes.Length; i++)
        {
            before[axes[i]] = pads[i];
            after[axes[i]] = pads[i + axes.Length];
        }
        var sizes = new long[rank];
        for (int d = 0; d < rank; d++)
        {
            // Pads are int64 from the model: the sum is checked before it sizes anything.
            long size;
            try { size = checked(inShape[d] + before[d] + after[d]); }
            catch (OverflowException) { throw Node.Error(DiagnosticCodes.TensorTooLarge, $"pads {before[d]} and {after[d]} on axis {d} overflow 64-bit arithmetic"); }
            if (size < 0) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"pads crop axis {d} of size {inShape[d]} below zero");
            sizes[d] = size;
        }
        var outShape = ShapeOpHelpers.CheckedOutputShape(type, sizes);
        var strides = ShapeOpHelpers.Strides(inShape);
        var offsets = new int[rank][];
        for (int d = 0; d < rank; d++)
        {
            long dim = inShape[d];
            int size = outShape[d];
            var t = new int[size];
            for (long i = 0; i < size; i++)
            {
                long c = i - before[d];
                if (c < 0 || c >= dim)
                {
                    if (_mode == Mode.Constant || dim == 0) { t[i] = ShapeOpHelpers.Outside; continue; }
                    c = _mode switch
                    {
                        Mode.Edge => Math.Clamp(c, 0, dim - 1),
                        Mode.Wrap => ((c % dim) + dim) % dim,
                        _ => Reflect(c, dim),
                    };
                }
                t[i] = (int)(c * strides[d]);
            }
            offsets[d] = t;
        }
        return (offsets, outShape);
    }

    private static long Reflect(long c, long dim)
    {
        if (dim == 1) return 0;
        long period = 2 * (dim - 1);
        long m = ((c % period) + period) % period;
        return m >= dim ? period - m : m;
    }

    public SeparableMovement Separable(Tensor?[] inputs, int[] inputShape)
    {
        var (offsets, shape) = Plan(inputs, inputShape, DataType.Float);
        float fill = 0f;
        if (_mode == Mode.Constant)
            fill = _fromInputs
                ? inputs.Length > 2 && inputs[2] is { Length: > 0 } value ? value.ToFloatArray()[0] : 0f
                : Node.GetFloat("value", 0f);
        return new SeparableMovement(offsets, shape, fill);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var (offsets, shape) = Plan(inputs, x.Shape, x.Type);
        Array? fill = null;
        if (_mode == Mode.Constant)
        {
            if (_fromInputs)
            {
                if (inputs.Length > 2 && inputs[2] is { } value && value.Length > 0)
                {
                    if (value.Type != x.Type) throw Node.Error(DiagnosticCodes.UnsupportedDataType, "constant_value must have the data's type");
                    fill = value.Data;
                }
            }
            else fill = ShapeOpHelpers.FillValue(x.Type, Node.GetFloat("value", 0f));
        }
        return new[] { ShapeOpHelpers.SeparableGather(x, offsets, shape, Context.Parallel, fill) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var x = args.Inputs[0]!;
        var (offsets, shape) = Plan(args.Inputs, x.Shape, x.Type);
        var gx = new float[x.Length];
        if (args.OutputGrads[0] is { } g) ShapeOpHelpers.SeparableScatterAdd(g.Floats, offsets, shape, gx);
        result[0] = Tensor.FromFloats(gx, x.Shape);
        return result;
    }
}
