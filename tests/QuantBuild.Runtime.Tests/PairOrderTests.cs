using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// PairOrder: the fan-in order the pair-sum GEMM packs in. It must be a permutation, leave no more over-wide pairs
/// than the layer's own order, be the same on every run, and leave the convolution's bits unchanged.
/// </summary>
[TestClass]
public sealed class PairOrderTests
{
    private static int OverWidePairs(sbyte[] w, int filters, int fanIn, int[]? order)
    {
        int count = 0;
        for (int f = 0; f < filters; f++)
        for (int k = 0; k + 1 < fanIn; k += 2)
        {
            int a = w[f * fanIn + (order == null ? k : order[k])], b = w[f * fanIn + (order == null ? k + 1 : order[k + 1])];
            if ((a > 0 && b > 0 && a + b > 128) || (a < 0 && b < 0 && a + b < -128)) count++;
        }
        return count;
    }

    [TestMethod]
    public void LargeWeightsThatShareAPairAreSeparated()
    {
        // Every filter has 100 at taps 0 and 1 (one over-wide pair in the layer's order) and small weights elsewhere.
        const int filters = 5, fanIn = 9;
        var w = new sbyte[filters * fanIn];
        for (int f = 0; f < filters; f++)
        {
            w[f * fanIn] = 100;
            w[f * fanIn + 1] = 100;
            for (int k = 2; k < fanIn; k++) w[f * fanIn + k] = (sbyte)(k - 5);
        }

        int[]? order = PairOrder.Choose(w, filters, fanIn);
        Assert.IsNotNull(order);
        CollectionAssert.AreEquivalent(Enumerable.Range(0, fanIn).ToArray(), order, "a permutation of the fan-in");
        Assert.AreEqual(filters, OverWidePairs(w, filters, fanIn, null));
        Assert.AreEqual(0, OverWidePairs(w, filters, fanIn, order));
        CollectionAssert.AreEqual(order, PairOrder.Choose(w, filters, fanIn), "the same order on every run");
    }

    [TestMethod]
    public void NeverWorseThanTheLayersOrder_OnRandomWeights()
    {
        var r = new Random(77);
        int totalBefore = 0, totalAfter = 0;
        for (int trial = 0; trial < 40; trial++)
        {
            int filters = r.Next(1, 40), fanIn = r.Next(2, 120);
            sbyte[] w = TestData.RandomCodes(r, filters * fanIn, -127, 127);
            int[]? order = PairOrder.Choose(w, filters, fanIn);
            int before = OverWidePairs(w, filters, fanIn, null);
            int after = OverWidePairs(w, filters, fanIn, order);
            if (order != null)
            {
                CollectionAssert.AreEquivalent(Enumerable.Range(0, fanIn).ToArray(), order, $"trial {trial}");
                Assert.IsLessThan(before, after, $"trial {trial}: an order is kept only when it has fewer over-wide pairs");
            }

            totalBefore += before;
            totalAfter += after;
        }

        // Full-range random weights are a hard case (a quarter of all pairs overflow); the order must still help overall.
        Assert.IsLessThan(totalBefore * 3 / 4, totalAfter, $"over-wide pairs {totalBefore} → {totalAfter}");
    }

    [TestMethod]
    public void NoOrderWhereEveryPairFitsOrTheFanInIsTooLarge()
    {
        Assert.IsNull(PairOrder.Choose(Enumerable.Repeat((sbyte)64, 40).ToArray(), 4, 10));
        Assert.IsNull(PairOrder.Choose(Enumerable.Repeat((sbyte)127, PairOrder.MaxFanIn + 2).ToArray(), 1, PairOrder.MaxFanIn + 2));
    }

    [TestMethod]
    public void ReorderedConvolutionsEqualTheReference()
    {
        // Random full-range weights overflow pairs; the pair-sum tiles (AVX2 without VNNI, SSSE3) reorder the fan-in.
        // Shapes: contiguous rows (1x1 and 3x3 stride 1), strided phases (5x5 stride 2), and a fan-in tail.
        var r = new Random(31);
        bool pairSums = Conv2DInt8.GemmPath is "Avx2" or "Ssse3";
        foreach (var (g, name) in new[]
        {
            (new Conv2DGeometry(1, 24, 16, 16, 24, 1, 1), "1x1 24->24"),
            (new Conv2DGeometry(1, 3, 32, 32, 24, 5, 5, 2, 2, 1, 1, 2, 2), "5x5 stride 2, fan-in 75"),
            (new Conv2DGeometry(2, 7, 9, 11, 6, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "3x3 7->6 batch 2"),
        })
        {
            Conv2DInt8 kernel = ConvKernelPathTests.AssertMatchesReference(r, g, r.Next(-128, 128), name);
            Assert.AreEqual(pairSums, kernel.ReordersFanIn, name);
        }
    }
}
