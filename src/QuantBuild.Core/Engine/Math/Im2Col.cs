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
