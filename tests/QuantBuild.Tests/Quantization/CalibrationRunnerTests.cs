using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

[TestClass]
public sealed class CalibrationRunnerTests
{
    /// <summary>y = Relu(x · 2): x [1,4] declared with a fixed batch of 1.</summary>
    private static ModelGraph TinyGraph(long? batch = 1)
    {
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [batch, 4]));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, [batch, 4]));
        g.Initializers["two"] = Tensor.Scalar(2f);
        g.Nodes.Add(new Node("mul", "Mul", ["x", "two"], ["h"]));
        g.Nodes.Add(new Node("relu", "Relu", ["h"], ["y"]));
        return g;
    }

    private static QuantizationSettings Settings(string dir, string pattern, int maxSamples = 256, int seed = 0) => new()
    {
        Calibration = new CalibrationSettings { Inputs = [new CalibrationInput("x", pattern)], BaseDirectory = dir, MaxSamples = maxSamples, Seed = seed },
    };

    [TestMethod]
    public void BatchedFileIsSplitAndRangesCoverEverySample()
    {
        using var temp = new TempFolder();
        NpyFile.Write(temp.File("a.npy"), Tensor.FromFloats([1, 2, 3, 4, -5, 6, 7, 8, 0, 0, 0, 9], 3, 4));
        NpyFile.Write(temp.File("b.npy"), Tensor.FromFloats([-1, 0, 0, 10], 4));
        var g = TinyGraph();
        var plan = CalibrationPlan.Resolve(g, Settings(temp.Path, "*.npy"));
        var collectors = new Dictionary<string, IRangeCollector> { ["x"] = new MinMaxCollector(), ["h"] = new MinMaxCollector(), ["y"] = new MinMaxCollector() };
        var result = new CalibrationRunner(g).Run(plan, collectors);
        Assert.AreEqual(4, result.SampleCount, "3 rows of a.npy + b.npy given without its batch dimension");
        Assert.AreEqual(new ActivationRange(-5, 10), result.Ranges["x"]);
        Assert.AreEqual(new ActivationRange(-10, 20), result.Ranges["h"]);
        Assert.AreEqual(new ActivationRange(0, 20), result.Ranges["y"]);
        CollectionAssert.AreEqual(new[] { temp.File("a.npy"), temp.File("b.npy") }, result.FilesRead.ToArray());
    }

    [TestMethod]
    public void StreamedRangesEqualRangesOverFullTraces()
    {
        // The runner folds each activation into its collector as the engine computes it and lets the engine
        // release it; the ranges must be exactly those of collectors fed from traces that keep every value.
        using var temp = new TempFolder();
        const int width = 512; // above the engine's array-recycling threshold, so released arrays are reused
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [1, width]));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, [1, width]));
        g.Initializers["two"] = Tensor.Scalar(2f);
        g.Nodes.Add(new Node("mul", "Mul", ["x", "two"], ["h"]));
        g.Nodes.Add(new Node("relu", "Relu", ["h"], ["r"]));
        g.Nodes.Add(new Node("neg", "Neg", ["r"], ["n"]));
        g.Nodes.Add(new Node("sig", "Sigmoid", ["n"], ["s"]));
        g.Nodes.Add(new Node("add", "Add", ["h", "s"], ["y"]));
        var random = new Random(9);
        for (int k = 0; k < 6; k++)
            NpyFile.Write(temp.File($"{k}.npy"), OpTester.Random(random, 1f + k, 1, width));
        var plan = CalibrationPlan.Resolve(g, Settings(temp.Path, "*.npy"));
        string[] names = ["x", "h", "r", "n", "s", "y"];
        foreach (var method in Enum.GetValues<CalibrationMethod>())
        {
            var streamed = names.ToDictionary(n => n, _ => RangeCollectors.Create(method));
            var result = new CalibrationRunner(g).Run(plan, streamed);

            var traced = names.ToDictionary(n => n, _ => RangeCollectors.Create(method));
            var engine = new QuantBuild.Engine.InferenceEngine(g);
            foreach (var sample in CalibrationRunner.EnumerateSamples(g, plan))
            {
                var trace = engine.Forward(sample.Feeds);
                foreach (var name in names.Order(StringComparer.Ordinal)) traced[name].Observe(trace[name].Floats);
            }
            foreach (var name in names)
                Assert.AreEqual(traced[name].ComputeRange(), result.Ranges[name], $"{method} {name}");
        }
    }

    [TestMethod]
    public void MaxSamplesPicksASeededSortedSubset()
    {
        var a = CalibrationPlan.SeededSubset(100, 10, 42);
        CollectionAssert.AreEqual(a, CalibrationPlan.SeededSubset(100, 10, 42), "same seed, same subset");
        CollectionAssert.AreNotEqual(a, CalibrationPlan.SeededSubset(100, 10, 43));
        CollectionAssert.AreEqual(a.Order().ToArray(), a);
        Assert.AreEqual(10, a.Distinct().Count());
    }

    [TestMethod]
    public void MemoryDoesNotGrowWithTheNumberOfSamples()
    {
        // The collectors are the only state that outlives a sample. After warm-up, observing more samples
        // must allocate (next to) nothing: holding samples would cost 4,000 bytes each.
        foreach (var method in Enum.GetValues<CalibrationMethod>())
        {
            var collector = RangeCollectors.Create(method);
            var r = new Random(1);
            var sample = new float[1000];
            long before = 0;
            for (int k = 0; k < 2000; k++)
            {
                for (int i = 0; i < sample.Length; i++) sample[i] = (float)(r.NextDouble() * 2 - 1) * (1 + k % 7);
                collector.Observe(sample);
                if (k == 100) before = GC.GetAllocatedBytesForCurrentThread();
            }
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.IsTrue(allocated < 1024, $"{method}: {allocated} bytes allocated over 1,899 samples");
            collector.ComputeRange();
        }
    }

    [TestMethod]
    public void MissingCalibrationDataExplainsWhatToAdd()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => CalibrationPlan.Resolve(TinyGraph(), new QuantizationSettings()));
        Assert.AreEqual(DiagnosticCodes.CalibrationDataMissing, e.Code);
        StringAssert.Contains(e.Message, "\"calibration\": { \"inputs\": { \"x\":");
    }

    [TestMethod]
    public void WrongInputNameAndWrongShapeAreQB3104()
    {
        using var temp = new TempFolder();
        NpyFile.Write(temp.File("a.npy"), Tensor.FromFloats(new float[5], 1, 5));
        var settings = new QuantizationSettings
        {
            Calibration = new CalibrationSettings { Inputs = [new CalibrationInput("z", "a.npy", 3, 9)], BaseDirectory = temp.Path },
        };
        var e = Assert.ThrowsExactly<QuantBuildException>(() => CalibrationPlan.Resolve(TinyGraph(), settings));
        Assert.AreEqual((DiagnosticCodes.CalibrationDataMismatch, 3, 9), (e.Code, e.Line, e.Column));

        var g = TinyGraph();
        var plan = CalibrationPlan.Resolve(g, Settings(temp.Path, "a.npy"));
        e = Assert.ThrowsExactly<QuantBuildException>(() => new CalibrationRunner(g).Run(plan, new Dictionary<string, IRangeCollector> { ["x"] = new MinMaxCollector() }));
        Assert.AreEqual(DiagnosticCodes.CalibrationDataMismatch, e.Code);
        StringAssert.Contains(e.Message, "[1,5]");
    }

    [TestMethod]
    public void NaNInCalibrationIsAnError()
    {
        using var temp = new TempFolder();
        NpyFile.Write(temp.File("a.npy"), Tensor.FromFloats([1, float.NaN, 0, 0], 1, 4));
        var g = TinyGraph();
        var plan = CalibrationPlan.Resolve(g, Settings(temp.Path, "a.npy"));
        var e = Assert.ThrowsExactly<QuantBuildException>(() => new CalibrationRunner(g).Run(plan, new Dictionary<string, IRangeCollector> { ["x"] = new MinMaxCollector() }));
        Assert.AreEqual(DiagnosticCodes.InvalidCalibrationValue, e.Code);
    }
}
