using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

[TestClass]
public sealed class ConvAndFullyConnectedTests
{
    private sealed record ConvCase(Conv2DGeometry G, QuantParams X, float[] Sw, QuantParams Y, sbyte[] W, int[] Bias, int Lo, int Hi);

    private static ConvCase MakeConv(Random r, Conv2DGeometry g, int weightMin = -127, int weightMax = 127, int lo = -128, int hi = 127)
    {
        var x = new QuantParams((float)(0.01 + r.NextDouble() * 0.05), r.Next(-40, 41));
        float[] sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
        var y = new QuantParams((float)(x.Scale * (Math.Sqrt(g.FanIn) + 2) * (0.7 + r.NextDouble())), r.Next(-20, 21));
        return new ConvCase(g, x, sw, y, TestData.RandomCodes(r, g.WeightLength, weightMin, weightMax), TestData.RandomBias(r, g.OutChannels, 3000), lo, hi);
    }

    /// <summary>Float "fake-quant" convolution: dequantized inputs and weights, real zero padding.</summary>
    private static int[] FloatConv(ConvCase c, sbyte[] input)
    {
        Conv2DGeometry g = c.G;
        var result = new int[g.OutputLength];
        for (int n = 0; n < g.Batch; n++)
        for (int oc = 0; oc < g.OutChannels; oc++)
        for (int oy = 0; oy < g.OutHeight; oy++)
        for (int ox = 0; ox < g.OutWidth; ox++)
        {
            double sum = (double)c.Bias[oc] * c.X.Scale * c.Sw[oc];
            int firstIc = oc / g.OutChannelsPerGroup * g.InChannelsPerGroup;
            for (int ic = 0; ic < g.InChannelsPerGroup; ic++)
            for (int ky = 0; ky < g.KernelHeight; ky++)
            for (int kx = 0; kx < g.KernelWidth; kx++)
            {
                int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                double xv = iy < 0 || iy >= g.InHeight || ix < 0 || ix >= g.InWidth
                    ? 0.0
                    : (double)c.X.Dequantize(input[((n * g.InChannels + firstIc + ic) * g.InHeight + iy) * g.InWidth + ix]);
                double wv = c.W[((oc * g.InChannelsPerGroup + ic) * g.KernelHeight + ky) * g.KernelWidth + kx] * (double)c.Sw[oc];
                sum += xv * wv;
            }

            result[((n * g.OutChannels + oc) * g.OutHeight + oy) * g.OutWidth + ox] = TestData.FakeQuantCode(sum, c.Y, c.Lo, c.Hi);
        }

        return result;
    }

    private static IEnumerable<Conv2DGeometry> ConvShapes()
    {
        yield return new Conv2DGeometry(1, 3, 8, 8, 4, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        yield return new Conv2DGeometry(2, 5, 9, 7, 6, 3, 3, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 0, padBottom: 1, padRight: 2);
        yield return new Conv2DGeometry(1, 4, 10, 10, 3, 3, 3, dilationHeight: 2, dilationWidth: 2, padTop: 2, padLeft: 2, padBottom: 2, padRight: 2);
        yield return new Conv2DGeometry(1, 6, 7, 7, 4, 3, 3, groups: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        yield return new Conv2DGeometry(1, 8, 6, 6, 8, 3, 3, groups: 8, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1); // depthwise
        yield return new Conv2DGeometry(1, 8, 5, 5, 16, 3, 3, groups: 8, strideHeight: 2, strideWidth: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1); // depthwise, multiplier 2
        yield return new Conv2DGeometry(1, 37, 4, 5, 11, 1, 1); // 1x1, odd channel counts
        yield return new Conv2DGeometry(1, 19, 6, 6, 5, 5, 3, padTop: 2, padLeft: 1, padBottom: 2, padRight: 1);
        yield return new Conv2DGeometry(1, 64, 4, 4, 3, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1); // fan-in 576
    }

    [TestMethod]
    public void Conv_ReferenceWithinOneCodeOfFloatFakeQuant_AndOptimizedBitIdentical()
    {
        var r = new Random(20240601);
        int index = 0;
        foreach (Conv2DGeometry g in ConvShapes())
        {
            foreach (bool relu in new[] { false, true })
            {
                ConvCase c = MakeConv(r, g);
                int lo = -128, hi = 127;
                if (relu)
                {
                    FusedActivation.Clip(c.Y, 0f, float.PositiveInfinity, out lo, out hi);
                    c = c with { Lo = lo, Hi = hi };
                }

                sbyte[] input = TestData.RandomCodes(r, g.InputLength);
                var reference = new Conv2DInt8Reference(g, c.X, c.Sw, c.Y, c.W, c.Bias, c.Lo, c.Hi);
                var optimized = new Conv2DInt8(g, c.X, c.Sw, c.Y, c.W, c.Bias, c.Lo, c.Hi);
                Assert.IsFalse(reference.UsesInt64Accumulator);
                var expected = new sbyte[g.OutputLength];
                var actual = new sbyte[g.OutputLength];
                reference.Eval(input, c.W, expected);
                optimized.Eval(input, c.W, actual);
                string context = $"shape {index} relu {relu}";
                TestData.AssertWithinOneCode(FloatConv(c, input), expected, context);
                TestData.AssertSameCodes(expected, actual, context);
                Assert.IsTrue(expected.Distinct().Count() > (relu ? 3 : 5), $"{context}: degenerate output range");
            }

            index++;
        }
    }

    [TestMethod]
    public void Conv_PaddingHoldsTheInputZeroPoint()
    {
        // Input is real 0 everywhere (code z_x = 50) except the centre (+10 codes). A 3x3 all-ones filter
        // with pad 1 sees the centre from every output position, so every output is exactly 10.
        // Padding with code 0 instead of z_x would add 50·(taps in padding) at the borders.
        var g = new Conv2DGeometry(1, 1, 3, 3, 1, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        var x = new QuantParams(1f, 50);
        var y = new QuantParams(1f, 0);
        var input = Enumerable.Repeat((sbyte)50, 9).ToArray();
        input[4] = 60;
        var weights = Enumerable.Repeat((sbyte)1, 9).ToArray();
        var expected = Enumerable.Repeat((sbyte)10, 9).ToArray();
        var output = new sbyte[9];
        new Conv2DInt8Reference(g, x, new[] { 1f }, y, weights, default).Eval(input, weights, output);
        CollectionAssert.AreEqual(expected, output);
        Array.Clear(output);
        new Conv2DInt8(g, x, new[] { 1f }, y, weights, default).Eval(input, weights, output);
        CollectionAssert.AreEqual(expected, output);
    }

    [TestMethod]
    public void Conv_OptimizedBitIdenticalOverManyRandomShapes()
    {
        var r = new Random(424242);
        for (int trial = 0; trial < 120; trial++)
        {
            int groups = r.Next(3) == 0 ? r.Next(1, 4) : 1;
            int icPerGroup = r.Next(1, 24);
            int ocPerGroup = r.Next(1, 7);
            int k = r.Next(1, 5);
            int pad = r.Next(0, k);
            int kw = r.Next(1, 5);
            var g = new Conv2DGeometry(
                r.Next(1, 3), icPerGroup * groups, r.Next(2 * k, 10), r.Next(kw, 9), ocPerGroup * groups, k, kw,
                r.Next(1, 3), r.Next(1, 3), pad, r.Next(0, 2), r.Next(0, 2), pad, r.Next(1, 3) == 2 && k <= 2 ? 2 : 1, 1, groups);
            ConvCase c = MakeConv(r, g, -128, 127);
            sbyte[] input = TestData.RandomCodes(r, g.InputLength);
            var expected = new sbyte[g.OutputLength];
            var actual = new sbyte[g.OutputLength];
            new Conv2DInt8Reference(g, c.X, c.Sw, c.Y, c.W, c.Bias).Eval(input, c.W, expected);
            new Conv2DInt8(g, c.X, c.Sw, c.Y, c.W, c.Bias).Eval(input, c.W, actual);
            TestData.AssertSameCodes(expected, actual, $"trial {trial}");
        }
    }

    [TestMethod]
    public void Conv_Int4WeightsMatchUnpackedInt8AndFloat()
    {
        var r = new Random(99);
        foreach (Conv2DGeometry g in ConvShapes())
        {
            ConvCase c = MakeConv(r, g, -7, 7);
            c = c with { Y = new QuantParams(c.Y.Scale * 8 / 127f, c.Y.ZeroPoint) };
            var packed = new byte[BitPacking.PackedLength(c.W.Length, 4)];
            BitPacking.PackInt4(c.W, packed);
            sbyte[] input = TestData.RandomCodes(r, g.InputLength);
            var int8 = new sbyte[g.OutputLength];
            var int4 = new sbyte[g.OutputLength];
            // int4 is defined as unpack-then-int8: the int8 reference on the same codes is its reference.
            new Conv2DInt8Reference(g, c.X, c.Sw, c.Y, c.W, c.Bias).Eval(input, c.W, int8);
            new Conv2DInt4(g, c.X, c.Sw, c.Y, packed, c.Bias).Eval(input, packed, int4);
            TestData.AssertSameCodes(int8, int4, "int4");
            TestData.AssertWithinOneCode(FloatConv(c, input), int4, "int4 vs float");
        }
    }

    [TestMethod]
    public void Conv_Int64FallbackWhenBoundExceedsInt32()
    {
        // Fan-in 70 000 at |x − z_x| = 255 and |w| = 127 can reach 2.3e9 > 2^31.
        var g = new Conv2DGeometry(1, 70000, 1, 1, 2, 1, 1);
        var x = new QuantParams(1f, -128);
        var y = new QuantParams(1f, 0);
        var weights = new sbyte[g.WeightLength];
        Array.Fill(weights, (sbyte)127, 0, 70000);
        Array.Fill(weights, (sbyte)-127, 70000, 70000);
        var input = Enumerable.Repeat((sbyte)127, 70000).ToArray();
        float[] sw = { 1e-8f, 1e-8f };
        var reference = new Conv2DInt8Reference(g, x, sw, y, weights, default);
        var optimized = new Conv2DInt8(g, x, sw, y, weights, default);
        Assert.IsTrue(reference.UsesInt64Accumulator);
        Assert.IsTrue(optimized.UsesInt64Accumulator);
        var output = new sbyte[2];
        reference.Eval(input, weights, output);
        double real = 70000.0 * 255 * 127 * 1e-8f;
        Assert.AreEqual((sbyte)Math.Round(real), output[0]);
        Assert.AreEqual((sbyte)-Math.Round(real), output[1]);
        var fast = new sbyte[2];
        optimized.Eval(input, weights, fast);
        CollectionAssert.AreEqual(output, fast);
    }

    private static int[] FloatFullyConnected(int batch, int k, int units, QuantParams x, float[] sw, QuantParams y, sbyte[] w, int[] bias, sbyte[] input)
    {
        var result = new int[batch * units];
        for (int b = 0; b < batch; b++)
        for (int j = 0; j < units; j++)
        {
            double sum = (double)bias[j] * x.Scale * sw[j];
            for (int i = 0; i < k; i++)
            {
                sum += (double)x.Dequantize(input[b * k + i]) * (w[j * k + i] * (double)sw[j]);
            }

            result[b * units + j] = TestData.FakeQuantCode(sum, y);
        }

        return result;
    }

    [TestMethod]
    public void FullyConnected_Int8AndInt4_FloatAndBitIdentity()
    {
        var r = new Random(777);
        for (int trial = 0; trial < 60; trial++)
        {
            int batch = r.Next(1, trial % 5 == 0 ? 30 : 4); // some with many rows: each group of four units runs every row
            int k = r.Next(1, 300);
            int units = r.Next(1, 20);
            bool int4 = trial % 2 == 1;
            var x = new QuantParams(0.02f, r.Next(-30, 31));
            float[] sw = TestData.RandomScales(r, units, 0.002f, 0.02f);
            var y = new QuantParams((float)(0.02 * 0.01 * Math.Sqrt(k) * (int4 ? 0.15 : 2)), r.Next(-10, 11));
            sbyte[] w = int4 ? TestData.RandomCodes(r, units * k, -8, 7) : TestData.RandomCodes(r, units * k);
            int[] bias = TestData.RandomBias(r, units, 2000);
            sbyte[] input = TestData.RandomCodes(r, batch * k);
            var expected = new sbyte[batch * units];
            var actual = new sbyte[batch * units];
            new FullyConnectedInt8Reference(batch, k, units, x, sw, y, w, bias).Eval(input, w, expected);
            TestData.AssertWithinOneCode(FloatFullyConnected(batch, k, units, x, sw, y, w, bias, input), expected, $"trial {trial}");
            if (int4)
            {
                var packed = new byte[BitPacking.PackedLength(w.Length, 4)];
                BitPacking.PackInt4(w, packed);
                new FullyConnectedInt4(batch, k, units, x, sw, y, packed, bias).Eval(input, packed, actual);
                TestData.AssertSameCodes(expected, actual, $"trial {trial} int4 (unpack-then-int8: the int8 reference is its reference)");
            }
            else
            {
                new FullyConnectedInt8(batch, k, units, x, sw, y, w, bias).Eval(input, w, actual);
                TestData.AssertSameCodes(expected, actual, $"trial {trial}");
            }
        }
    }

    /// <summary>
    /// Rows in pairs and an odd last row, a K with a tail past the last 16 features (the padded blocks read the next
    /// unit's weights against zero inputs), units in fours and a remainder whose blocks would run past the weights:
    /// PP-OCRv4's classifier head [40, 120] × [120, 6625] and smaller cuts of it, extreme and random codes.
    /// </summary>
    [TestMethod]
    public void FullyConnected_RowPairsAndPaddedBlocks_MatchReference()
    {
        var r = new Random(6625);
        foreach (var (batch, k, units) in new[] { (40, 120, 6625), (5, 120, 37), (3, 17, 6), (2, 8, 5), (1, 31, 4) })
        {
            foreach (bool extreme in new[] { false, true })
            {
                var x = new QuantParams(0.04f, -122);
                float[] sw = TestData.RandomScales(r, units, 0.002f, 0.02f);
                var y = new QuantParams((float)(0.04 * 0.01 * Math.Sqrt(k) * 3), 46);
                sbyte[] w = extreme ? Enumerable.Range(0, units * k).Select(i => (sbyte)(i % 3 == 0 ? 127 : -128)).ToArray() : TestData.RandomCodes(r, units * k);
                sbyte[] input = extreme ? Enumerable.Range(0, batch * k).Select(i => (sbyte)(i % 2 == 0 ? -128 : 127)).ToArray() : TestData.RandomCodes(r, batch * k);
                int[] bias = TestData.RandomBias(r, units, 2000);
                var expected = new sbyte[batch * units];
                var actual = new sbyte[batch * units];
                new FullyConnectedInt8Reference(batch, k, units, x, sw, y, w, bias).Eval(input, w, expected);
                var fc = new FullyConnectedInt8(batch, k, units, x, sw, y, w, bias);
                fc.Eval(input, w, actual);
                TestData.AssertSameCodes(expected, actual, $"[{batch}, {k}] x [{k}, {units}]{(extreme ? ", extreme codes" : "")}");
                // A second call reuses the widened rows: the padding must still be zero.
                Array.Clear(actual);
                fc.Eval(input, w, actual);
                TestData.AssertSameCodes(expected, actual, $"[{batch}, {k}] x [{k}, {units}], second call");
                if (!extreme && expected.Length >= 100) Assert.IsTrue(expected.Distinct().Count() > 8, $"the outputs must not collapse to a few codes: {string.Join(",", expected.Distinct())}");
            }
        }
    }

    /// <summary>Extreme codes (every product 2^14) over a long row, units in fours and a remainder, a feature tail past the last 16.</summary>
    [TestMethod]
    public void FullyConnected_ExtremeCodes_MatchReference()
    {
        const int k = 1539, units = 7;
        var x = new QuantParams(0.02f, 5);
        var sw = Enumerable.Repeat(0.004f, units).ToArray();
        var y = new QuantParams(40f, 0);
        foreach (sbyte code in new sbyte[] { -128, 127 })
        {
            var w = Enumerable.Repeat(code, units * k).ToArray();
            w[3] = (sbyte)-code;
            var input = Enumerable.Repeat((sbyte)-128, k).ToArray();
            var bias = new int[units];
            var expected = new sbyte[units];
            var actual = new sbyte[units];
            new FullyConnectedInt8Reference(1, k, units, x, sw, y, w, bias).Eval(input, w, expected);
            new FullyConnectedInt8(1, k, units, x, sw, y, w, bias).Eval(input, w, actual);
            TestData.AssertSameCodes(expected, actual, $"weights {code}");
            Assert.IsTrue(expected.Any(v => v != expected[0]) || expected[0] != 0, "the outputs must not all be zero");
        }
    }

    [TestMethod]
    public void FullyConnected_Int64Fallback()
    {
        int k = 140000;
        var w = Enumerable.Repeat((sbyte)127, k).ToArray();
        var input = Enumerable.Repeat((sbyte)127, k).ToArray();
        var x = new QuantParams(1f, -128);
        var fc = new FullyConnectedInt8(1, k, 1, x, new[] { 1e-8f }, new QuantParams(1f, 0), w, new[] { 5 });
        Assert.IsTrue(fc.UsesInt64Accumulator);
        var output = new sbyte[1];
        fc.Eval(input, w, output);
        Assert.AreEqual((sbyte)Math.Round((140000.0 * 255 * 127 + 5) * 1e-8f), output[0]);
    }

    [TestMethod]
    public void Kernels_RejectBadShapes()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new Conv2DGeometry(1, 3, 4, 4, 4, 3, 3, groups: 2));
        Assert.ThrowsExactly<ArgumentException>(() => new Conv2DGeometry(1, 3, 2, 2, 4, 3, 3));
        var g = new Conv2DGeometry(1, 2, 3, 3, 2, 1, 1);
        Assert.ThrowsExactly<ArgumentException>(() => new Conv2DInt8(g, new QuantParams(1f, 0), new[] { 1f }, new QuantParams(1f, 0), new sbyte[3], default));
        var conv = new Conv2DInt8(g, new QuantParams(1f, 0), new[] { 1f }, new QuantParams(1f, 0), new sbyte[4], default);
        Assert.ThrowsExactly<ArgumentException>(() => conv.Eval(new sbyte[17], new sbyte[4], new sbyte[18]));
    }
}
