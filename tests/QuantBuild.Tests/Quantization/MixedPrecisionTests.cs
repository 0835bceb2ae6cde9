using QuantBuild.Compilation;
using System.Text.Json;
using QuantBuild.Cli;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Quantization.MixedPrecision;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

/// <summary>Mixed precision (budget.bits): the exact knapsack, the allocation on MNIST, the report and the CLI.</summary>
[TestClass]
public sealed class MixedPrecisionTests
{
    private static (long[][] Costs, double[][] Values) RandomInstance(Random random, int groups, int options)
    {
        var costs = new long[groups][];
        var values = new double[groups][];
        for (int g = 0; g < groups; g++)
        {
            costs[g] = Enumerable.Range(0, options).Select(_ => (long)random.Next(0, 40) * 3).ToArray();
            // Rounded to a grid so that ties happen and both solvers must agree on them too.
            values[g] = Enumerable.Range(0, options).Select(_ => Math.Round(random.NextDouble() * 10, 1)).ToArray();
        }
        return (costs, values);
    }

    private static double? BruteForce(long[][] costs, double[][] values, long capacity)
    {
        double? best = null;
        var choice = new int[costs.Length];
        void Visit(int g, long cost, double value)
        {
            if (cost > capacity) return;
            if (g == costs.Length) { if (best is null || value < best) best = value; return; }
            for (int o = 0; o < costs[g].Length; o++) Visit(g + 1, cost + costs[g][o], value + values[g][o]);
        }
        Visit(0, 0, 0);
        return best;
    }

    [TestMethod]
    public void KnapsackMatchesBruteForceOnRandomInstances()
    {
        var random = new Random(1234);
        for (int trial = 0; trial < 300; trial++)
        {
            int groups = random.Next(1, 9), options = random.Next(2, 5);
            var (costs, values) = RandomInstance(random, groups, options);
            long capacity = random.Next(0, groups * 120 + 1);
            var expected = BruteForce(costs, values, capacity);
            foreach (var method in new[] { MultipleChoiceKnapsack.Method.Table, MultipleChoiceKnapsack.Method.Pareto })
            {
                var solution = MultipleChoiceKnapsack.Solve(costs, values, capacity, method);
                if (expected is null) { Assert.IsNull(solution, $"trial {trial} {method}: infeasible"); continue; }
                Assert.IsNotNull(solution, $"trial {trial} {method}: feasible");
                Assert.AreEqual(expected.Value, solution.Value, 1e-9, $"trial {trial} {method}: objective");
                // The reported cost and value are those of the returned choice, and it fits.
                Assert.AreEqual(solution.Cost, solution.Choice.Select((o, g) => costs[g][o]).Sum());
                Assert.AreEqual(solution.Value, solution.Choice.Select((o, g) => values[g][o]).Sum(), 1e-9);
                Assert.IsLessThanOrEqualTo(capacity, solution.Cost);
            }
        }
    }

    [TestMethod]
    public void KnapsackLargerBudgetNeverWorseAndFullBudgetTakesTheBestOptions()
    {
        var random = new Random(99);
        for (int trial = 0; trial < 50; trial++)
        {
            int groups = random.Next(1, 9);
            // Widths 8, 4, 2 of layers with n weights: more bits cost more and err less.
            var sizes = Enumerable.Range(0, groups).Select(_ => random.Next(1, 500)).ToArray();
            var costs = sizes.Select(n => new long[] { n, (n * 4 + 7) / 8, (n * 2 + 7) / 8 }).ToArray();
            var values = sizes.Select(_ => { double e = random.NextDouble(); return new[] { e / 256, e / 16, e }; }).ToArray();
            double previous = double.PositiveInfinity;
            for (long capacity = costs.Sum(c => c[2]); capacity <= costs.Sum(c => c[0]); capacity += 37)
            {
                var s = MultipleChoiceKnapsack.Solve(costs, values, capacity)!;
                Assert.IsLessThanOrEqualTo(previous + 1e-12, s.Value);
                previous = s.Value;
            }
            var full = MultipleChoiceKnapsack.Solve(costs, values, costs.Sum(c => c[0]))!;
            CollectionAssert.AreEqual(new int[groups], full.Choice);
            Assert.IsNull(MultipleChoiceKnapsack.Solve(costs, values, costs.Sum(c => c[2]) - 1));
        }
    }

    private static string MnistSidecar(TempFolder temp, string weights, string budget, string layers = "")
    {
        QuantizeTestData.WriteMnistCalibration(temp.Path, 16);
        var sidecar = temp.File("mnist.quant.json");
        File.WriteAllText(sidecar, $$"""
            { "weights": {{weights}}, "calibration": { "inputs": { "input": "calib/*.npy" } }, "budget": {{budget}}{{layers}} }
            """);
        return sidecar;
    }

    [TestMethod]
    public void AllocationFitsTheBudgetUsesOnlyCandidatesKeepsExplicitBitsAndIsReported()
    {
        using var temp = new TempFolder();
        // Node names after preparation, to pin one layer's bits explicitly.
        var graph = OnnxImporter.Load(QuantizeTestData.MnistModel);
        GraphPreparation.Prepare(graph);
        var weighted = graph.Nodes.Where(n => QuantizationPipeline.WeightInput(graph, n) is not null).Select(n => n.Name).ToList();
        Assert.IsGreaterThanOrEqualTo(3, weighted.Count);
        var pinned = weighted[0];
        var sidecar = MnistSidecar(temp, """{ "bits": 8 }""", """{ "averageBits": 4.5, "bits": [2, 3, 4, 8] }""",
            $$""", "layers": { "{{pinned}}": { "weights": { "bits": 6 } } }""");
        var settings = SidecarParser.Load(sidecar);
        var compiled = ModelCompiler.Compile(QuantizeTestData.MnistModel, settings, new EngineOptions { MaxDegreeOfParallelism = 2 });
        var result = compiled.Pipeline;
        var model = result.Model;
        var allocation = model.BitAllocation;
        Assert.IsNotNull(allocation);

        long bytes = model.Weights.Values.Sum(QuantizationPipeline.QuantizedWeightBytes);
        Assert.IsLessThanOrEqualTo(allocation.BudgetBytes, bytes);
        Assert.AreEqual(allocation.ChosenBytes, bytes, "the allocator's byte count is the pipeline's");
        long atFourAndAHalf = model.Weights.Values.Sum(w => (long)Math.Ceiling(w.Codes.Length * 4.5 / 8) + 4L * w.Scales.Length);
        Assert.AreEqual(atFourAndAHalf, allocation.BudgetBytes);
        Assert.AreEqual(6, model.Weights[pinned].Bits, "explicit per-layer bits are kept");
        Assert.IsTrue(allocation.Layers.Single(l => l.Node == pinned).Fixed);
        foreach (var layer in allocation.Layers.Where(l => !l.Fixed))
        {
            Assert.AreEqual(layer.Bits, model.Weights[layer.Node].Bits);
            CollectionAssert.Contains(new[] { 2, 3, 4, 8 }, layer.Bits);
            // Errors fall with width for linear quantization: the table the choice came from is sane.
            var errors = layer.Errors.OrderBy(e => e.Bits).Select(e => e.Error).ToArray();
            Assert.IsGreaterThan(errors[^1], errors[0], $"{layer.Node}: 2 bits must err more than 8");
        }
        Assert.AreNotEqual(1, allocation.Layers.Where(l => !l.Fixed).Select(l => l.Bits).Distinct().Count(), "a 4.5-bit budget must mix widths");

        // The chosen widths run on the integer kernels (2-4 bits as int4, 5-8 as int8).
        Assert.IsEmpty(compiled.RequirePlan().Plan.FloatNodeNames);

        using var report = JsonDocument.Parse(QuantizationReport.Write("mnist.onnx", result));
        var section = report.RootElement.GetProperty("mixedPrecision");
        Assert.AreEqual(allocation.BudgetBytes, section.GetProperty("budgetBytes").GetInt64());
        Assert.AreEqual(bytes, section.GetProperty("chosenBytes").GetInt64());
        var reported = section.GetProperty("layers").EnumerateArray().ToDictionary(l => l.GetProperty("node").GetString()!, l => l.GetProperty("bits").GetInt32());
        foreach (var (node, w) in model.Weights) Assert.AreEqual(w.Bits, reported[node], node);
        foreach (var layer in report.RootElement.GetProperty("layers").EnumerateArray())
            Assert.AreEqual(model.Weights[layer.GetProperty("node").GetString()!].Bits, layer.GetProperty("bits").GetInt32());
    }

    [TestMethod]
    public void UnreachableBudgetIsQB4101NamingTheSmallestSize()
    {
        using var temp = new TempFolder();
        var sidecar = MnistSidecar(temp, """{ "bits": 8 }""", """{ "weightBytes": 1000, "bits": [4, 8] }""");
        var e = Assert.ThrowsExactly<QuantBuildException>(() => QuantizationPipeline.Run(QuantizeTestData.MnistModel, SidecarParser.Load(sidecar)));
        Assert.AreEqual(DiagnosticCodes.WeightBudgetExceeded, e.Code);
        StringAssert.Contains(e.Message, "cannot be met");
    }

    [TestMethod]
    public void BudgetSettingsAreCheckedWithPositions()
    {
        QuantBuildException Parse(string json) =>
            Assert.ThrowsExactly<QuantBuildException>(() => SidecarParser.Parse(json, "m.quant.json", "."));
        var e = Parse("{\n \"budget\": { \"bits\": [4, 8] } }");
        StringAssert.Contains(e.Message, "needs a bound");
        e = Parse("{ \"budget\": { \"averageBits\": 5,\n \"bits\": [4, 9] } }");
        Assert.AreEqual(2, e.Line);
        StringAssert.Contains(e.Message, "budget.bits[]");
        e = Parse("{ \"budget\": { \"averageBits\": 5, \"bits\": [4, 4] } }");
        StringAssert.Contains(e.Message, "twice");
        e = Parse("{ \"budget\": { \"averageBits\": 5, \"weightBytes\": 100 } }");
        StringAssert.Contains(e.Message, "not both");
        e = Parse("{ \"weights\": {\n  \"biasCorrection\": 1 } }");
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
        Assert.AreEqual(2, e.Line);
        var s = SidecarParser.Parse("""{ "weights": { "biasCorrection": true }, "layers": { "a": { "weights": { "biasCorrection": false } } }, "budget": { "averageBits": 4.5, "bits": [8, 2] } }""", "m.quant.json", ".");
        Assert.IsTrue(s.ForNode("b").Weights.BiasCorrection);
        Assert.IsFalse(s.ForNode("a").Weights.BiasCorrection);
        Assert.AreEqual(4.5, s.AverageBitsBudget);
        CollectionAssert.AreEqual(new[] { 8, 2 }, s.BitCandidates.ToArray());
    }

    [TestMethod]
    public void CliQuantizeWithABudgetWritesMixedWidthsIntoTheReportAndTheGeneratedCode()
    {
        using var temp = new TempFolder();
        var model = temp.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        MnistSidecar(temp, """{ "bits": 8 }""", """{ "averageBits": 5, "bits": [2, 3, 4, 8], "sensitivitySamples": 8 }""");
        var o = new StringWriter();
        var err = new StringWriter();
        int exit = QuantBuildCli.Run(["quantize", model, "--out", temp.File("out")], o, err);
        Assert.AreEqual(0, exit, err.ToString());
        using var report = JsonDocument.Parse(File.ReadAllText(temp.File("out", "mnist.report.json")));
        var section = report.RootElement.GetProperty("mixedPrecision");
        Assert.IsLessThanOrEqualTo(section.GetProperty("budgetBytes").GetInt64(), section.GetProperty("chosenBytes").GetInt64());
        Assert.AreEqual(section.GetProperty("chosenBytes").GetInt64(), report.RootElement.GetProperty("sizes").GetProperty("weightsQuantizedBytes").GetInt64());
        Assert.AreEqual(8, section.GetProperty("sensitivitySamples").GetInt32());
        var bits = section.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("bits").GetInt32()).ToList();
        Assert.IsTrue(bits.Any(b => b <= 4) && bits.Any(b => b > 4), "5 bits on average over MNIST's layers mixes int4 and int8 layers: " + string.Join(",", bits));
        // The generated model's per-layer comments say how each layer's weights are stored.
        var code = string.Concat(Directory.GetFiles(temp.File("out"), "*.cs").Select(File.ReadAllText));
        StringAssert.Contains(code, "': int4 codes packed two per byte");
        StringAssert.Contains(code, "': int8 codes");
    }
}
