using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

[TestClass]
public sealed class FixedPointTests
{
    [TestMethod]
    [DataRow(0.0007, 1539316279, -10)]
    [DataRow(0.5, 1073741824, 0)]
    [DataRow(1.0, 1073741824, 1)]
    [DataRow(1.7, 1825361101, 1)]
    [DataRow(1.1641532182693481e-10, 0, 0)] // 2^-33
    [DataRow(0.0, 0, 0)]
    public void QuantizeMultiplier_WorkedVectors(double m, int expectedM0, int expectedShift)
    {
        var (m0, shift) = FixedPoint.QuantizeMultiplier(m);
        Assert.AreEqual(expectedM0, m0);
        Assert.AreEqual(expectedShift, shift);
    }

    [TestMethod]
    public void QuantizeMultiplier_RoundsUpToPowerOfTwo_Renormalises()
    {
        // Just below 1.0 such that f·2^31 rounds to exactly 2^31: must become (2^30, e+1).
        double m = 1.0 - 1e-12;
        var (m0, shift) = FixedPoint.QuantizeMultiplier(m);
        Assert.AreEqual(1 << 30, m0);
        Assert.AreEqual(1, shift);
    }

    [TestMethod]
    public void QuantizeMultiplier_RejectsTooLargeAndNegative()
    {
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => FixedPoint.QuantizeMultiplier(Math.Pow(2, 31)));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => FixedPoint.QuantizeMultiplier(-0.5));
        var (m0, shift) = FixedPoint.QuantizeMultiplier(Math.Pow(2, 29) * 1.5);
        Assert.AreEqual(30, shift);
        Assert.AreEqual(3 << 29, m0);
    }

    [TestMethod]
    public void QuantizeMultiplier_PropertyOnRandomMultipliers()
    {
        var random = new Random(20240611);
        for (int i = 0; i < 20000; i++)
        {
            double m = Math.Exp(random.NextDouble() * 40 - 30); // ~1e-13 .. 2e4
            var (m0, shift) = FixedPoint.QuantizeMultiplier(m);
            if (m0 == 0)
            {
                Assert.IsTrue(m < Math.Pow(2, -31), $"m={m}");
                continue;
            }

            Assert.IsTrue(m0 >= 1 << 30 && m0 <= int.MaxValue, $"m0={m0}");
            double represented = m0 * Math.Pow(2, shift - 31);
            Assert.IsTrue(Math.Abs(represented - m) <= Math.Pow(2, shift - 32), $"m={m}");
        }
    }

    [TestMethod]
    public void Frexp_MatchesDefinitionIncludingSubnormals()
    {
        foreach (double v in new[] { 1.0, 0.75, 3.0, 1e-300, 5e-324, 1e300, 0.0007 })
        {
            double f = FixedPoint.Frexp(v, out int e);
            Assert.IsTrue(f >= 0.5 && f < 1.0, $"v={v} f={f}");
            Assert.AreEqual(v, f * Math.Pow(2, e), Math.Abs(v) * 1e-15, $"v={v}");
        }
    }

    [TestMethod]
    public void Srdhm_KnownVectors()
    {
        Assert.AreEqual(int.MaxValue, FixedPoint.SaturatingRoundingDoublingHighMul(int.MinValue, int.MinValue));
        Assert.AreEqual(1 << 29, FixedPoint.SaturatingRoundingDoublingHighMul(1 << 30, 1 << 30));
        // 0.5 ulp ties: positive rounds up, negative rounds toward zero (gemmlowp nudge 1 − 2^30).
        Assert.AreEqual(1, FixedPoint.SaturatingRoundingDoublingHighMul(1, 1 << 30));
        Assert.AreEqual(0, FixedPoint.SaturatingRoundingDoublingHighMul(-1, 1 << 30));
        Assert.AreEqual(-1, FixedPoint.SaturatingRoundingDoublingHighMul(-3, 1 << 30));
    }

    [TestMethod]
    public void Rdbpot_KnownVectors()
    {
        Assert.AreEqual(-2, FixedPoint.RoundingDivideByPowerOfTwo(-3, 1));
        Assert.AreEqual(3, FixedPoint.RoundingDivideByPowerOfTwo(5, 1));
        Assert.AreEqual(-3, FixedPoint.RoundingDivideByPowerOfTwo(-5, 1));
        Assert.AreEqual(1, FixedPoint.RoundingDivideByPowerOfTwo(1, 1));
        Assert.AreEqual(0, FixedPoint.RoundingDivideByPowerOfTwo(1, 2));
        Assert.AreEqual(7, FixedPoint.RoundingDivideByPowerOfTwo(7, 0));
        Assert.AreEqual(0, FixedPoint.RoundingDivideByPowerOfTwo(int.MaxValue, 31) - 1);
        Assert.AreEqual(-1, FixedPoint.RoundingDivideByPowerOfTwo(int.MinValue, 31));
    }

    [TestMethod]
    [DataRow(1000, 1)]
    [DataRow(-1000, -1)]
    [DataRow(12345678, 8642)]
    [DataRow(715, 1)]
    [DataRow(-714, -1)]
    public void Mbqm_WorkedVectors_0p0007(int x, int expected)
    {
        Assert.AreEqual(expected, FixedPoint.MultiplyByQuantizedMultiplier(x, 1539316279, -10));
    }

    [TestMethod]
    [DataRow(100, 170)]
    [DataRow(-100, -170)]
    [DataRow(3, 5)]
    public void Mbqm_WorkedVectors_1p7(int x, int expected)
    {
        Assert.AreEqual(expected, FixedPoint.MultiplyByQuantizedMultiplier(x, 1825361101, 1));
    }

    [TestMethod]
    public void SingleRounding_DiffersFromDoubleRoundingOnTheDiscriminatingTie()
    {
        Assert.AreEqual(-1, FixedPoint.MultiplyByQuantizedMultiplier(-714, 1539316279, -10));
        Assert.AreEqual(0, FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(-714, 1539316279, -10));
        Assert.AreEqual(0, FixedPoint.MultiplyByQuantizedMultiplier(-714, 1539316279, -10, RoundingMode.SingleRounding));
        Assert.AreEqual(8642, FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(12345678, 1539316279, -10));
        Assert.AreEqual(170, FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(100, 1825361101, 1));
    }

    [TestMethod]
    public void Mbqm_WithinOneOfRealProductOnRandomInputs()
    {
        var random = new Random(7);
        for (int i = 0; i < 50000; i++)
        {
            double m = Math.Exp(random.NextDouble() * 14 - 12); // ~6e-6 .. 7
            var (m0, shift) = FixedPoint.QuantizeMultiplier(m);
            int x = random.Next(-(1 << 20), 1 << 20);
            double exact = Math.Round(x * m, MidpointRounding.AwayFromZero);
            Assert.IsTrue(Math.Abs(FixedPoint.MultiplyByQuantizedMultiplier(x, m0, shift) - exact) <= 1, $"x={x} m={m}");
            Assert.IsTrue(Math.Abs(FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(x, m0, shift) - exact) <= 1, $"x={x} m={m}");
        }
    }

    [TestMethod]
    public void Mbqm_Int64Accumulator_MatchesExactProduct()
    {
        var random = new Random(11);
        for (int i = 0; i < 20000; i++)
        {
            long x = (long)(random.NextDouble() * 2e12 - 1e12);
            double m = Math.Exp(random.NextDouble() * 10 - 22); // keeps x·m inside int32
            var (m0, shift) = FixedPoint.QuantizeMultiplier(m);
            decimal exact = (decimal)x * m0 / (decimal)Math.Pow(2, 31 - shift);
            decimal expected = Math.Round(exact, MidpointRounding.AwayFromZero);
            Assert.AreEqual((long)expected, FixedPoint.MultiplyByQuantizedMultiplier(x, m0, shift), $"x={x} m={m}");
        }

        Assert.AreEqual(int.MaxValue, FixedPoint.MultiplyByQuantizedMultiplier(long.MaxValue, 1 << 30, 1));
        Assert.AreEqual(int.MinValue, FixedPoint.MultiplyByQuantizedMultiplier(long.MinValue, 1 << 30, 1));
    }
}
