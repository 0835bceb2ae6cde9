using System.Runtime.CompilerServices;
namespace QuantBuild.Engine.LinearAlgebra;

/// <summary>
/// The geometry of a sliding window over up to three spatial axes, always stored as three axes
/// (leading axes of size 1 for 1-D and 2-D) so one loop nest serves every rank.
/// </summary>
public sealed class WindowGeometry
{
    public WindowGeometry(int[] input, int[] output, int[] kernel, int[] strides, int[] dilations, int[] padBegin)
    {
        int r = input.Length;
        if (r < 1 || r > 3) throw new ArgumentException("1 to 3 spatial axes are supported", nameof(input));
        SpatialRank = r;
        In = Lift(input, 1); Out = Lift(output, 1); Kernel = Lift(kernel, 1);
        Stride = Lift(strides, 1); Dilation = Lift(dilations, 1); PadBegin = Lift(padBegin, 0);
    }

    private static int[] Lift(int[] v, int fill)
    {
        var r = new int[3];
        int off = 3 - v.Length;
        for (int i = 0; i < 3; i++) r[i] = i < off ? fill : v[i - off];
        return r;
    }

    public int SpatialRank { get; }
    public int[] In { get; }
    public int[] Out { get; }
    public int[] Kernel { get; }
    public int[] Stride { get; }
    public int[] Dilation { get; }
    public int[] PadBegin { get; }

    public int InSize => In[0] * In[1] * In[2];
    public int OutSize => Out[0] * Out[1] * Out[2];
    public int KernelSize => Kernel[0] * Kernel[1] * Kernel[2];

    /// <summary>A 1×…×1 window with unit stride and no padding: the column matrix is the input itself.</summary>
    public bool IsPointwise =>
        KernelSize == 1 && Stride.All(s => s == 1) && PadBegin.All(p => p == 0) && In.AsSpan().SequenceEqual(Out);
}

/// <summary>
/// im2col and its adjoint col2im. The column matrix has one row per (channel, kernel offset)
/// and one column per output position, so a convolution becomes W[M × C·K] · col[C·K × P].
/// </summary>
public static unsafe class Im2Col
{
    // Channels are independent (each writes its own rows / its own input plane), so splitting
    // them across threads keeps results bit-identical.
    private const long ParallelThreshold = 1 << 16;

    /// <summary>col[(c·K + k), p] = x[c, window(p) + offset(k)], zero in the padding.</summary>
    public static void Forward(ReadOnlySpan<float> x, int channels, WindowGeometry g, Span<float> col, ParallelOptions? parallel = null)
    {
        if (x.Length < channels * g.InSize || col.Length < channels * g.KernelSize * g.OutSize)
            throw new ArgumentException("buffers are too small for the window geometry");
        fixed (float* px = x)
        fixed (float* pc = col)
        {
            float* xp = px, cp = pc;
            if (parallel is not null && parallel.MaxDegreeOfParallelism != 1 && channels > 1 && (long)channels * g.KernelSize * g.OutSize >= ParallelThreshold)
                Parallel.For(0, channels, parallel, c => ForwardChannel(xp, c, g, cp));
            else
                for (int c = 0; c < channels; c++) ForwardChannel(xp, c, g, cp);
        }
    }

    private static void ForwardChannel(float* x, int c, WindowGeometry g, float* col)
    {
        int ID = g.In[0], IH = g.In[1], IW = g.In[2];
        int OD = g.Out[0], OH = g.Out[1], OW = g.Out[2];
        int KD = g.Kernel[0], KH = g.Kernel[1], KW = g.Kernel[2];
        int sd = g.Stride[0], sh = g.Stride[1], sw = g.Stride[2];
        int dd = g.Dilation[0], dh = g.Dilation[1], dw = g.Dilation[2];
        int pd = g.PadBegin[0], ph = g.PadBegin[1], pw = g.PadBegin[2];
        int P = OD * OH * OW;
        float* plane = x + (long)c * ID * IH * IW;
        for (int kd = 0; kd < KD; kd++)
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++)
                {
                    long row = (((long)c * KD + kd) * KH + kh) * KW + kw;
                    float* dst = col + row * P;
                    int offW = kw * dw - pw;
                    // Output columns whose input column is inside the image: iw = ow·sw + offW in [0, IW).
                    int lo = offW >= 0 ? 0 : (-offW + sw - 1) / sw;
                    int hi = IW - offW <= 0 ? 0 : Math.Min(OW, (IW - offW + sw - 1) / sw);
                    if (hi < lo) hi = lo;
                    for (int od = 0; od < OD; od++)
                    {
                        int id = od * sd + kd * dd - pd;
                        for (int oh = 0; oh < OH; oh++, dst += OW)
                        {
                            int ih = oh * sh + kh * dh - ph;
                            if ((uint)id >= (uint)ID || (uint)ih >= (uint)IH)
                            {
                                new Span<float>(dst, OW).Clear();
                                continue;
                            }
                            float* src = plane + ((long)id * IH + ih) * IW + offW;
                            for (int ow = 0; ow < lo; ow++) dst[ow] = 0f;
                            if (sw == 1)
                                new ReadOnlySpan<float>(src + lo, hi - lo).CopyTo(new Span<float>(dst + lo, hi - lo));
                            else
                                for (int ow = lo; ow < hi; ow++) dst[ow] = src[ow * sw];
                            for (int ow = hi; ow < OW; ow++) dst[ow] = 0f;
                        }
                    }
                }
    }

    /// <summary>
    /// x = col2im(Wᵀ · source) for one group. The data gradient of a convolution and the forward pass
    /// of a transposed convolution are this one computation; a pointwise window needs no col2im, so the
    /// product is written straight into <paramref name="x"/>.
    /// </summary>
    /// <param name="weights">[inner, rows] row-major, rows = channels · kernel size</param>
    /// <param name="source">[inner, columns]</param>
    /// <param name="scratch">at least rows · columns floats, unused when <paramref name="pointwise"/></param>
    public static void TransposedProduct(ReadOnlySpan<float> weights, int rows, int inner, ReadOnlySpan<float> source, int columns,
        int channels, WindowGeometry g, bool pointwise, float[]? scratch, Span<float> x, ParallelOptions? parallel)
    {
        if (pointwise)
        {
            Sgemm.Multiply(true, false, rows, columns, inner, 1f, weights, rows, source, columns, 0f, x, columns, parallel);
            return;
        }
        Sgemm.Multiply(true, false, rows, columns, inner, 1f, weights, rows, source, columns, 0f, scratch, columns, parallel);
        Backward(scratch.AsSpan(0, rows * columns), channels, g, x, parallel);
    }

    /// <summary>The adjoint of <see cref="Forward"/>: x[c, window(p) + offset(k)] += col[(c·K + k), p] (padding dropped).</summary>
    public static void Backward(ReadOnlySpan<float> col, int channels, WindowGeometry g, Span<float> x, ParallelOptions? parallel = null)
    {
        if (x.Length < channels * g.InSize || col.Length < channels * g.KernelSize * g.OutSize)
            throw new ArgumentException("buffers are too small for the window geometry");
        fixed (float* px = x)
        fixed (float* pc = col)
        {
            float* xp = px, cp = pc;
            if (parallel is not null && parallel.MaxDegreeOfParallelism != 1 && channels > 1 && (long)channels * g.KernelSize * g.OutSize >= ParallelThreshold)
                Parallel.For(0, channels, parallel, c => BackwardChannel(cp, c, g, xp));
            else
                for (int c = 0; c < channels; c++) BackwardChannel(cp, c, g, xp);
        }
    }

    private static void BackwardChannel(float* col, int c, WindowGeometry g, float* x)
    {
        int ID = g.In[0], IH = g.In[1], IW = g.In[2];
        int OD = g.Out[0], OH = g.Out[1], OW = g.Out[2];
        int KD = g.Kernel[0], KH = g.Kernel[1], KW = g.Kernel[2];
        int sd = g.Stride[0], sh = g.Stride[1], sw = g.Stride[2];
        int dd = g.Dilation[0], dh = g.Dilation[1], dw = g.Dilation[2];
        int pd = g.PadBegin[0], ph = g.PadBegin[1], pw = g.PadBegin[2];
        int P = OD * OH * OW;
        float* plane = x + (long)c * ID * IH * IW;
        for (int kd = 0; kd < KD; kd++)
            for (int kh = 0; kh < KH; kh++)
                for (int kw = 0; kw < KW; kw++)
                {
                    long row = (((long)c * KD + kd) * KH + kh) * KW + kw;
                    float* src = col + row * P;
                    int offW = kw * dw - pw;
                    int lo = offW >= 0 ? 0 : (-offW + sw - 1) / sw;
                    int hi = IW - offW <= 0 ? 0 : Math.Min(OW, (IW - offW + sw - 1) / sw);
                    for (int od = 0; od < OD; od++)
                    {
                        int id = od * sd + kd * dd - pd;
                        for (int oh = 0; oh < OH; oh++, src += OW)
                        {
                            int ih = oh * sh + kh * dh - ph;
                            if ((uint)id >= (uint)ID || (uint)ih >= (uint)IH) continue;
                            float* dst = plane + ((long)id * IH + ih) * IW + offW;
                            for (int ow = lo; ow < hi; ow++) dst[ow * sw] += src[ow];
                        }
                    }
                }
    }
}

/// <summary>
/// im2col straight into the GEMM's packed B panels: a convolution never materializes its column
/// matrix (which for a large image is several MB written once and read back once). Writes exactly
/// what <see cref="Im2Col.Forward"/> followed by the ordinary packing would, so results do not change.
/// Only valid while the pinned <c>x</c> it was made with stays pinned.
/// </summary>
public sealed unsafe class Im2ColPacker : BPanelPacker
{
    private readonly float* _x;
    private readonly int _channels;
    private readonly WindowGeometry _g;

    public Im2ColPacker(float* x, int channels, WindowGeometry g)
    {
        _x = x;
        _channels = channels;
        _g = g;
    }

    private struct Run
    {
        public int Start, Length, Od, Oh, Ow;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public override void Pack(float* dst, int col0, int cols, int nr, int k)
    {
        var g = _g;
        int ID = g.In[0], IH = g.In[1], IW = g.In[2];
        int OH = g.Out[1], OW = g.Out[2];
        int KD = g.Kernel[0], KH = g.Kernel[1], KW = g.Kernel[2];
        int sd = g.Stride[0], sh = g.Stride[1], sw = g.Stride[2];
        int dd = g.Dilation[0], dh = g.Dilation[1], dw = g.Dilation[2];
        int pd = g.PadBegin[0], ph = g.PadBegin[1], pw = g.PadBegin[2];
        if (k != _channels * KD * KH * KW) throw new ArgumentException("k does not match the window geometry", nameof(k));

        // The panel's output positions, cut where an output row ends: within a run only ow moves.
        Span<Run> runs = stackalloc Run[cols];
        int runCount = 0;
        for (int j = 0, pos = col0; j < cols;)
        {
            int ow = pos % OW, rowIndex = pos / OW;
            int len = Math.Min(OW - ow, cols - j);
            runs[runCount++] = new Run { Start = j, Length = len, Od = rowIndex / OH, Oh = rowIndex % OH, Ow = ow };
            j += len;
            pos += len;
        }

        long planeSize = (long)ID * IH * IW;
        float* d = dst;
        for (int c = 0; c < _channels; c++)
        {
            float* plane = _x + c * planeSize;
            for (int kd = 0; kd < KD; kd++)
                for (int kh = 0; kh < KH; kh++)
                    for (int kw = 0; kw < KW; kw++, d += nr)
                    {
                        int offW = kw * dw - pw;
                        for (int r = 0; r < runCount; r++)
                        {
                            ref readonly Run run = ref runs[r];
                            float* out0 = d + run.Start;
                            int len = run.Length;
                            int id = run.Od * sd + kd * dd - pd, ih = run.Oh * sh + kh * dh - ph;
                            if ((uint)id >= (uint)ID || (uint)ih >= (uint)IH)
                            {
                                for (int t = 0; t < len; t++) out0[t] = 0f;
                                continue;
                            }
                            float* src = plane + ((long)id * IH + ih) * IW;
                            int iw0 = run.Ow * sw + offW;
                            if (sw == 1)
                            {
                                int lo = Math.Clamp(-iw0, 0, len), hi = Math.Clamp(IW - iw0, lo, len);
                                int t = 0;
                                for (; t < lo; t++) out0[t] = 0f;
                                new ReadOnlySpan<float>(src + iw0 + lo, hi - lo).CopyTo(new Span<float>(out0 + lo, hi - lo));
                                for (t = hi; t < len; t++) out0[t] = 0f;
                            }
                            else
                                for (int t = 0; t < len; t++)
                                {
                                    int iw = iw0 + t * sw;
                                    out0[t] = (uint)iw < (uint)IW ? src[iw] : 0f;
                                }
                        }
                        for (int t = cols; t < nr; t++) d[t] = 0f;
                    }
        }
    }
}
