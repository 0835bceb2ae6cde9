using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace QuantBuild.Engine;

/// <summary>A float32 elementwise binary operator as a scalar and a vector function (same rounding: one IEEE op per element).</summary>
public interface IFloatBinary
{
    static abstract float Scalar(float x, float y);
    static abstract Vector512<float> Vector(Vector512<float> x, Vector512<float> y);
    static abstract Vector256<float> Vector(Vector256<float> x, Vector256<float> y);
}

public readonly struct FloatAdd : IFloatBinary
{
    public static float Scalar(float x, float y) => x + y;
    public static Vector512<float> Vector(Vector512<float> x, Vector512<float> y) => x + y;
    public static Vector256<float> Vector(Vector256<float> x, Vector256<float> y) => x + y;
}

public readonly struct FloatSub : IFloatBinary
{
    public static float Scalar(float x, float y) => x - y;
    public static Vector512<float> Vector(Vector512<float> x, Vector512<float> y) => x - y;
    public static Vector256<float> Vector(Vector256<float> x, Vector256<float> y) => x - y;
}

public readonly struct FloatMul : IFloatBinary
{
    public static float Scalar(float x, float y) => x * y;
    public static Vector512<float> Vector(Vector512<float> x, Vector512<float> y) => x * y;
    public static Vector256<float> Vector(Vector256<float> x, Vector256<float> y) => x * y;
}

public readonly struct FloatDiv : IFloatBinary
{
    public static float Scalar(float x, float y) => x / y;
    public static Vector512<float> Vector(Vector512<float> x, Vector512<float> y) => x / y;
    public static Vector256<float> Vector(Vector256<float> x, Vector256<float> y) => x / y;
}

/// <summary>
/// Plain vector loops for the float elementwise work of the common models: one pass, no per-call
/// setup, exact per-element IEEE results (so identical to the scalar definition whatever the width).
/// Destination may be the same array as a source (element i only reads element i).
/// </summary>
public static unsafe class FloatKernels
{
    /// <summary>d[i] = op(x[i], y[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOp>(float* x, float* y, float* d, int n) where TOp : IFloatBinary
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + 16 <= n; i += 16) TOp.Vector(Vector512.Load(x + i), Vector512.Load(y + i)).Store(d + i);
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) TOp.Vector(Vector256.Load(x + i), Vector256.Load(y + i)).Store(d + i);
        for (; i < n; i++) d[i] = TOp.Scalar(x[i], y[i]);
    }

    /// <summary>d[i] = op(x[i], y).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOp>(float* x, float y, float* d, int n) where TOp : IFloatBinary
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var yv = Vector512.Create(y);
            for (; i + 16 <= n; i += 16) TOp.Vector(Vector512.Load(x + i), yv).Store(d + i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var yv = Vector256.Create(y);
            for (; i + 8 <= n; i += 8) TOp.Vector(Vector256.Load(x + i), yv).Store(d + i);
        }
        for (; i < n; i++) d[i] = TOp.Scalar(x[i], y);
    }

    /// <summary>d[i] = op(x, y[i]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Apply<TOp>(float x, float* y, float* d, int n) where TOp : IFloatBinary
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var xv = Vector512.Create(x);
            for (; i + 16 <= n; i += 16) TOp.Vector(xv, Vector512.Load(y + i)).Store(d + i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var xv = Vector256.Create(x);
            for (; i + 8 <= n; i += 8) TOp.Vector(xv, Vector256.Load(y + i)).Store(d + i);
        }
        for (; i < n; i++) d[i] = TOp.Scalar(x, y[i]);
    }

    /// <summary>d[i] = x[i] &gt;= 0 ? x[i] : alpha·x[i] in one pass.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LeakyRelu(float* x, float alpha, float* d, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var a = Vector512.Create(alpha);
            for (; i + 16 <= n; i += 16)
            {
                var v = Vector512.Load(x + i);
                Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(v, Vector512<float>.Zero), v, v * a).Store(d + i);
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var a = Vector256.Create(alpha);
            for (; i + 8 <= n; i += 8)
            {
                var v = Vector256.Load(x + i);
                Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(v, Vector256<float>.Zero), v, v * a).Store(d + i);
            }
        }
        for (; i < n; i++) d[i] = x[i] >= 0f ? x[i] : alpha * x[i];
    }

    /// <summary>Σ x[i] accumulated in double (16 lanes, then the lanes in order, then the tail): one fixed order per call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double SumAsDouble(float* x, int n)
    {
        int i = 0;
        double sum = 0;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<double> acc0 = default, acc1 = default;
            for (; i + 16 <= n; i += 16)
            {
                var (lo, hi) = Vector512.Widen(Vector512.Load(x + i));
                acc0 += lo;
                acc1 += hi;
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum += x[i];
        return sum;
    }

    /// <summary>
    /// d[i] = min(max(x[i], lo), hi) in one pass. A NaN element stays NaN (the hardware max/min
    /// return their second operand when either is NaN, so x goes second).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Clamp(float* x, float lo, float hi, float* d, int n)
    {
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var l = Vector512.Create(lo);
            var h = Vector512.Create(hi);
            for (; i + 16 <= n; i += 16) Vector512.MinNative(h, Vector512.MaxNative(l, Vector512.Load(x + i))).Store(d + i);
        }
        if (Vector256.IsHardwareAccelerated)
        {
            var l = Vector256.Create(lo);
            var h = Vector256.Create(hi);
            for (; i + 8 <= n; i += 8) Vector256.MinNative(h, Vector256.MaxNative(l, Vector256.Load(x + i))).Store(d + i);
        }
        for (; i < n; i++)
        {
            float v = x[i];
            if (float.IsNaN(v)) { d[i] = v; continue; }
            v = v < lo ? lo : v;
            d[i] = v > hi ? hi : v;
        }
    }
}

/// <summary>Adapts an <see cref="IFloatBinary"/> to the broadcast loops (<see cref="Broadcast.Apply{T, TOp}"/>).</summary>
public readonly unsafe struct FloatBinaryOp<TOp> : IBinaryOp<float> where TOp : IFloatBinary
{
    public static float Invoke(float x, float y) => TOp.Scalar(x, y);

    public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> d)
    {
        fixed (float* px = x, py = y, pd = d) FloatKernels.Apply<TOp>(px, py, pd, d.Length);
    }

    public static void Invoke(ReadOnlySpan<float> x, float y, Span<float> d)
    {
        fixed (float* px = x, pd = d) FloatKernels.Apply<TOp>(px, y, pd, d.Length);
    }

    public static void Invoke(float x, ReadOnlySpan<float> y, Span<float> d)
    {
        fixed (float* py = y, pd = d) FloatKernels.Apply<TOp>(x, py, pd, d.Length);
    }
}
