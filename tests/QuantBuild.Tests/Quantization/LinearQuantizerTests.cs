using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Quantization;

namespace QuantBuild.Tests.Quantization;

[TestClass]
public sealed class LinearQuantizerTests
{
    private static float[] RandomWeights(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    [TestMethod]
    public void PerChannelCodesAreSymmetricAndReachTheGridEdge()
    {
        // Conv weight [4,2,3,3]; channel c scaled by 10^c so per-channel scales must differ.
        var w = RandomWeights(4 * 18, 1);
        for (int i = 0; i < w.Length; i++) w[i] *= MathF.Pow(10, i / 18);
        var q = LinearQuantizer.QuantizeWeight("conv", "W", w, [4, 2, 3, 3], 0, 8, perChannel: true);
        Assert.AreEqual(4, q.Scales.Length);
        for (int c = 0; c < 4; c++)
        {
            var codes = q.Codes.Skip(c * 18).Take(18).ToArray();
            var channel = w.Skip(c * 18).Take(18).ToArray();
            float absMax = channel.Max(MathF.Abs);
            Assert.AreEqual(absMax / 127f, q.Scales[c], absMax * 1e-6f);
            Assert.AreEqual(127, codes.Max(x => Math.Abs((int)x)), "the largest |w| of each channel maps to ±127");
            Assert.IsTrue(codes.All(x => x >= -127), "restricted grid: -128 never appears");
            // Symmetry: negating the channel negates the codes.
        }
        var negated = LinearQuantizer.QuantizeWeight("conv", "W", w.Select(x => -x).ToArray(), [4, 2, 3, 3], 0, 8, perChannel: true);
        CollectionAssert.AreEqual(q.Codes.Select(c => (int)-c).ToArray(), negated.Codes.Select(c => (int)c).ToArray());
        // Error bound: |w - s·q| ≤ s/2 inside the range.
        var deq = q.Dequantize();
        for (int i = 0; i < w.Length; i++) Assert.IsTrue(Math.Abs(w[i] - deq[i]) <= q.Scales[i / 18] / 2 * 1.0001f);
    }

    [TestMethod]
    public void AxisOneFollowsColumns()
    {
        // MatMul B [K=3, N=2]: column 1 is 100× column 0.
        float[] w = [1, 100, -0.5f, 50, 0.25f, -25];
        var q = LinearQuantizer.QuantizeWeight("mm", "B", w, [3, 2], 1, 8, perChannel: true);
        Assert.AreEqual(1f / 127, q.Scales[0], 1e-9f);
        Assert.AreEqual(100f / 127, q.Scales[1], 1e-6f);
        CollectionAssert.AreEqual(new sbyte[] { 127, 127, -64, 64, 32, -32 }, q.Codes);
    }

    [TestMethod]
    public void AllZeroChannelGetsScaleOneAndZeroCodes()
    {
        float[] w = [0, 0, 0, 0.5f, -1, 0.25f];
        var q = LinearQuantizer.QuantizeWeight("c", "W", w, [2, 3], 0, 8, perChannel: true);
        Assert.AreEqual(1f, q.Scales[0]);
        CollectionAssert.AreEqual(new sbyte[] { 0, 0, 0 }, q.Codes.Take(3).ToArray());
        Assert.AreEqual(1f, LinearQuantizer.MseScale(new float[5], 127));
    }

    [TestMethod]
    public void EveryWidthFromTwoToEightUsesItsRestrictedGrid()
    {
        var w = RandomWeights(256, 3);
        for (int bits = 2; bits <= 8; bits++)
        {
            int qmax = (1 << (bits - 1)) - 1;
            var q = LinearQuantizer.QuantizeWeight("c", "W", w, [256], 0, bits, perChannel: false);
            Assert.AreEqual(qmax, q.Codes.Max(c => Math.Abs((int)c)), $"bits {bits}: max|w| lands on the grid edge");
            Assert.IsTrue(q.Codes.All(c => c >= -qmax && c <= qmax), $"bits {bits}: codes inside [-{qmax}, {qmax}]");
            Assert.IsTrue(q.Codes.Distinct().Count() > qmax, $"bits {bits}: uses most of its levels");
            Assert.AreEqual(bits, q.Bits);
            if (bits == 2) CollectionAssert.IsSubsetOf(q.Codes.Distinct().ToArray(), new sbyte[] { -1, 0, 1 }, "2 bits = ternary");
        }
    }

    [TestMethod]
    public void PerTensorHasOneScale()
    {
        var w = RandomWeights(60, 4);
        var q = LinearQuantizer.QuantizeWeight("c", "W", w, [6, 10], 0, 8, perChannel: false);
        Assert.AreEqual(1, q.Scales.Length);
        Assert.AreEqual(w.Max(MathF.Abs) / 127f, q.Scales[0], 1e-7f);
    }

    [TestMethod]
    public void MseScaleIsNeverWorseThanMinMaxAndClipsOutliers()
    {
        for (int seed = 0; seed < 10; seed++)
        {
            // Gaussian-ish weights with one outlier: MSE should clip it at low bit widths.
            var r = new Random(seed);
            var w = Enumerable.Range(0, 512).Select(_ => (float)(r.NextDouble() + r.NextDouble() + r.NextDouble() - 1.5)).ToArray();
            w[17] = 6f;
            foreach (int bits in new[] { 3, 4, 8 })
            {
                int qmax = (1 << (bits - 1)) - 1;
                float mm = LinearQuantizer.MinMaxScale(w, qmax), mse = LinearQuantizer.MseScale(w, qmax);
                double eMm = LinearQuantizer.SquaredError(w, mm, qmax), eMse = LinearQuantizer.SquaredError(w, mse, qmax);
                Assert.IsTrue(eMse <= eMm, $"seed {seed} bits {bits}: mse {eMse} > minmax {eMm}");
                if (bits == 4) Assert.IsTrue(mse < mm, "an outlier at 4 bits is worth clipping");
            }
        }
        var q = LinearQuantizer.QuantizeWeight("c", "W", [1f, -0.2f, 0.1f, 0.05f], [4], 0, 4, true, WeightRangeMethod.Mse);
        Assert.AreEqual("linear-mse", q.Method);
    }

    [TestMethod]
    public void NonFiniteWeightsAreRefused()
    {
        Assert.ThrowsExactly<ArgumentException>(() => LinearQuantizer.QuantizeWeight("c", "W", [1f, float.NaN], [2], 0, 8, true));
    }

    [TestMethod]
    public void ActivationParametersFollowSection1Point2()
    {
        // (-1, 3) on int8 full grid → s = 4/255, z = -64 (the example of docs/algorithms/linear.md, "Scale and zero point").
        var a = LinearQuantizer.QuantizeActivation("x", new ActivationRange(-1, 3), 8, symmetric: false);
        Assert.AreEqual(4f / 255, a.Scale, 1e-7f);
        Assert.AreEqual(-64, a.ZeroPoint);
        Assert.AreEqual((-128, 127), (a.QMin, a.QMax));
        var s = LinearQuantizer.QuantizeActivation("x", new ActivationRange(-1, 3), 8, symmetric: true);
        Assert.AreEqual(0, s.ZeroPoint);
        var relu = LinearQuantizer.QuantizeActivation("x", new ActivationRange(0.5f, 2), 8, symmetric: false);
        Assert.AreEqual(-128, relu.ZeroPoint, "zero stays representable: the range is widened to include 0");
        var zero = LinearQuantizer.QuantizeActivation("x", new ActivationRange(0, 0), 8, false);
        Assert.AreEqual((1f, 0), (zero.Scale, zero.ZeroPoint));
        var four = LinearQuantizer.QuantizeActivation("x", new ActivationRange(-1, 3), 4, false);
        Assert.AreEqual((-8, 7), (four.QMin, four.QMax));
        Assert.AreEqual(4f / 15, four.Scale, 1e-7f);
    }

    [TestMethod]
    public void SqnrMeasuresNoise()
    {
        Assert.AreEqual(double.PositiveInfinity, LinearQuantizer.Sqnr([1f, 2f], [1f, 2f]));
        Assert.AreEqual(20, LinearQuantizer.Sqnr([1f, 0f], [0.9f, 0f]), 1e-4);
    }
}
