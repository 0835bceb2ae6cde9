using System.Numerics;
using System.Numerics.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// The Reduce* family. Axes are an attribute until the op's opset moved them to input 1
/// (ReduceSum at 13, the others at 18); empty axes mean "all axes" unless noop_with_empty_axes.
/// Each output element is accumulated by one thread in increasing input order, so results are
/// bit-identical whatever the thread count.
/// </summary>
[OnnxOp("ReduceSum")]
[OnnxOp("ReduceMean")]
[OnnxOp("ReduceMax")]
[OnnxOp("ReduceMin")]
[OnnxOp("ReduceProd")]
[OnnxOp("ReduceL1")]
[OnnxOp("ReduceL2")]
[OnnxOp("ReduceSumSquare")]
[OnnxOp("ReduceLogSum")]
[OnnxOp("ReduceLogSumExp")]
public sealed class ReduceKernel : OpKernel
{
    internal enum Kind { Sum, Mean, Max, Min, Prod, L1, L2, SumSquare, LogSum, LogSumExp }

    private readonly Kind _kind;
    private readonly bool _axesFromInput;
    private readonly long[]? _attrAxes;
    private readonly bool _keepDims;
    private readonly bool _noopWithEmptyAxes;

    public ReduceKernel(Node node, KernelContext context) : base(node, context)
    {
        _kind = Enum.Parse<Kind>(node.OpType["Reduce".Length..]);
        int axesInputSince = _kind == Kind.Sum ? 13 : 18;
        _axesFromInput = context.OpsetVersion >= axesInputSince;
        if (!_axesFromInput) _attrAxes = node.GetInts("axes");
        else if (node.HasAttribute("axes"))
            throw node.Error(DiagnosticCodes.InvalidAttribute, $"from opset {axesInputSince} axes are an input, not an attribute");
        _keepDims = node.GetInt("keepdims", 1) != 0;
        _noopWithEmptyAxes = node.GetInt("noop_with_empty_axes", 0) != 0;
    }

    /// <summary>Which axes are reduced, or null when the op is the identity (empty axes with noop_with_empty_axes).</summary>
    private bool[]? ReducedAxes(Tensor?[] inputs, int rank)
    {
        long[]? axes = _axesFromInput ? (inputs.Length > 1 && inputs[1] is Tensor t ? t.ToInt64Array() : null) : _attrAxes;
        var reduced = new bool[rank];
        if (axes is null || axes.Length == 0)
        {
            if (_noopWithEmptyAxes) return null;
            Array.Fill(reduced, true);
            return reduced;
        }
        foreach (var a in axes)
        {
            int axis = Broadcast.NormalizeAxis(a, rank, Node);
            if (reduced[axis]) throw Node.Error(DiagnosticCodes.InvalidAttribute, $"axis {a} is listed twice");
            reduced[axis] = true;
        }
        return reduced;
    }

    private static int[] KeepShape(int[] shape, bool[] reduced) => shape.Select((d, i) => reduced[i] ? 1 : d).ToArray();

    private int[] OutputShape(int[] shape, bool[] reduced) =>
        _keepDims ? KeepShape(shape, reduced) : shape.Where((_, i) => !reduced[i]).ToArray();

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input data is missing");
        var reduced = ReducedAxes(inputs, x.Rank);
        if (reduced is null) return new[] { x };
        var keepShape = KeepShape(x.Shape, reduced);
        var outShape = OutputShape(x.Shape, reduced);
        long count = x.Length == 0 ? 0 : x.Length / System.Math.Max(1, Tensor.ElementCount(keepShape));
        if (x.Data is float[] xf)
            return new[] { Tensor.FromFloats(ForwardFloat(xf, x.Shape, keepShape, count), outShape) };
        if (_kind is Kind.Sum or Kind.Mean or Kind.Max or Kind.Min or Kind.Prod && NumericDispatch.IsNumeric(x.Type))
            return new[] { new Tensor(x.Type, outShape, NumericDispatch.Run<GenericAction, Array>(x.Type, new GenericAction(_kind, x, keepShape, count, Context.Parallel))) };
        var asFloat = CastKernel.Convert(x, DataType.Float);
        return new[] { CastKernel.Convert(Tensor.FromFloats(ForwardFloat(asFloat.Floats, x.Shape, keepShape, count), outShape), x.Type) };
    }

    private float[] ForwardFloat(float[] x, int[] shape, int[] keepShape, long count)
    {
        var p = Context.Parallel;
        switch (_kind)
        {
            case Kind.Sum: return Accumulate<float>(x, shape, keepShape, Kind.Sum, p);
            case Kind.Mean:
            {
                var s = Accumulate<float>(x, shape, keepShape, Kind.Sum, p);
                TensorPrimitives.Divide(s, (float)count, s);
                return s;
            }
            case Kind.Max:
            case Kind.Min:
            case Kind.Prod: return Accumulate<float>(x, shape, keepShape, _kind, p);
            case Kind.L1:
            {
                var t = new float[x.Length];
                TensorPrimitives.Abs(x, t);
                return Accumulate<float>(t, shape, keepShape, Kind.Sum, p);
            }
            case Kind.L2:
            case Kind.SumSquare:
            {
                var t = new float[x.Length];
                TensorPrimitives.Multiply(x, x, t);
                var s = Accumulate<float>(t, shape, keepShape, Kind.Sum, p);
                if (_kind == Kind.L2) TensorPrimitives.Sqrt(s, s);
                return s;
            }
            case Kind.LogSum:
            {
                var s = Accumulate<float>(x, shape, keepShape, Kind.Sum, p);
                TensorPrimitives.Log(s, s);
                return s;
            }
            default:
            {
                // log Σ exp(x) = m + log Σ exp(x − m) with m the group maximum, so large inputs do not overflow.
                var m = Accumulate<float>(x, shape, keepShape, Kind.Max, p);
                for (int i = 0; i < m.Length; i++) if (float.IsInfinity(m[i])) m[i] = 0f;
                var t = Broadcast.Expand(m, keepShape, shape);
                TensorPrimitives.Subtract(x, t, t);
                TensorPrimitives.Exp(t, t);
                var s = Accumulate<float>(t, shape, keepShape, Kind.Sum, p);
                TensorPrimitives.Log(s, s);
                TensorPrimitives.Add(s, m, s);
                return s;
            }
        }
    }

    private readonly struct GenericAction(Kind kind, Tensor x, int[] keepShape, long count, ParallelOptions parallel) : INumericAction<Array>
    {
        public Array Invoke<T>() where T : unmanaged, INumber<T>
        {
            var r = Accumulate<T>((T[])x.Data, x.Shape, keepShape, kind == Kind.Mean ? Kind.Sum : kind, parallel);
            if (kind == Kind.Mean && count > 0) TensorPrimitives.Divide(r, T.CreateChecked(count), r);
            return r;
        }
    }

    /// <summary>
    /// Sum/Max/Min/Prod of <paramref name="x"/> over the axes where <paramref name="keepShape"/> is 1
    /// (and the input is not). Threads split the outermost kept dimension only, so every output
    /// element is still accumulated by one thread in increasing input order.
    /// </summary>
    internal static T[] Accumulate<T>(T[] x, int[] shape, int[] keepShape, Kind op, ParallelOptions? parallel) where T : INumber<T>
    {
        var result = new T[TensorLimits.CheckedElementCount<T>(keepShape, "output")];
        if (op == Kind.Prod) Array.Fill(result, T.One);
        if (x.Length == 0)
        {
            if (op is Kind.Max or Kind.Min && result.Length > 0)
                throw new QuantBuildException(DiagnosticCodes.InvalidInputValue, "cannot take the maximum or minimum of an empty set");
            return result;
        }
        var plan = BroadcastPlan.Create(shape, keepShape, keepShape);
        int inner = plan.Inner;
        bool innerKept = plan.InnerFull[0];
        var seen = op is Kind.Max or Kind.Min ? new bool[result.Length] : null;

        void Rows(long first, long last)
        {
            Span<int> index = stackalloc int[plan.OuterSizes.Length];
            plan.Decompose(first, index);
            for (long r = first; r < last; r++)
            {
                plan.Offsets(index, out int o, out _);
                var row = new ReadOnlySpan<T>(x, (int)(r * inner), inner);
                if (innerKept)
                {
                    var acc = result.AsSpan(o, inner);
                    switch (op)
                    {
                        case Kind.Sum: TensorPrimitives.Add(acc, row, acc); break;
                        case Kind.Prod: TensorPrimitives.Multiply(acc, row, acc); break;
                        case Kind.Max:
                            if (seen![o]) TensorPrimitives.Max(acc, row, acc); else row.CopyTo(acc);
                            break;
                        case Kind.Min:
                            if (seen![o]) TensorPrimitives.Min(acc, row, acc); else row.CopyTo(acc);
                            break;
                    }
                    if (seen is not null) seen.AsSpan(o, inner).Fill(true);
                }
                else
                {
                    switch (op)
                    {
                        case Kind.Sum: result[o] += TensorPrimitives.Sum(row); break;
                        case Kind.Prod: result[o] *= TensorPrimitives.Product(row); break;
                        case Kind.Max:
                        {
                            var m = TensorPrimitives.Max(row);
                            result[o] = seen![o] ? T.Max(result[o], m) : m;
                            seen[o] = true;
                            break;
                        }
                        case Kind.Min:
                        {
                            var m = TensorPrimitives.Min(row);
                            result[o] = seen![o] ? T.Min(result[o], m) : m;
                            seen[o] = true;
                            break;
                        }
                    }
                }
                plan.Increment(index);
            }
        }

        long outer = plan.OuterCount;
        bool firstDimKept = plan.OuterSizes.Length > 0 && plan.StridesA[0] != 0;
        if (parallel is not null && parallel.MaxDegreeOfParallelism != 1 && firstDimKept && x.Length >= Broadcast.ParallelThreshold)
        {
            long perSlice = outer / plan.OuterSizes[0];
            Parallel.For(0, plan.OuterSizes[0], parallel, s => Rows(s * perSlice, (s + 1) * perSlice));
        }
        else Rows(0, outer);
        return result;
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0] || args.OutputGrads[0] is not Tensor gt) return result;
        var x = args.Inputs[0]!;
        var reduced = ReducedAxes(args.Inputs, x.Rank);
        if (reduced is null) { result[0] = gt; return result; }
        var shape = x.Shape;
        var keepShape = KeepShape(shape, reduced);
        var xf = x.Floats;
        var g = Broadcast.Expand(gt.Floats, keepShape, shape);
        var y = args.Outputs[0].Floats;
        long count = x.Length / System.Math.Max(1, Tensor.ElementCount(keepShape));
        var d = new float[xf.Length];
        switch (_kind)
        {
            case Kind.Sum: d = g; break;
            case Kind.Mean: TensorPrimitives.Divide(g, (float)count, d); break;
            case Kind.SumSquare:
                for (int i = 0; i < d.Length; i++) d[i] = 2f * xf[i] * g[i];
                break;
            case Kind.L1:
                for (int i = 0; i < d.Length; i++) d[i] = xf[i] > 0f ? g[i] : xf[i] < 0f ? -g[i] : 0f;
                break;
            case Kind.L2:
            {
                var ye = Broadcast.Expand(y, keepShape, shape);
                for (int i = 0; i < d.Length; i++) d[i] = ye[i] > 0f ? g[i] * xf[i] / ye[i] : 0f;
                break;
            }
            case Kind.LogSum:
            {
                var ye = Broadcast.Expand(y, keepShape, shape);
                for (int i = 0; i < d.Length; i++) d[i] = g[i] * MathF.Exp(-ye[i]);
                break;
            }
            case Kind.LogSumExp:
            {
                var ye = Broadcast.Expand(y, keepShape, shape);
                for (int i = 0; i < d.Length; i++) d[i] = g[i] * MathF.Exp(xf[i] - ye[i]);
                break;
            }
            case Kind.Max:
            case Kind.Min:
            {
                // The gradient goes to the first element that attains the extreme in each group.
                var groupOf = Broadcast.Expand(Enumerable.Range(0, y.Length).ToArray(), keepShape, shape);
                var ye = Broadcast.Expand(y, keepShape, shape);
                var claimed = new bool[y.Length];
                for (int i = 0; i < d.Length; i++)
                {
                    int o = groupOf[i];
                    if (claimed[o] || xf[i] != ye[i]) continue;
                    claimed[o] = true;
                    d[i] = g[i];
                }
                break;
            }
            case Kind.Prod:
            {
                // ∂/∂x_i Π x = Π_{j≠i} x_j, computed from the product of the non-zero entries and the zero count so zeros are exact.
                var nonZero = new float[xf.Length];
                var isZero = new float[xf.Length];
                for (int i = 0; i < xf.Length; i++) { nonZero[i] = xf[i] == 0f ? 1f : xf[i]; isZero[i] = xf[i] == 0f ? 1f : 0f; }
                var prod = Broadcast.Expand(Accumulate<float>(nonZero, shape, keepShape, Kind.Prod, null), keepShape, shape);
                var zeros = Broadcast.Expand(Accumulate<float>(isZero, shape, keepShape, Kind.Sum, null), keepShape, shape);
                for (int i = 0; i < d.Length; i++)
                {
                    if (zeros[i] == 0f) d[i] = g[i] * prod[i] / xf[i];
                    else if (zeros[i] == 1f && xf[i] == 0f) d[i] = g[i] * prod[i];
                }
                break;
            }
        }
        result[0] = Tensor.FromFloats(d, shape);
        return result;
    }
}
