using QuantBuild.Graph;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class ConvTests
{
    /// <summary>Direct double-precision convolution over 3-D-lifted shapes (explicit pads only).</summary>
    internal static float[] NaiveConv(Tensor x, Tensor w, float[]? bias, int group, int[] stride, int[] dil, int[] padBegin, int[] outSpatial)
    {
        int r = x.Rank - 2;
        int[] L(int[] v, int fill) => Enumerable.Repeat(fill, 3 - r).Concat(v).ToArray();
        var inS = L(x.Shape[2..], 1); var kS = L(w.Shape[2..], 1); var oS = L(outSpatial, 1);
        var s = L(stride, 1); var d = L(dil, 1); var p = L(padBegin, 0);
        int n = x.Shape[0], c = x.Shape[1], m = w.Shape[0], cg = c / group, mg = m / group;
        var y = new float[n * m * oS[0] * oS[1] * oS[2]];
        int idx = 0;
        for (int b = 0; b < n; b++)
            for (int oc = 0; oc < m; oc++)
                for (int o0 = 0; o0 < oS[0]; o0++)
                    for (int o1 = 0; o1 < oS[1]; o1++)
                        for (int o2 = 0; o2 < oS[2]; o2++)
                        {
                            double acc = bias?[oc] ?? 0;
                            int grp = oc / mg;
                            for (int ic = 0; ic < cg; ic++)
                                for (int k0 = 0; k0 < kS[0]; k0++)
                                    for (int k1 = 0; k1 < kS[1]; k1++)
                                        for (int k2 = 0; k2 < kS[2]; k2++)
                                        {
                                            int i0 = o0 * s[0] + k0 * d[0] - p[0], i1 = o1 * s[1] + k1 * d[1] - p[1], i2 = o2 * s[2] + k2 * d[2] - p[2];
                                            if (i0 < 0 || i1 < 0 || i2 < 0 || i0 >= inS[0] || i1 >= inS[1] || i2 >= inS[2]) continue;
                                            int cin = grp * cg + ic;
                                            acc += (double)x.Floats[(((b * c + cin) * inS[0] + i0) * inS[1] + i1) * inS[2] + i2]
                                                * w.Floats[(((oc * cg + ic) * kS[0] + k0) * kS[1] + k1) * kS[2] + k2];
                                        }
                            y[idx++] = (float)acc;
                        }
        return y;
    }

    private static int OutSize(int input, int k, int s, int d, int pb, int pe) => (input + pb + pe - ((k - 1) * d + 1)) / s + 1;

    private static Action<Node> Attrs(int group, int[] strides, int[] dil, int[] pads) => n =>
    {
        n.SetInt("group", group);
        n.SetInts("strides", strides.Select(v => (long)v));
        n.SetInts("dilations", dil.Select(v => (long)v));
        n.SetInts("pads", pads.Select(v => (long)v));
    };

    private static IEnumerable<(int[] X, int[] W, int Group, int[] S, int[] D, int[] P, bool Bias)> Cases() =>
    [
        ([1, 3, 9, 11], [4, 3, 3, 3], 1, [1, 1], [1, 1], [1, 1, 1, 1], true),
        ([2, 4, 10, 7], [6, 2, 3, 2], 2, [2, 1], [1, 2], [0, 1, 2, 0], true),
        ([1, 6, 12, 13], [6, 1, 3, 3], 6, [1, 1], [1, 1], [1, 1, 1, 1], true),      // depthwise
        ([2, 5, 12, 13], [5, 1, 3, 3], 5, [2, 2], [1, 1], [1, 1, 1, 1], false),     // depthwise stride 2
        ([1, 4, 11, 17], [8, 1, 5, 5], 4, [2, 3], [2, 1], [2, 2, 3, 1], true),      // depth multiplier 2, dilation
        ([1, 1, 15, 9], [5, 1, 3, 3], 1, [1, 2], [1, 1], [0, 1, 0, 1], true),       // one input channel
        ([2, 8, 5, 6], [12, 8, 1, 1], 1, [1, 1], [1, 1], [0, 0, 0, 0], true),       // pointwise
        ([1, 8, 9, 9], [4, 8, 1, 1], 1, [2, 2], [1, 1], [0, 0, 0, 0], false),       // 1x1 strided
        ([2, 3, 20], [5, 3, 4], 1, [2], [2], [3, 1], true),                          // 1-D
        ([1, 4, 9], [4, 1, 3], 4, [1], [1], [1, 1], true),                           // 1-D depthwise
        ([1, 2, 5, 6, 7], [3, 2, 2, 3, 2], 1, [1, 2, 1], [1, 1, 2], [1, 0, 1, 0, 1, 1], true), // 3-D
        ([1, 70, 7, 9], [33, 70, 3, 3], 1, [1, 1], [1, 1], [1, 1, 1, 1], true),      // K and M past one panel
    ];

    [TestMethod]
    public void ForwardMatchesNaiveReference()
    {
        var rng = new Random(1);
        foreach (var (xs, ws, group, st, dil, pads, hasBias) in Cases())
        {
            var x = OpTester.Random(rng, 1, xs);
            var w = OpTester.Random(rng, 1, ws);
            var b = hasBias ? OpTester.Random(rng, 1, ws[0]) : null;
            int r = xs.Length - 2;
            var outSpatial = Enumerable.Range(0, r).Select(i => OutSize(xs[2 + i], ws[2 + i], st[i], dil[i], pads[i], pads[i + r])).ToArray();
            var expected = NaiveConv(x, w, b?.Floats, group, st, dil, pads[..r], outSpatial);
            var inputs = hasBias ? new Tensor?[] { x, w, b } : new Tensor?[] { x, w };
            var y = OpTester.Run("Conv", inputs, configure: Attrs(group, st, dil, pads))[0];
            CollectionAssert.AreEqual(new[] { xs[0], ws[0] }.Concat(outSpatial).ToArray(), y.Shape, $"shape for X [{string.Join(",", xs)}]");
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], y.Floats[i], 1e-4 * (1 + Math.Abs(expected[i])), $"X [{string.Join(",", xs)}] W [{string.Join(",", ws)}] element {i}");
        }
    }

    [TestMethod]
    public void AutoPadSameUpperLowerAndValid()
    {
        var rng = new Random(2);
        var x = OpTester.Random(rng, 1, 1, 2, 7, 8);
        var w = OpTester.Random(rng, 1, 3, 2, 4, 3);
        // SAME with stride 2: out = ceil(in / 2) = [4, 4]; total pad H = 3·2+4-7 = 3, W = 3·2+3-8 = 1.
        var upper = OpTester.Run("Conv", [x, w], configure: n => { n.SetString("auto_pad", "SAME_UPPER"); n.SetInts("strides", [2, 2]); })[0];
        var lower = OpTester.Run("Conv", [x, w], configure: n => { n.SetString("auto_pad", "SAME_LOWER"); n.SetInts("strides", [2, 2]); })[0];
        var valid = OpTester.Run("Conv", [x, w], configure: n => { n.SetString("auto_pad", "VALID"); n.SetInts("strides", [2, 2]); })[0];
        CollectionAssert.AreEqual(new[] { 1, 3, 4, 4 }, upper.Shape);
        CollectionAssert.AreEqual(NaiveConv(x, w, null, 1, [2, 2], [1, 1], [1, 0], [4, 4]), upper.Floats.Select(v => v).ToArray(), new Tol());
        CollectionAssert.AreEqual(NaiveConv(x, w, null, 1, [2, 2], [1, 1], [2, 1], [4, 4]), lower.Floats, new Tol());
        CollectionAssert.AreEqual(new[] { 1, 3, 2, 3 }, valid.Shape);
        CollectionAssert.AreEqual(NaiveConv(x, w, null, 1, [2, 2], [1, 1], [0, 0], [2, 3]), valid.Floats, new Tol());
    }

    private sealed class Tol : System.Collections.IComparer
    {
        public int Compare(object? a, object? b) => Math.Abs((float)a! - (float)b!) <= 1e-4 * (1 + Math.Abs((float)a!)) ? 0 : 1;
    }

    [TestMethod]
    public void RejectsChannelMismatch()
    {
        var ex = Assert.ThrowsExactly<QuantBuild.Diagnostics.QuantBuildException>(() =>
            OpTester.Run("Conv", [Tensor.Zeros(1, 3, 5, 5), Tensor.Zeros(4, 2, 3, 3)]));
        Assert.AreEqual(QuantBuild.Diagnostics.DiagnosticCodes.ShapeMismatch, ex.Code);
    }

    [TestMethod]
    public void MultiThreadedForwardIsBitIdenticalToSingleThreaded()
    {
        var rng = new Random(3);
        foreach (var (xs, ws, group) in new[] { (new[] { 2, 16, 24, 40 }, new[] { 32, 16, 3, 3 }, 1), (new[] { 2, 32, 24, 40 }, new[] { 32, 1, 3, 3 }, 32) })
        {
            var g = OpTester.SingleNodeGraph("Conv", [OpTester.Random(rng, 1, xs), OpTester.Random(rng, 1, ws)], configure: n => { n.SetInt("group", group); n.SetInts("pads", [1, 1, 1, 1]); });
            var feeds = new Dictionary<string, Tensor> { ["in0"] = OpTester.Random(rng, 1, xs), ["in1"] = OpTester.Random(rng, 1, ws) };
            var one = new QuantBuild.Engine.InferenceEngine(g, new QuantBuild.Engine.EngineOptions { MaxDegreeOfParallelism = 1 }).Run(feeds)["out0"].Floats;
            var two = new QuantBuild.Engine.InferenceEngine(g, new QuantBuild.Engine.EngineOptions { MaxDegreeOfParallelism = 2 }).Run(feeds)["out0"].Floats;
            CollectionAssert.AreEqual(one.Select(BitConverter.SingleToInt32Bits).ToArray(), two.Select(BitConverter.SingleToInt32Bits).ToArray());
        }
    }

    [TestMethod]
    public void GradientsForEveryPath()
    {
        var rng = new Random(4);
        foreach (var (xs, ws, group, st, dil, pads, hasBias) in Cases().Where(c => c.W[0] * c.X.Skip(1).Aggregate(1, (a, b) => a * b) < 20000))
        {
            var x = OpTester.Random(rng, 1, xs);
            var w = OpTester.Random(rng, 1, ws);
            var inputs = hasBias ? new Tensor?[] { x, w, OpTester.Random(rng, 1, ws[0]) } : new Tensor?[] { x, w };
            GradientCheck.Check("Conv", inputs, hasBias ? [0, 1, 2] : [0, 1], Attrs(group, st, dil, pads), maxProbes: 24);
        }
        GradientCheck.Check("Conv", [OpTester.Random(rng, 1, 1, 2, 7, 8), OpTester.Random(rng, 1, 3, 2, 4, 3)], [0, 1],
            n => { n.SetString("auto_pad", "SAME_LOWER"); n.SetInts("strides", [2, 2]); }, maxProbes: 24);
    }
}
