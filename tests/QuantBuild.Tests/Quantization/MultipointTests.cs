using QuantBuild.Cli;
using QuantBuild.Emit;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Quantization;
using QuantBuild.Runtime;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

/// <summary>Multipoint quantization (docs/algorithms/multipoint.md): the exact point solver, the greedy budgeted construction, the kernels, and MNIST end to end.</summary>
[TestClass]
public sealed class MultipointTests
{
    public TestContext TestContext { get; set; } = null!;

    private static double[] Gaussian(Random rng, int n) =>
        Enumerable.Range(0, n).Select(_ => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())).ToArray();

    private static float[] Weights(int seed, int channels, int length) =>
        Gaussian(new Random(seed), channels * length).Select(v => (float)v).ToArray();

    [TestMethod]
    [DataRow(1, 0.9, new[] { 1, 0, 0, 0 }, 0.165)]
    [DataRow(3, 0.29545454545, new[] { 3, -1, 1, 0 }, 0.0147727272)]
    [DataRow(7, 0.18, new[] { 5, -2, 1, 0 }, 0.003)]
    public void ExactPointSolverMatchesTheSpecVectors(int qmax, double expectedScale, int[] expectedCodes, double expectedLoss)
    {
        double[] r = [0.9, -0.35, 0.2, 0.05];
        var codes = new sbyte[4];
        double a = MultipointQuantizer.SolvePoint(r, qmax, codes);
        Assert.AreEqual(expectedScale, a, 1e-7); // float32 scale
        CollectionAssert.AreEqual(expectedCodes, codes.Select(c => (int)c).ToArray());
        double loss = r.Select((v, i) => (v - a * codes[i]) * (v - a * codes[i])).Sum();
        Assert.AreEqual(expectedLoss, loss, 1e-7);
        // No scale on a dense grid does better with its best codes.
        for (double s = 0.001; s < 1.5; s += 0.0005)
        {
            double l = r.Sum(v => { double q = Math.Clamp(Math.Round(v / s, MidpointRounding.ToEven), -qmax, qmax); return (v - s * q) * (v - s * q); });
            Assert.IsTrue(l >= loss - 1e-8, $"scale {s} gives {l} < {loss}");
        }
    }

    [TestMethod]
    public void AllZeroResidualGivesNoPoint()
    {
        var codes = new sbyte[3];
        Assert.AreEqual(0, MultipointQuantizer.SolvePoint(new double[3], 7, codes));
        CollectionAssert.AreEqual(new sbyte[3], codes);
    }

    /// <summary>
    /// A channel whose weights are so small that its best scale is subnormal (PP-OCRv4's recognizer has one) gets the
    /// all-zero channel's scale 1 and codes 0, and no extra point takes a subnormal scale: the QDQ file must carry
    /// every scale as a normal float, or our own import refuses it (QB4103).
    /// </summary>
    [TestMethod]
    public void ChannelsTooSmallForANormalScaleGetTheAllZeroChannelsScale()
    {
        const int length = 16;
        var w = Weights(9, 3, length);
        for (int k = 0; k < length; k++) w[length + k] = (k % 3 - 1) * 3e-38f; // channel 1: max |w| 3e-38, scale 3e-38/127 is subnormal
        var q = MultipointQuantizer.Quantize("n", "w", w, [3, length], 0, 8, 1.0, 3, gram: null);
        Assert.AreEqual(1f, q.Scales[1]);
        Assert.IsTrue(Enumerable.Range(length, length).All(i => q.Codes[i] == 0));
        Assert.IsTrue(q.Scales.All(s => s >= QuantParams.SmallestNormal), string.Join(", ", q.Scales));
        Assert.IsTrue(q.ExtraPoints.All(p => p.Scale >= QuantParams.SmallestNormal), "no extra point with a subnormal scale");
        Assert.IsFalse(q.ExtraPoints.Any(p => p.Channel == 1));
        Assert.IsTrue(q.ExtraPoints.Count > 0, "the other channels still take extra points");
    }

    private static double ChannelError(float[] w, float[] approx, int channel, int length) =>
        Enumerable.Range(channel * length, length).Sum(i => ((double)w[i] - approx[i]) * ((double)w[i] - approx[i]));

    [TestMethod]
    [DataRow(2, 0.43)] // the optimal symmetric ternary point of N(0,1) data leaves ≈ 0.43 (docs/algorithms/multipoint.md, "One point: the exact solver"), not the ≈ 0.39 once estimated
    [DataRow(3, 0.20)]
    [DataRow(4, 0.10)]
    public void EveryAddedPointReducesTheErrorAndTheFirstMatchesTheSpecDecay(int bits, double firstRelative)
    {
        const int channels = 16, length = 64;
        var w = Weights(bits, channels, length);
        var errors = new List<double[]>();
        for (int extra = 0; extra <= 3; extra++)
        {
            // Budget extra·C with at most extra+1 points per channel: every channel gets exactly `extra` extra points.
            var q = MultipointQuantizer.Quantize("n", "w", w, [channels, length], 0, bits, extra, extra + 1, gram: null);
            Assert.AreEqual(extra * channels, q.ExtraPoints.Count, "weight-space gains are positive: the whole budget is placed");
            var approx = q.Dequantize();
            errors.Add(Enumerable.Range(0, channels).Select(c => ChannelError(w, approx, c, length)).ToArray());
        }
        for (int c = 0; c < channels; c++)
            for (int n = 1; n < errors.Count; n++)
                Assert.IsTrue(errors[n][c] < errors[n - 1][c], $"channel {c}: {n + 1} points {errors[n][c]} ≥ {n} points {errors[n - 1][c]}");
        double norm = w.Sum(v => (double)v * v);
        double relative = Math.Sqrt(errors[0].Sum() / norm);
        TestContext.WriteLine($"b={bits}: relative L2 residual by points: " + string.Join(", ", errors.Select(e => Math.Sqrt(e.Sum() / norm).ToString("0.0000"))));
        Assert.AreEqual(firstRelative, relative, 0.03);
    }

    [TestMethod]
    public void OnePointIsNeverWorseThanTheBestLinearScale()
    {
        const int channels = 12, length = 75;
        var w = Weights(7, channels, length);
        for (int bits = 2; bits <= 8; bits++)
        {
            var q = MultipointQuantizer.Quantize("n", "w", w, [channels, 3, 5, 5], 0, bits, 0, 4, gram: null);
            Assert.IsEmpty(q.ExtraPoints);
            var lin = LinearQuantizer.QuantizeWeight("n", "w", w, [channels, 3, 5, 5], 0, bits, true, QuantBuild.Configuration.WeightRangeMethod.Mse).Dequantize();
            var mp = q.Dequantize();
            for (int c = 0; c < channels; c++)
                // Up to float32 rounding of the dequantized values (≈ 1e-6 relative at 7-8 bits).
                Assert.IsTrue(ChannelError(w, mp, c, length) <= ChannelError(w, lin, c, length) * (1 + 1e-5), $"{bits} bits channel {c}: {ChannelError(w, mp, c, length)} vs linear {ChannelError(w, lin, c, length)}");
        }
    }

    [TestMethod]
    public void BudgetCapAndOrderAreRespectedAndTheResultIsDeterministic()
    {
        const int channels = 10, length = 20;
        var w = Weights(3, channels, length);
        // ρ = 0.25 of 10 channels rounds (to even) to 2 extra points; maxPoints 2 caps each channel at one extra.
        var q = MultipointQuantizer.Quantize("n", "w", w, [channels, length], 0, 4, 0.25, 2, gram: null);
        Assert.HasCount(2, q.ExtraPoints);
        q = MultipointQuantizer.Quantize("n", "w", w, [channels, length], 0, 4, 2.0, 2, gram: null);
        Assert.HasCount(channels, q.ExtraPoints);
        CollectionAssert.AreEqual(Enumerable.Range(0, channels).ToArray(), q.ExtraPoints.Select(p => p.Channel).ToArray());
        var again = MultipointQuantizer.Quantize("n", "w", w, [channels, length], 0, 4, 2.0, 2, gram: null);
        CollectionAssert.AreEqual(q.Codes, again.Codes);
        CollectionAssert.AreEqual(q.Dequantize(), again.Dequantize());
        // Weights along axis 1 (MatMul [K, N]): a point's codes follow the channel's elements.
        var t = MultipointQuantizer.Quantize("n", "w", w, [length, channels], 1, 3, 1.0, 4, gram: null);
        var approx = t.Dequantize();
        double err = w.Select((v, i) => ((double)v - approx[i]) * ((double)v - approx[i])).Sum();
        var single = MultipointQuantizer.Quantize("n", "w", w, [length, channels], 1, 3, 0, 4, gram: null).Dequantize();
        Assert.IsTrue(err < 0.5 * w.Select((v, i) => ((double)v - single[i]) * ((double)v - single[i])).Sum());
    }

    [TestMethod]
    public void ExtraPointsGoWhereTheOutputErrorIs()
    {
        // Inputs 0..3 carry all the signal; channels 0..4 use them, 5..9 only the silent inputs 4..7.
        const int channels = 10, length = 8;
        var w = Weights(11, channels, length);
        var g = new double[length * length];
        for (int k = 0; k < 4; k++) g[k * length + k] = 1;
        for (int k = 4; k < 8; k++) g[k * length + k] = 1e-6;
        var gram = new MultipointQuantizer.LayerGram(length, int.MaxValue, [g], diagonal: false);
        var q = MultipointQuantizer.Quantize("n", "w", w, [channels, length], 0, 3, 0.5, 4, gram);
        Assert.HasCount(5, q.ExtraPoints);
        var uninformed = MultipointQuantizer.Quantize("n", "w", w, [channels, length], 0, 3, 0.5, 4, gram: null);
        double OutputError(WeightQuantization x)
        {
            var a = x.Dequantize();
            double sum = 0;
            for (int c = 0; c < channels; c++)
                for (int k = 0; k < length; k++) { double e = w[c * length + k] - a[c * length + k]; sum += g[k * length + k] * e * e; }
            return sum;
        }
        var single = MultipointQuantizer.Quantize("n", "w", w, [channels, length], 0, 3, 0, 4, gram);
        TestContext.WriteLine($"output error: single {OutputError(single):G4}, weight-space placement {OutputError(uninformed):G4}, output-error placement {OutputError(q):G4}");
        Assert.IsTrue(OutputError(q) < OutputError(single));
        Assert.IsTrue(OutputError(q) <= OutputError(uninformed));
    }

    // ------------------------------------------------------------------ kernels

    private static (sbyte[] All, int[] ExtraChannels, float[] ExtraScales, float[] Scales) RandomRows(Random rng, int channels, int fanIn, int qmax, int extra)
    {
        var extraChannels = Enumerable.Range(0, extra).Select(_ => rng.Next(channels)).Order().ToArray();
        var all = Enumerable.Range(0, (channels + extra) * fanIn).Select(_ => (sbyte)rng.Next(-qmax, qmax + 1)).ToArray();
        var scales = Enumerable.Range(0, channels).Select(_ => (float)(0.001 + rng.NextDouble() * 0.02)).ToArray();
        var extraScales = Enumerable.Range(0, extra).Select(_ => (float)(0.0001 + rng.NextDouble() * 0.004)).ToArray();
        return (all, extraChannels, extraScales, scales);
    }

    private static byte[] Store(sbyte[] codes, int bits)
    {
        if (bits == 8) return codes.Select(c => (byte)c).ToArray();
        var packed = new byte[BitPacking.PackedLength(codes.Length, 4)];
        BitPacking.PackInt4(codes, packed);
        return packed;
    }

    /// <summary>The formula of docs/algorithms/multipoint.md, "Integer inference" written out independently: per row acc in int64, acc·M0·2^(shift−31) rounded once (half up, in 128 bits) per row, sum, z_y, clamp.</summary>
    private static sbyte Expected(long[] rowAccumulators, int[] rows, QuantParams input, float[] rowScales, QuantParams output, int lo, int hi)
    {
        long sum = 0;
        foreach (var r in rows)
        {
            FixedPoint.QuantizeMultiplier((double)input.Scale * rowScales[r] / output.Scale, out int m0, out int shift);
            int rightShift = 31 - shift;
            sum += (long)(((Int128)rowAccumulators[r] * m0 + ((Int128)1 << (rightShift - 1))) >> rightShift);
        }
        return (sbyte)Math.Clamp(sum + output.ZeroPoint, lo, hi);
    }

    [TestMethod]
    [DataRow(1, 3, 7, 7, 4, 3, 3, 1, 1, 1, 8, 5)]
    [DataRow(2, 4, 9, 6, 6, 3, 3, 2, 1, 1, 4, 9)]
    [DataRow(1, 6, 5, 5, 6, 3, 3, 1, 1, 6, 4, 4)]   // depthwise
    [DataRow(1, 4, 8, 8, 8, 1, 1, 1, 0, 2, 8, 3)]   // grouped 1x1
    [DataRow(1, 2, 1, 12, 5, 1, 5, 2, 2, 1, 4, 7)]  // 1-D as H = 1, odd fan-in with int4 packing
    public void ConvKernelMatchesTheReferenceAndTheFormula(int batch, int inC, int h, int wd, int outC, int kh, int kw, int stride, int pad, int groups, int bits, int extra)
    {
        var rng = new Random(batch * 1000 + inC * 100 + outC * 10 + bits + extra);
        int qmax = (1 << (bits - 1)) - 1;
        var g = new Conv2DGeometry(batch, inC, h, wd, outC, kh, kw, stride, stride, kh > 1 ? pad : 0, pad, kh > 1 ? pad : 0, pad, 1, 1, groups);
        var (all, extraChannels, extraScales, scales) = RandomRows(rng, outC, g.FanIn, qmax, extra);
        var input = new QuantParams(0.05f, -7);
        var output = new QuantParams(0.04f, 3);
        var x = Enumerable.Range(0, g.InputLength).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray();
        var bias = Enumerable.Range(0, outC).Select(_ => rng.Next(-3000, 3000)).ToArray();
        int lo = -120, hi = 110;

        // No extra rows: bit-identical to the int8 reference.
        var single = all.AsSpan(0, outC * g.FanIn).ToArray();
        var expected = new sbyte[g.OutputLength];
        new Conv2DInt8Reference(g, input, scales, output, single, bias, lo, hi).Eval(x, single, expected);
        var actual = new sbyte[g.OutputLength];
        new Conv2DMultipoint(g, input, scales, output, bits == 8 ? 8 : 4, bias, [], [], lo, hi).Eval(x, Store(single, bits == 8 ? 8 : 4), actual);
        CollectionAssert.AreEqual(expected, actual);

        // With extra rows: the formula, accumulated independently.
        new Conv2DMultipoint(g, input, scales, output, bits == 8 ? 8 : 4, bias, extraChannels, extraScales, lo, hi).Eval(x, Store(all, bits == 8 ? 8 : 4), actual);
        var rowScales = scales.Concat(extraScales).ToArray();
        int rowsTotal = outC + extra;
        for (int n = 0; n < batch; n++)
            for (int oc = 0; oc < outC; oc++)
                for (int oy = 0; oy < g.OutHeight; oy++)
                    for (int ox = 0; ox < g.OutWidth; ox++)
                    {
                        var acc = new long[rowsTotal];
                        var rows = new List<int> { oc };
                        for (int e = 0; e < extra; e++) if (extraChannels[e] == oc) rows.Add(outC + e);
                        int group = oc / (outC / groups);
                        foreach (var r in rows)
                        {
                            long a = r == oc ? bias[oc] : 0;
                            for (int ic = 0; ic < inC / groups; ic++)
                                for (int ky = 0; ky < kh; ky++)
                                    for (int kx = 0; kx < kw; kx++)
                                    {
                                        int iy = oy * g.StrideHeight - g.PadTop + ky, ix = ox * g.StrideWidth - g.PadLeft + kx;
                                        if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                        a += (long)(x[((n * inC + group * (inC / groups) + ic) * h + iy) * wd + ix] - input.ZeroPoint) * all[r * g.FanIn + (ic * kh + ky) * kw + kx];
                                    }
                            acc[r] = a;
                        }
                        Assert.AreEqual(Expected(acc, rows.ToArray(), input, rowScales, output, lo, hi), actual[((n * outC + oc) * g.OutHeight + oy) * g.OutWidth + ox], $"n{n} oc{oc} ({oy},{ox})");
                    }
    }

    [TestMethod]
    [DataRow(1, 17, 6, 8, 4)]
    [DataRow(3, 64, 10, 4, 13)]
    [DataRow(2, 5, 3, 4, 0)]
    public void FullyConnectedKernelMatchesTheReferenceAndTheFormula(int batch, int k, int units, int bits, int extra)
    {
        var rng = new Random(k * 31 + units + extra);
        int qmax = (1 << (bits - 1)) - 1;
        var (all, extraChannels, extraScales, scales) = RandomRows(rng, units, k, qmax, extra);
        var input = new QuantParams(0.03f, 11);
        var output = new QuantParams(0.05f, -4);
        var x = Enumerable.Range(0, batch * k).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray();
        var bias = Enumerable.Range(0, units).Select(_ => rng.Next(-500, 500)).ToArray();
        var single = all.AsSpan(0, units * k).ToArray();
        var expected = new sbyte[batch * units];
        new FullyConnectedInt8Reference(batch, k, units, input, scales, output, single, bias).Eval(x, single, expected);
        var actual = new sbyte[batch * units];
        new FullyConnectedMultipoint(batch, k, units, input, scales, output, bits, bias, [], []).Eval(x, Store(single, bits), actual);
        CollectionAssert.AreEqual(expected, actual);

        new FullyConnectedMultipoint(batch, k, units, input, scales, output, bits, bias, extraChannels, extraScales).Eval(x, Store(all, bits), actual);
        var rowScales = scales.Concat(extraScales).ToArray();
        for (int b = 0; b < batch; b++)
            for (int j = 0; j < units; j++)
            {
                var acc = new long[units + extra];
                var rows = new List<int> { j };
                for (int e = 0; e < extra; e++) if (extraChannels[e] == j) rows.Add(units + e);
                foreach (var r in rows)
                {
                    long a = r == j ? bias[j] : 0;
                    for (int i = 0; i < k; i++) a += (long)(x[b * k + i] - input.ZeroPoint) * all[r * k + i];
                    acc[r] = a;
                }
                Assert.AreEqual(Expected(acc, rows.ToArray(), input, rowScales, output, sbyte.MinValue, sbyte.MaxValue), actual[b * units + j]);
            }
    }

    [TestMethod]
    public void ExtraRowsMustNameChannelsInOrder()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new FullyConnectedMultipoint(1, 4, 3, new QuantParams(1, 0), [1, 1, 1], new QuantParams(1, 0), 8, [], [2, 1], [1, 1]));
    }

    // ------------------------------------------------------------------ MNIST end to end

    [TestMethod]
    public void MnistMultipointThroughTheCliRunsInIntegersAgreesWithOnnxRuntimeAndReportsTheOverhead()
    {
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 32, """
            { "weights": { "method": "multipoint", "bits": 3, "multipoint": { "extraPoints": 0.5, "maxPoints": 3, "samples": 8 } },
              "activations": { "autoPrecision": false },
              "calibration": { "inputs": { "input": "calib/*.npy" } } }
            """);
        var o = new StringWriter();
        var e = new StringWriter();
        int exit = QuantBuildCli.Run(["quantize", model, "--out", temp.File("out")], o, e);
        Assert.AreEqual(0, exit, e.ToString());

        var report = System.Text.Json.JsonDocument.Parse(File.ReadAllText(temp.File("out", "mnist.report.json"))).RootElement;
        var mp = report.GetProperty("sizes").GetProperty("multipoint");
        TestContext.WriteLine(mp.ToString());
        Assert.IsGreaterThan(0, mp.GetProperty("extraPoints").GetInt32());
        Assert.AreEqual(0.5, mp.GetProperty("memoryOverhead").GetDouble(), 0.1, "half the channels get a second point");
        Assert.IsGreaterThan(0.0, mp.GetProperty("macOverhead").GetDouble());
        StringAssert.Contains(File.ReadAllText(temp.File("out", "mnist.g.cs")), "Multipoint(");

        // The QDQ file imports back to the same weights; our integer runtime on it agrees with ORT on it.
        var qdqPath = temp.File("out", "mnist.quant.onnx");
        var imported = QdqOnnxImporter.Load(qdqPath);
        Assert.IsTrue(imported.Weights.Values.Any(w => w.ExtraPoints.Count > 0));
        var plan = IntegerLowering.Lower(imported);
        // W3 misses the quality floor; automatic 16-bit promotion is off above so that every layer runs on the multipoint kernels.
        Assert.IsEmpty(plan.FloatNodeNames);
        Assert.IsTrue(plan.Steps.Any(s => s is ConvStep { Weights.IsMultipoint: true } || s is FullyConnectedStep { Weights.IsMultipoint: true }));
        var runner = new IntegerModelRunner(plan);
        var digits = QuantizeTestData.Digits;
        var held = digits.HeldOutIndices.Take(200).ToArray();
        var batch = Tensor.FromFloats(digits.Batch(held), held.Length, 1, 28, 28);
        var file = temp.File("held.npy");
        NpyFile.Write(file, batch);
        var oracle = TestAssets.RequireOracle();
        var ort = oracle.QdqMeaning().Run(qdqPath, new Dictionary<string, string> { ["input"] = file }, ["logits"])["logits"].Floats;
        int agree = 0, correct = 0;
        for (int i = 0; i < held.Length; i++)
        {
            var logits = runner.Run(new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(digits.Image(held[i]).ToArray(), 1, 1, 28, 28) })["logits"].Floats;
            int ours = Array.IndexOf(logits, logits.Max());
            var row = ort.AsSpan(i * 10, 10).ToArray();
            if (ours == Array.IndexOf(row, row.Max())) agree++;
            if (ours == digits.Labels[held[i]]) correct++;
        }
        TestContext.WriteLine($"200 held-out digits: integer runtime accuracy {correct / 2.0:0.0}%, top-1 agreement with ORT on the QDQ file {agree / 2.0:0.0}%");
        Assert.IsGreaterThanOrEqualTo(196, agree);
        Assert.IsGreaterThanOrEqualTo(190, correct);
    }
}
