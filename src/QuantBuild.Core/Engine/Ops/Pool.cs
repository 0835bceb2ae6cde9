using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantBuild.Diagnostics;
using QuantBuild.Engine.LinearAlgebra;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// MaxPool and AveragePool over 1 to 3 spatial axes (kernel_shape, strides, pads, dilations,
/// auto_pad, ceil_mode; MaxPool's optional Indices output and storage_order; AveragePool's
/// count_include_pad). Planes (n, c) are independent, so threads split planes and every window is
/// reduced by one thread in a fixed order. MaxPool's gradient goes to the first maximum of each window.
/// </summary>
[OnnxOp("MaxPool")]
[OnnxOp("AveragePool")]
public sealed class PoolKernel : OpKernel
{
    private readonly WindowAttributes _window;
    private readonly bool _isMax, _ceilMode, _countIncludePad, _columnMajorIndices;
    private readonly int[] _kernel;

    public PoolKernel(Node node, KernelContext context) : base(node, context)
    {
        _isMax = node.OpType == "MaxPool";
        _window = WindowAttributes.Parse(node);
        _kernel = _window.KernelShape ?? throw node.Error(DiagnosticCodes.InvalidAttribute, "required attribute 'kernel_shape' is missing");
        _ceilMode = node.GetInt("ceil_mode", 0) != 0;
        _countIncludePad = node.GetInt("count_include_pad", 0) != 0;
        long order = node.GetInt("storage_order", 0);
        if (order is not (0 or 1)) throw node.Error(DiagnosticCodes.InvalidAttribute, $"storage_order must be 0 or 1, got {order}");
        _columnMajorIndices = order == 1;
    }

    private (WindowGeometry G, int[] PadEnd, int[] OutShape) Resolve(Tensor x)
    {
        if (x.Rank < 3) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"X must be [N, C, spatial...], got {x.ShapeString}");
        var g = _window.Resolve(Node, x.Shape[2..], _kernel, _ceilMode, out var padEnd);
        var outShape = new int[x.Rank];
        outShape[0] = x.Shape[0]; outShape[1] = x.Shape[1];
        for (int i = 0; i < g.SpatialRank; i++) outShape[2 + i] = g.Out[3 - g.SpatialRank + i];
        var pe = new int[3];
        for (int i = 0; i < padEnd.Length; i++) pe[3 - padEnd.Length + i] = padEnd[i];
        return (g, pe, outShape);
    }

    private static float[] AsFloats(Tensor t) => t.Type switch
    {
        DataType.Float => t.Floats,
        DataType.UInt8 or DataType.Int8 or DataType.Double => t.ToFloatArray(),
        _ => throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"pooling does not support {t.Type} tensors"),
    };

    private static Tensor FromFloats(float[] data, int[] shape, DataType type) => type switch
    {
        DataType.UInt8 => new Tensor(type, shape, Array.ConvertAll(data, v => (byte)v)),
        DataType.Int8 => new Tensor(type, shape, Array.ConvertAll(data, v => (sbyte)v)),
        DataType.Double => new Tensor(type, shape, Array.ConvertAll(data, v => (double)v)),
        _ => Tensor.FromFloats(data, shape),
    };

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var (g, padEnd, outShape) = Resolve(x);
        var xf = AsFloats(x);
        int planes = x.Shape[0] * x.Shape[1];
        var y = OutputBuffers.Floats(outShape);
        bool wantIndices = _isMax && Node.Outputs.Count > 1 && Node.Outputs[1].Length > 0;
        var indices = wantIndices ? new long[y.Length] : null;
        bool interior = _isMax && indices is null && WindowsStayInside(g);
        void Plane(int p)
        {
            if (interior) MaxPlaneInterior(xf, p, g, y);
            else if (_isMax) MaxPlane(xf, p, g, y, indices, null, null);
            else AveragePlane(xf, p, g, padEnd, y, null, null);
        }
        if (Context.Parallel.MaxDegreeOfParallelism != 1 && planes > 1 && (long)y.Length * g.KernelSize >= 1 << 16)
            Parallel.For(0, planes, Context.Parallel, Plane);
        else
            for (int p = 0; p < planes; p++) Plane(p);
        var result = FromFloats(y, outShape, x.Type);
        return indices is null ? [result] : [result, Tensor.FromInt64(indices, outShape)];
    }

    /// <summary>No padding, dilation or partial (ceil_mode) windows over 1-D/2-D planes: every window reads only real elements.</summary>
    private static bool WindowsStayInside(WindowGeometry g)
    {
        if (g.In[0] != 1 || g.Kernel[0] != 1) return false;
        for (int a = 1; a < 3; a++)
            if (g.PadBegin[a] != 0 || g.Dilation[a] != 1 || (g.Out[a] - 1) * g.Stride[a] + g.Kernel[a] > g.In[a]) return false;
        return true;
    }

    /// <summary>
    /// Forward max of plane <paramref name="p"/> when <see cref="WindowsStayInside"/>: the same
    /// visiting order and first-element start as <see cref="MaxPlane"/> (so NaNs behave alike),
    /// without its bounds tests and index bookkeeping.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaxPlaneInterior(float[] x, int p, WindowGeometry g, float[] y)
    {
        int IH = g.In[1], IW = g.In[2], OH = g.Out[1], OW = g.Out[2];
        int KH = g.Kernel[1], KW = g.Kernel[2], sh = g.Stride[1], sw = g.Stride[2];
        fixed (float* px = x, py = y)
        {
            float* plane = px + (long)p * IH * IW;
            float* o = py + (long)p * OH * OW;
            for (int oh = 0; oh < OH; oh++)
            {
                float* row = plane + (long)oh * sh * IW;
                if (KH == 2 && KW == 2)
                {
                    float* next = row + IW;
                    int ow = 0;
                    if (sw == 2 && Sse.IsSupported)
                    {
                        // Four windows at a time without data-dependent branches (on random data the
                        // scalar compares mispredict about half the time). Same order and the same
                        // "replace only when greater" rule as the scalar loop, so NaN and ±0 agree.
                        for (; ow + 4 <= OW; ow += 4, o += 4)
                        {
                            int iw = ow * 2;
                            Vector128<float> r0 = Vector128.Load(row + iw), r1 = Vector128.Load(row + iw + 4);
                            Vector128<float> n0 = Vector128.Load(next + iw), n1 = Vector128.Load(next + iw + 4);
                            var best = Sse.Shuffle(r0, r1, 0b10_00_10_00);
                            best = TakeGreater(Sse.Shuffle(r0, r1, 0b11_01_11_01), best);
                            best = TakeGreater(Sse.Shuffle(n0, n1, 0b10_00_10_00), best);
                            best = TakeGreater(Sse.Shuffle(n0, n1, 0b11_01_11_01), best);
                            best.Store(o);
                        }
                    }
                    for (; ow < OW; ow++, o++)
                    {
                        int iw = ow * sw;
                        float best = row[iw];
                        if (row[iw + 1] > best) best = row[iw + 1];
                        if (next[iw] > best) best = next[iw];
                        if (next[iw + 1] > best) best = next[iw + 1];
                        *o = best;
                    }
                    continue;
                }
                for (int ow = 0; ow < OW; ow++, o++)
                {
                    float* w = row + ow * sw;
                    float best = w[0];
                    for (int kh = 0; kh < KH; kh++, w += IW)
                        for (int kw = 0; kw < KW; kw++)
                            if (w[kw] > best) best = w[kw];
                    *o = best;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> TakeGreater(Vector128<float> candidate, Vector128<float> best) =>
        Vector128.ConditionalSelect(Vector128.GreaterThan(candidate, best), candidate, best);

    /// <summary>
    /// Max over each window of plane <paramref name="p"/>. Forward writes y/indices; backward
    /// (dy != null) adds dy to dx at each window's first maximum instead.
    /// </summary>
    private void MaxPlane(float[] x, int p, WindowGeometry g, float[]? y, long[]? indices, float[]? dy, float[]? dx)
    {
        int ID = g.In[0], IH = g.In[1], IW = g.In[2], OD = g.Out[0], OH = g.Out[1], OW = g.Out[2];
        // Geometry in locals: the window loops below are the whole cost of a pool.
        int KD = g.Kernel[0], KH = g.Kernel[1], KW = g.Kernel[2], sd = g.Stride[0], sh = g.Stride[1], sw = g.Stride[2];
        int dd = g.Dilation[0], dh = g.Dilation[1], dw = g.Dilation[2], pd = g.PadBegin[0], ph = g.PadBegin[1], pw = g.PadBegin[2];
        long inBase = (long)p * g.InSize;
        int o = p * g.OutSize;
        for (int od = 0; od < OD; od++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++, o++)
                {
                    float best = float.NegativeInfinity;
                    int bestD = -1, bestH = -1, bestW = -1;
                    for (int kd = 0; kd < KD; kd++)
                    {
                        int id = od * sd + kd * dd - pd;
                        if ((uint)id >= (uint)ID) continue;
                        for (int kh = 0; kh < KH; kh++)
                        {
                            int ih = oh * sh + kh * dh - ph;
                            if ((uint)ih >= (uint)IH) continue;
                            long row = inBase + ((long)id * IH + ih) * IW;
                            for (int kw = 0; kw < KW; kw++)
                            {
                                int iw = ow * sw + kw * dw - pw;
                                if ((uint)iw >= (uint)IW) continue;
                                float v = x[row + iw];
                                // Strict '>' keeps the first maximum; the first valid element always wins over the start value.
                                if (v > best || bestW < 0) { best = v; bestD = id; bestH = ih; bestW = iw; }
                            }
                        }
                    }
                    if (dy is not null)
                    {
                        if (bestW >= 0) dx![inBase + ((long)bestD * IH + bestH) * IW + bestW] += dy[o];
                        continue;
                    }
                    y![o] = best;
                    if (indices is not null)
                        indices[o] = bestW < 0 ? -1 : inBase + (_columnMajorIndices
                            ? bestD + (long)ID * (bestH + (long)IH * bestW)
                            : ((long)bestD * IH + bestH) * IW + bestW);
                }
    }

    /// <summary>Window positions counted by the divisor along one axis.</summary>
    private int Count(int start, int kernel, int dilation, int size, int padBegin, int padEnd)
    {
        int lo = _countIncludePad ? -padBegin : 0, hi = _countIncludePad ? size + padEnd : size;
        int n = 0;
        for (int k = 0; k < kernel; k++)
        {
            int i = start + k * dilation;
            if (i >= lo && i < hi) n++;
        }
        return n;
    }

    /// <summary>Average over each window (forward), or its adjoint: dx[window] += dy / divisor.</summary>
    private void AveragePlane(float[] x, int p, WindowGeometry g, int[] padEnd, float[]? y, float[]? dy, float[]? dx)
    {
        int ID = g.In[0], IH = g.In[1], IW = g.In[2], OD = g.Out[0], OH = g.Out[1], OW = g.Out[2];
        long inBase = (long)p * g.InSize;
        int o = p * g.OutSize;
        for (int od = 0; od < OD; od++)
        {
            int sd = od * g.Stride[0] - g.PadBegin[0];
            int cd = Count(sd, g.Kernel[0], g.Dilation[0], ID, g.PadBegin[0], padEnd[0]);
            for (int oh = 0; oh < OH; oh++)
            {
                int sh = oh * g.Stride[1] - g.PadBegin[1];
                int ch = Count(sh, g.Kernel[1], g.Dilation[1], IH, g.PadBegin[1], padEnd[1]);
                for (int ow = 0; ow < OW; ow++, o++)
                {
                    int sw = ow * g.Stride[2] - g.PadBegin[2];
                    int divisor = cd * ch * Count(sw, g.Kernel[2], g.Dilation[2], IW, g.PadBegin[2], padEnd[2]);
                    float share = dy is null ? 0f : (divisor == 0 ? 0f : dy[o] / divisor);
                    double sum = 0;
                    for (int kd = 0; kd < g.Kernel[0]; kd++)
                    {
                        int id = sd + kd * g.Dilation[0];
                        if ((uint)id >= (uint)ID) continue;
                        for (int kh = 0; kh < g.Kernel[1]; kh++)
                        {
                            int ih = sh + kh * g.Dilation[1];
                            if ((uint)ih >= (uint)IH) continue;
                            long row = inBase + ((long)id * IH + ih) * IW;
                            for (int kw = 0; kw < g.Kernel[2]; kw++)
                            {
                                int iw = sw + kw * g.Dilation[2];
                                if ((uint)iw >= (uint)IW) continue;
                                if (dy is null) sum += x[row + iw];
                                else dx![row + iw] += share;
                            }
                        }
                    }
                    if (dy is null) y![o] = divisor == 0 ? 0f : (float)(sum / divisor);
                }
            }
        }
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var x = args.Inputs[0]!;
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0] || args.OutputGrads[0] is not Tensor dyT) return result;
        var (g, padEnd, _) = Resolve(x);
        var xf = x.Floats;
        var dy = dyT.Floats;
        var dx = new float[x.Length];
        int planes = x.Shape[0] * x.Shape[1];
        void Plane(int p)
        {
            if (_isMax) MaxPlane(xf, p, g, null, null, dy, dx);
            else AveragePlane(xf, p, g, padEnd, null, dy, dx);
        }
        if (Context.Parallel.MaxDegreeOfParallelism != 1 && planes > 1 && (long)dy.Length * g.KernelSize >= 1 << 16)
            Parallel.For(0, planes, Context.Parallel, Plane);
        else
            for (int p = 0; p < planes; p++) Plane(p);
        result[0] = Tensor.FromFloats(dx, x.Shape);
        return result;
    }
}

/// <summary>GlobalAveragePool and GlobalMaxPool: one value per (n, c) plane, output [N, C, 1, ...].</summary>
[OnnxOp("GlobalAveragePool")]
[OnnxOp("GlobalMaxPool")]
public sealed class GlobalPoolKernel : OpKernel
{
    private readonly bool _isMax;

    public GlobalPoolKernel(Node node, KernelContext context) : base(node, context) => _isMax = node.OpType == "GlobalMaxPool";

    private (int Planes, int Size, int[] OutShape) Dims(Tensor x)
    {
        if (x.Rank < 2) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"X must be [N, C, spatial...], got {x.ShapeString}");
        var outShape = x.Shape.ToArray();
        for (int i = 2; i < outShape.Length; i++) outShape[i] = 1;
        int planes = x.Shape[0] * x.Shape[1];
        return (planes, planes == 0 ? 0 : x.Length / planes, outShape);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var (planes, size, outShape) = Dims(x);
        var xf = x.Floats;
        var y = OutputBuffers.Floats(planes);
        for (int p = 0; p < planes; p++)
        {
            var span = xf.AsSpan(p * size, size);
            if (_isMax) y[p] = size == 0 ? float.NegativeInfinity : System.Numerics.Tensors.TensorPrimitives.Max(span);
            else y[p] = (float)(SumAsDouble(span) / size);
        }
        return [Tensor.FromFloats(y, outShape)];
    }

    private static unsafe double SumAsDouble(ReadOnlySpan<float> values)
    {
        fixed (float* p = values) return FloatKernels.SumAsDouble(p, values.Length);
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var x = args.Inputs[0]!;
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0] || args.OutputGrads[0] is not Tensor dyT) return result;
        var (planes, size, _) = Dims(x);
        var dy = dyT.Floats;
        var xf = x.Floats;
        var dx = new float[x.Length];
        for (int p = 0; p < planes; p++)
        {
            if (_isMax)
            {
                if (size == 0) continue;
                int best = 0;
                for (int i = 1; i < size; i++) if (xf[p * size + i] > xf[p * size + best]) best = i;
                dx[p * size + best] = dy[p];
            }
            else dx.AsSpan(p * size, size).Fill(dy[p] / size);
        }
        result[0] = Tensor.FromFloats(dx, x.Shape);
        return result;
    }
}
