using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Slice: starts/ends/axes as attributes before opset 10, and starts/ends/axes/steps as inputs from 10.
/// Negative starts/ends count from the end; they are then clamped as the spec says: to [0, dim] for
/// positive steps and to [0, dim-1] (start) / [-1, dim-1] (end) for negative steps. A step-1 slice
/// of the last axis moves as block copies. The gradient scatters back into a zero tensor.
/// </summary>
[OnnxOp("Slice")]
public sealed class SliceKernel : OpKernel, ISeparableMovementKernel
{
    private readonly bool _fromInputs;

    public SliceKernel(Node node, KernelContext context) : base(node, context)
    {
        _fromInputs = context.OpsetVersion >= 10;
        if (_fromInputs ? !(node.HasInput(1) && node.HasInput(2)) : !(node.HasAttribute("starts") && node.HasAttribute("ends")))
            throw node.Error(DiagnosticCodes.MissingInput, "starts and ends are required");
    }

    /// <summary>Per-output-axis offset tables into the input, and the output shape.</summary>
    private (int[][] Offsets, int[] Shape) Plan(Tensor?[] inputs, int[] inShape)
    {
        long[] starts, ends;
        long[]? axes, steps = null;
        if (_fromInputs)
        {
            starts = inputs[1]!.ToInt64Array();
            ends = inputs[2]!.ToInt64Array();
            axes = inputs.Length > 3 ? inputs[3]?.ToInt64Array() : null;
            steps = inputs.Length > 4 ? inputs[4]?.ToInt64Array() : null;
        }
        else
        {
            starts = Node.GetInts("starts")!;
            ends = Node.GetInts("ends")!;
            axes = Node.GetInts("axes");
        }
        int rank = inShape.Length;
        axes ??= Enumerable.Range(0, starts.Length).Select(i => (long)i).ToArray();
        if (ends.Length != starts.Length || axes.Length != starts.Length || (steps is not null && steps.Length != starts.Length))
            throw Node.Error(DiagnosticCodes.ShapeMismatch, "starts, ends, axes and steps must have the same length");

        var begin = new long[rank];
        var step = new long[rank];
        var outShape = (int[])inShape.Clone();
        Array.Fill(step, 1);
        var seen = new bool[rank];
        for (int i = 0; i < starts.Length; i++)
        {
            int axis = ShapeOpHelpers.NormalizeAxis(Node, axes[i], rank);
            if (seen[axis]) throw Node.Error(DiagnosticCodes.InvalidAttribute, $"axis {axes[i]} is sliced twice");
            seen[axis] = true;
            long dim = inShape[axis];
            long s = steps?[i] ?? 1;
            if (s == 0) throw Node.Error(DiagnosticCodes.InvalidAttribute, "a slice step may not be 0");
            long start = starts[i], end = ends[i];
            if (start < 0) start += dim;
            if (end < 0) end += dim;
            long count;
            if (dim == 0)
            {
                start = 0;
                count = 0;
            }
            else if (s > 0)
            {
                start = Math.Clamp(start, 0, dim);
                end = Math.Clamp(end, 0, dim);
                count = end > start ? (end - start + s - 1) / s : 0;
            }
            else
            {
                start = Math.Clamp(start, 0, dim - 1);
                end = Math.Clamp(end, -1, dim - 1);
                count = start > end ? (start - end + (-s) - 1) / (-s) : 0;
            }
            begin[axis] = start;
            step[axis] = s;
            outShape[axis] = (int)count;
        }
        var strides = ShapeOpHelpers.Strides(inShape);
        var offsets = new int[rank][];
        for (int d = 0; d < rank; d++)
        {
            var t = new int[outShape[d]];
            for (int k = 0; k < t.Length; k++) t[k] = (int)((begin[d] + k * step[d]) * strides[d]);
            offsets[d] = t;
        }
        return (offsets, outShape);
    }

    public SeparableMovement Separable(Tensor?[] inputs, int[] inputShape)
    {
        var (offsets, shape) = Plan(inputs, inputShape);
        return new SeparableMovement(offsets, shape, 0f);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var (offsets, shape) = Plan(inputs, x.Shape);
        return new[] { ShapeOpHelpers.SeparableGather(x, offsets, shape, Context.Parallel) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var x = args.Inputs[0]!;
        var (offsets, shape) = Plan(args.Inputs, x.Shape);
        var gx = new float[x.Length];
        if (args.OutputGrads[0] is { } g) ShapeOpHelpers.SeparableScatterAdd(g.Floats, offsets, shape, gx);
        result[0] = Tensor.FromFloats(gx, x.Shape);
        return result;
    }
}
