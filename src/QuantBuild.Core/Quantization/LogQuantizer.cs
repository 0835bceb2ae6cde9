namespace QuantBuild.Quantization;

/// <summary>
/// LogQuant weights (docs/algorithms/logquant.md, "Weights"): sign · 2^k with k on the integer grid below the full-scale
/// exponent FSR = round(log2 max|w|) + 1. With b total bits one bit is the sign and the b−1 magnitude
/// bits hold 2^(b−1) states: zero and the exponents FSR−2^(b−1)+1 … FSR−1. Rounding is in the log
/// domain (m·2^e rounds up when the mantissa m ≥ √2); magnitudes at or below the lowest exponent's
/// lower clip go to zero, above the top to the top level.
/// Code layout: magnitude state in the low b−1 bits, sign in bit b−1 (so the table has 2^b entries,
/// with the two zeros ±0 both 0).
/// Deployment: the table is stored as int8 levels with scale 2^(FSR−7), so the top level is 64 and the
/// next six octaves are exact integers (64, 32, …, 1). Levels more than 6 octaves below the top (only
/// reachable with 5+ bits) round to 0 in int8; <see cref="WeightQuantization.Codebooks"/> shows that.
/// </summary>
public sealed class LogQuantizer : IWeightQuantizer
{
    public const string MethodName = "log";

    /// <summary>int8 value of the top level: the largest power of two ≤ 127.</summary>
    public const int TopLevel = 64;

    public WeightQuantization Quantize(WeightQuantizationRequest r) =>
        CodebookWeights.Build(r, MethodName, r.Settings.Bits, values => QuantizeGroup(values, r.Settings.Bits));

    /// <summary>round(log2 x) for x &gt; 0 without a log call: e + (mantissa ≥ √2).</summary>
    public static int RoundLog2(double x)
    {
        int e = Math.ILogB(x);
        double mantissa = Math.ScaleB(x, -e);
        return mantissa >= Math.Sqrt(2) ? e + 1 : e;
    }

    /// <summary>FSR = round(log2 max|x|) + 1; 0 for an all-zero group.</summary>
    public static int FullScaleExponent(ReadOnlySpan<float> values)
    {
        double max = 0;
        foreach (var v in values) max = Math.Max(max, Math.Abs((double)v));
        return max > 0 ? RoundLog2(max) + 1 : 0;
    }

    public static CodebookGroup QuantizeGroup(float[] values, int bits)
    {
        int magnitudeStates = 1 << (bits - 1);
        int fsr = FullScaleExponent(values);
        int lowest = fsr - magnitudeStates; // exponent of the "zero" state's clip: k ≤ lowest → 0
        var table = new double[1 << bits];
        for (int j = 1; j < magnitudeStates; j++)
        {
            double level = Math.ScaleB(1.0, lowest + j);
            table[j] = level;
            table[j | magnitudeStates] = -level;
        }
        var codes = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            double x = values[i];
            if (x == 0) continue;
            int k = Math.Min(RoundLog2(Math.Abs(x)), fsr - 1);
            if (k <= lowest) continue;
            codes[i] = (k - lowest) | (x < 0 ? magnitudeStates : 0);
        }
        float preferred = (float)Math.ScaleB(1.0, fsr - 1) / TopLevel;
        return new CodebookGroup(table, codes, float.IsNormal(preferred) ? preferred : 0f);
    }
}
