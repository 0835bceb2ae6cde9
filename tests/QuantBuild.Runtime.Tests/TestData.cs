using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

internal static class TestData
{
    public static sbyte[] RandomCodes(Random random, int length, int min = -128, int max = 127)
    {
        var codes = new sbyte[length];
        for (int i = 0; i < length; i++)
        {
            codes[i] = (sbyte)random.Next(min, max + 1);
        }

        return codes;
    }

    public static int[] RandomBias(Random random, int length, int magnitude)
    {
        var bias = new int[length];
        for (int i = 0; i < length; i++)
        {
            bias[i] = random.Next(-magnitude, magnitude + 1);
        }

        return bias;
    }

    public static float[] RandomScales(Random random, int length, float min, float max)
    {
        var scales = new float[length];
        for (int i = 0; i < length; i++)
        {
            scales[i] = (float)(min + random.NextDouble() * (max - min));
        }

        return scales;
    }

    /// <summary>The float "fake-quant" output code: RNE(real / s_y) + z_y, clamped.</summary>
    public static int FakeQuantCode(double real, QuantParams output, int lo = -128, int hi = 127)
    {
        double code = Math.Round(real / output.Scale, MidpointRounding.ToEven) + output.ZeroPoint;
        return (int)Math.Clamp(code, lo, hi);
    }

    public static void AssertWithinOneCode(IReadOnlyList<int> expected, ReadOnlySpan<sbyte> actual, string context)
    {
        Assert.AreEqual(expected.Count, actual.Length, context);
        int worst = 0;
        int at = -1;
        for (int i = 0; i < actual.Length; i++)
        {
            int d = Math.Abs(expected[i] - actual[i]);
            if (d > worst)
            {
                worst = d;
                at = i;
            }
        }

        Assert.IsTrue(worst <= 1, $"{context}: max |Δ| = {worst} at {at} (expected {(at >= 0 ? expected[at] : 0)}, got {(at >= 0 ? actual[at] : 0)})");
    }

    public static void AssertSameCodes(ReadOnlySpan<sbyte> expected, ReadOnlySpan<sbyte> actual, string context)
    {
        Assert.AreEqual(expected.Length, actual.Length, context);
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] != actual[i])
            {
                Assert.Fail($"{context}: code {i} differs: reference {expected[i]}, optimized {actual[i]}");
            }
        }
    }
}
