using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Quantization;

namespace QuantBuild.Tests.Quantization;

/// <summary>
/// Level grids of ReLU outputs (docs/algorithms/logquant.md, "Activation grid"; docs/algorithms/weq.md, "Activation levels"): the streaming log2 histogram, the weighted-entropy
/// search, LogQuant as its step-16 special case, and the deployable form (thresholds, int16 table, code table).
/// </summary>
[TestClass]
public sealed class LogActivationQuantizerTests
{
    /// <summary>Half-normal-like ReLU outputs with a long tail and exact zeros, as after a ReLU.</summary>
    private static float[] ReluSample(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
        {
            double g = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
            x[i] = (float)Math.Max(0, g * Math.Exp(0.5 * g));
        }
        return x;
    }

    private static (ActivationQuantization Linear, Log2Histogram Histogram) Calibrate(float[] values)
    {
        var h = new Log2Histogram();
        h.Add(values);
        var linear = LinearQuantizer.QuantizeActivation("x", new ActivationRange(values.Min(), values.Max()), 8, symmetric: false);
        return (linear, h);
    }

    [TestMethod]
    public void HistogramCountsOnlyPositiveValuesInSixteenthOctaveBinsWithFixedMemory()
    {
        var h = new Log2Histogram();
        h.Add([0f, -1f, float.NaN, 1f, 1.0443f, 1.05f, 2f, 1e-30f, 1e30f]);
        Assert.AreEqual(6, h.Positive);
        Assert.AreEqual(1, h.Counts[Log2Histogram.ZeroBin], "1 starts bin 640");
        Assert.AreEqual(2, h.Counts[Log2Histogram.ZeroBin + 1], "1.0443 and 1.05 lie in [2^(1/16) = 1.04427, 2^(2/16) = 1.0905)");
        Assert.AreEqual(1, h.Counts[Log2Histogram.ZeroBin + 16], "2 starts the next octave");
        Assert.AreEqual(1, h.Counts[0], "values below 2^-40 go to the first bin");
        Assert.AreEqual(1, h.Counts[Log2Histogram.Bins - 1], "values above 2^24 go to the last bin");
        for (int i = 0; i < 50; i++) h.Add(ReluSample(1000, i));
        Assert.HasCount(Log2Histogram.Bins, h.Counts);
    }

    [TestMethod]
    [DataRow(4)]
    [DataRow(3)]
    [DataRow(2)]
    public void WeightedLogSearchFindsTheLargestWeightedEntropyOfEveryConfigurationItSearches(int bits)
    {
        var (linear, h) = Calibrate(ReluSample(20_000, bits));
        var counts = LogActivationQuantizer.Masked(h, linear.Scale / 2.0);
        int levels = 1 << bits;
        var best = LogActivationQuantizer.Quantize(ActivationLevelGrid.WeightedLog, bits, linear, h);
        var candidates = LogActivationQuantizer.Candidates(counts, levels).ToList();
        Assert.IsGreaterThan(100, candidates.Count);
        Assert.Contains((best.Step, best.Offset), candidates);
        foreach (var (step, off) in candidates)
            Assert.IsGreaterThanOrEqualTo(LogActivationQuantizer.WeightedEntropy(counts, step, off, levels), best.WeightedEntropy, $"step {step} offset {off}");
        Assert.AreEqual(LogActivationQuantizer.WeightedEntropy(counts, best.Step, best.Offset, levels), best.WeightedEntropy);
    }

    [TestMethod]
    [DataRow(ActivationLevelGrid.WeightedLog)]
    [DataRow(ActivationLevelGrid.Log)]
    [DataRow(ActivationLevelGrid.Uniform)]
    public void QuantizerIsMonotoneAndLevelZeroIsZero(ActivationLevelGrid grid)
    {
        var (linear, h) = Calibrate(ReluSample(5000, 7));
        var q = LogActivationQuantizer.Quantize(grid, 3, linear, h);
        Assert.AreEqual(0.0, q.Levels[0]);
        Assert.AreEqual((short)0, q.TableLevels[0]);
        Assert.AreEqual(short.MaxValue, q.TableLevels.Max(), "the top level is the int16 full scale");
        for (int n = 1; n < q.LevelCount; n++) Assert.IsGreaterThan(q.Levels[n - 1], q.Levels[n]);
        int previous = 0;
        for (double x = -1; x < 100; x = x < 1e-6 ? x + 1e-3 : x * 1.01)
        {
            int index = q.LevelIndex(x);
            Assert.IsGreaterThanOrEqualTo(previous, index, $"x = {x}");
            previous = index;
        }
        var table = q.EncodingTable();
        for (int c = 1; c < 256; c++) Assert.IsGreaterThanOrEqualTo(table[c - 1], table[c]);
        // The QDQ table holds exactly the deployed level of each code.
        var values = q.CodeValues();
        for (int c = linear.QMin; c <= linear.QMax; c++) Assert.AreEqual(q.DeployedLevel(table[c + 128 - (linear.Signed ? 0 : 128)]), values[c - linear.QMin]);
    }

    [TestMethod]
    [DataRow(4)]
    [DataRow(3)]
    public void LogGridIsTheStepSixteenCaseAndReproducesLogQuantOnPositiveInputs(int bits)
    {
        var sample = ReluSample(20_000, 11);
        var (linear, h) = Calibrate(sample);
        var q = LogActivationQuantizer.Quantize(ActivationLevelGrid.Log, bits, linear, h);
        Assert.AreEqual(16, q.Step);
        double top = (linear.QMax - linear.ZeroPoint) * (double)linear.Scale;
        int fsr = LogQuantizer.RoundLog2(top) + 1;
        Assert.AreEqual(16 * (fsr - (1 << bits) + 1), q.Offset);
        // LogQuant (docs/algorithms/logquant.md, "Activation grid") directly: 0 if round(log2 x) ≤ FSR − 2^b, else 2^min(round(log2 x), FSR − 1).
        foreach (var x in sample.Where(v => v > 0).Take(5000).Concat([(float)top, (float)(2 * top), 1e-9f]))
        {
            int k = Math.Min(LogQuantizer.RoundLog2(x), fsr - 1);
            double expected = k <= fsr - (1 << bits) ? 0 : Math.ScaleB(1.0, k);
            Assert.AreEqual(expected, q.Levels[q.LevelIndex(x)], $"x = {x}");
        }
        // The same configuration scored by the weighted-log objective is what the weighted-log search compares against.
        var counts = LogActivationQuantizer.Masked(h, linear.Scale / 2.0);
        Assert.AreEqual(LogActivationQuantizer.WeightedEntropy(counts, 16, q.Offset, 1 << bits), q.WeightedEntropy);
        var searched = LogActivationQuantizer.Quantize(ActivationLevelGrid.WeightedLog, bits, linear, h);
        Assert.Contains((16, q.Offset), LogActivationQuantizer.Candidates(counts, 1 << bits).ToList());
        Assert.IsGreaterThanOrEqualTo(q.WeightedEntropy, searched.WeightedEntropy, "the search includes LogQuant's configuration, so it never scores below it");
    }

    [TestMethod]
    public void AllZeroActivationGivesTheDegenerateGrid()
    {
        var (linear, h) = Calibrate(new float[100]);
        var q = LogActivationQuantizer.Quantize(ActivationLevelGrid.WeightedLog, 4, linear, h);
        Assert.IsTrue(q.EncodingTable().All(i => i == 0));
        Assert.IsTrue(q.CodeValues().All(v => v == 0));
    }
}
