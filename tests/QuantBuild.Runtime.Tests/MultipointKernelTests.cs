using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// Multipoint kernels: the int32 paths (int16 GEMM, tap-by-tap rows, vector output stage, Int8Dot) against the
/// int64 reference kernels, bit for bit, over many shapes, tails, widths and extra-row layouts; the fallback to
/// the reference when the bound does not fit; weights that change between calls; and no allocation per call.
/// </summary>
[TestClass]
public sealed class MultipointKernelTests
{
    /// <summary>Random rows (first rows, then extra rows sorted by channel) stored at <paramref name="bits"/>.</summary>
    private static (byte[] Stored, int[] ExtraChannels, float[] ExtraScales) RandomRows(Random r, int channels, int rowLength, int bits, int extraRows, int codeMagnitude)
    {
        var extraChannels = new int[extraRows];
        for (int e = 0; e < extraRows; e++) extraChannels[e] = r.Next(channels);
        Array.Sort(extraChannels);
        var extraScales = TestData.RandomScales(r, extraRows, 0.0005f, 0.01f);
        int limit = bits == 4 ? Math.Min(codeMagnitude, 7) : codeMagnitude;
        var codes = TestData.RandomCodes(r, (channels + extraRows) * rowLength, -limit - (bits == 4 ? 1 : 0), limit);
        return (Store(codes, bits), extraChannels, extraScales);
    }

    private static byte[] Store(sbyte[] codes, int bits)
    {
        if (bits == 8) return codes.Select(c => unchecked((byte)c)).ToArray();
        var packed = new byte[BitPacking.PackedLength(codes.Length, 4)];
        BitPacking.PackInt4(codes, packed);
        return packed;
    }

    [TestMethod]
    public void Int16GemmPath_IsTheWidestThisCpuSupports()
    {
        string expected = Avx2.IsSupported ? "Avx2" : Sse2.IsSupported ? "Sse2" : AdvSimd.Arm64.IsSupported ? "AdvSimd" : "Scalar";
        Console.WriteLine($"Int16ConvGemm {Int16ConvGemm.Path}");
        Assert.AreEqual(expected, Int16ConvGemm.Path);
    }

    [TestMethod]
    public void ConvBitIdenticalToReferenceOverManyShapes()
    {
        var r = new Random(4242);
        int int32Runs = 0, spreadOutputs = 0, rowConvolutionRuns = 0;
        for (int trial = 0; trial < 300; trial++)
        {
            int bits = trial % 2 == 0 ? 8 : 4;
            // A third depthwise (tap path), the rest GEMM with odd fan-ins, groups, strides, dilations and position tails.
            int groups = trial % 3 == 0 ? r.Next(1, 9) : (r.Next(4) == 0 ? r.Next(2, 4) : 1);
            int icPerGroup = trial % 3 == 0 ? 1 : r.Next(1, 24);
            int ocPerGroup = trial % 3 == 0 ? r.Next(1, 3) : r.Next(1, 12);
            int kh = r.Next(1, 6), kw = r.Next(1, 6);
            int dilation = r.Next(4) == 0 ? 2 : 1;
            int h = r.Next(kh * dilation, kh * dilation + 20), w = r.Next(kw * dilation, kw * dilation + 40);
            int pad = r.Next(0, kh);
            var g = new Conv2DGeometry(r.Next(1, 3), icPerGroup * groups, h, w, ocPerGroup * groups, kh, kw,
                r.Next(1, 3), r.Next(1, 3), pad, r.Next(0, kw), r.Next(0, kh), pad, dilation, dilation, groups);
            int extraRows = r.Next(0, 2 * g.OutChannels + 1);
            var (stored, extraChannels, extraScales) = RandomRows(r, g.OutChannels, g.FanIn, bits, extraRows, 127);
            var x = new QuantParams((float)(0.01 + r.NextDouble() * 0.05), r.Next(-60, 61));
            float[] sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
            // Output scale near one row's accumulator spread (√fan-in · mean |x − z_x| · mean |w| · s_x · s_w) divided
            // by a few dozen codes: outputs spread over the range, so a row scaled or summed wrongly shows.
            double spread = Math.Sqrt(g.FanIn) * 74 * (bits == 8 ? 64 : 4) * x.Scale * 0.011;
            var y = new QuantParams((float)(spread / (20 + r.Next(60))), r.Next(-20, 21));
            int[] bias = TestData.RandomBias(r, g.OutChannels, (int)(Math.Sqrt(g.FanIn) * 74 * (bits == 8 ? 64 : 4)));
            int lo = r.Next(2) == 0 ? -128 : -100, hi = r.Next(2) == 0 ? 127 : 90;
            sbyte[] input = TestData.RandomCodes(r, g.InputLength);
            var expected = new sbyte[g.OutputLength];
            var actual = new sbyte[g.OutputLength];
            new Conv2DMultipointReference(g, x, sw, y, bits, bias, extraChannels, extraScales, lo, hi).Eval(input, stored, expected);
            var kernel = new Conv2DMultipoint(g, x, sw, y, bits, bias, extraChannels, extraScales, lo, hi);
            kernel.Eval(input, stored, actual);
            TestData.AssertSameCodes(expected, actual, $"trial {trial} {g.InChannels}->{g.OutChannels} g{groups} k{kh}x{kw} +{extraRows} rows W{bits}");
            if (kernel.UsesInt32Paths) int32Runs++;
            if (kernel.UsesInt8RowConvolution) rowConvolutionRuns++;
            if (expected.Distinct().Count() >= Math.Min(20, expected.Length / 4)) spreadOutputs++;
        }

        Assert.IsTrue(spreadOutputs > 250, $"only {spreadOutputs} of 300 trials had outputs spread over the code range");

        // The shapes above are ordinary layers: nearly all of them must take the fast paths this test is about.
        Assert.IsTrue(int32Runs > 280, $"only {int32Runs} of 300 trials ran the int32 paths");
        // Ungrouped GEMM layers (about half the trials) run every row through the int8 convolution.
        Assert.IsTrue(rowConvolutionRuns > 100, $"only {rowConvolutionRuns} of 300 trials ran the rows through the int8 GEMM");
    }

    [TestMethod]
    public void ConvFallsBackToTheReferenceWhenTheBoundExceedsInt32()
    {
        // 70 000 taps of ±127 against |x − z_x| up to 255 leave int32; at 64 taps a tiny output scale makes the scaled rows leave it.
        var r = new Random(8);
        foreach (var (ic, yScale) in new[] { (70000, 1f), (64, 1e-7f) })
        {
            var g = new Conv2DGeometry(1, ic, 1, 3, 3, 1, 1);
            var (stored, extraChannels, extraScales) = RandomRows(r, 3, ic, 8, 2, 127);
            var x = new QuantParams(0.01f, -128);
            var y = new QuantParams(yScale, 0);
            float[] sw = TestData.RandomScales(r, 3, 0.01f, 0.02f);
            sbyte[] input = TestData.RandomCodes(r, g.InputLength);
            var expected = new sbyte[g.OutputLength];
            var actual = new sbyte[g.OutputLength];
            new Conv2DMultipointReference(g, x, sw, y, 8, default, extraChannels, extraScales).Eval(input, stored, expected);
            var kernel = new Conv2DMultipoint(g, x, sw, y, 8, default, extraChannels, extraScales);
            kernel.Eval(input, stored, actual);
            TestData.AssertSameCodes(expected, actual, $"fan-in {ic}");
            Assert.IsFalse(kernel.UsesInt32Paths, $"fan-in {ic}, output scale {yScale}");
        }
    }

    [TestMethod]
    public void ConvFollowsWeightsThatChangeBetweenCalls()
    {
        var r = new Random(9);
        var g = new Conv2DGeometry(1, 6, 7, 9, 5, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        var x = new QuantParams(0.02f, 5);
        var y = new QuantParams(0.05f, -3);
        float[] sw = TestData.RandomScales(r, 5, 0.002f, 0.01f);
        int[] bias = TestData.RandomBias(r, 5, 1000);
        var (first, extraChannels, extraScales) = RandomRows(r, 5, g.FanIn, 8, 4, 127);
        var (second, _, _) = RandomRows(r, 5, g.FanIn, 8, 4, 127);
        var kernel = new Conv2DMultipoint(g, x, sw, y, 8, bias, extraChannels, extraScales);
        var reference = new Conv2DMultipointReference(g, x, sw, y, 8, bias, extraChannels, extraScales);
        sbyte[] input = TestData.RandomCodes(r, g.InputLength);
        var expected = new sbyte[g.OutputLength];
        var actual = new sbyte[g.OutputLength];
        foreach (var stored in new[] { first, second, first })
        {
            reference.Eval(input, stored, expected);
            kernel.Eval(input, stored, actual);
            TestData.AssertSameCodes(expected, actual, "weights swapped between calls");
        }
    }

    [TestMethod]
    public void FullyConnectedBitIdenticalToReference()
    {
        var r = new Random(31);
        for (int trial = 0; trial < 200; trial++)
        {
            int bits = trial % 2 == 0 ? 8 : 4;
            int batch = r.Next(1, 4), k = r.Next(1, 300), units = r.Next(1, 24);
            int extraRows = r.Next(0, 2 * units + 1);
            var (stored, extraChannels, extraScales) = RandomRows(r, units, k, bits, extraRows, 127);
            var x = new QuantParams((float)(0.01 + r.NextDouble() * 0.05), r.Next(-60, 61));
            float[] sw = TestData.RandomScales(r, units, 0.002f, 0.02f);
            double spread = Math.Sqrt(k) * 74 * (bits == 8 ? 64 : 4) * x.Scale * 0.011;
            var y = new QuantParams((float)(spread / (20 + r.Next(60))), r.Next(-20, 21));
            int[] bias = TestData.RandomBias(r, units, (int)(Math.Sqrt(k) * 74 * (bits == 8 ? 64 : 4)));
            sbyte[] input = TestData.RandomCodes(r, batch * k);
            var expected = new sbyte[batch * units];
            var actual = new sbyte[batch * units];
            new FullyConnectedMultipointReference(batch, k, units, x, sw, y, bits, bias, extraChannels, extraScales, -110, 120).Eval(input, stored, expected);
            new FullyConnectedMultipoint(batch, k, units, x, sw, y, bits, bias, extraChannels, extraScales, -110, 120).Eval(input, stored, actual);
            TestData.AssertSameCodes(expected, actual, $"trial {trial} K{k} units {units} +{extraRows} rows W{bits}");
        }

        // Past Int8Dot's int32 contract (K·128·127 > 2^31): the reference's int64 loop.
        var big = RandomRows(r, 2, 140000, 8, 1, 127);
        var bigInput = TestData.RandomCodes(r, 140000);
        var bigExpected = new sbyte[2];
        var bigActual = new sbyte[2];
        var q = new QuantParams(0.01f, 0);
        new FullyConnectedMultipointReference(1, 140000, 2, q, [1e-4f, 2e-4f], new QuantParams(50f, 0), 8, default, big.ExtraChannels, big.ExtraScales).Eval(bigInput, big.Stored, bigExpected);
        new FullyConnectedMultipoint(1, 140000, 2, q, [1e-4f, 2e-4f], new QuantParams(50f, 0), 8, default, big.ExtraChannels, big.ExtraScales).Eval(bigInput, big.Stored, bigActual);
        TestData.AssertSameCodes(bigExpected, bigActual, "K = 140 000");
    }

    [TestMethod]
    public void MultipointEvalAllocatesNothing()
    {
        var r = new Random(3);
        var x = new QuantParams(0.02f, 3);
        var y = new QuantParams(0.05f, -4);
        var gemm = new Conv2DGeometry(1, 8, 10, 10, 16, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        var depthwise = new Conv2DGeometry(1, 8, 10, 10, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8);
        var (gemmRows, gemmExtra, gemmScales) = RandomRows(r, 16, gemm.FanIn, 4, 6, 7);
        var (dwRows, dwExtra, dwScales) = RandomRows(r, 8, depthwise.FanIn, 8, 5, 127);
        var (fcRows, fcExtra, fcScales) = RandomRows(r, 16, 72, 8, 3, 127);
        var convGemm = new Conv2DMultipoint(gemm, x, TestData.RandomScales(r, 16, 0.01f, 0.02f), y, 4, default, gemmExtra, gemmScales);
        var convDepthwise = new Conv2DMultipoint(depthwise, x, TestData.RandomScales(r, 8, 0.01f, 0.02f), y, 8, default, dwExtra, dwScales);
        var fc = new FullyConnectedMultipoint(1, 72, 16, x, TestData.RandomScales(r, 16, 0.01f, 0.02f), y, 8, default, fcExtra, fcScales);
        var input = TestData.RandomCodes(r, gemm.InputLength);
        var output = new sbyte[gemm.OutputLength];
        var fcOut = new sbyte[16];
        void Eval()
        {
            convGemm.Eval(input, gemmRows, output);
            convDepthwise.Eval(input, dwRows, output.AsSpan(0, depthwise.OutputLength));
            fc.Eval(input.AsSpan(0, 72), fcRows, fcOut);
        }

        Assert.AreEqual(0, Allocations.PerSteadyPass(Eval));
        Assert.IsTrue(convGemm.UsesInt32Paths && convDepthwise.UsesInt32Paths);
    }
}
