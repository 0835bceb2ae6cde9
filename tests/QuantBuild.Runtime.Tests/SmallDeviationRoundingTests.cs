using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// LeakyRelu and the int8 rescale (Max, MaxPool, Concat, Clip, Transpose, Requantize) multiply a code
/// deviation |d| ≤ 255 by a fixed-point M. They must give the QDQ meaning round(d·M) — what ONNX Runtime
/// computes from the QDQ file — not TFLite's double-rounded MBQM, which was off by one on ~30 of 256 codes
/// of openWakeWord's first LeakyRelu (α = 0.2, M_neg ≈ 0.31) and made 11% of its output codes differ from ORT.
/// </summary>
[TestClass]
public sealed class SmallDeviationRoundingTests
{
    /// <summary>round-half-to-even of the float QDQ formula, as ORT's QuantizeLinear does; ties are excluded by the caller.</summary>
    private static int QdqCode(double real, QuantParams output) =>
        Math.Clamp((int)Math.Round(real / output.Scale, MidpointRounding.ToEven) + output.ZeroPoint, -128, 127);

    private static bool NearTie(double real, QuantParams output)
    {
        double v = real / output.Scale;
        return Math.Abs(v - Math.Floor(v) - 0.5) < 1e-6;
    }

    [TestMethod]
    [DataRow(0.22431242f, -16, 0.14520961f, -93, 0.2f)]   // openWakeWord embedding, first LeakyRelu
    [DataRow(0.3124f, -6, 0.19330621f, -89, 0.2f)]
    [DataRow(0.05f, 3, 0.9f, -100, 0.01f)]                // small multipliers: M ≈ 0.056, α·M ≈ 0.00056
    [DataRow(0.5f, 0, 0.02f, 10, 0.1f)]                   // M = 25 (left shift)
    public void LeakyRelu_EqualsTheQdqFormula_ForEveryCode(float inScale, int inZero, float outScale, int outZero, float alpha)
    {
        var input = new QuantParams(inScale, inZero);
        var output = new QuantParams(outScale, outZero);
        var kernel = new LeakyReluInt8(input, output, alpha);
        for (int code = -128; code <= 127; code++)
        {
            double x = (double)(code - inZero) * inScale;
            double y = x >= 0 ? x : alpha * x;
            if (NearTie(y, output)) continue;
            Assert.AreEqual(QdqCode(y, output), (int)kernel.Apply(code), $"code {code}");
        }
    }

    [TestMethod]
    [DataRow(0.0015686274f, 127, 0.12700254f, -125)]       // the −0.4 constant of openWakeWord's Max, M ≈ 0.012
    [DataRow(0.14520961f, -93, 0.12700254f, -125)]          // LeakyRelu → Max output, M ≈ 1.14
    [DataRow(0.1f, 0, 0.7f, 5)]
    [DataRow(0.001f, -20, 0.9f, 0)]                         // M ≈ 0.0011
    public void Rescale_EqualsTheQdqFormula_ForEveryCode(float inScale, int inZero, float outScale, int outZero)
    {
        var input = new QuantParams(inScale, inZero);
        var output = new QuantParams(outScale, outZero);
        var rescale = new Int8Rescale(input, output);
        for (int code = -128; code <= 127; code++)
        {
            double x = (double)(code - inZero) * inScale;
            if (NearTie(x, output)) continue;
            Assert.AreEqual(QdqCode(x, output), (int)rescale.Apply(code), $"code {code}");
        }
    }

    [TestMethod]
    public void SmallMultiply_RoundsOnce_WherePlainMbqmRoundsTwice()
    {
        // d = −1, M ≈ 0.309: round(−0.309) = 0, but the high multiply first rounds −0.618 to −1, then the shift gives −1.
        FixedPoint.QuantizeMultiplier(0.2 * 0.22431242 / 0.14520961, out int m0, out int shift);
        Assert.AreEqual(-1, FixedPoint.MultiplyByQuantizedMultiplier(-1, m0, shift));
        Assert.AreEqual(0, FixedPoint.MultiplySmallByQuantizedMultiplier(-1, m0, shift));
    }
}
