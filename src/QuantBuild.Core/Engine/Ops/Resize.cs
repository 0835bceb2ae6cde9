using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Resize (opset 10+) and Upsample (opset 7-9), modes nearest, linear and cubic over any rank.
/// Every axis is resampled independently: an output coordinate x maps back to x_original by the
/// coordinate_transformation_mode, then to a few source taps with weights. Nearest is a one-tap
/// separable gather (any dtype); linear and cubic run one float pass per resized axis, which is the
/// exact n-linear/n-cubic result because the kernels are separable. Backward runs the transposed passes.
/// Opset 10 Resize and Upsample use the asymmetric transform with floor rounding (ceil when shrinking),
/// as ONNX Runtime does for those versions.
/// </summary>
[OnnxOp("Resize")]
[OnnxOp("Upsample")]
public sealed class ResizeKernel : OpKernel
{
    private enum Interp { Nearest, Linear, Cubic }
    private enum Coord { HalfPixel, HalfPixelSymmetric, PytorchHalfPixel, AlignCorners, Asymmetric, TfHalfPixelForNn, TfCropAndResize }
    private enum Rounding { RoundPreferFloor, RoundPreferCeil, Floor, Ceil, Legacy }
    private enum AspectPolicy { Stretch, NotLarger, NotSmaller }

    /// <summary>Taps of one axis: output x reads Index[x*Taps+t] with Weight[x*Taps+t]; Outside[x] means extrapolate.</summary>
    private sealed record AxisPlan(int Axis, int InSize, int OutSize, int Taps, int[] Index, float[] Weight, bool[]? Outside)
    {
        public bool IsIdentity
        {
            get
            {
                if (InSize != OutSize || Outside is not null) return false;
                for (int x = 0; x < OutSize; x++)
                    for (int t = 0; t < Taps; t++)
                    {
                        float w = Weight[x * Taps + t];
                        if (w != 0f && (w != 1f || Index[x * Taps + t] != x)) return false;
                    }
                return true;
            }
        }
    }

    private readonly Interp _mode;
    private readonly Coord _coord;
    private readonly Rounding _rounding;
    private readonly AspectPolicy _policy;
    private readonly double _cubicA;
    private readonly bool _excludeOutside;
    private readonly bool _antialias;
    private readonly float _extrapolation;
    private readonly long[]? _axes;
    private readonly bool _upsample;
    private readonly float[]? _scalesAttribute;

    public ResizeKernel(Node node, KernelContext context) : base(node, context)
    {
        _upsample = node.OpType == "Upsample";
        _mode = node.GetString("mode", "nearest") switch
        {
            "nearest" => Interp.Nearest,
            "linear" or "bilinear" => Interp.Linear,
            "cubic" when !_upsample => Interp.Cubic,
            var m => throw node.Error(DiagnosticCodes.InvalidAttribute, $"unsupported mode '{m}'"),
        };
        bool legacy = _upsample || context.OpsetVersion < 11;
        _coord = legacy ? Coord.Asymmetric : node.GetString("coordinate_transformation_mode", "half_pixel") switch
        {
            "half_pixel" => Coord.HalfPixel,
            "half_pixel_symmetric" => Coord.HalfPixelSymmetric,
            "pytorch_half_pixel" => Coord.PytorchHalfPixel,
            "align_corners" => Coord.AlignCorners,
            "asymmetric" => Coord.Asymmetric,
            "tf_half_pixel_for_nn" => Coord.TfHalfPixelForNn,
            "tf_crop_and_resize" => Coord.TfCropAndResize,
            var m => throw node.Error(DiagnosticCodes.InvalidAttribute, $"unknown coordinate_transformation_mode '{m}'"),
        };
        _rounding = legacy ? Rounding.Legacy : node.GetString("nearest_mode", "round_prefer_floor") switch
        {
            "round_prefer_floor" => Rounding.RoundPreferFloor,
            "round_prefer_ceil" => Rounding.RoundPreferCeil,
            "floor" => Rounding.Floor,
            "ceil" => Rounding.Ceil,
            var m => throw node.Error(DiagnosticCodes.InvalidAttribute, $"unknown nearest_mode '{m}'"),
        };
        _policy = node.GetString("keep_aspect_ratio_policy", "stretch") switch
        {
            "stretch" => AspectPolicy.Stretch,
            "not_larger" => AspectPolicy.NotLarger,
            "not_smaller" => AspectPolicy.NotSmaller,
            var m => throw node.Error(DiagnosticCodes.InvalidAttribute, $"unknown keep_aspect_ratio_policy '{m}'"),
        };
        _cubicA = node.GetFloat("cubic_coeff_a", -0.75f);
        _excludeOutside = node.GetInt("exclude_outside", 0) != 0;
        _antialias = node.GetInt("antialias", 0) != 0;
        _extrapolation = node.GetFloat("extrapolation_value", 0f);
        _axes = node.GetInts("axes");
        if (_upsample && context.OpsetVersion < 9)
        {
            _scalesAttribute = node.GetFloats("scales") ?? throw node.Error(DiagnosticCodes.InvalidAttribute, "required attribute 'scales' is missing");
        }
    }

    // ---- planning ----

    private AxisPlan[] Plan(Tensor?[] inputs, int[] inShape)
    {
        int rank = inShape.Length;
        float[]? scalesIn;
        long[]? sizesIn = null;
        float[]? roiIn = null;
        if (_upsample)
            scalesIn = _scalesAttribute ?? inputs[1]!.ToFloatArray();
        else if (Context.OpsetVersion < 11)
            scalesIn = inputs[1]!.ToFloatArray();
        else
        {
            roiIn = inputs.Length > 1 && inputs[1] is { Length: > 0 } r ? r.ToFloatArray() : null;
            scalesIn = inputs.Length > 2 && inputs[2] is { Length: > 0 } s ? s.ToFloatArray() : null;
            sizesIn = inputs.Length > 3 && inputs[3] is { Length: > 0 } z ? z.ToInt64Array() : null;
        }
        if ((scalesIn is null) == (sizesIn is null))
            throw Node.Error(DiagnosticCodes.MissingInput, "exactly one of 'scales' and 'sizes' must be given");

        var axes = _axes is null ? Enumerable.Range(0, rank).ToArray() : _axes.Select(a => ShapeOpHelpers.NormalizeAxis(Node, a, rank)).ToArray();
        int given = scalesIn?.Length ?? sizesIn!.Length;
        if (given != axes.Length)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"{(scalesIn is null ? "sizes" : "scales")} has {given} values for {axes.Length} axes");

        var scale = new double[rank];
        var outSize = new int[rank];
        for (int d = 0; d < rank; d++) { scale[d] = 1; outSize[d] = inShape[d]; }
        if (scalesIn is not null)
        {
            for (int i = 0; i < axes.Length; i++)
            {
                if (!(scalesIn[i] > 0)) throw Node.Error(DiagnosticCodes.InvalidInputValue, $"scale {scalesIn[i]} must be positive");
                scale[axes[i]] = scalesIn[i];
                outSize[axes[i]] = ShapeOpHelpers.CheckedDim(Node, (long)Math.Floor(inShape[axes[i]] * (double)scalesIn[i]));
            }
        }
        else
        {
            if (_policy == AspectPolicy.Stretch)
            {
                for (int i = 0; i < axes.Length; i++)
                {
                    int a = axes[i];
                    outSize[a] = ShapeOpHelpers.CheckedDim(Node, sizesIn![i]);
                    scale[a] = inShape[a] == 0 ? 1 : (double)outSize[a] / inShape[a];
                }
            }
            else
            {
                double common = _policy == AspectPolicy.NotLarger ? double.MaxValue : double.MinValue;
                for (int i = 0; i < axes.Length; i++)
                {
                    double r = (double)sizesIn![i] / inShape[axes[i]];
                    common = _policy == AspectPolicy.NotLarger ? Math.Min(common, r) : Math.Max(common, r);
                }
                foreach (var a in axes)
                {
                    scale[a] = common;
                    outSize[a] = ShapeOpHelpers.CheckedDim(Node, (long)Math.Round(common * inShape[a], MidpointRounding.ToEven));
                }
            }
        }

        // Before the per-axis index and weight tables, which are as long as the output axes.
        ShapeOpHelpers.CheckedOutputShape(inputs[0]?.Type ?? DataType.Float, outSize);
        var plans = new AxisPlan[rank];
        for (int d = 0; d < rank; d++)
        {
            double roiStart = 0, roiEnd = 1;
            if (_coord == Coord.TfCropAndResize)
            {
                if (roiIn is null) throw Node.Error(DiagnosticCodes.MissingInput, "tf_crop_and_resize needs the roi input");
                int k = Array.IndexOf(axes, d);
                if (k >= 0)
                {
                    if (roiIn.Length != 2 * axes.Length) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"roi has {roiIn.Length} values; expected {2 * axes.Length}");
                    roiStart = roiIn[k];
                    roiEnd = roiIn[k + axes.Length];
                }
            }
            plans[d] = PlanAxis(d, inShape[d], outSize[d], scale[d], roiStart, roiEnd);
        }
        return plans;
    }

    private double Original(double x, int inSize, int outSize, double scale, double roiStart, double roiEnd, out bool outside)
    {
        outside = false;
        double outLength = scale * inSize; // the reference uses the unrounded output length
        switch (_coord)
        {
            case Coord.HalfPixel: return (x + 0.5) / scale - 0.5;
            case Coord.HalfPixelSymmetric:
            {
                double adjustment = outSize / outLength;
                double center = inSize / 2.0;
                return center * (1 - adjustment) + (x + 0.5) / scale - 0.5;
            }
            case Coord.PytorchHalfPixel: return outSize > 1 ? (x + 0.5) / scale - 0.5 : 0;
            case Coord.AlignCorners: return outLength == 1 ? 0 : x * (inSize - 1) / (outLength - 1);
            case Coord.Asymmetric: return x / scale;
            case Coord.TfHalfPixelForNn: return (x + 0.5) / scale;
            default:
            {
                double v = outSize > 1
                    ? roiStart * (inSize - 1) + x * (roiEnd - roiStart) * (inSize - 1) / (outSize - 1)
                    : 0.5 * (roiStart + roiEnd) * (inSize - 1);
                outside = v < 0 || v > inSize - 1;
                return v;
            }
        }
    }

    private AxisPlan PlanAxis(int axis, int inSize, int outSize, double scale, double roiStart, double roiEnd)
    {
        bool[]? outsideFlags = null;
        if (_mode == Interp.Nearest)
        {
            var index = new int[outSize];
            for (int x = 0; x < outSize; x++)
            {
                double xo = Original(x, inSize, outSize, scale, roiStart, roiEnd, out bool outside);
                if (outside) { (outsideFlags ??= new bool[outSize])[x] = true; continue; }
                index[x] = Math.Clamp(RoundNearest(xo, scale), 0, inSize - 1);
            }
            return new AxisPlan(axis, inSize, outSize, 1, index, Enumerable.Repeat(1f, outSize).ToArray(), outsideFlags);
        }

        // Antialiasing (opset 18) widens the kernel by 1/scale when shrinking.
        double support = _antialias && scale < 1 ? scale : 1;
        int first = _mode == Interp.Linear ? (int)Math.Floor(-1 / support) + 1 : (int)Math.Floor(-2 / support) + 1;
        int taps = 2 - 2 * first;
        var idx = new int[checked(outSize * taps)];
        var wts = new float[idx.Length];
        var w = new double[taps];
        for (int x = 0; x < outSize; x++)
        {
            double xo = Original(x, inSize, outSize, scale, roiStart, roiEnd, out bool outside);
            if (outside) { (outsideFlags ??= new bool[outSize])[x] = true; continue; }
            if (_mode == Interp.Linear && _coord != Coord.TfCropAndResize) xo = Math.Clamp(xo, 0, inSize - 1);
            double fl = Math.Floor(xo);
            double ratio = xo - fl;
            double sum = 0;
            for (int t = 0; t < taps; t++)
            {
                double u = Math.Abs((first + t - ratio) * support);
                w[t] = _mode == Interp.Linear ? Math.Max(0, 1 - u) : CubicKernel(u);
                long src = (long)fl + first + t;
                if (_excludeOutside && (src < 0 || src >= inSize)) w[t] = 0;
                sum += w[t];
            }
            bool normalize = _excludeOutside || support < 1;
            for (int t = 0; t < taps; t++)
            {
                long src = (long)fl + first + t;
                idx[x * taps + t] = (int)Math.Clamp(src, 0, inSize - 1);
                wts[x * taps + t] = (float)(normalize && sum != 0 ? w[t] / sum : w[t]);
            }
        }
        return new AxisPlan(axis, inSize, outSize, taps, idx, wts, outsideFlags);
    }

    private double CubicKernel(double u)
    {
        double a = _cubicA;
        if (u <= 1) return ((a + 2) * u - (a + 3)) * u * u + 1;
        if (u < 2) return ((a * u - 5 * a) * u + 8 * a) * u - 4 * a;
        return 0;
    }

    private int RoundNearest(double xo, double scale)
    {
        double fl = Math.Floor(xo);
        bool isInteger = fl == xo;
        if (isInteger) return (int)fl;
        double frac = xo - fl;
        return _rounding switch
        {
            Rounding.RoundPreferFloor => frac <= 0.5 ? (int)fl : (int)fl + 1,
            Rounding.RoundPreferCeil => frac < 0.5 ? (int)fl : (int)fl + 1,
            Rounding.Floor => (int)fl,
            Rounding.Ceil => (int)fl + 1,
            _ => scale < 1 ? (int)Math.Ceiling(xo) : (int)xo,
        };
    }

    /// <summary>One resampled axis as the generated runtime's ResizeFloat runs it (see <see cref="Tables"/>).</summary>
    /// <param name="Index">source index of output coordinate x, tap t at [x * Taps + t] (already clamped)</param>
    /// <param name="Weight">its weight (1 for nearest)</param>
    /// <param name="Outside">per output coordinate, whether it lies outside the tf_crop_and_resize roi (extrapolated); null if none does</param>
    public sealed record ResizePass(int Axis, int InSize, int OutSize, int Taps, int[] Index, float[] Weight, bool[]? Outside);

    /// <summary>Whether this node interpolates (linear, cubic) or copies the nearest element.</summary>
    public bool IsNearest => _mode == Interp.Nearest;

    /// <summary>The value written where tf_crop_and_resize samples outside the input.</summary>
    public float ExtrapolationValue => _extrapolation;

    /// <summary>
    /// The per-axis tables <see cref="Forward"/> uses for an input of <paramref name="inShape"/> (the other
    /// inputs as Forward gets them), identity axes left out, in the order Forward resamples them. The
    /// generated runtime evaluates exactly these passes, so its arithmetic is the engine's by construction.
    /// </summary>
    public IReadOnlyList<ResizePass> Tables(Tensor?[] inputs, int[] inShape)
    {
        var plans = Plan(inputs, inShape);
        var order = _mode == Interp.Nearest ? plans.Where(p => !p.IsIdentity) : PassOrder(plans);
        return order.Select(p => new ResizePass(p.Axis, p.InSize, p.OutSize, p.Taps, p.Index, p.Weight, p.Outside)).ToList();
    }

    /// <summary>Output shape for an input of <paramref name="inShape"/>.</summary>
    public int[] OutputShape(Tensor?[] inputs, int[] inShape) => Plan(inputs, inShape).Select(p => p.OutSize).ToArray();

    // ---- execution ----

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var plans = Plan(inputs, x.Shape);
        var outShape = plans.Select(p => p.OutSize).ToArray();
        if (_mode == Interp.Nearest)
        {
            var (offsets, _) = NearestOffsets(plans, x.Shape);
            return new[] { ShapeOpHelpers.SeparableGather(x, offsets, outShape, Context.Parallel, ShapeOpHelpers.FillValue(x.Type, _extrapolation)) };
        }
        if (x.Type != DataType.Float) throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"{_mode} resize needs float input, got {DataTypes.Name(x.Type)}");
        var shape = (int[])x.Shape.Clone();
        var data = x.Floats;
        foreach (var p in PassOrder(plans))
        {
            data = ForwardPass(data, shape, p);
            shape[p.Axis] = p.OutSize;
        }
        return new[] { Tensor.FromFloats(ReferenceEquals(data, x.Floats) ? (float[])data.Clone() : data, outShape) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var x = args.Inputs[0]!;
        var plans = Plan(args.Inputs, x.Shape);
        var outShape = plans.Select(p => p.OutSize).ToArray();
        var g = ShapeOpHelpers.GradOrZero(args, 0, outShape);
        if (_mode == Interp.Nearest)
        {
            var (offsets, _) = NearestOffsets(plans, x.Shape);
            var gx = new float[x.Length];
            ShapeOpHelpers.SeparableScatterAdd(g.Floats, offsets, outShape, gx);
            result[0] = Tensor.FromFloats(gx, x.Shape);
            return result;
        }
        var order = PassOrder(plans).ToList();
        // Shapes before each pass, so the transposed passes can run in reverse.
        var shapes = new List<int[]>();
        var shape = (int[])x.Shape.Clone();
        foreach (var p in order)
        {
            shapes.Add((int[])shape.Clone());
            shape[p.Axis] = p.OutSize;
        }
        var data = g.Floats;
        for (int k = order.Count - 1; k >= 0; k--)
            data = BackwardPass(data, shapes[k], order[k]);
        result[0] = Tensor.FromFloats(ReferenceEquals(data, g.Floats) ? (float[])data.Clone() : data, x.Shape);
        return result;
    }

    private static (int[][] Offsets, int[] Strides) NearestOffsets(AxisPlan[] plans, int[] inShape)
    {
        var strides = ShapeOpHelpers.Strides(inShape);
        var offsets = new int[plans.Length][];
        for (int d = 0; d < plans.Length; d++)
        {
            var p = plans[d];
            var t = new int[p.OutSize];
            for (int x = 0; x < t.Length; x++)
                t[x] = p.Outside is { } o && o[x] ? ShapeOpHelpers.Outside : p.Index[x] * strides[d];
            offsets[d] = t;
        }
        return (offsets, strides);
    }

    /// <summary>Shrinking axes first keeps the intermediate tensors small; identity axes are skipped.</summary>
    private static IEnumerable<AxisPlan> PassOrder(AxisPlan[] plans) =>
        plans.Where(p => !p.IsIdentity).OrderBy(p => (double)p.OutSize / Math.Max(1, p.InSize)).ThenBy(p => p.Axis);

    private float[] ForwardPass(float[] src, int[] shape, AxisPlan p)
    {
        int outer = ShapeOpHelpers.Product(shape, 0, p.Axis);
        int inner = ShapeOpHelpers.Product(shape, p.Axis + 1);
        var dst = new float[outer * p.OutSize * inner];
        int rows = outer * p.OutSize;
        float fill = _extrapolation;
        void Row(int r)
        {
            int o = r / p.OutSize, x = r % p.OutSize;
            var outRow = dst.AsSpan(r * inner, inner);
            if (p.Outside is { } flags && flags[x]) { outRow.Fill(fill); return; }
            int inBase = o * p.InSize * inner;
            for (int t = 0; t < p.Taps; t++)
            {
                float w = p.Weight[x * p.Taps + t];
                if (w == 0f) continue;
                var inRow = src.AsSpan(inBase + p.Index[x * p.Taps + t] * inner, inner);
                for (int i = 0; i < inner; i++) outRow[i] += w * inRow[i];
            }
        }
        if ((long)rows * inner * p.Taps < (1 << 15)) { for (int r = 0; r < rows; r++) Row(r); }
        else Parallel.For(0, rows, Context.Parallel, Row);
        return dst;
    }

    /// <summary>Transpose of <see cref="ForwardPass"/>: each input row gathers from the output rows that read it. Parallel over outer slices (each owns its input rows), sequential inside, so sums are deterministic.</summary>
    private float[] BackwardPass(float[] gOut, int[] inShape, AxisPlan p)
    {
        int outer = ShapeOpHelpers.Product(inShape, 0, p.Axis);
        int inner = ShapeOpHelpers.Product(inShape, p.Axis + 1);
        var gIn = new float[outer * p.InSize * inner];
        void Slice(int o)
        {
            for (int x = 0; x < p.OutSize; x++)
            {
                if (p.Outside is { } flags && flags[x]) continue;
                var gRow = gOut.AsSpan((o * p.OutSize + x) * inner, inner);
                for (int t = 0; t < p.Taps; t++)
                {
                    float w = p.Weight[x * p.Taps + t];
                    if (w == 0f) continue;
                    var inRow = gIn.AsSpan((o * p.InSize + p.Index[x * p.Taps + t]) * inner, inner);
                    for (int i = 0; i < inner; i++) inRow[i] += w * gRow[i];
                }
            }
        }
        if ((long)outer * p.OutSize * inner * p.Taps < (1 << 15)) { for (int o = 0; o < outer; o++) Slice(o); }
        else Parallel.For(0, outer, Context.Parallel, Slice);
        return gIn;
    }
}
