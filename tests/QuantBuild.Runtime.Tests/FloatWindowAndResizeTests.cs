using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// The float kernels added for full float coverage, against definitions written out here (the build-time
/// engine comparison lives in QuantBuild.Tests). These run on every CPU the runtime targets, so the exact
/// checks also pin that the arithmetic does not depend on the instruction set.
/// </summary>
[TestClass]
public sealed class FloatWindowAndResizeTests
{
    private static float[] Random(int seed, int n)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
    }

    private static float[] Eval(FloatKernel kernel, float[] a, int outLength)
    {
        var y = new float[outLength];
        kernel.Eval(a, ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, y);
        return y;
    }

    [TestMethod]
    public void BilinearDoublingOfARamp_IsTheExactHalfPixelInterpolation()
    {
        // 4 → 8 with half_pixel coordinates: output x samples (x + 0.5) / 2 − 0.5, clamped to [0, 3].
        int[] index = [0, 1, 0, 1, 0, 1, 1, 2, 1, 2, 2, 3, 2, 3, 3, 3];
        float[] weight = [1, 0, 0.75f, 0.25f, 0.25f, 0.75f, 0.75f, 0.25f, 0.25f, 0.75f, 0.75f, 0.25f, 0.25f, 0.75f, 1, 0];
        var kernel = new ResizeFloat([4], [8], [0], [2], index, weight, [], nearest: false, extrapolation: 0f);
        CollectionAssert.AreEqual(new[] { 0f, 0.25f, 0.75f, 1.25f, 1.75f, 2.25f, 2.75f, 3f }, Eval(kernel, [0, 1, 2, 3], 8));
    }

    [TestMethod]
    public void TwoAxisResize_IsTheNestedSumInPassOrder_WithExtrapolationAndNearest()
    {
        // [2, 5, 6] → [2, 3, 4]: pass 0 over axis 2 (3 taps), pass 1 over axis 1 (2 taps, one coordinate outside).
        int[] inShape = [2, 5, 6], outShape = [2, 3, 4];
        int[] index0 = Enumerable.Range(0, 4 * 3).Select(i => (i * 7 + 1) % 6).ToArray();
        float[] weight0 = Random(1, 12);
        weight0[4] = 0f; // zero weights are skipped, as the engine does
        int[] index1 = Enumerable.Range(0, 3 * 2).Select(i => (i * 3 + 2) % 5).ToArray();
        float[] weight1 = Random(2, 6);
        bool[] outside = [false, false, false, false, false, true, false]; // pass 0: 4 flags, pass 1: 3
        var x = Random(3, 60);
        var kernel = new ResizeFloat(inShape, outShape, [2, 1], [3, 2], [.. index0, .. index1], [.. weight0, .. weight1], outside, nearest: false, extrapolation: -9f);
        var y = Eval(kernel, x, 24);
        for (int n = 0; n < 2; n++)
        for (int h = 0; h < 3; h++)
        for (int w = 0; w < 4; w++)
        {
            float expected;
            if (outside[4 + h]) expected = -9f;
            else
            {
                expected = 0f;
                for (int t1 = 0; t1 < 2; t1++)
                {
                    if (weight1[h * 2 + t1] == 0f) continue;
                    float inner = 0f;
                    for (int t0 = 0; t0 < 3; t0++)
                    {
                        if (weight0[w * 3 + t0] == 0f) continue;
                        inner += weight0[w * 3 + t0] * x[(n * 5 + index1[h * 2 + t1]) * 6 + index0[w * 3 + t0]];
                    }
                    expected += weight1[h * 2 + t1] * inner;
                }
            }
            Assert.AreEqual(expected, y[(n * 3 + h) * 4 + w], $"[{n},{h},{w}]");
        }

        var nearest = new ResizeFloat(inShape, outShape, [2, 1], [1, 1], [5, 0, 3, 3, 4, 0, 1], [], [], nearest: true, extrapolation: 0f);
        var copied = Eval(nearest, x, 24);
        Assert.AreEqual(x[(1 * 5 + 1) * 6 + 3], copied[(1 * 3 + 2) * 4 + 2]);
    }

    [TestMethod]
    public void ChannelAffine_IsOneMultiplyThenOneAdd()
    {
        var x = Random(4, 2 * 3 * 5);
        float[] scale = [0.5f, -1.25f, 3f], shift = [0.1f, 0.2f, -0.3f];
        var y = Eval(new ChannelAffineFloat(3, 5, scale, shift), x, x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            int c = i / 5 % 3;
            float product = x[i] * scale[c];
            Assert.AreEqual(product + shift[c], y[i]);
        }
    }

    [TestMethod]
    public void ThreeDimensionalConvAndMaxPool_MatchTheirDefinition()
    {
        // Conv: x [1, 2, 4, 5, 3], w [3, 2, 2, 3, 2], stride (1, 2, 1), pads begin (1, 1, 0), dilation (1, 1, 2).
        int[] inS = [4, 5, 3], k = [2, 3, 2], s = [1, 2, 1], p = [1, 1, 0], d = [1, 1, 2];
        int[] outS = Enumerable.Range(0, 3).Select(i => (inS[i] + p[i] + 0 - ((k[i] - 1) * d[i] + 1)) / s[i] + 1).ToArray();
        var x = Random(5, 2 * 60);
        var w = Random(6, 3 * 2 * 12);
        float[] bias = [0.5f, -0.25f, 1f];
        var conv = new ConvNdFloat(false, 1, 2, 3, 1, inS, outS, k, s, p, d, w, bias);
        int outSize = outS[0] * outS[1] * outS[2];
        var y = Eval(conv, x, 3 * outSize);
        var pool = new PoolNdFloat(true, false, 2, inS, outS, k, s, p, new int[3], d);
        var pooled = Eval(pool, x, 2 * outSize);
        for (int m = 0; m < 3; m++)
        for (int o0 = 0; o0 < outS[0]; o0++)
        for (int o1 = 0; o1 < outS[1]; o1++)
        for (int o2 = 0; o2 < outS[2]; o2++)
        {
            double sum = bias[m];
            float best = float.NegativeInfinity;
            for (int c = 0; c < 2; c++)
            for (int k0 = 0; k0 < k[0]; k0++)
            for (int k1 = 0; k1 < k[1]; k1++)
            for (int k2 = 0; k2 < k[2]; k2++)
            {
                int i0 = o0 * s[0] - p[0] + k0 * d[0], i1 = o1 * s[1] - p[1] + k1 * d[1], i2 = o2 * s[2] - p[2] + k2 * d[2];
                if (i0 < 0 || i0 >= inS[0] || i1 < 0 || i1 >= inS[1] || i2 < 0 || i2 >= inS[2]) continue;
                float v = x[((c * inS[0] + i0) * inS[1] + i1) * inS[2] + i2];
                sum += (double)w[(((m * 2 + c) * k[0] + k0) * k[1] + k1) * k[2] + k2] * v;
                if (m < 2 && c == m) best = Math.Max(best, v);
            }
            int o = (o0 * outS[1] + o1) * outS[2] + o2;
            Assert.AreEqual(sum, y[m * outSize + o], 1e-5, $"conv [{m},{o0},{o1},{o2}]");
            if (m < 2) Assert.AreEqual(best, pooled[m * outSize + o], $"pool [{m},{o0},{o1},{o2}]");
        }
    }
}
