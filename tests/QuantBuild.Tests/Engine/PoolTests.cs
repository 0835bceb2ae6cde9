using QuantBuild.Graph;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class PoolTests
{
    private static Action<Node> Attrs(int[] k, int[] s, int[] pads, int ceil = 0, int[]? dil = null, int countPad = 0) => n =>
    {
        n.SetInts("kernel_shape", k.Select(v => (long)v));
        n.SetInts("strides", s.Select(v => (long)v));
        n.SetInts("pads", pads.Select(v => (long)v));
        n.SetInt("ceil_mode", ceil);
        if (dil is not null) n.SetInts("dilations", dil.Select(v => (long)v));
        if (countPad != 0) n.SetInt("count_include_pad", 1);
    };

    [TestMethod]
    public void MaxPoolTiesGoToTheFirstMaximum_ForwardIndicesAndGradient()
    {
        var x = Tensor.FromFloats([1, 5, 5, 2, 0, 5, 3, 4, 1], 1, 1, 3, 3);
        var r = OpTester.Run("MaxPool", [x], 2, Attrs([2, 2], [1, 1], [0, 0, 0, 0]));
        CollectionAssert.AreEqual(new float[] { 5, 5, 4, 5 }, r[0].Floats);
        // Window (0,1) holds 5 at flat positions 1, 2 and 5: the first one wins.
        CollectionAssert.AreEqual(new long[] { 1, 1, 7, 5 }, r[1].Int64s);
        var colMajor = OpTester.Run("MaxPool", [x], 2, n => { Attrs([2, 2], [1, 1], [0, 0, 0, 0])(n); n.SetInt("storage_order", 1); });
        CollectionAssert.AreEqual(new long[] { 3, 3, 5, 7 }, colMajor[1].Int64s); // h + w·H

        var g = OpTester.SingleNodeGraph("MaxPool", [x], configure: Attrs([2, 2], [1, 1], [0, 0, 0, 0]));
        var engine = new QuantBuild.Engine.InferenceEngine(g);
        var trace = engine.Forward(new Dictionary<string, Tensor> { ["in0"] = x });
        var dx = engine.Backward(trace, new Dictionary<string, Tensor> { ["out0"] = Tensor.FromFloats([1, 10, 100, 1000], 1, 1, 2, 2) }, ["in0"])["in0"];
        CollectionAssert.AreEqual(new float[] { 0, 11, 0, 0, 0, 1000, 0, 100, 0 }, dx.Floats);
    }

    [TestMethod]
    public void CeilModeAddsAPartialWindowButNotOneStartingInPadding()
    {
        var x = OpTester.Random(new Random(1), 1, 1, 1, 5, 5);
        var floor = OpTester.Run("MaxPool", [x], configure: Attrs([2, 2], [2, 2], [0, 0, 0, 0]))[0];
        var ceil = OpTester.Run("MaxPool", [x], configure: Attrs([2, 2], [2, 2], [0, 0, 0, 0], ceil: 1))[0];
        CollectionAssert.AreEqual(new[] { 1, 1, 2, 2 }, floor.Shape);
        CollectionAssert.AreEqual(new[] { 1, 1, 3, 3 }, ceil.Shape);
        Assert.AreEqual(x.Floats[24], ceil.Floats[8]); // the 1x1 corner window
        // in 4, pad 1+1, k 2, s 2: ceil((4+2-2)/2)+1 = 3 windows, the third starts at 4-1=3 inside the input: kept.
        var padded = OpTester.Run("AveragePool", [OpTester.Random(new Random(2), 1, 1, 1, 4)], configure: Attrs([2], [2], [1, 1], ceil: 1))[0];
        CollectionAssert.AreEqual(new[] { 1, 1, 3 }, padded.Shape);
        // in 5, pad 0+1, k 2, s 2, ceil: ceil(4/2)+1 = 3; the 3rd window starts at 4 < 5: kept. in 4, pad 0+2: (4+2-2)/2+1=3, starts at 4 >= 4: dropped.
        var dropped = OpTester.Run("MaxPool", [OpTester.Random(new Random(3), 1, 1, 1, 4)], configure: Attrs([2], [2], [0, 2], ceil: 1))[0];
        CollectionAssert.AreEqual(new[] { 1, 1, 2 }, dropped.Shape);
    }

    [TestMethod]
    public void AveragePoolDivisorWithAndWithoutPadding()
    {
        var x = Tensor.FromFloats([1, 2, 3, 4], 1, 1, 2, 2);
        var excl = OpTester.Run("AveragePool", [x], configure: Attrs([2, 2], [1, 1], [1, 1, 0, 0]))[0];
        var incl = OpTester.Run("AveragePool", [x], configure: Attrs([2, 2], [1, 1], [1, 1, 0, 0], countPad: 1))[0];
        CollectionAssert.AreEqual(new float[] { 1, 1.5f, 2, 2.5f }, excl.Floats);
        CollectionAssert.AreEqual(new float[] { 0.25f, 0.75f, 1, 2.5f }, incl.Floats);
    }

    [TestMethod]
    public void GlobalPools()
    {
        var x = Tensor.FromFloats([1, 2, 3, 6, 5, 4], 1, 2, 3);
        CollectionAssert.AreEqual(new float[] { 2, 5 }, OpTester.Run("GlobalAveragePool", [x])[0].Floats);
        var max = OpTester.Run("GlobalMaxPool", [x])[0];
        CollectionAssert.AreEqual(new[] { 1, 2, 1 }, max.Shape);
        CollectionAssert.AreEqual(new float[] { 3, 6 }, max.Floats);
    }

    [TestMethod]
    public void Gradients()
    {
        var rng = new Random(5);
        // Distinct values keep the max away from ties, where finite differences are not defined.
        Tensor Distinct(params int[] shape)
        {
            int n = (int)Tensor.ElementCount(shape);
            var v = Enumerable.Range(0, n).Select(i => (float)i * 0.37f).OrderBy(_ => rng.Next()).ToArray();
            return Tensor.FromFloats(v, shape);
        }
        var variants = new (int[] X, Action<Node> A)[]
        {
            ([1, 2, 5, 6], Attrs([2, 2], [2, 2], [0, 0, 0, 0])),
            ([1, 2, 5, 6], Attrs([3, 2], [2, 1], [1, 0, 1, 1], ceil: 1)),
            ([2, 1, 7, 7], Attrs([2, 2], [1, 2], [1, 1, 1, 1], dil: [2, 2])),
            ([1, 2, 9], Attrs([3], [2], [1, 1], ceil: 1)),
            ([1, 1, 3, 4, 5], Attrs([2, 2, 2], [1, 2, 2], [0, 0, 1, 1, 1, 0])),
        };
        foreach (var (xs, a) in variants)
        {
            GradientCheck.Check("MaxPool", [Distinct(xs)], [0], a, step: 1e-3f, maxProbes: 32);
            GradientCheck.Check("AveragePool", [OpTester.Random(rng, 1, xs)], [0], a, maxProbes: 32);
            GradientCheck.Check("AveragePool", [OpTester.Random(rng, 1, xs)], [0], n => { a(n); n.SetInt("count_include_pad", 1); }, maxProbes: 32);
        }
        GradientCheck.Check("AveragePool", [OpTester.Random(rng, 1, 1, 2, 5, 5)], [0], n => { n.SetInts("kernel_shape", [3, 3]); n.SetInts("strides", [2, 2]); n.SetString("auto_pad", "SAME_UPPER"); });
        GradientCheck.Check("MaxPool", [Distinct(1, 2, 5, 5)], [0], n => { n.SetInts("kernel_shape", [2, 2]); n.SetInts("strides", [2, 2]); n.SetString("auto_pad", "SAME_LOWER"); }, step: 1e-3f);
        GradientCheck.Check("GlobalAveragePool", [OpTester.Random(rng, 1, 2, 3, 4, 5)], [0]);
        GradientCheck.Check("GlobalMaxPool", [Distinct(2, 3, 4, 5)], [0], step: 1e-3f);
    }
}
