using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

/// <summary>The 2×2 stride-2 MaxPool fast path against the scalar rule: start at the window's first element, replace only when strictly greater.</summary>
[TestClass]
public sealed class MaxPoolVectorTests
{
    [TestMethod]
    [DataRow(2, 96)]
    [DataRow(4, 22)] // 11 windows per row: vector groups plus a scalar tail
    public void TwoByTwoStrideTwoMatchesTheScalarRuleBitForBit(int height, int width)
    {
        // Few distinct values, so windows often hold ties (0 and -0) and NaNs in every position.
        var rng = new Random(width);
        var x = OpTester.Random(rng, 3f, 1, 3, height, width);
        float[] specials = { float.NaN, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, 1f };
        for (int i = 0; i < x.Length; i++) x.Floats[i] = specials[rng.Next(specials.Length)];
        var y = OpTester.Run("MaxPool", [x], configure: n => { n.SetInts("kernel_shape", [2, 2]); n.SetInts("strides", [2, 2]); })[0];
        int oh = height / 2, ow = width / 2;
        CollectionAssert.AreEqual(new[] { 1, 3, oh, ow }, y.Shape);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                {
                    int b = (c * height + 2 * i) * width + 2 * j;
                    float best = x.Floats[b];
                    foreach (int k in new[] { b + 1, b + width, b + width + 1 })
                        if (x.Floats[k] > best) best = x.Floats[k];
                    float got = y.Floats[(c * oh + i) * ow + j];
                    Assert.AreEqual(BitConverter.SingleToInt32Bits(best), BitConverter.SingleToInt32Bits(got), $"c{c} ({i},{j}): {got:R} vs {best:R}");
                }
    }
}
