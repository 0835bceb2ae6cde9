using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// The optimized convolution's two paths (one input channel per group; blocked GEMM over packed
/// chunks with 4-filter tiles and 16-position tiles) against the reference, over shapes chosen to hit
/// every edge: several chunks per plane, position tails, filter-count tails, fan-in not a multiple of 4,
/// strides, dilations, asymmetric pads, groups, channel multipliers, extreme zero points and weights.
/// </summary>
[TestClass]
public sealed class ConvKernelPathTests
{
    /// <summary>Random weights, bias and input for <paramref name="g"/>: the optimized kernel equals the reference, twice over the same scratch. Returns the optimized kernel.</summary>
    internal static Conv2DInt8 AssertMatchesReference(Random r, Conv2DGeometry g, int inputZeroPoint, string context, int weightMin = -128, int weightMax = 127)
    {
        var x = new QuantParams((float)(0.01 + r.NextDouble() * 0.05), inputZeroPoint);
        float[] sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
        var y = new QuantParams((float)(x.Scale * (Math.Sqrt(g.FanIn) + 2) * (0.7 + r.NextDouble())), r.Next(-20, 21));
        sbyte[] w = TestData.RandomCodes(r, g.WeightLength, weightMin, weightMax);
        int[] bias = TestData.RandomBias(r, g.OutChannels, 5000);
        sbyte[] input = TestData.RandomCodes(r, g.InputLength);
        var reference = new Conv2DInt8Reference(g, x, sw, y, w, bias);
        var optimized = new Conv2DInt8(g, x, sw, y, w, bias);
        Assert.AreEqual(reference.UsesInt64Accumulator, optimized.UsesInt64Accumulator, context);
        var expected = new sbyte[g.OutputLength];
        var actual = new sbyte[g.OutputLength];
        reference.Eval(input, w, expected);
        optimized.Eval(input, w, actual);
        TestData.AssertSameCodes(expected, actual, context);
        // A second Eval over the same scratch buffers must give the same bits (no state leaks between runs).
        Array.Clear(actual);
        optimized.Eval(input, w, actual);
        TestData.AssertSameCodes(expected, actual, context + " (second run)");
        return optimized;
    }

    private static IEnumerable<(Conv2DGeometry G, string Name)> EdgeShapes()
    {
        yield return (new Conv2DGeometry(1, 64, 13, 11, 9, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "fan-in 576, several chunks, 9 filters");
        yield return (new Conv2DGeometry(1, 200, 2, 96, 32, 1, 1), "pointwise 200->32 (ppocr)");
        yield return (new Conv2DGeometry(1, 3, 48, 64, 8, 3, 3, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "stem, fan-in 27");
        yield return (new Conv2DGeometry(1, 24, 74, 32, 24, 3, 1), "3x1 (embedding)");
        yield return (new Conv2DGeometry(1, 24, 74, 32, 24, 1, 3, padLeft: 1, padRight: 1), "1x3 padded (embedding)");
        yield return (new Conv2DGeometry(1, 1, 76, 32, 24, 3, 3), "single input channel, 24 filters");
        yield return (new Conv2DGeometry(1, 3, 40, 71, 24, 5, 5, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 2, padRight: 2), "stem 5x5 stride 2, odd width: vector and scalar lanes at both edges");
        yield return (new Conv2DGeometry(1, 24, 16, 64, 28, 1, 1), "pointwise 24->28, 16-column lanes");
        yield return (new Conv2DGeometry(1, 72, 30, 8, 72, 1, 3, padLeft: 1, padRight: 1), "1x3 padded on 8-column rows (embedding)");
        yield return (new Conv2DGeometry(1, 4, 9, 37, 4, 3, 5, strideWidth: 2, dilationWidth: 2, groups: 4, padTop: 1, padLeft: 3, padBottom: 1, padRight: 2), "depthwise stride 2 dilation 2: taps paired one kernel column apart");
        yield return (new Conv2DGeometry(1, 3, 6, 50, 3, 2, 7, strideWidth: 4, dilationWidth: 2, groups: 3, padLeft: 5, padRight: 5), "depthwise stride 4 dilation 2: taps paired two kernel columns apart");
        yield return (new Conv2DGeometry(1, 20, 9, 11, 12, 3, 1), "3x1 on 11-column rows: short-row vector pairs");
        yield return (new Conv2DGeometry(1, 6, 4, 9, 8, 3, 3, padTop: 4, padLeft: 4, padBottom: 4, padRight: 4), "pads wider than the row in the GEMM");
        yield return (new Conv2DGeometry(1, 200, 2, 96, 200, 5, 5, groups: 200, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2), "depthwise 5x5");
        yield return (new Conv2DGeometry(1, 104, 3, 96, 104, 5, 5, strideHeight: 2, groups: 104, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2), "depthwise stride 2x1");
        yield return (new Conv2DGeometry(2, 6, 17, 23, 12, 3, 3, strideHeight: 2, strideWidth: 3, groups: 6, padTop: 1, padLeft: 2, padBottom: 0, padRight: 1), "depthwise multiplier 2, stride 3");
        yield return (new Conv2DGeometry(1, 5, 20, 40, 5, 3, 3, dilationHeight: 2, dilationWidth: 3, groups: 5, padTop: 2, padLeft: 3, padBottom: 2, padRight: 3), "depthwise dilated");
        yield return (new Conv2DGeometry(1, 3, 5, 5, 3, 5, 5, groups: 3, padTop: 4, padLeft: 4, padBottom: 4, padRight: 4), "depthwise, pads wider than the row");
        yield return (new Conv2DGeometry(1, 96, 8, 8, 96, 3, 3, groups: 96, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "depthwise 8x8: narrow rows requantized as one run");
        yield return (new Conv2DGeometry(1, 28, 64, 64, 28, 3, 3, strideHeight: 2, strideWidth: 2, groups: 28, padBottom: 1, padRight: 1), "depthwise stride 2, pads only after (TF SAME)");
        yield return (new Conv2DGeometry(1, 2, 40, 70, 2, 3, 3, strideWidth: 2, groups: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "depthwise stride 2, odd left pad: the column phases swap");
        yield return (new Conv2DGeometry(2, 12, 9, 30, 10, 3, 5, strideWidth: 2, dilationHeight: 2, groups: 2, padTop: 3, padLeft: 0, padBottom: 1, padRight: 4), "grouped, dilated, asymmetric pads, batch 2");
        yield return (new Conv2DGeometry(1, 7, 1, 1, 5, 1, 1), "one position");
        yield return (new Conv2DGeometry(1, 2, 3, 3, 4, 3, 3, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2), "mostly padding");
    }

    [TestMethod]
    public void EdgeShapes_BitIdenticalToReference_AtExtremeZeroPoints()
    {
        var r = new Random(777);
        foreach (var (g, name) in EdgeShapes())
        {
            foreach (int zeroPoint in new[] { -128, 0, 37, 127 })
            {
                AssertMatchesReference(r, g, zeroPoint, $"{name}, z_x {zeroPoint}");
            }
        }
    }

    /// <summary>
    /// Depthwise layers on small planes (the channels-in-lanes form on AVX2, the plane form elsewhere): channel counts
    /// that fill and do not fill the last vector, strides, dilations, asymmetric pads, batch 2, extreme zero points and
    /// weights, and random shapes.
    /// </summary>
    [TestMethod]
    public void DepthwiseSmallPlanes_BitIdenticalToReference()
    {
        var r = new Random(2718);
        var shapes = new (Conv2DGeometry G, string Name)[]
        {
            (new Conv2DGeometry(1, 96, 8, 8, 96, 3, 3, groups: 96, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "BlazeFace 8x8, 96 channels"),
            (new Conv2DGeometry(1, 88, 16, 16, 88, 3, 3, strideHeight: 2, strideWidth: 2, groups: 88, padBottom: 1, padRight: 1), "stride 2, pads only after"),
            (new Conv2DGeometry(2, 12, 7, 9, 12, 3, 5, strideWidth: 3, dilationHeight: 2, groups: 12, padTop: 2, padLeft: 0, padBottom: 1, padRight: 4), "12 channels (half a vector over), dilated, batch 2"),
            (new Conv2DGeometry(1, 8, 1, 1, 8, 3, 3, groups: 8, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "one position, all but one tap on padding"),
            (new Conv2DGeometry(1, 33, 32, 32, 33, 5, 5, groups: 33, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2), "5x5 on the largest plane the lanes take"),
            (new Conv2DGeometry(1, 40, 3, 96, 40, 5, 5, strideHeight: 2, groups: 40, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2), "PaddleOCR's 5x5 stride 2x1"),
        };
        foreach (var (g, name) in shapes)
        {
            foreach (int zeroPoint in new[] { -128, 5, 127 })
            {
                // The lanes form keeps its cell grid in the thread's shared scratch: padding must not depend on what was there.
                DirtySharedScratch(r);
                var kernel = AssertMatchesReference(r, g, zeroPoint, $"{name}, z_x {zeroPoint}");
                Assert.AreEqual(Conv2DInt8.GemmPath == "Avx2" || Conv2DInt8.GemmPath == "AvxVnni", kernel.UsesDepthwiseLanes, name);
            }

            AssertMatchesReference(r, g, -128, $"{name}, weights -128", -128, -128);
            AssertMatchesReference(r, g, 127, $"{name}, weights 127", 127, 127);
        }

        // Pads and strides of thousands on a 1x1 input: 3x3 outputs, but the lanes' cell grid would be 6001² cells per
        // channel (counted in 64 bits), so the plane kernel takes the layer.
        var sparse = new Conv2DGeometry(1, 8, 1, 1, 8, 1, 1, strideHeight: 3000, strideWidth: 3000, padTop: 3000, padLeft: 3000, padBottom: 3000, padRight: 3000, groups: 8);
        Assert.IsFalse(AssertMatchesReference(r, sparse, 7, "stride 3000, pads 3000").UsesDepthwiseLanes);

        for (int trial = 0; trial < 60; trial++)
        {
            int channels = r.Next(8, 50);
            int kh = r.Next(1, 6), kw = r.Next(1, 6), dh = r.Next(1, 3), dw = r.Next(1, 3);
            var g = new Conv2DGeometry(r.Next(1, 3), channels, r.Next(dh * (kh - 1) + 1, 20), r.Next(dw * (kw - 1) + 1, 20), channels, kh, kw,
                r.Next(1, 4), r.Next(1, 4), r.Next(0, kh), r.Next(0, kw), r.Next(0, kh), r.Next(0, kw), dh, dw, channels);
            DirtySharedScratch(r);
            AssertMatchesReference(r, g, r.Next(-128, 128), $"trial {trial}: {g.Batch}x{channels}x{g.InHeight}x{g.InWidth} k{kh}x{kw} s{g.StrideHeight}x{g.StrideWidth} d{dh}x{dw}");
        }
    }

    /// <summary>1x1 convolutions on a 1x1 plane (squeeze-and-excitation) run the fully-connected kernel and equal the reference.</summary>
    [TestMethod]
    public void MatrixVectorConvolutions_BitIdenticalToReference()
    {
        var r = new Random(1618);
        foreach (var (batch, inChannels, outChannels) in new[] { (1, 50, 200), (1, 22, 88), (2, 12, 48), (1, 3, 5), (1, 200, 50) })
        {
            var g = new Conv2DGeometry(batch, inChannels, 1, 1, outChannels, 1, 1);
            foreach (int zeroPoint in new[] { -128, 0, 127 })
            {
                var kernel = AssertMatchesReference(r, g, zeroPoint, $"{batch}x{inChannels} -> {outChannels}, z_x {zeroPoint}");
                Assert.IsTrue(kernel.UsesMatrixVector, $"{inChannels} -> {outChannels}");
            }
        }

        Assert.IsFalse(new Conv2DInt8(new Conv2DGeometry(1, 8, 2, 1, 4, 1, 1), new QuantParams(0.1f, 0), [0.01f], new QuantParams(0.1f, 0), new sbyte[32], new int[4]).UsesMatrixVector);
    }

    private static void DirtySharedScratch(Random r)
    {
        r.NextBytes(SharedScratch.Bytes(0, 1 << 20));
        r.NextBytes(SharedScratch.Bytes(1, 1 << 16));
        int[] ints = SharedScratch.Ints(1 << 16);
        for (int i = 0; i < ints.Length; i++)
        {
            ints[i] = r.Next();
        }
    }

    [TestMethod]
    public void ExtremeWeights_BitIdenticalToReference()
    {
        var r = new Random(31337);
        // All weights −128 or 127 with zero points at the ends drive every partial sum to its bound.
        var g = new Conv2DGeometry(1, 33, 9, 9, 6, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        AssertMatchesReference(r, g, -128, "weights -128", -128, -128);
        AssertMatchesReference(r, g, 127, "weights 127", 127, 127);
        var depthwise = new Conv2DGeometry(1, 4, 9, 40, 4, 3, 3, groups: 4, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        AssertMatchesReference(r, depthwise, -128, "depthwise weights -128", -128, -128);
        AssertMatchesReference(r, depthwise, 127, "depthwise weights 127", 127, 127);
    }

    [TestMethod]
    public void RandomShapes_BitIdenticalToReference()
    {
        var r = new Random(9001);
        for (int trial = 0; trial < 150; trial++)
        {
            int groups = r.Next(3) == 0 ? r.Next(1, 5) : 1;
            int icPerGroup = r.Next(4) == 0 ? 1 : r.Next(1, 40);
            int ocPerGroup = r.Next(1, 11);
            int kh = r.Next(1, 6), kw = r.Next(1, 6);
            int dh = r.Next(1, 3), dw = r.Next(1, 3);
            int inH = r.Next(dh * (kh - 1) + 1, 30), inW = r.Next(dw * (kw - 1) + 1, 45);
            var g = new Conv2DGeometry(
                r.Next(1, 3), icPerGroup * groups, inH, inW, ocPerGroup * groups, kh, kw,
                r.Next(1, 4), r.Next(1, 4), r.Next(0, kh), r.Next(0, kw), r.Next(0, kh), r.Next(0, kw), dh, dw, groups);
            AssertMatchesReference(r, g, r.Next(-128, 128), $"trial {trial}: {g.Batch}x{g.InChannels}x{inH}x{inW} -> {g.OutChannels} k{kh}x{kw} g{groups}");
        }
    }

    [TestMethod]
    public void PhasedPacking_BitIdenticalToReference()
    {
        var r = new Random(2718);
        var shapes = new (Conv2DGeometry G, string Name)[]
        {
            (new Conv2DGeometry(1, 3, 128, 128, 24, 5, 5, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 2, padRight: 2), "BlazeFace stem 5x5 stride 2"),
            (new Conv2DGeometry(1, 64, 20, 66, 9, 3, 3, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "fan-in 576: chunks start mid-row"),
            (new Conv2DGeometry(2, 12, 9, 61, 10, 3, 5, strideWidth: 3, dilationHeight: 2, groups: 2, padTop: 3, padLeft: 0, padBottom: 1, padRight: 4), "stride 3, dilated, grouped, batch 2"),
            (new Conv2DGeometry(1, 5, 7, 40, 6, 3, 3, strideHeight: 2, strideWidth: 2, padTop: 5, padLeft: 41, padBottom: 5, padRight: 41), "stride 2, pads wider than the row"),
            (new Conv2DGeometry(1, 7, 12, 30, 5, 2, 4, dilationWidth: 3, padLeft: 4, padRight: 1), "stride 1, dilated columns, cut rows"),
            (new Conv2DGeometry(1, 3, 16, 33, 4, 3, 3, strideHeight: 3, strideWidth: 2, padLeft: 1), "odd width, one-sided pad"),
        };
        foreach (var (g, name) in shapes)
        {
            foreach (int zeroPoint in new[] { -128, 0, 127 })
            {
                DirtySharedScratch(r);
                Assert.IsTrue(AssertMatchesReference(r, g, zeroPoint, $"{name}, z_x {zeroPoint}").UsesPhasedPacking, name);
            }
        }

        for (int trial = 0; trial < 60; trial++)
        {
            int groups = r.Next(4) == 0 ? 2 : 1;
            int kh = r.Next(1, 6), kw = r.Next(1, 6);
            int dh = r.Next(1, 3), dw = r.Next(1, 3);
            int sh = r.Next(1, 4), sw = r.Next(1, 4);
            var g = new Conv2DGeometry(
                1, r.Next(1, 20) * groups, r.Next(dh * (kh - 1) + 1, 20), r.Next(16 * sw + dw * (kw - 1), 100), r.Next(1, 9) * groups, kh, kw,
                sh, sw, r.Next(0, kh), r.Next(0, kw), r.Next(0, kh), r.Next(0, kw), dh, dw, groups);
            var kernel = AssertMatchesReference(r, g, r.Next(-128, 128), $"trial {trial}: {g.InChannels}x{g.InHeight}x{g.InWidth} -> {g.OutChannels} k{kh}x{kw} s{sh}x{sw} d{dh}x{dw} g{groups}");
            bool contiguous = sh == 1 && sw == 1 && g.OutWidth == g.InWidth;
            bool gemm = !kernel.UsesReferencePath && !(g.InChannelsPerGroup == 1 && g.OutChannelsPerGroup < 4);
            Assert.AreEqual(gemm && !contiguous && g.OutWidth >= 16, kernel.UsesPhasedPacking, $"trial {trial}");
        }
    }

    [TestMethod]
    public void SaturatedBias_RunsTheFastPaths_AndMatchesTheInt64Reference()
    {
        // A bias saturated to int32 (s_x·s_w tiny, seen in PP-OCRv4's recognizer) takes Σ (x − z_x)·w + b past int32
        // although the sums without it fit: only those channels' output stage needs 64 bits. A 32-bit add would wrap
        // to the other sign and clamp to the other end.
        var r = new Random(31);
        var shapes = new (Conv2DGeometry G, string Name)[]
        {
            (new Conv2DGeometry(1, 16, 8, 20, 9, 1, 1), "pointwise GEMM, filter tail"),
            (new Conv2DGeometry(1, 4, 20, 40, 6, 3, 3, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "strided GEMM from phases"),
            (new Conv2DGeometry(1, 12, 40, 40, 12, 5, 5, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2, groups: 12), "depthwise 5x5, plane kernel"),
            (new Conv2DGeometry(1, 16, 8, 8, 16, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 16), "depthwise small plane (the lanes form otherwise)"),
            (new Conv2DGeometry(2, 8, 1, 1, 4, 1, 1), "one position (the fully-connected kernel otherwise)"),
        };
        int[] huge = [int.MaxValue, int.MinValue, int.MaxValue - 7, int.MinValue + 3];
        foreach (var (g, name) in shapes)
        {
            foreach (int zeroPoint in new[] { -128, 0, 127 })
            {
                var x = new QuantParams(0.02f, zeroPoint);
                float[] sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
                sbyte[] w = TestData.RandomCodes(r, g.WeightLength);
                sbyte[] input = TestData.RandomCodes(r, g.InputLength);
                // Every other channel saturated; the others ordinary, so one layer mixes both output stages.
                int[] bias = Enumerable.Range(0, g.OutChannels).Select(c => c % 2 == 0 ? huge[c / 2 % huge.Length] : r.Next(-5000, 5000)).ToArray();
                var y = new QuantParams((float)(x.Scale * 0.01 * Math.Sqrt(g.FanIn) * 40), 2);
                var reference = new Conv2DInt8Reference(g, x, sw, y, w, bias);
                var optimized = new Conv2DInt8(g, x, sw, y, w, bias);
                Assert.IsTrue(reference.UsesInt64Accumulator, name);
                Assert.IsFalse(optimized.UsesReferencePath, name);
                var expected = new sbyte[g.OutputLength];
                var actual = new sbyte[g.OutputLength];
                reference.Eval(input, w, expected);
                optimized.Eval(input, w, actual);
                TestData.AssertSameCodes(expected, actual, $"{name}, z_x {zeroPoint}");
                if (expected.Length >= 64)
                {
                    Assert.IsGreaterThan(20, expected.Distinct().Count(), $"{name}: the ordinary channels must spread");
                }
            }
        }

        // Sums that themselves may leave int32 (fan-in 70 000) still run the reference.
        var enormous = new Conv2DGeometry(1, 70_000, 1, 1, 2, 1, 1);
        Assert.IsTrue(new Conv2DInt8(enormous, new QuantParams(0.02f, -128), [0.01f, 0.01f], new QuantParams(1f, 0), Enumerable.Repeat((sbyte)-128, enormous.WeightLength).ToArray(), new int[2]).UsesReferencePath);
    }

    /// <summary>Given weights and input: the optimized kernel equals the reference.</summary>
    private static Conv2DInt8 AssertMatchesReference(Conv2DGeometry g, sbyte[] w, sbyte[] input, int inputZeroPoint, string context)
    {
        var r = new Random(5);
        var x = new QuantParams(0.02f, inputZeroPoint);
        float[] sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
        // Output scale from the largest possible accumulator, so results stay off the clamp and any error shows.
        double largest = Enumerable.Range(0, g.OutChannels).Max(c => w.Skip(c * g.FanIn).Take(g.FanIn).Sum(v => Math.Abs((double)v)) * 255);
        var y = new QuantParams((float)(x.Scale * 0.02 * largest / 100), 3);
        int[] bias = new int[g.OutChannels];
        var expected = new sbyte[g.OutputLength];
        var actual = new sbyte[g.OutputLength];
        new Conv2DInt8Reference(g, x, sw, y, w, bias).Eval(input, w, expected);
        var optimized = new Conv2DInt8(g, x, sw, y, w, bias);
        optimized.Eval(input, w, actual);
        TestData.AssertSameCodes(expected, actual, context);
        return optimized;
    }

    [TestMethod]
    public void PairSumPath_BitIdentical_AtTheInt16SaturationBoundary()
    {
        var r = new Random(4096);
        // Fan-in 37: nine whole groups of four and a zero-extended tail pair; 9 filters: two 4-filter tiles and a single.
        var g = new Conv2DGeometry(1, 37, 5, 7, 9, 1, 1);
        foreach (int code in new[] { 127, -128 })
        {
            // Every input code at an end of the range makes every u = x + 128 equal 255 or 0.
            sbyte[] input = Enumerable.Repeat((sbyte)code, g.InputLength).ToArray();
            foreach (var (first, second, fits) in new[] { (127, 1, true), (64, 64, true), (-128, 0, true), (-64, -64, true), (127, -128, true), (127, 2, false), (-100, -29, false), (127, 127, false), (-128, -128, false) })
            {
                var w = new sbyte[g.WeightLength];
                for (int i = 0; i < w.Length; i++) w[i] = (sbyte)(i % 2 == 0 ? first : second);
                Conv2DInt8 kernel = AssertMatchesReference(g, w, input, code == 127 ? -128 : 127, $"pairs ({first}, {second}) at code {code}");
                Assert.AreEqual(fits ? g.OutChannels : 0, kernel.PairSumFilters, $"pairs ({first}, {second})");
            }
        }

        // Random small weights: every filter qualifies, on the edge shapes at extreme zero points.
        foreach (var (shape, name) in EdgeShapes())
        {
            foreach (int zeroPoint in new[] { -128, 127 })
            {
                Conv2DInt8 kernel = AssertMatchesReference(r, shape, zeroPoint, $"{name}, |w| <= 64, z_x {zeroPoint}", -64, 64);
                if (shape.InChannelsPerGroup > 1)
                {
                    Assert.AreEqual(shape.OutChannels, kernel.PairSumFilters, name);
                }
            }
        }

        // Filters alternating between qualifying and not, in one layer: 4-filter tiles mix both kinds.
        var mixed = new Conv2DGeometry(1, 24, 6, 16, 10, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        var mixedWeights = new sbyte[mixed.WeightLength];
        for (int c = 0; c < mixed.OutChannels; c++)
        for (int k = 0; k < mixed.FanIn; k++)
            mixedWeights[c * mixed.FanIn + k] = (sbyte)(c % 3 == 0 ? r.Next(-128, 128) : r.Next(-64, 65));
        Conv2DInt8 mixedKernel = AssertMatchesReference(mixed, mixedWeights, TestData.RandomCodes(r, mixed.InputLength), -5, "mixed filters");
        Assert.IsGreaterThan(0, mixedKernel.PairSumFilters);
        Assert.IsLessThan(mixed.OutChannels, mixedKernel.PairSumFilters);
    }
}
