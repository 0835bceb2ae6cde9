using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// Log-level activation kernels: the encoder table, and the Conv / FullyConnected kernels that read level
/// indices through an int16 level table — against an independent int64 computation in this file, against the
/// int8 reference kernels when the table is the identity, on both accumulator paths, without allocating.
/// </summary>
[TestClass]
public sealed class LogLevelKernelTests
{
    private static short[] LogLevels(int count, double top = 32767)
    {
        // A log grid of 2^(1/2 octave) steps down from the int16 full scale; level 0 is 0.
        var levels = new short[count];
        for (int n = 1; n < count; n++) levels[n] = (short)Math.Round(top * Math.Pow(2, -(count - 1 - n) / 2.0));
        return levels;
    }

    private static sbyte[] RandomIndices(Random r, int length, int levels)
    {
        var x = new sbyte[length];
        for (int i = 0; i < length; i++) x[i] = (sbyte)(r.Next(3) == 0 ? 0 : r.Next(levels)); // ReLU outputs: many zeros
        return x;
    }

    /// <summary>The definition: acc = bias + Σ levels[x]·w over in-bounds taps (int64), then the channel requantizer.</summary>
    private static sbyte[] NaiveConv(Conv2DGeometry g, short[] levels, float levelScale, float[] sw, QuantParams y, sbyte[] w, int[] bias, sbyte[] x, int lo, int hi)
    {
        var requantizer = new ChannelRequantizer(levelScale, sw, g.OutChannels, y, lo, hi);
        var output = new sbyte[g.OutputLength];
        for (int n = 0; n < g.Batch; n++)
            for (int oc = 0; oc < g.OutChannels; oc++)
                for (int oy = 0; oy < g.OutHeight; oy++)
                    for (int ox = 0; ox < g.OutWidth; ox++)
                    {
                        long acc = bias[oc];
                        int group = oc / g.OutChannelsPerGroup;
                        for (int ic = 0; ic < g.InChannelsPerGroup; ic++)
                            for (int ky = 0; ky < g.KernelHeight; ky++)
                                for (int kx = 0; kx < g.KernelWidth; kx++)
                                {
                                    int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                                    int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                                    if (iy < 0 || iy >= g.InHeight || ix < 0 || ix >= g.InWidth) continue;
                                    int channel = group * g.InChannelsPerGroup + ic;
                                    acc += (long)levels[x[((n * g.InChannels + channel) * g.InHeight + iy) * g.InWidth + ix]]
                                        * w[((oc * g.InChannelsPerGroup + ic) * g.KernelHeight + ky) * g.KernelWidth + kx];
                                }
                        output[((n * g.OutChannels + oc) * g.OutHeight + oy) * g.OutWidth + ox] = requantizer.Apply(acc, oc);
                    }
        return output;
    }

    private static IEnumerable<Conv2DGeometry> Geometries()
    {
        yield return new Conv2DGeometry(1, 3, 7, 9, 4, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        yield return new Conv2DGeometry(2, 8, 6, 5, 6, 3, 2, strideHeight: 2, strideWidth: 1, padTop: 2, padLeft: 0, padBottom: 1, padRight: 1, dilationHeight: 2);
        yield return new Conv2DGeometry(1, 8, 5, 5, 8, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1, groups: 8); // depthwise
        yield return new Conv2DGeometry(1, 6, 4, 4, 4, 1, 1, groups: 2);
        yield return new Conv2DGeometry(1, 64, 5, 5, 3, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1); // fan-in 576: int64 path
    }

    [TestMethod]
    public void ConvMatchesTheDefinitionOnBothAccumulatorPaths()
    {
        var r = new Random(5);
        bool sawInt32 = false, sawInt64 = false;
        foreach (var g in Geometries())
            foreach (int levelCount in new[] { 16, 8 })
            {
                var levels = LogLevels(levelCount);
                float levelScale = 3.1e-5f;
                var sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
                var y = new QuantParams(0.05f, -20);
                var w = TestData.RandomCodes(r, g.WeightLength, -127, 127);
                var bias = TestData.RandomBias(r, g.OutChannels, 20000);
                var x = RandomIndices(r, g.InputLength, levelCount);
                var kernel = new Conv2DLogInput(g, levels, levelScale, sw, y, w, bias, -20, 127);
                sawInt32 |= !kernel.UsesInt64Accumulator;
                sawInt64 |= kernel.UsesInt64Accumulator;
                var actual = new sbyte[g.OutputLength];
                kernel.Eval(x, actual);
                TestData.AssertSameCodes(NaiveConv(g, levels, levelScale, sw, y, w, bias, x, -20, 127), actual, $"conv {g.InChannels}x{g.InHeight}x{g.InWidth} → {g.OutChannels}, {levelCount} levels");
            }
        Assert.IsTrue(sawInt32 && sawInt64, "both accumulator paths must be exercised");
        foreach (var g in Geometries())
        {
            // The reference on the same cases (it is the truth the optimized kernel is checked against below).
            var levels = LogLevels(16);
            var sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
            var y = new QuantParams(0.05f, -20);
            var w = TestData.RandomCodes(r, g.WeightLength, -127, 127);
            var bias = TestData.RandomBias(r, g.OutChannels, 20000);
            var x = RandomIndices(r, g.InputLength, 16);
            var actual = new sbyte[g.OutputLength];
            new Conv2DLogInputReference(g, levels, 3.1e-5f, sw, y, w, bias).Eval(x, actual);
            TestData.AssertSameCodes(NaiveConv(g, levels, 3.1e-5f, sw, y, w, bias, x, -128, 127), actual, "reference conv");
        }
    }

    [TestMethod]
    public void WithTheIdentityTableConvAndFullyConnectedEqualTheInt8References()
    {
        // levels[n] = n: the level kernel is an int8 kernel on inputs with zero point 0 (padding included).
        var r = new Random(8);
        var identity = Enumerable.Range(0, 128).Select(n => (short)n).ToArray();
        foreach (var g in Geometries())
        {
            var sw = TestData.RandomScales(r, g.OutChannels, 0.01f, 0.03f);
            var y = new QuantParams(0.2f, 5);
            var w = TestData.RandomCodes(r, g.WeightLength, -127, 127);
            var bias = TestData.RandomBias(r, g.OutChannels, 500);
            var x = RandomIndices(r, g.InputLength, 128);
            var expected = new sbyte[g.OutputLength];
            new Conv2DInt8Reference(g, new QuantParams(0.01f, 0), sw, y, w, bias).Eval(x, w, expected);
            var actual = new sbyte[g.OutputLength];
            new Conv2DLogInput(g, identity, 0.01f, sw, y, w, bias).Eval(x, actual);
            TestData.AssertSameCodes(expected, actual, "conv");
        }
        foreach (var (batch, k, units) in new[] { (1, 50, 10), (3, 200, 7), (2, 1, 1) })
        {
            var sw = TestData.RandomScales(r, units, 0.01f, 0.03f);
            var y = new QuantParams(0.3f, -3);
            var w = TestData.RandomCodes(r, units * k, -127, 127);
            var bias = TestData.RandomBias(r, units, 500);
            var x = RandomIndices(r, batch * k, 128);
            var expected = new sbyte[batch * units];
            new FullyConnectedInt8Reference(batch, k, units, new QuantParams(0.01f, 0), sw, y, w, bias).Eval(x, w, expected);
            var actual = new sbyte[batch * units];
            new FullyConnectedLogInput(batch, k, units, identity, 0.01f, sw, y, w, bias).Eval(x, actual);
            TestData.AssertSameCodes(expected, actual, $"fc {batch}x{k}→{units}");
        }
    }

    [TestMethod]
    public void FullyConnectedMatchesTheDefinitionOnBothAccumulatorPaths()
    {
        var r = new Random(6);
        foreach (var (batch, k, units) in new[] { (1, 40, 10), (2, 3000, 5) })
        {
            var levels = LogLevels(16);
            var sw = TestData.RandomScales(r, units, 0.002f, 0.02f);
            var y = new QuantParams(0.5f, 0);
            var w = TestData.RandomCodes(r, units * k, -127, 127);
            var bias = TestData.RandomBias(r, units, 100000);
            var x = RandomIndices(r, batch * k, 16);
            var kernel = new FullyConnectedLogInput(batch, k, units, levels, 1e-4f, sw, y, w, bias);
            Assert.AreEqual(k > 1000, kernel.UsesInt64Accumulator);
            var requantizer = new ChannelRequantizer(1e-4f, sw, units, y, -128, 127);
            var expected = new sbyte[batch * units];
            for (int b = 0; b < batch; b++)
                for (int j = 0; j < units; j++)
                {
                    long acc = bias[j];
                    for (int i = 0; i < k; i++) acc += (long)levels[x[b * k + i]] * w[j * k + i];
                    expected[b * units + j] = requantizer.Apply(acc, j);
                }
            var actual = new sbyte[batch * units];
            kernel.Eval(x, actual);
            TestData.AssertSameCodes(expected, actual, $"fc {batch}x{k}→{units}");
        }
    }

    [TestMethod]
    public void OptimizedKernelsAreBitIdenticalToTheReferencesOverManyShapes()
    {
        var r = new Random(12);
        int wide = 0;
        for (int trial = 0; trial < 150; trial++)
        {
            int groups = r.Next(3) == 0 ? r.Next(1, 4) : 1;
            int inChannels = groups * r.Next(1, 5), outChannels = groups * r.Next(1, 5);
            int kh = r.Next(1, 5), kw = r.Next(1, 5), sh = r.Next(1, 4), sw = r.Next(1, 4), dh = r.Next(1, 3), dw = r.Next(1, 3);
            int h = (kh - 1) * dh + 1 + r.Next(0, 7), w = (kw - 1) * dw + 1 + r.Next(0, 7);
            var g = new Conv2DGeometry(r.Next(1, 3), inChannels, h, w, outChannels, kh, kw, sh, sw,
                r.Next(0, kh), r.Next(0, kw), r.Next(0, kh), r.Next(0, kw), dh, dw, groups);
            int levelCount = 1 << r.Next(1, 9);
            // Small tables keep the int32 path; full-scale ones with a large fan-in take the int64 one.
            var levels = LogLevels(levelCount, r.Next(2) == 0 ? 32767 : 300);
            var scales = TestData.RandomScales(r, g.OutChannels, 0.001f, 0.02f);
            var y = new QuantParams((float)(0.01 + r.NextDouble()), r.Next(-20, 20));
            var weights = TestData.RandomCodes(r, g.WeightLength, -127, 127);
            var bias = TestData.RandomBias(r, g.OutChannels, 1000);
            if (r.Next(3) == 0) bias[r.Next(bias.Length)] = (r.Next(2) == 0 ? 1 : -1) * (int.MaxValue - r.Next(1000)); // forces the int64 path
            var x = RandomIndices(r, g.InputLength, levelCount);
            int lo = r.Next(-128, 0), hi = r.Next(0, 128);
            var expected = new sbyte[g.OutputLength];
            var reference = new Conv2DLogInputReference(g, levels, 2e-4f, scales, y, weights, bias, lo, hi);
            reference.Eval(x, expected);
            var fast = new Conv2DLogInput(g, levels, 2e-4f, scales, y, weights, bias, lo, hi);
            Assert.AreEqual(reference.UsesInt64Accumulator, fast.UsesInt64Accumulator);
            if (fast.UsesInt64Accumulator) wide++;
            var actual = new sbyte[g.OutputLength];
            fast.Eval(x, actual);
            TestData.AssertSameCodes(expected, actual, $"trial {trial}: {g.InChannels}x{h}x{w} k{kh}x{kw} s{sh},{sw} d{dh},{dw} groups {groups}");

            int batch = r.Next(1, 4), k = r.Next(1, 3000), units = r.Next(1, 9);
            var fw = TestData.RandomCodes(r, k * units, -127, 127);
            var fb = TestData.RandomBias(r, units, 5000);
            var fx = RandomIndices(r, batch * k, levelCount);
            var fs = TestData.RandomScales(r, units, 0.001f, 0.02f);
            var fcExpected = new sbyte[batch * units];
            new FullyConnectedLogInputReference(batch, k, units, levels, 2e-4f, fs, y, fw, fb).Eval(fx, fcExpected);
            var fcActual = new sbyte[batch * units];
            new FullyConnectedLogInput(batch, k, units, levels, 2e-4f, fs, y, fw, fb).Eval(fx, fcActual);
            TestData.AssertSameCodes(fcExpected, fcActual, $"trial {trial}: fc {batch}x{k}→{units}");
        }
        Assert.IsTrue(wide is > 10 and < 140, $"{wide} of 150 convolutions took the int64 path; both paths must be covered");
    }

    [TestMethod]
    public void ConvInt32PathsAreBitIdenticalOnWideRowsAndManyChunks()
    {
        // Rows of 16+ columns with tails (the vector taps), fan-ins up to 1 000 (GEMM chunks of a few tiles, so
        // a plane spans many chunks), depthwise layers with channel multipliers, odd fan-ins, strides, dilation.
        var r = new Random(1212);
        int spreadOutputs = 0;
        for (int trial = 0; trial < 120; trial++)
        {
            bool depthwise = trial % 2 == 0;
            int groups = depthwise ? r.Next(1, 7) : (r.Next(3) == 0 ? 2 : 1);
            int icPerGroup = depthwise ? 1 : r.Next(2, 112);
            int ocPerGroup = depthwise ? r.Next(1, 3) : r.Next(1, 11);
            int kh = r.Next(1, 4), kw = r.Next(1, 6), dilation = r.Next(4) == 0 ? 2 : 1;
            int h = r.Next((kh - 1) * dilation + 1, 14), w = r.Next(Math.Max(16, (kw - 1) * dilation + 1), 60);
            var g = new Conv2DGeometry(r.Next(1, 3), icPerGroup * groups, h, w, ocPerGroup * groups, kh, kw, r.Next(1, 3), r.Next(4) == 0 ? 2 : 1,
                r.Next(0, kh), r.Next(0, kw), r.Next(0, kh), r.Next(0, kw), dilation, dilation, groups);
            int levelCount = 1 << r.Next(2, 9);
            var levels = LogLevels(levelCount, r.Next(2) == 0 ? 2000 : 300);
            var scales = TestData.RandomScales(r, g.OutChannels, 0.005f, 0.015f);
            // Output scale near the accumulators' spread (√fan-in · mean level · mean |w| · s_x · s_w), so the outputs
            // spread over the code range instead of clamping: an accumulator off by a little shows.
            double meanLevel = levels.Average(l => (double)l);
            double spread = Math.Sqrt(g.FanIn) * meanLevel * 64 * 2e-4 * 0.01;
            var y = new QuantParams((float)(spread / (30 + r.Next(60))), r.Next(-20, 20));
            var weights = TestData.RandomCodes(r, g.WeightLength, -127, 127);
            var bias = TestData.RandomBias(r, g.OutChannels, (int)(Math.Sqrt(g.FanIn) * meanLevel * 64));
            var x = RandomIndices(r, g.InputLength, levelCount);
            var expected = new sbyte[g.OutputLength];
            new Conv2DLogInputReference(g, levels, 2e-4f, scales, y, weights, bias, -128, 127).Eval(x, expected);
            var fast = new Conv2DLogInput(g, levels, 2e-4f, scales, y, weights, bias, -128, 127);
            Assert.IsFalse(fast.UsesInt64Accumulator, $"trial {trial} must exercise an int32 path");
            var actual = new sbyte[g.OutputLength];
            fast.Eval(x, actual);
            TestData.AssertSameCodes(expected, actual, $"trial {trial}: {g.InChannels}x{h}x{w} -> {g.OutChannels} k{kh}x{kw} groups {groups}");
            spreadOutputs += expected.Distinct().Count() >= Math.Min(20, expected.Length / 4) ? 1 : 0;
        }

        Assert.IsTrue(spreadOutputs > 100, $"only {spreadOutputs} of 120 trials had outputs spread over the code range");
    }

    [TestMethod]
    public void Int16Int8DotMatchesTheScalarDefinitionAtEveryLengthAndAtTheExtremes()
    {
        // Every length through two vector blocks plus tails, random values and the int16/int8 extremes (whose
        // products and pair sums are the largest the vector forms must hold exactly).
        var r = new Random(16);
        for (int length = 0; length <= 80; length++)
            for (int trial = 0; trial < 6; trial++)
            {
                var a = new short[length];
                var b = new sbyte[length];
                for (int i = 0; i < length; i++)
                {
                    a[i] = trial == 0 ? short.MaxValue : trial == 1 ? short.MinValue : (short)r.Next(short.MinValue, short.MaxValue + 1);
                    b[i] = trial <= 1 ? sbyte.MinValue : (sbyte)r.Next(-128, 128);
                }

                Assert.AreEqual(Int16Int8Dot.Scalar(a, b), Int16Int8Dot.Dot(a, b), $"length {length}, trial {trial}");
            }
    }

    [TestMethod]
    public void LevelValuesMatchTheTableAndRejectIndicesOutsideIt()
    {
        // Table sizes on both sides of the 16-level shuffle path, lengths with tails, negative levels' high bytes
        // excluded by CheckLevels but full-scale ones included; then one bad index at every kind of position.
        var r = new Random(44);
        foreach (int count in new[] { 2, 3, 8, 15, 16, 17, 64, 256 })
        {
            var levels = LogLevels(count, r.Next(2) == 0 ? 32767 : 300);
            for (int length = 0; length <= 70; length += r.Next(1, 5))
            {
                var indices = RandomIndices(r, length, count);
                var values = new short[length];
                LogLevelValues.Decode(indices, levels, values);
                for (int i = 0; i < length; i++) Assert.AreEqual(levels[indices[i] & 0xFF], values[i], $"{count} levels, length {length}, index {i}");
                if (length == 0 || count == 256) continue;
                indices[r.Next(length)] = (sbyte)(r.Next(2) == 0 ? count : 255);
                Assert.ThrowsExactly<ArgumentException>(() => LogLevelValues.Decode(indices, levels, values), $"{count} levels, length {length}");
            }
        }
    }

    [TestMethod]
    public void EncoderMapsEveryCodeThroughItsTableAndRejectsBadTables()
    {
        var table = new sbyte[256];
        for (int c = 0; c < 256; c++) table[c] = (sbyte)Math.Max(0, (c - 128) / 20);
        var encoder = new LogLevelEncoder(table, 8);
        var input = Enumerable.Range(-128, 256).Select(c => (sbyte)c).ToArray();
        var output = new sbyte[256];
        encoder.Eval(input, output);
        for (int c = -128; c < 128; c++) Assert.AreEqual(table[c + 128], output[c + 128]);
        Assert.ThrowsExactly<ArgumentException>(() => new LogLevelEncoder(table, 6), "index 6 does not fit 6 levels");
        Assert.ThrowsExactly<ArgumentException>(() => new LogLevelEncoder(new sbyte[255], 8));
        Assert.ThrowsExactly<ArgumentException>(() => new FullyConnectedLogInput(1, 2, 1, new short[] { 5, 6 }, 1f, new[] { 1f }, new QuantParams(1f, 0), new sbyte[2], new int[1]),
            "level 0 must be zero");
    }

    [TestMethod]
    public void LevelIndexOutsideTheTableIsRejected()
    {
        var kernel = new FullyConnectedLogInput(1, 2, 1, LogLevels(4), 1f, new[] { 1f }, new QuantParams(1f, 0), new sbyte[2], new int[1]);
        Assert.ThrowsExactly<ArgumentException>(() => kernel.Eval(new sbyte[] { 1, 4 }, new sbyte[1]));
    }

    [TestMethod]
    public void EvalAllocatesNothing()
    {
        var r = new Random(3);
        var g = new Conv2DGeometry(1, 8, 10, 10, 16, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        var levels = LogLevels(16);
        var conv = new Conv2DLogInput(g, levels, 1e-4f, TestData.RandomScales(r, 16, 0.01f, 0.02f), new QuantParams(0.05f, 0), TestData.RandomCodes(r, g.WeightLength, -127, 127), TestData.RandomBias(r, 16, 100));
        var fc = new FullyConnectedLogInput(2, 800, 16, levels, 1e-4f, TestData.RandomScales(r, 16, 0.01f, 0.02f), new QuantParams(0.05f, 0), TestData.RandomCodes(r, 800 * 16, -127, 127), TestData.RandomBias(r, 16, 100));
        var encoder = new LogLevelEncoder(new sbyte[256], 16);
        var x = RandomIndices(r, 1600, 16);
        var convOut = new sbyte[g.OutputLength];
        var fcOut = new sbyte[32];
        var encoded = new sbyte[1600];
        Assert.AreEqual(0, Allocations.PerSteadyPass(() =>
        {
            conv.Eval(x.AsSpan(0, g.InputLength), convOut);
            fc.Eval(x, fcOut);
            encoder.Eval(x, encoded);
        }));
    }
}
