using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using QuantBuild.Diagnostics;
using QuantBuild.Engine.LinearAlgebra;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Conv over 1 to 3 spatial axes with groups, pads, strides, dilations and auto_pad.
/// Three paths: 1×1 windows with unit stride multiply the input directly (no im2col); one input
/// channel per group (depthwise, MobileNet-style) runs a direct vectorized kernel; everything else
/// is im2col followed by GEMM. Backward: dX through col2im, dW as dY·colᵀ, dB as a sum.
/// </summary>
[OnnxOp("Conv")]
public sealed class ConvKernel : OpKernel
{
    private readonly WindowAttributes _window;
    private readonly int _group;
    private readonly bool _constantWeights;

    /// <summary>The weights packed for the GEMM, per group, and the tensor they were packed from.</summary>
    private sealed record PackedWeights(Tensor Source, Sgemm.PackedMatrix[] Groups);

    // Replaced whole (a reference write), so concurrent Forward calls never see a half-built cache.
    private PackedWeights? _packed;

    public ConvKernel(Node node, KernelContext context) : base(node, context)
    {
        _window = WindowAttributes.Parse(node);
        long group = node.GetInt("group", 1);
        if (group < 1 || group > int.MaxValue) throw node.Error(DiagnosticCodes.InvalidAttribute, $"group must be >= 1, got {group}");
        _group = (int)group;
        _constantWeights = context.ConstantInput(1) is not null;
    }

    /// <summary>
    /// The packed form of <paramref name="w"/>. The cache is keyed by the identity of the weight
    /// tensor: training and EPTQ swap initializer tensors between runs, and a different tensor is
    /// packed afresh, never served from stale panels. Weights computed at run time are not cached.
    /// </summary>
    private Sgemm.PackedMatrix[] PackedFor(Tensor w, Shapes s)
    {
        if (_packed is { } cached && ReferenceEquals(cached.Source, w)) return cached.Groups;
        var wf = w.Floats;
        var groups = new Sgemm.PackedMatrix[_group];
        for (int grp = 0; grp < _group; grp++)
            groups[grp] = Sgemm.Pack(false, s.Mg, s.Kg, wf.AsSpan(grp * s.Mg * s.Kg, s.Mg * s.Kg), s.Kg);
        if (_constantWeights) _packed = new PackedWeights(w, groups);
        return groups;
    }

    private sealed record Shapes(int N, int C, int M, int Cg, int Mg, int Kg, WindowGeometry G, int[] OutputShape);

    private Shapes Resolve(Tensor x, Tensor w, Tensor? b)
    {
        if (x.Rank < 3) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"X must be [N, C, spatial...], got {x.ShapeString}");
        if (w.Rank != x.Rank) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"W {w.ShapeString} must have the rank of X {x.ShapeString}");
        int n = x.Shape[0], c = x.Shape[1], m = w.Shape[0];
        if (c % _group != 0 || m % _group != 0)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"channels (in {c}, out {m}) are not divisible by group {_group}");
        int cg = c / _group, mg = m / _group;
        if (w.Shape[1] != cg)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"W {w.ShapeString} needs {cg} input channels per group (X {x.ShapeString}, group {_group})");
        var kernel = w.Shape[2..];
        if (_window.KernelShape is { } ks && !ks.AsSpan().SequenceEqual(kernel))
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"kernel_shape [{string.Join(",", ks)}] does not match W {w.ShapeString}");
        if (b is not null && (b.Rank != 1 || b.Shape[0] != m))
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"B must be [{m}], got {b.ShapeString}");
        var g = _window.Resolve(Node, x.Shape[2..], kernel, ceilMode: false, out _);
        var outShape = new int[x.Rank];
        outShape[0] = n; outShape[1] = m;
        for (int i = 0; i < g.SpatialRank; i++) outShape[2 + i] = g.Out[3 - g.SpatialRank + i];
        return new Shapes(n, c, m, cg, mg, cg * g.KernelSize, g, outShape);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var w = inputs[1]!;
        var b = inputs.Length > 2 ? inputs[2] : null;
        var s = Resolve(x, w, b);
        var y = OutputBuffers.Floats(s.OutputShape);
        var bias = b?.Floats;
        // The direct kernel pays off when each output channel reads its own input plane; with a
        // single group (one input channel shared by all outputs, e.g. an STFT front end) one
        // im2col feeds every output channel at once through the GEMM instead.
        if (s.Cg == 1 && _group > 1 && s.G.In[0] == 1 && s.G.Kernel[0] == 1 && !s.G.IsPointwise)
            Depthwise(x.Floats, w.Floats, bias, y, s);
        else if (s.G.IsPointwise && s.G.OutSize == 1)
            GeneralPointwise(x.Floats, w.Floats, bias, y, s); // a matrix-vector product: nothing to pack
        else
            General(x.Floats, PackedFor(w, s), bias, y, s);
        return [Tensor.FromFloats(y, s.OutputShape)];
    }

    private unsafe void General(float[] x, Sgemm.PackedMatrix[] w, float[]? bias, float[] y, Shapes s)
    {
        var g = s.G;
        int pIn = g.InSize, p = g.OutSize;
        bool pointwise = g.IsPointwise;
        fixed (float* px = x)
            for (int n = 0; n < s.N; n++)
                for (int grp = 0; grp < _group; grp++)
                {
                    var ySlice = y.AsSpan((n * s.M + grp * s.Mg) * p, s.Mg * p);
                    float beta = 0f;
                    if (bias is not null)
                    {
                        for (int m = 0; m < s.Mg; m++) ySlice.Slice(m * p, p).Fill(bias[grp * s.Mg + m]);
                        beta = 1f;
                    }
                    if (pointwise)
                    {
                        // 1×1 windows with unit stride: the input planes already are the column matrix.
                        Sgemm.Multiply(w[grp], x.AsSpan((n * s.C + grp * s.Cg) * pIn, s.Cg * pIn), p, p, 1f, beta, ySlice, p, Context.Parallel);
                        continue;
                    }
                    // im2col goes straight into the GEMM's packed panels: no column matrix.
                    var packer = new Im2ColPacker(px + (long)(n * s.C + grp * s.Cg) * pIn, s.Cg, g);
                    Sgemm.Multiply(w[grp], p, packer, 1f, beta, ySlice, p, Context.Parallel);
                }
    }

    /// <summary>1×1 windows with unit stride and a single position: one matrix-vector product per group.</summary>
    private void GeneralPointwise(float[] x, float[] w, float[]? bias, float[] y, Shapes s)
    {
        int p = s.G.OutSize;
        for (int n = 0; n < s.N; n++)
            for (int grp = 0; grp < _group; grp++)
            {
                var ySlice = y.AsSpan((n * s.M + grp * s.Mg) * p, s.Mg * p);
                float beta = 0f;
                if (bias is not null)
                {
                    for (int m = 0; m < s.Mg; m++) ySlice.Slice(m * p, p).Fill(bias[grp * s.Mg + m]);
                    beta = 1f;
                }
                ReadOnlySpan<float> xSlice = x.AsSpan((n * s.C + grp * s.Cg) * p, s.Cg * p);
                Sgemm.Multiply(false, false, s.Mg, p, s.Kg, 1f, w.AsSpan(grp * s.Mg * s.Kg, s.Mg * s.Kg), s.Kg, xSlice, p, beta, ySlice, p, Context.Parallel);
            }
    }

    // ---- depthwise: one input channel per group, direct kernel over 1-D/2-D planes ----

    private unsafe void Depthwise(float[] x, float[] w, float[]? bias, float[] y, Shapes s)
    {
        var g = s.G;
        int planes = s.N * s.M;
        long work = (long)planes * g.OutSize * g.KernelSize;
        fixed (float* px = x, pw = w, py = y)
        {
            float* xp = px, wp = pw, yp = py;
            void Plane(int index)
            {
                int n = index / s.M, m = index % s.M;
                int c = m / s.Mg; // the single input channel of output channel m's group
                DepthwisePlane(xp + ((long)n * s.C + c) * g.InSize, wp + (long)m * g.KernelSize, bias is null ? 0f : bias[m], yp + (long)index * g.OutSize, g);
            }
            if (Context.Parallel.MaxDegreeOfParallelism != 1 && planes > 1 && work >= 1 << 16)
                Parallel.For(0, planes, Context.Parallel, Plane);
            else
                for (int i = 0; i < planes; i++) Plane(i);
        }
    }

    /// <summary>
    /// One output plane. For stride sw &gt; 1 the input columns are first split into sw phases
    /// (phase q holds columns q, q+sw, ...), so every kernel tap reads a contiguous run and the
    /// inner loop is a plain vector multiply-add for any stride.
    /// </summary>
    private static unsafe void DepthwisePlane(float* x, float* w, float bias, float* y, WindowGeometry g)
    {
        if (Vector512.IsHardwareAccelerated && g.KernelSize <= 64 && g.Kernel[2] <= 16)
        {
            DepthwisePlaneRegisters(x, w, bias, y, g);
            return;
        }
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2];
        int KH = g.Kernel[1], KW = g.Kernel[2];
        int sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2];
        int ph = g.PadBegin[1], pw = g.PadBegin[2];
        int phaseLen = (IW + sw - 1) / sw;
        float[]? rented = null;
        try
        {
            float* phases = x;
            int rowStride = IW;
            if (sw > 1)
            {
                rented = ArrayPool<float>.Shared.Rent(sw * IH * phaseLen);
                rowStride = phaseLen;
            }
            fixed (float* scratch = rented)
            {
                if (sw > 1)
                {
                    phases = scratch;
                    for (int q = 0; q < sw; q++)
                        for (int ih = 0; ih < IH; ih++)
                        {
                            float* src = x + (long)ih * IW + q;
                            float* dst = scratch + ((long)q * IH + ih) * phaseLen;
                            int len = (IW - q + sw - 1) / sw;
                            for (int t = 0; t < len; t++) dst[t] = src[t * sw];
                        }
                }
                for (int oh = 0; oh < OH; oh++)
                {
                    float* yrow = y + (long)oh * OW;
                    new Span<float>(yrow, OW).Fill(bias);
                    for (int kh = 0; kh < KH; kh++)
                    {
                        int ih = oh * sh + kh * dh - ph;
                        if ((uint)ih >= (uint)IH) continue;
                        for (int kw = 0; kw < KW; kw++)
                        {
                            int off = kw * dw - pw;
                            int q = ((off % sw) + sw) % sw;
                            int shift = (off - q) / sw;
                            int len = (IW - q + sw - 1) / sw;
                            int lo = Math.Max(0, -shift), hi = Math.Min(OW, len - shift);
                            if (hi <= lo) continue;
                            float* src = phases + ((long)q * IH + ih) * rowStride + shift;
                            MultiplyAdd(yrow, src, w[kh * KW + kw], lo, hi);
                        }
                    }
                }
            }
        }
        finally
        {
            if (rented is not null) ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// The plane is copied once into zero-padded rows, split by column phase when the row stride
    /// sw &gt; 1 (phase q holds columns q, q+sw, ...), so every tap reads 16 consecutive values; then
    /// 16 outputs at a time accumulate every tap in a register: bias first, taps in (kh, kw) order,
    /// one fma each, as the row-at-a-time loop does (padding adds w·0, which leaves the sum as is).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwisePlaneRegisters(float* x, float* w, float bias, float* y, WindowGeometry g)
    {
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2];
        int KH = g.Kernel[1], KW = g.Kernel[2];
        int sh = g.Stride[1], sw = g.Stride[2], dh = g.Dilation[1], dw = g.Dilation[2];
        int ph = g.PadBegin[1], pw = g.PadBegin[2];
        int chunks = (OW + 15) / 16;
        // Tap kw reads input column ow·sw + off = (ow + shift)·sw + q with q = off mod sw.
        int minShift = int.MaxValue, maxShift = int.MinValue;
        Span<int> tapPhase = stackalloc int[KW];
        Span<int> tapShift = stackalloc int[KW];
        for (int kw = 0; kw < KW; kw++)
        {
            int off = kw * dw - pw;
            int q = ((off % sw) + sw) % sw;
            tapPhase[kw] = q;
            tapShift[kw] = (off - q) / sw;
            minShift = Math.Min(minShift, tapShift[kw]);
            maxShift = Math.Max(maxShift, tapShift[kw]);
        }
        // padded[q][ih][j] = x[ih, (j - lead)·sw + q], zero outside the row.
        int lead = -minShift;
        int rowWidth = chunks * 16 + maxShift - minShift;
        var rented = ArrayPool<float>.Shared.Rent(sw * IH * rowWidth);
        Span<float> taps = stackalloc float[KH * KW];
        new ReadOnlySpan<float>(w, KH * KW).CopyTo(taps);
        float* tail = stackalloc float[16];
        fixed (float* padded = rented)
        {
            for (int q = 0; q < sw; q++)
                for (int ih = 0; ih < IH; ih++)
                {
                    float* row = padded + ((long)q * IH + ih) * rowWidth;
                    float* src = x + (long)ih * IW;
                    if (sw == 1 && lead >= 0 && lead + IW <= rowWidth)
                    {
                        // Unit stride: the row is the input row between two zero margins.
                        new Span<float>(row, lead).Clear();
                        new ReadOnlySpan<float>(src, IW).CopyTo(new Span<float>(row + lead, IW));
                        new Span<float>(row + lead + IW, rowWidth - lead - IW).Clear();
                        continue;
                    }
                    for (int j = 0; j < rowWidth; j++)
                    {
                        int iw = (j - lead) * sw + q;
                        row[j] = (uint)iw < (uint)IW ? src[iw] : 0f;
                    }
                }
            var b = Vector512.Create(bias);
            for (int oh = 0; oh < OH; oh++)
            {
                float* yrow = y + (long)oh * OW;
                int chunk = 0;
                // Four chunks at a time: four independent fma chains hide the fma latency. Each
                // output still gets bias first, then the taps in (kh, kw) order.
                for (; chunk + 4 <= chunks && (chunk + 4) * 16 <= OW; chunk += 4)
                {
                    int c0 = chunk * 16;
                    Vector512<float> acc0 = b, acc1 = b, acc2 = b, acc3 = b;
                    for (int kh = 0; kh < KH; kh++)
                    {
                        int ih = oh * sh + kh * dh - ph;
                        if ((uint)ih >= (uint)IH) continue;
                        for (int kw = 0; kw < KW; kw++)
                        {
                            float* src = padded + ((long)tapPhase[kw] * IH + ih) * rowWidth + c0 + tapShift[kw] + lead;
                            var tap = Vector512.Create(taps[kh * KW + kw]);
                            acc0 = Vector512.FusedMultiplyAdd(tap, Vector512.Load(src), acc0);
                            acc1 = Vector512.FusedMultiplyAdd(tap, Vector512.Load(src + 16), acc1);
                            acc2 = Vector512.FusedMultiplyAdd(tap, Vector512.Load(src + 32), acc2);
                            acc3 = Vector512.FusedMultiplyAdd(tap, Vector512.Load(src + 48), acc3);
                        }
                    }
                    acc0.Store(yrow + c0);
                    acc1.Store(yrow + c0 + 16);
                    acc2.Store(yrow + c0 + 32);
                    acc3.Store(yrow + c0 + 48);
                }
                for (; chunk < chunks; chunk++)
                {
                    int c0 = chunk * 16;
                    var acc = b;
                    for (int kh = 0; kh < KH; kh++)
                    {
                        int ih = oh * sh + kh * dh - ph;
                        if ((uint)ih >= (uint)IH) continue;
                        for (int kw = 0; kw < KW; kw++)
                        {
                            float* src = padded + ((long)tapPhase[kw] * IH + ih) * rowWidth + c0 + tapShift[kw] + lead;
                            acc = Vector512.FusedMultiplyAdd(Vector512.Create(taps[kh * KW + kw]), Vector512.Load(src), acc);
                        }
                    }
                    if (c0 + 16 <= OW) acc.Store(yrow + c0);
                    else
                    {
                        acc.Store(tail);
                        for (int t = 0; c0 + t < OW; t++) yrow[c0 + t] = tail[t];
                    }
                }
            }
        }
        ArrayPool<float>.Shared.Return(rented);
    }

    /// <summary>y[i] = fma(w, x[i], y[i]) for i in [lo, hi); every width rounds the same way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void MultiplyAdd(float* y, float* x, float w, int lo, int hi)
    {
        int i = lo;
        if (Vector512.IsHardwareAccelerated)
        {
            var wv = Vector512.Create(w);
            for (; i + 16 <= hi; i += 16)
                Vector512.FusedMultiplyAdd(wv, Vector512.Load(x + i), Vector512.Load(y + i)).Store(y + i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var wv = Vector256.Create(w);
            for (; i + 8 <= hi; i += 8)
                Vector256.FusedMultiplyAdd(wv, Vector256.Load(x + i), Vector256.Load(y + i)).Store(y + i);
        }
        for (; i < hi; i++) y[i] = MathF.FusedMultiplyAdd(w, x[i], y[i]);
    }

    // ---- backward ----

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var x = args.Inputs[0]!;
        var w = args.Inputs[1]!;
        var b = args.Inputs.Length > 2 ? args.Inputs[2] : null;
        var s = Resolve(x, w, b);
        var g = s.G;
        int pIn = g.InSize, p = g.OutSize;
        var dy = args.OutputGrads[0]?.Floats ?? new float[(int)Tensor.ElementCount(s.OutputShape)];
        var result = new Tensor?[args.Inputs.Length];
        var xf = x.Floats;
        var wf = w.Floats;
        bool pointwise = g.IsPointwise;
        float[]? col = pointwise ? null : ArrayPool<float>.Shared.Rent(s.Kg * p);
        try
        {
            if (args.NeedInputGrad[0])
            {
                var dx = new float[x.Length];
                for (int n = 0; n < s.N; n++)
                    for (int grp = 0; grp < _group; grp++)
                    {
                        var wg = wf.AsSpan(grp * s.Mg * s.Kg, s.Mg * s.Kg);
                        var dySlice = dy.AsSpan((n * s.M + grp * s.Mg) * p, s.Mg * p);
                        var dxSlice = dx.AsSpan((n * s.C + grp * s.Cg) * pIn, s.Cg * pIn);
                        Im2Col.TransposedProduct(wg, s.Kg, s.Mg, dySlice, p, s.Cg, g, pointwise, col, dxSlice, Context.Parallel);
                    }
                result[0] = Tensor.FromFloats(dx, x.Shape);
            }
            if (args.NeedInputGrad[1])
            {
                var dw = new float[w.Length];
                for (int n = 0; n < s.N; n++)
                    for (int grp = 0; grp < _group; grp++)
                    {
                        ReadOnlySpan<float> xSlice = xf.AsSpan((n * s.C + grp * s.Cg) * pIn, s.Cg * pIn);
                        ReadOnlySpan<float> cols = xSlice;
                        if (!pointwise)
                        {
                            Im2Col.Forward(xSlice, s.Cg, g, col, Context.Parallel);
                            cols = col.AsSpan(0, s.Kg * p);
                        }
                        Sgemm.Multiply(false, true, s.Mg, s.Kg, p, 1f, dy.AsSpan((n * s.M + grp * s.Mg) * p, s.Mg * p), p,
                            cols, p, n == 0 ? 0f : 1f, dw.AsSpan(grp * s.Mg * s.Kg, s.Mg * s.Kg), s.Kg, Context.Parallel);
                    }
                result[1] = Tensor.FromFloats(dw, w.Shape);
            }
            if (b is not null && args.NeedInputGrad.Length > 2 && args.NeedInputGrad[2])
                result[2] = Tensor.FromFloats(ChannelSums(dy, s.N, s.M, p), s.M);
        }
        finally
        {
            if (col is not null) ArrayPool<float>.Shared.Return(col);
        }
        return result;
    }

    /// <summary>Σ over batch and positions per channel of an [N, M, P] buffer, in a fixed order.</summary>
    internal static float[] ChannelSums(float[] dy, int batches, int channels, int positions)
    {
        var sums = new float[channels];
        for (int m = 0; m < channels; m++)
        {
            double acc = 0;
            for (int n = 0; n < batches; n++)
            {
                int off = (n * channels + m) * positions;
                for (int i = 0; i < positions; i++) acc += dy[off + i];
            }
            sums[m] = (float)acc;
        }
        return sums;
    }
}
