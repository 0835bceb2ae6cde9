using QuantBuild.Configuration;
using QuantBuild.Graph;
using QuantBuild.Quantization;

namespace QuantBuild.Tests.Quantization;

/// <summary>LogQuant (docs/algorithms/logquant.md) and WEQ (docs/algorithms/weq.md) weight quantizers: the documented properties and the deployable int8 tables.</summary>
[TestClass]
public sealed class CodebookQuantizerTests
{
    private static readonly double[] WorkedVector = [-1.2, -0.6, -0.3, -0.1, -0.05, 0, 0.02, 0.07, 0.15, 0.25, 0.4, 0.55, 0.9, 1.5];

    private static WeightQuantizationRequest Request(string method, float[] values, int[] shape, int bits, bool perChannel = true) =>
        new(new Node("n", "Conv", ["x", "w"], ["y"]), "w", values, shape, 0,
            new WeightSettings { Method = WeightMethods.FromLabel(method), Bits = bits, PerChannel = perChannel }, null!);

    private static float[] Gaussian(int n, int seed, double sigma = 1)
    {
        var rng = new Random(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
            v[i] = (float)(sigma * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        return v;
    }

    // ------------------------------------------------------------------ WEQ

    [TestMethod]
    public void WeqWorkedVectorMatchesTheSpec()
    {
        var nonNegative = WorkedVector.Where(v => v >= 0).Order().ToArray();
        var negative = WorkedVector.Where(v => v < 0).Select(v => -v).Order().ToArray();
        var pos = WeqQuantizer.Cluster(nonNegative, 2, WorkedVector.Length);
        var neg = WeqQuantizer.Cluster(negative, 2, WorkedVector.Length);
        Assert.AreEqual(0.412735, pos.Representatives[0], 1e-6);
        Assert.AreEqual(1.5, pos.Representatives[1], 1e-12);
        Assert.AreEqual(0.478609, pos.Entropy, 1e-6);
        Assert.AreEqual(0.340037, neg.Representatives[0], 1e-6);
        Assert.AreEqual(1.2, neg.Representatives[1], 1e-12);
        Assert.AreEqual(0.312832, neg.Entropy, 1e-6);
        // Full quantizer (2 bits → 2 clusters per sign): codes follow the table order (−1.2, −0.34, 0.41, 1.5).
        var group = WeqQuantizer.QuantizeGroup(WorkedVector.Select(v => (float)v).ToArray(), 2);
        CollectionAssert.AreEqual(new[] { 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3 }, group.Codes);
    }

    private static double EntropyOf(double[] sorted, int[] cuts, int total)
    {
        var prefix = new double[sorted.Length + 1];
        for (int i = 0; i < sorted.Length; i++) prefix[i + 1] = prefix[i] + sorted[i] * sorted[i];
        return WeqQuantizer.Entropy(prefix, cuts, total);
    }

    [TestMethod]
    public void WeqResultIsALocalOptimumAndNeverBelowTheEqualPopulationStart()
    {
        var values = Gaussian(3000, 7).Where(v => v >= 0).Select(v => (double)v).Order().ToArray();
        foreach (int clusters in new[] { 2, 4, 8, 16 })
        {
            var c = WeqQuantizer.Cluster(values, clusters, 3000);
            var start = Enumerable.Range(0, clusters + 1).Select(m => (int)((long)values.Length * m / clusters)).ToArray();
            Assert.IsTrue(c.Entropy >= EntropyOf(values, start, 3000) - 1e-12, $"{clusters} clusters: S fell below the start");
            for (int m = 1; m < clusters; m++)
                foreach (int d in new[] { -1, 1 })
                {
                    var moved = (int[])c.Cuts.Clone();
                    moved[m] += d;
                    if (moved[m] < moved[m - 1] || moved[m] > moved[m + 1]) continue;
                    Assert.IsTrue(EntropyOf(values, moved, 3000) <= c.Entropy + 1e-12, $"{clusters} clusters: moving boundary {m} by {d} raises S");
                }
            // Representatives strictly increase and each lies within its cluster's magnitudes.
            for (int m = 0; m < clusters; m++)
            {
                Assert.IsTrue(c.Cuts[m + 1] > c.Cuts[m], "no empty cluster on 1500 values");
                Assert.IsTrue(c.Representatives[m] >= values[c.Cuts[m]] && c.Representatives[m] <= values[c.Cuts[m + 1] - 1]);
                if (m > 0) Assert.IsTrue(c.Representatives[m] > c.Representatives[m - 1]);
            }
        }
    }

    [TestMethod]
    public void WeqTwoClustersEqualsBruteForceOnSmallSets()
    {
        var rng = new Random(3);
        for (int trial = 0; trial < 200; trial++)
        {
            int n = rng.Next(1, 13);
            var values = Enumerable.Range(0, n).Select(_ => Math.Round(rng.NextDouble() * 3, 2)).Order().ToArray();
            int total = n + rng.Next(0, 5);
            var c = WeqQuantizer.Cluster(values, 2, total);
            double best = Enumerable.Range(0, n + 1).Max(cut => EntropyOf(values, [0, cut, n], total));
            Assert.AreEqual(best, c.Entropy, 1e-12, $"trial {trial}");
            // Three clusters: the global maximum bounds the algorithm's result.
            var c3 = WeqQuantizer.Cluster(values, 3, total);
            double best3 = 0;
            for (int a = 0; a <= n; a++)
                for (int b = a; b <= n; b++) best3 = Math.Max(best3, EntropyOf(values, [0, a, b, n], total));
            Assert.IsTrue(c3.Entropy <= best3 + 1e-12);
        }
    }

    [TestMethod]
    public void WeqGaussianShapeMatchesThePaperFigure()
    {
        // Shape check (docs/algorithms/weq.md, "Weights (Algorithm 1)"): 20 000 N(0,1) weights, 8 clusters per sign; expected ±0.03 across generators (we allow 0.06).
        var values = Gaussian(20000, 0);
        var group = WeqQuantizer.QuantizeGroup(values, 4);
        double[] expected = [0.40, 0.88, 1.15, 1.39, 1.62, 1.88, 2.20, 2.77];
        for (int m = 0; m < 8; m++) Assert.AreEqual(expected[m], group.Table[8 + m], 0.06, $"positive rep {m}: {string.Join(", ", group.Table.Skip(8).Select(t => t.ToString("F2")))}");
    }

    [TestMethod]
    public void WeqHandlesAllZeroAndOneSignedTensors()
    {
        var zero = WeqQuantizer.QuantizeGroup(new float[50], 3);
        Assert.IsTrue(zero.Table.All(t => t == 0 && !double.IsNaN(t)));
        var positive = Enumerable.Range(1, 40).Select(i => i / 40f).ToArray();
        var q = WeqQuantizer.QuantizeGroup(positive, 3);
        Assert.IsTrue(q.Codes.All(c => c >= 4), "non-negative weights use the non-negative half of the table");
        var tiny = WeqQuantizer.QuantizeGroup([0.5f, -0.25f], 8);
        Assert.AreEqual(0.5, tiny.Table[tiny.Codes[0]], 1e-7);
        Assert.AreEqual(-0.25, tiny.Table[tiny.Codes[1]], 1e-7);
    }

    // ------------------------------------------------------------------ LogQuant

    [TestMethod]
    public void LogQuantLevelsArePowersOfTwoBelowTheFullScale()
    {
        // max|x| = 3 → round(log2 3) = 2 (mantissa 1.5 ≥ √2) → FSR = 3; 3 bits = sign + 2 magnitude bits: {0, 2^0, 2^1, 2^2}.
        float[] x = [3f, -3f, 2.9f, 1.5f, 1.4f, 0.9f, 0.70f, 0.69f, 0f, -1f];
        var g = LogQuantizer.QuantizeGroup(x, 3);
        var decoded = g.Codes.Select(c => g.Table[c]).ToArray();
        CollectionAssert.AreEqual(new double[] { 4, -4, 4, 2, 1, 1, 0, 0, 0, -1 }, decoded);
        Assert.AreEqual(3, LogQuantizer.FullScaleExponent(x));
        Assert.AreEqual(1, LogQuantizer.RoundLog2(2.8));
        Assert.AreEqual(2, LogQuantizer.RoundLog2(2.83));
    }

    [TestMethod]
    public void LogQuantIsMonotoneWithBoundedRelativeErrorAndBeatsLinearOnRelativeError()
    {
        var values = Gaussian(5000, 11).Select(Math.Abs).ToArray();
        var g = LogQuantizer.QuantizeGroup(values, 5);
        int fsr = LogQuantizer.FullScaleExponent(values);
        var order = Enumerable.Range(0, values.Length).OrderBy(i => values[i]).ToArray();
        for (int k = 1; k < order.Length; k++)
            Assert.IsTrue(g.Table[g.Codes[order[k]]] >= g.Table[g.Codes[order[k - 1]]], "monotone in |x|");
        double lowest = Math.Pow(2, fsr - 16 + 0.5);
        foreach (var v in values.Where(v => v > lowest && v < Math.Pow(2, fsr - 1)))
            Assert.IsTrue(Math.Abs(g.Table[g.Codes[Array.IndexOf(values, v)]] - v) / v <= Math.Sqrt(2) - 1 + 1e-9);

        // docs/algorithms/logquant.md, "Weights": on a half-normal sample, 3-bit LogQuant magnitudes (+ the sign bit our weights carry) have lower
        // mean relative error than 3-bit (8-level) min-max linear on [0, max], while linear has lower MSE.
        var q3 = LogQuantizer.QuantizeGroup(values, 4);
        double step = values.Max() / 7;
        var linValues = values.Select(v => Math.Round(v / step) * step).ToArray();
        double Rel(Func<int, double> hat) => Enumerable.Range(0, values.Length).Average(i => Math.Abs(hat(i) - values[i]) / values[i]);
        double Mse(Func<int, double> hat) => Enumerable.Range(0, values.Length).Average(i => Math.Pow(hat(i) - values[i], 2));
        Assert.IsTrue(Rel(i => q3.Table[q3.Codes[i]]) < Rel(i => linValues[i]));
        Assert.IsTrue(Mse(i => linValues[i]) < Mse(i => q3.Table[q3.Codes[i]]));
    }

    // ------------------------------------------------------------------ deployable tables

    [TestMethod]
    [DataRow("weq")]
    [DataRow("log")]
    public void TablesAreInt8LevelsTimesAScaleAndDequantizeShowsThem(string method)
    {
        var values = Gaussian(6 * 3 * 3 * 3, 5, 0.2);
        foreach (int bits in new[] { 2, 3, 4, 5, 8 })
        {
            // The codebook form itself (at 4 bits and more, 27 weights a channel store smaller decoded: see below).
            Func<float[], CodebookGroup> group = method == "log" ? v => LogQuantizer.QuantizeGroup(v, bits) : v => WeqQuantizer.QuantizeGroup(v, bits);
            var wq = CodebookWeights.BuildTables(Request(method, values, [6, 3, 3, 3], bits), method, bits, group);
            Assert.AreEqual(WeightEncoding.Codebook, wq.Encoding);
            Assert.AreEqual(6, wq.Codebooks!.Length);
            Assert.AreEqual(6, wq.Scales.Length);
            var deq = wq.Dequantize();
            for (int t = 0; t < 6; t++)
            {
                Assert.AreEqual(1 << bits, wq.CodebookLevels![t].Length);
                for (int k = 0; k < 1 << bits; k++)
                    Assert.AreEqual(wq.CodebookLevels[t][k] * wq.Scales[t], wq.Codebooks[t][k]);
            }
            for (int i = 0; i < values.Length; i++)
            {
                int code = wq.Codes[i] & 0xFF;
                Assert.IsTrue(code < 1 << bits);
                Assert.AreEqual(wq.CodebookLevels![i / 27][code] * wq.Scales[i / 27], deq[i]);
            }
            double sqnr = LinearQuantizer.Sqnr(values, deq);
            Console.WriteLine($"{method} {bits} bits: SQNR {sqnr:F1} dB");
            // WEQ gains about as much per bit as a uniform grid; LogQuant saturates (its levels only add small octaves).
            Assert.IsTrue(sqnr > (method == "log" ? (bits == 2 ? 0.5 : 8) : 5.5 * bits - 6), $"{method} {bits} bits: SQNR {sqnr:F1} dB");
            // Deterministic: the same request gives the same codes and tables.
            var again = CodebookWeights.BuildTables(Request(method, values, [6, 3, 3, 3], bits), method, bits, group);
            CollectionAssert.AreEqual(wq.Codes, again.Codes);
            CollectionAssert.AreEqual(wq.Scales, again.Scales);
        }
    }

    [TestMethod]
    public void LogQuantInt8TableKeepsSevenOctavesExact()
    {
        var values = Gaussian(200, 9);
        var wq = WeightQuantizers.For(WeightMethods.FromLabel("log")).Quantize(Request("log", values, [200], 4, perChannel: false));
        var levels = wq.CodebookLevels![0];
        CollectionAssert.AreEqual(new sbyte[] { 0, 1, 2, 4, 8, 16, 32, 64 }, levels.Take(8).ToArray());
        CollectionAssert.AreEqual(new sbyte[] { 0, -1, -2, -4, -8, -16, -32, -64 }, levels.Skip(8).ToArray());
        // Ideal log values == executed values at 4 bits.
        var ideal = LogQuantizer.QuantizeGroup(values, 4);
        var deq = wq.Dequantize();
        for (int i = 0; i < values.Length; i++) Assert.AreEqual(ideal.Table[ideal.Codes[i]], deq[i], 1e-12);
    }

    [TestMethod]
    public void WeightBytesCountPackedIndicesTablesAndScales()
    {
        var values = Gaussian(4 * 50, 1);
        var wq = WeightQuantizers.For(WeightMethods.FromLabel("weq")).Quantize(Request("weq", values, [4, 50], 3));
        Assert.AreEqual((200 * 3 + 7) / 8 + 4 * 4 + 4 * 8, QuantizationPipeline.QuantizedWeightBytes(wq));
    }

    /// <summary>
    /// Storage (docs/algorithms/weq.md, "Storage"): a layer whose tables outweigh what its indices save — 8-bit indices,
    /// or 4-bit tables of 16 levels for 9 weights (a depthwise 3x3 channel) — is stored as the decoded int8 levels with
    /// the same scales: the same real values, fewer bytes, linear 8-bit encoding. Wide channels at 4 bits keep the codebook,
    /// and so do LogQuant's 9-weight channels: their one shared table costs 16 bytes for the whole layer; at 2 weights a
    /// channel even that loses to the decoded levels.
    /// </summary>
    [TestMethod]
    [DataRow("weq", 8, 9, true)]
    [DataRow("log", 8, 200, true)]
    [DataRow("weq", 4, 9, true)]
    [DataRow("log", 4, 2, true)]
    [DataRow("log", 4, 9, false)]
    [DataRow("weq", 4, 200, false)]
    [DataRow("log", 4, 200, false)]
    public void TablesThatOutweighTheirIndices_AreStoredAsDecodedLevels(string method, int bits, int fanIn, bool decoded)
    {
        const int channels = 6;
        var values = Gaussian(channels * fanIn, 11, 0.2);
        var shape = new[] { channels, 1, fanIn, 1 };
        var q = WeightQuantizers.For(WeightMethods.FromLabel(method)).Quantize(Request(method, values, shape, bits));
        Assert.AreEqual(decoded ? WeightEncoding.Linear : WeightEncoding.Codebook, q.Encoding);
        Assert.AreEqual(method, q.Method, "the layer keeps its method");
        if (!decoded)
        {
            Assert.IsNull(q.DecodedFromBits);
            return;
        }

        Assert.AreEqual(8, q.Bits);
        Assert.AreEqual(bits, q.DecodedFromBits);
        Assert.AreEqual(channels, q.Scales.Length);
        // The same real values as the codebook form, in fewer bytes.
        Func<float[], CodebookGroup> group = method == "log" ? v => LogQuantizer.QuantizeGroup(v, bits) : v => WeqQuantizer.QuantizeGroup(v, bits);
        var codebook = CodebookWeights.BuildTables(Request(method, values, shape, bits), method, bits, group);
        Assert.AreEqual(WeightEncoding.Codebook, codebook.Encoding);
        CollectionAssert.AreEqual(codebook.Dequantize(), q.Dequantize());
        Assert.IsLessThan(QuantizationPipeline.QuantizedWeightBytes(codebook), QuantizationPipeline.QuantizedWeightBytes(q));
    }

    /// <summary>
    /// LogQuant's int8 tables are the same in every channel (0, ±1, ±2, … ±64 at the scale 2^(FSR−7)); only the scale
    /// differs. The layer stores one shared table with the per-channel scales: the same indices, scales and real values
    /// as the per-channel tables, and 2^b table bytes instead of channels · 2^b.
    /// </summary>
    [TestMethod]
    [DataRow(2)]
    [DataRow(3)]
    [DataRow(4)]
    [DataRow(5)]
    public void LogQuantPerChannelLayers_ShareOneTable_WithTheChannelsScales(int bits)
    {
        const int channels = 12, fanIn = 64;
        // Channels an octave or more apart, so their exponents (and scales) differ.
        var values = Gaussian(channels * fanIn, 21, 0.05);
        for (int i = 0; i < values.Length; i++) values[i] *= 1 << (i / fanIn % 5);
        var shape = new[] { channels, fanIn, 1, 1 };
        var q = WeightQuantizers.For(WeightMethods.FromLabel("log")).Quantize(Request("log", values, shape, bits));
        Assert.AreEqual(WeightEncoding.Codebook, q.Encoding);
        Assert.AreEqual(bits, q.Bits);
        Assert.HasCount(1, q.CodebookLevels!);
        Assert.HasCount(channels, q.Scales);
        Assert.IsGreaterThanOrEqualTo(5, q.Scales.Distinct().Count(), "the channels keep their own scales");
        Assert.HasCount(channels, q.Codebooks!);

        var perChannel = CodebookWeights.BuildTables(Request("log", values, shape, bits), "log", bits, v => LogQuantizer.QuantizeGroup(v, bits));
        Assert.HasCount(channels, perChannel.CodebookLevels!);
        foreach (var table in perChannel.CodebookLevels!) CollectionAssert.AreEqual(table, q.CodebookLevels![0]);
        CollectionAssert.AreEqual(perChannel.Codes, q.Codes);
        CollectionAssert.AreEqual(perChannel.Scales, q.Scales);
        for (int c = 0; c < channels; c++) CollectionAssert.AreEqual(perChannel.Codebooks![c], q.Codebooks![c]);
        // Dequantize is table[0][index] · scale[c], exactly the per-channel form's table[c][index] · scale[c].
        CollectionAssert.AreEqual(perChannel.Dequantize(), q.Dequantize());
        var deq = q.Dequantize();
        for (int i = 0; i < values.Length; i++)
            Assert.AreEqual(q.CodebookLevels![0][q.Codes[i] & 0xFF] * q.Scales[i / fanIn], deq[i]);

        // Packed indices + one table + one float scale per channel.
        Assert.AreEqual((channels * fanIn * bits + 7) / 8 + (1 << bits) + 4 * channels, QuantizationPipeline.QuantizedWeightBytes(q));
        Assert.AreEqual(QuantizationPipeline.QuantizedWeightBytes(perChannel) - (channels - 1) * (1 << bits), QuantizationPipeline.QuantizedWeightBytes(q));
    }

    [TestMethod]
    public void WeqSharesATableOnlyWhenTheChannelsTablesAreEqual()
    {
        const int channels = 6, fanIn = 80;
        var shape = new[] { channels, fanIn, 1, 1 };
        // Independent channels cluster differently: one table each.
        var q = WeightQuantizers.For(WeightMethods.FromLabel("weq")).Quantize(Request("weq", Gaussian(channels * fanIn, 4, 0.2), shape, 3));
        Assert.AreEqual(WeightEncoding.Codebook, q.Encoding);
        Assert.HasCount(channels, q.CodebookLevels!);
        // Channels that are one channel times powers of two cluster alike, and max|entry|/127 scales their tables alike.
        var one = Gaussian(fanIn, 5, 0.2);
        var copies = Enumerable.Range(0, channels).SelectMany(c => one.Select(v => v * (1 << c))).ToArray();
        var shared = WeightQuantizers.For(WeightMethods.FromLabel("weq")).Quantize(Request("weq", copies, shape, 3));
        Assert.HasCount(1, shared.CodebookLevels!);
        Assert.HasCount(channels, shared.Scales);
        var perChannel = CodebookWeights.BuildTables(Request("weq", copies, shape, 3), "weq", 3, v => WeqQuantizer.QuantizeGroup(v, 3));
        CollectionAssert.AreEqual(perChannel.Dequantize(), shared.Dequantize());
    }
}
