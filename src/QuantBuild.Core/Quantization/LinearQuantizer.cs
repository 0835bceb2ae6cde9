using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Runtime;

namespace QuantBuild.Quantization;

/// <summary>
/// Uniform (linear) quantization (docs/algorithms/linear.md): weights symmetric on the restricted signed grid
/// [-(2^(b-1)-1), 2^(b-1)-1] with zero point 0, per output channel or per tensor; activations
/// per-tensor affine on the full signed grid. Scale/zero-point and rounding come from
/// <see cref="QuantParams"/> (the runtime's own math), so build time and run time cannot disagree.
/// </summary>
public static class LinearQuantizer
{
    /// <summary>Points of the α grid of the MSE scale search (docs/algorithms/linear.md, "Weight scales").</summary>
    public const int MseGridPoints = 100;
    public const double MseAlphaMin = 0.3;

    /// <summary>Quantizes one weight tensor. <paramref name="axis"/> is the output-channel axis.</summary>
    public static WeightQuantization QuantizeWeight(string nodeName, string weightName, float[] weights, int[] shape, int axis,
        int bits, bool perChannel, WeightRangeMethod range = WeightRangeMethod.MinMax)
    {
        QuantGrid.SignedRestricted(bits, out _, out int qmax);
        var (channels, outer, inner, axisLength) = ChannelLayout.Of(shape, axis, perChannel);

        var codes = new sbyte[weights.Length];
        var scales = new float[channels];
        var buffer = new float[weights.Length / Math.Max(1, channels)];
        for (int c = 0; c < channels; c++)
        {
            // Gather the channel's elements (a strided slice when the axis is not the first).
            int n = 0;
            if (!perChannel) { weights.CopyTo(buffer, 0); n = weights.Length; }
            else
                for (int o = 0; o < outer; o++)
                {
                    Array.Copy(weights, (o * axisLength + c) * inner, buffer, n, inner);
                    n += inner;
                }
            var values = buffer.AsSpan(0, n);
            float scale = range == WeightRangeMethod.Mse ? MseScale(values, qmax) : MinMaxScale(values, qmax);
            scales[c] = scale;
        }
        for (int i = 0; i < weights.Length; i++)
        {
            int c = perChannel ? i / inner % axisLength : 0;
            codes[i] = (sbyte)QuantParams.QuantizeLinear(weights[i], scales[c], 0, -qmax, qmax);
        }
        return new WeightQuantization
        {
            NodeName = nodeName,
            WeightName = weightName,
            Shape = shape,
            Axis = axis,
            Bits = bits,
            Codes = codes,
            Scales = scales,
            Method = range == WeightRangeMethod.Mse ? "linear-mse" : "linear",
        };
    }

    /// <summary>s = max|w| / qmax via the range rule of docs/algorithms/linear.md, "Scale and zero point" (all-zero → 1, so every code is 0).</summary>
    public static float MinMaxScale(ReadOnlySpan<float> values, int qmax)
    {
        float absMax = MaxAbs(values);
        return QuantParams.FromRange(-absMax, absMax, -qmax, qmax, symmetric: true).Scale;
    }

    /// <summary>
    /// Scale of the clipping threshold t = α·max|w| minimising Σ(w − ŵ)²: α on a 100-point grid in
    /// [0.3, 1], then a golden-section refinement around the best grid point. Never worse than min-max
    /// (α = 1 is a grid point and the refinement only replaces the best on a strict improvement).
    /// </summary>
    public static float MseScale(ReadOnlySpan<float> values, int qmax)
    {
        float absMax = MaxAbs(values);
        if (absMax < QuantParams.SmallestNormal) return 1f;
        double step = (1 - MseAlphaMin) / (MseGridPoints - 1);
        double bestAlpha = 1, bestError = double.PositiveInfinity;
        for (int k = MseGridPoints - 1; k >= 0; k--)
        {
            double alpha = MseAlphaMin + k * step;
            double error = SquaredError(values, ScaleFor(absMax, alpha, qmax), qmax);
            if (error < bestError) { bestError = error; bestAlpha = alpha; }
        }
        double lo = Math.Max(MseAlphaMin, bestAlpha - step), hi = Math.Min(1, bestAlpha + step);
        double phi = (Math.Sqrt(5) - 1) / 2;
        double a = hi - phi * (hi - lo), b = lo + phi * (hi - lo);
        double fa = SquaredError(values, ScaleFor(absMax, a, qmax), qmax), fb = SquaredError(values, ScaleFor(absMax, b, qmax), qmax);
        for (int iteration = 0; iteration < 20; iteration++)
        {
            if (fa < fb) { hi = b; b = a; fb = fa; a = hi - phi * (hi - lo); fa = SquaredError(values, ScaleFor(absMax, a, qmax), qmax); }
            else { lo = a; a = b; fa = fb; b = lo + phi * (hi - lo); fb = SquaredError(values, ScaleFor(absMax, b, qmax), qmax); }
        }
        double refined = fa < fb ? a : b, refinedError = Math.Min(fa, fb);
        if (refinedError < bestError) bestAlpha = refined;
        return ScaleFor(absMax, bestAlpha, qmax);
    }

    private static float ScaleFor(float absMax, double alpha, int qmax)
    {
        float t = (float)(absMax * alpha);
        return QuantParams.FromRange(-t, t, -qmax, qmax, symmetric: true).Scale;
    }

    /// <summary>Σ (w − s·q(w))² in float64 over the float32 codes ONNX would produce.</summary>
    public static double SquaredError(ReadOnlySpan<float> values, float scale, int qmax)
    {
        double sum = 0;
        foreach (var w in values)
        {
            int q = QuantParams.QuantizeLinear(w, scale, 0, -qmax, qmax);
            double d = w - (double)(q * scale);
            sum += d * d;
        }
        return sum;
    }

    private static float MaxAbs(ReadOnlySpan<float> values)
    {
        float m = 0;
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) throw new ArgumentException("weights hold NaN or infinity");
            m = Math.Max(m, Math.Abs(v));
        }
        return m;
    }

    /// <summary>Per-tensor affine parameters of an activation from its calibrated range (full signed grid).</summary>
    public static ActivationQuantization QuantizeActivation(string name, ActivationRange range, int bits, bool symmetric)
    {
        // The runtime's QuantGrid covers the int8-stored widths; 16-bit activations (docs/wide-activations.md) use the same signed full grid.
        int qmin = -(1 << (bits - 1)), qmax = (1 << (bits - 1)) - 1;
        if (bits <= 8) QuantGrid.SignedFull(bits, out qmin, out qmax);
        else if (bits != 16) throw new ArgumentOutOfRangeException(nameof(bits), bits, "activation widths are 2..8 or 16");
        var p = QuantParams.FromRange(range.Min, range.Max, qmin, qmax, symmetric);
        return new ActivationQuantization(name, p.Scale, p.ZeroPoint, bits, Signed: true);
    }

    /// <summary>Signal-to-quantization-noise ratio in dB of a dequantized tensor against its float original (∞ when exact).</summary>
    public static double Sqnr(ReadOnlySpan<float> reference, ReadOnlySpan<float> approximation)
    {
        double signal = 0, noise = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            signal += (double)reference[i] * reference[i];
            double d = (double)reference[i] - approximation[i];
            noise += d * d;
        }
        if (noise == 0) return double.PositiveInfinity;
        return 10 * Math.Log10(signal / noise);
    }
}
