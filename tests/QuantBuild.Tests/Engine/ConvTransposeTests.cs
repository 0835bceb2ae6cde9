using QuantBuild.Graph;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class ConvTransposeTests
{
    /// <summary>Scatter-form 2-D transposed convolution in double precision.</summary>
    private static float[] Naive2D(Tensor x, Tensor w, float[]? bias, int group, int[] s, int[] d, int[] pb, int oh, int ow)
    {
        int n = x.Shape[0], c = x.Shape[1], ih = x.Shape[2], iw = x.Shape[3];
        int mg = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3], cg = c / group, m = mg * group;
        var y = new double[n * m * oh * ow];
        for (int b = 0; b < n; b++)
            for (int ci = 0; ci < c; ci++)
                for (int i = 0; i < ih; i++)
                    for (int j = 0; j < iw; j++)
                        for (int mo = 0; mo < mg; mo++)
                            for (int a = 0; a < kh; a++)
                                for (int e = 0; e < kw; e++)
                                {
                                    int yi = i * s[0] + a * d[0] - pb[0], yj = j * s[1] + e * d[1] - pb[1];
                                    if (yi < 0 || yj < 0 || yi >= oh || yj >= ow) continue;
                                    int mc = (ci / cg) * mg + mo;
                                    y[((b * m + mc) * oh + yi) * ow + yj] += (double)x.Floats[((b * c + ci) * ih + i) * iw + j] * w.Floats[((ci * mg + mo) * kh + a) * kw + e];
                                }
        if (bias is not null)
            for (int i = 0; i < y.Length; i++) y[i] += bias[(i / (oh * ow)) % m];
        return y.Select(v => (float)v).ToArray();
    }

    private static IEnumerable<(int[] X, int[] W, int Group, int[] S, int[] D, int[] Pads, int[] OutPad)> Cases() =>
    [
        ([1, 2, 4, 5], [2, 3, 3, 3], 1, [1, 1], [1, 1], [0, 0, 0, 0], [0, 0]),
        ([2, 4, 3, 4], [4, 2, 3, 2], 2, [2, 3], [1, 1], [1, 0, 0, 1], [1, 0]),
        ([1, 3, 5, 4], [3, 1, 3, 3], 3, [2, 2], [2, 1], [1, 1, 1, 1], [1, 1]),
        ([1, 4, 3, 3], [4, 5, 1, 1], 1, [1, 1], [1, 1], [0, 0, 0, 0], [0, 0]),   // pointwise
    ];

    private static Action<Node> Attrs(int group, int[] s, int[] d, int[] pads, int[] outPad) => n =>
    {
        n.SetInt("group", group);
        n.SetInts("strides", s.Select(v => (long)v));
        n.SetInts("dilations", d.Select(v => (long)v));
        n.SetInts("pads", pads.Select(v => (long)v));
        n.SetInts("output_padding", outPad.Select(v => (long)v));
    };

    [TestMethod]
    public void ForwardMatchesScatterReference()
    {
        var rng = new Random(1);
        foreach (var (xs, ws, group, s, d, pads, op) in Cases())
        {
            var x = OpTester.Random(rng, 1, xs);
            var w = OpTester.Random(rng, 1, ws);
            var b = OpTester.Random(rng, 1, ws[1] * group);
            int oh = s[0] * (xs[2] - 1) + op[0] + (ws[2] - 1) * d[0] + 1 - pads[0] - pads[2];
            int ow = s[1] * (xs[3] - 1) + op[1] + (ws[3] - 1) * d[1] + 1 - pads[1] - pads[3];
            var y = OpTester.Run("ConvTranspose", [x, w, b], configure: Attrs(group, s, d, pads, op))[0];
            CollectionAssert.AreEqual(new[] { xs[0], ws[1] * group, oh, ow }, y.Shape);
            var expected = Naive2D(x, w, b.Floats, group, s, d, [pads[0], pads[1]], oh, ow);
            for (int i = 0; i < expected.Length; i++)
                Assert.AreEqual(expected[i], y.Floats[i], 1e-4 * (1 + Math.Abs(expected[i])), $"X [{string.Join(",", xs)}] element {i}");
        }
    }

    [TestMethod]
    public void OutputShapeAndAutoPadChooseThePadding()
    {
        var rng = new Random(2);
        var x = OpTester.Random(rng, 1, 1, 1, 3, 3);
        var w = OpTester.Random(rng, 1, 1, 2, 3, 3);
        // Full output is 7x7 with stride 2; SAME_UPPER wants 6x6: total padding 1, put at the end.
        var upper = OpTester.Run("ConvTranspose", [x, w], configure: n => { n.SetString("auto_pad", "SAME_UPPER"); n.SetInts("strides", [2, 2]); })[0];
        CollectionAssert.AreEqual(new[] { 1, 2, 6, 6 }, upper.Shape);
        var full = Naive2D(x, w, null, 1, [2, 2], [1, 1], [0, 0], 6, 6);
        for (int i = 0; i < full.Length; i++) Assert.AreEqual(full[i], upper.Floats[i], 1e-5);
        var lower = OpTester.Run("ConvTranspose", [x, w], configure: n => { n.SetString("auto_pad", "SAME_LOWER"); n.SetInts("strides", [2, 2]); })[0];
        var shifted = Naive2D(x, w, null, 1, [2, 2], [1, 1], [1, 1], 6, 6);
        for (int i = 0; i < shifted.Length; i++) Assert.AreEqual(shifted[i], lower.Floats[i], 1e-5);
        var bigger = OpTester.Run("ConvTranspose", [x, w], configure: n => { n.SetInts("output_shape", [8, 9]); n.SetInts("strides", [2, 2]); })[0];
        CollectionAssert.AreEqual(new[] { 1, 2, 8, 9 }, bigger.Shape);
        // Spec rule with floor division: total -1 -> begin 0 (H); total -2 -> begin -1 (W).
        var grown = Naive2D(x, w, null, 1, [2, 2], [1, 1], [0, -1], 8, 9);
        for (int i = 0; i < grown.Length; i++) Assert.AreEqual(grown[i], bigger.Floats[i], 1e-5);
    }

    [TestMethod]
    public void Gradients()
    {
        var rng = new Random(3);
        foreach (var (xs, ws, group, s, d, pads, op) in Cases())
            GradientCheck.Check("ConvTranspose", [OpTester.Random(rng, 1, xs), OpTester.Random(rng, 1, ws), OpTester.Random(rng, 1, ws[1] * group)], [0, 1, 2],
                Attrs(group, s, d, pads, op), maxProbes: 24);
        GradientCheck.Check("ConvTranspose", [OpTester.Random(rng, 1, 1, 2, 5), OpTester.Random(rng, 1, 2, 3, 3)], [0, 1],
            n => { n.SetInts("strides", [2]); n.SetString("auto_pad", "SAME_LOWER"); });
    }
}
