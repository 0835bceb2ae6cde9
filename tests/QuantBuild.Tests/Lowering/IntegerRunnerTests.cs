using QuantBuild.Compilation;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Runtime;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;
using static QuantBuild.Tests.Infrastructure.Logits;

namespace QuantBuild.Tests.Lowering;

/// <summary>
/// Lowering + the in-process integer runner on the MNIST sample and the real models: accuracy against
/// fp32, every integer layer against the same layer in float fake-quant, and the arena layout.
/// </summary>
[TestClass]
public sealed class IntegerRunnerTests
{
    public TestContext TestContext { get; set; } = null!;

    internal static string MnistModelPath => Path.Combine(TestAssets.RepoRoot, "samples", "MnistDigits", "Models", "mnist.onnx");

    internal static MnistDataset LoadMnist() => MnistDataset.Load(Path.Combine(TestAssets.RepoRoot, MnistDataset.RelativeDigitsDirectory));

    /// <summary>64 training digits (never held-out ones) as calibration batches of 16.</summary>
    internal static List<Dictionary<string, Tensor>> MnistCalibration(MnistDataset data) =>
        Enumerable.Range(0, 4).Select(b => new Dictionary<string, Tensor>
        {
            ["input"] = Tensor.FromFloats(data.Batch(data.TrainingIndices.AsSpan(b * 16, 16)), 16, 1, 28, 28),
        }).ToList();

    internal static QuantizedModel QuantizeMnist(MnistDataset data, int weightBits) =>
        TestQuantizer.Quantize(MnistModelPath, MnistCalibration(data), weightBits);

    private static double IntegerAccuracy(IntegerModelRunner runner, MnistDataset data)
    {
        int correct = 0;
        foreach (var index in data.HeldOutIndices)
        {
            var input = Tensor.FromFloats(data.Image(index).ToArray(), 1, 1, 28, 28);
            var logits = runner.Run(new Dictionary<string, Tensor> { ["input"] = input })["logits"];
            if (ArgMax(logits.Floats) == data.Labels[index]) correct++;
        }
        return (double)correct / data.HeldOutIndices.Length;
    }

    [TestMethod]
    public void MnistW8A8IntegerAccuracyIsWithinPointThreeOfFloat()
    {
        var data = LoadMnist();
        var plan = IntegerLowering.Lower(QuantizeMnist(data, 8));
        Assert.IsEmpty(plan.FloatNodeNames, "MNIST must run fully in integers: " + string.Join(", ", plan.FloatNodeNames));
        double accuracy = IntegerAccuracy(new IntegerModelRunner(plan), data);
        TestContext.WriteLine($"MNIST W8A8 integer accuracy {accuracy:P2} (fp32 98.90%); arena {plan.ArenaBytes} B, lower bound {plan.ArenaLowerBound} B; steps: {string.Join(" | ", plan.Steps.Select(s => s.OpType))}");
        Assert.IsGreaterThanOrEqualTo(0.9890 - 0.003, accuracy, $"W8A8 accuracy {accuracy:P2}");
    }

    [TestMethod]
    public void MnistW4A8IntegerRunsWithPackedWeights()
    {
        var data = LoadMnist();
        var plan = IntegerLowering.Lower(QuantizeMnist(data, 4));
        Assert.IsTrue(plan.Steps.OfType<ConvStep>().All(c => c.Weights.Bits == 4));
        double accuracy = IntegerAccuracy(new IntegerModelRunner(plan), data);
        TestContext.WriteLine($"MNIST W4A8 integer accuracy {accuracy:P2} (per-channel min-max int4, no tuning)");
        // Plain min-max int4 loses accuracy; the bound only catches a broken int4 path (chance is 10%).
        Assert.IsGreaterThanOrEqualTo(0.90, accuracy, $"W4A8 accuracy {accuracy:P2}");
    }

    [TestMethod]
    public void MnistEveryIntegerLayerMatchesFloatFakeQuantWithinOneCode()
    {
        var data = LoadMnist();
        var model = QuantizeMnist(data, 8);
        var plan = IntegerLowering.Lower(model);
        var runner = new IntegerModelRunner(plan);
        int worst = 0;
        var histogram = new long[4];
        foreach (var index in data.HeldOutIndices.Take(50))
        {
            var capture = new Dictionary<string, sbyte[]>(StringComparer.Ordinal);
            runner.Run(new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(data.Image(index).ToArray(), 1, 1, 28, 28) }, capture);
            foreach (var (step, diff) in LayerDifferences(model, plan, capture))
            {
                worst = Math.Max(worst, diff.Max());
                foreach (var d in diff) histogram[Math.Min(d, 3)]++;
                Assert.IsLessThanOrEqualTo(1, diff.Max(), $"{step}: integer output differs from float fake-quant by {diff.Max()} codes");
            }
        }
        TestContext.WriteLine($"per-layer |int − fake-quant| codes: 0:{histogram[0]} 1:{histogram[1]} 2:{histogram[2]} ≥3:{histogram[3]}");
    }

    /// <summary>
    /// For each integer step: the same nodes run by the float engine on the step's dequantized input codes
    /// with dequantized weights, quantized to the step's output parameters, against the codes the step wrote.
    /// </summary>
    internal static IEnumerable<(PlanStep Step, int[] Diff)> LayerDifferences(QuantizedModel model, IntegerPlan plan, Dictionary<string, sbyte[]> capture)
    {
        var graph = model.Graph;
        var nodes = graph.Nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        foreach (var step in plan.Steps)
        {
            if (step.IsFloat || step.Outputs[0].Type != PlanElementType.Int8) continue;
            var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var t in plan.Tensors)
                if (!t.IsConstant && capture.TryGetValue(t.Root.Name, out var codes))
                    values[t.Name] = Tensor.FromFloats(codes.Select(c => (c - t.Quant.ZeroPoint) * t.Quant.Scale).ToArray(), t.Shape);
            Tensor? last = null;
            foreach (var name in step.FusedNodes)
            {
                var node = nodes[name];
                Tensor? ConstantOf(string input)
                {
                    if (model.Weights.TryGetValue(node.Name, out var wq) && wq.WeightName == input) return Tensor.FromFloats(wq.Dequantize(), wq.Shape);
                    return graph.Initializers.TryGetValue(input, out var init) ? init : null;
                }
                var kernel = OpRegistry.Create(node, new KernelContext(graph.OpsetVersion, k => node.HasInput(k) ? ConstantOf(node.Inputs[k]) : null, new ParallelOptions { MaxDegreeOfParallelism = 1 }));
                var args = node.Inputs.Select(i => i.Length == 0 ? null : ConstantOf(i) ?? values[i]).ToArray();
                last = kernel.Forward(args)[0];
                values[node.Outputs[0]] = last;
            }
            var output = step.Outputs[0];
            var expected = last!.Floats.Select(v => QuantParams.QuantizeLinear(v, output.Quant.Scale, output.Quant.ZeroPoint, -128, 127)).ToArray();
            var actual = capture[output.Name];
            yield return (step, expected.Select((e, i) => Math.Abs(e - actual[i])).ToArray());
        }
    }

    [TestMethod]
    public void ArenaNeverOverlapsLiveTensorsAndIsNearItsLowerBound()
    {
        var data = LoadMnist();
        var plan = IntegerLowering.Lower(QuantizeMnist(data, 8));
        AssertArenaIsSound(plan);
    }

    internal static void AssertArenaIsSound(IntegerPlan plan)
    {
        Assert.IsGreaterThanOrEqualTo(plan.ArenaLowerBound, plan.ArenaBytes);
        var stored = plan.Tensors.Where(t => !t.IsConstant && t.ViewOf is null).ToList();
        int Last(PlanTensor t)
        {
            int last = plan.Outputs.Any(o => o.Root == t) ? plan.Steps.Count : -1;
            for (int s = 0; s < plan.Steps.Count; s++)
                if (plan.Steps[s].Inputs.Concat(plan.Steps[s].Outputs).Any(x => x.Root == t)) last = Math.Max(last, s);
            return last;
        }
        int First(PlanTensor t)
        {
            if (plan.Inputs.Any(i => i.Root == t)) return -1;
            for (int s = 0; s < plan.Steps.Count; s++)
                if (plan.Steps[s].Outputs.Concat(plan.Steps[s].Inputs).Any(x => x.Root == t)) return s;
            return int.MaxValue;
        }
        var spans = stored.Select(t => (t, First(t), Last(t))).ToList();
        foreach (var (a, fa, la) in spans)
        {
            Assert.IsTrue(a.Offset >= 0 && a.Offset % ArenaPlanner.Alignment == 0 && a.Offset + a.ByteLength <= plan.ArenaBytes, $"{a} at {a.Offset}");
            foreach (var (b, fb, lb) in spans)
            {
                if (ReferenceEquals(a, b) || fa > lb || fb > la) continue;
                bool disjoint = a.Offset + a.ByteLength <= b.Offset || b.Offset + b.ByteLength <= a.Offset;
                Assert.IsTrue(disjoint, $"{a} [{a.Offset}) and {b} [{b.Offset}) are alive together and overlap");
            }
        }
    }

    // ------------------------------------------------------------------ real models

    internal static (QuantizedModel Model, IntegerPlan Plan, ModelGraph FloatGraph) LowerRealModel(string id)
    {
        var real = TestAssets.RealModel(id);
        var graph = OnnxImporter.Load(real.ModelPath);
        GraphPreparation.Prepare(graph);
        var model = TestQuantizer.Quantize(graph, real.Cases.Select(c => c.LoadInputs()));
        var shapes = real.Cases[0].LoadInputs().ToDictionary(kv => kv.Key, kv => kv.Value.Shape.ToArray(), StringComparer.Ordinal);
        return (model, IntegerLowering.Lower(model, shapes), graph);
    }

    [TestMethod]
    public void PaddleOcrClassifierTopOneMatchesFloat()
    {
        var real = TestAssets.RealModel("ppocr-cls");
        var (model, plan, graph) = LowerRealModel("ppocr-cls");
        AssertArenaIsSound(plan);
        var engine = new InferenceEngine(graph);
        var runner = new IntegerModelRunner(plan);
        var output = graph.Outputs[0].Name;
        foreach (var c in real.Cases)
        {
            var inputs = c.LoadInputs();
            var expected = engine.Run(inputs)[output].Floats;
            var actual = runner.Run(inputs)[output].Floats;
            int classes = plan.Outputs[0].Shape[^1];
            for (int r = 0; r < expected.Length / classes; r++)
                Assert.AreEqual(ArgMax(expected.AsSpan(r * classes, classes)), ArgMax(actual.AsSpan(r * classes, classes)),
                    $"{c.Name} row {r}: fp32 {string.Join(",", expected.Skip(r * classes).Take(classes))} int {string.Join(",", actual.Skip(r * classes).Take(classes))}");
        }
        TestContext.WriteLine(Describe("ppocr-cls", model, plan));
        Assert.IsTrue(plan.Steps.Any(s => s.OpType.Contains("(pattern)")), "hard-swish/hard-sigmoid patterns should be recognised");
    }

    /// <summary>
    /// Fused code maps (docs/algorithms/requantization.md): openWakeWord's Conv → LeakyRelu → Max(·, c) blocks lower to one
    /// step each, and BlazeFace's Add → Relu to one Add step; the values in between stay kept intermediates (so the QDQ
    /// file keeps their quantization) and are no longer stored in the arena.
    /// </summary>
    [TestMethod]
    public void ConvolutionsAndAddsTakeTheirElementwiseFollowersIntoOneStep()
    {
        var (_, oww, _) = LowerRealModel("oww-embedding");
        var fusedConvs = oww.Steps.OfType<ConvStep>().Where(c => c.Then.Count > 0).ToList();
        Assert.IsGreaterThanOrEqualTo(15, fusedConvs.Count, "openWakeWord's conv blocks should carry their LeakyRelu and Max");
        foreach (var c in fusedConvs)
        {
            CollectionAssert.AreEqual(new[] { "LeakyRelu", "Max" }, c.Then.Select(m => m.OpType).ToArray(), c.NodeName);
            CollectionAssert.AreEqual(new[] { c.ConvOutput.Name, c.Then[0].Outputs[0].Name }, c.KeptIntermediates.ToArray(), c.NodeName);
            Assert.AreSame(c.Then[^1].Outputs[0], c.Outputs[0], c.NodeName);
        }
        Assert.IsFalse(oww.Steps.Any(s => s.OpType == "LeakyRelu"), "no LeakyRelu step is left on its own");
        var stored = oww.Tensors.ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.IsFalse(fusedConvs.Any(c => stored.Contains(c.ConvOutput)), "fused intermediates are not arena tensors");
        AssertArenaIsSound(oww);

        var (_, blazeFace, _) = LowerRealModel("blazeface-front-128");
        var fusedAdds = blazeFace.Steps.OfType<BinaryStep>().Where(b => b.Then is not null).ToList();
        Assert.IsGreaterThanOrEqualTo(10, fusedAdds.Count, "BlazeFace's residual Adds should carry their Relu");
        Assert.IsTrue(fusedAdds.All(b => b.OpType == "Add+Relu" && b.KeptIntermediates.Count == 1));
        AssertArenaIsSound(blazeFace);
    }

    /// <summary>
    /// PP-OCRv4's recognizer follows its convolutions with learnable affine blocks (Mul and Add by one-element
    /// constants) around HardSwish: Conv → Mul → Add → HardSwish → Mul → Add. The five elementwise steps are code maps
    /// of one tensor, so each block lowers to one convolution step that maps its rows through their composition
    /// (docs/algorithms/requantization.md, "Fused code maps"); every value in between stays a kept intermediate, so
    /// the QDQ file still rounds it. The maps' exactness is CodeMapTests' (every code, every kernel path).
    /// </summary>
    [TestMethod]
    public void RecognizerAffineBlocksFuseIntoTheirConvolutions()
    {
        // The recognizer's width is dynamic: it compiles as a build does, with the case's input as calibration (no quality
        // samples, so no promotion trials: this test is about the lowering).
        var real = TestAssets.RealModel("ppocr-rec");
        using var folder = new TempFolder();
        var input = real.Cases[0].InputFiles.Single();
        var sidecar = folder.File("rec.quant.json");
        File.WriteAllText(sidecar, $$"""{ "calibration": { "inputs": { "{{input.Key}}": {{System.Text.Json.JsonSerializer.Serialize(input.Value)}} } }, "quality": { "samples": 0 } }""");
        var plan = ModelCompiler.Compile(real.ModelPath, sidecar, new EngineOptions { MaxDegreeOfParallelism = 2 }).RequirePlan().Plan;
        var chains = plan.Steps.OfType<ConvStep>().Where(c => c.Then.Count == 5).ToList();
        TestContext.WriteLine($"{chains.Count} affine blocks fused; steps: {plan.Steps.Count}");
        Assert.IsGreaterThanOrEqualTo(25, chains.Count, string.Join("\n", plan.Steps));
        foreach (var c in chains)
        {
            CollectionAssert.AreEqual(new[] { "Mul", "Add", "HardSwish(pattern)", "Mul", "Add" }, c.Then.Select(m => m.OpType).ToArray(), c.NodeName);
            Assert.IsTrue(c.Then.OfType<BinaryStep>().All(b => b.Inputs.Count(i => i is { IsConstant: true, Length: 1 }) == 1), c.NodeName);
            CollectionAssert.AreEqual(new[] { c.ConvOutput.Name }.Concat(c.Then.Take(4).Select(m => m.Outputs[0].Name)).ToArray(), c.KeptIntermediates.ToArray(), c.NodeName);
        }
        var alone = plan.Steps.OfType<BinaryStep>().Where(b => b.Inputs.Any(i => i is { IsConstant: true, Length: 1 })).ToList();
        // Left on their own (14): the scale of x in x·hardsigmoid(x), whose input has two readers, and the epsilon Adds
        // and attention scales that follow ReduceMean and MatMul steps rather than a convolution.
        Assert.IsLessThanOrEqualTo(14, alone.Count, "Mul or Add by a one-element constant left on its own:\n" + string.Join("\n", alone));
        var stored = plan.Tensors.ToHashSet(ReferenceEqualityComparer.Instance);
        Assert.IsFalse(chains.Any(c => stored.Contains(c.ConvOutput)), "fused intermediates are not arena tensors");
        AssertArenaIsSound(plan);
    }

    [TestMethod]
    public void PaddleOcrEveryIntegerLayerMatchesFloatFakeQuantWithinTwoCodes()
    {
        var real = TestAssets.RealModel("ppocr-cls");
        var (model, plan, _) = LowerRealModel("ppocr-cls");
        var runner = new IntegerModelRunner(plan);
        var histogram = new long[4];
        var worst = new List<string>();
        foreach (var c in real.Cases)
        {
            var capture = new Dictionary<string, sbyte[]>(StringComparer.Ordinal);
            runner.Run(c.LoadInputs(), capture);
            foreach (var (step, diff) in LayerDifferences(model, plan, capture))
            {
                foreach (var d in diff) histogram[Math.Min(d, 3)]++;
                if (diff.Max() > 2) worst.Add($"{step}: {diff.Max()} codes");
            }
        }
        TestContext.WriteLine($"ppocr-cls per-layer |int − fake-quant| codes: 0:{histogram[0]} 1:{histogram[1]} 2:{histogram[2]} ≥3:{histogram[3]}");
        Assert.IsEmpty(worst, string.Join("\n", worst));
    }

    [TestMethod]
    public void FloatNodesRunAsFloatStepsBetweenIntegerOnes()
    {
        var data = LoadMnist();
        var model = TestQuantizer.Quantize(MnistModelPath, MnistCalibration(data), 8, keepFloat: n => n.OpType == "Gemm");
        var plan = IntegerLowering.Lower(model);
        var floats = plan.Steps.OfType<FloatStep>().ToList();
        Assert.IsNotEmpty(floats);
        Assert.IsTrue(floats.All(f => f.OpType == "Gemm" && f.Reason == "listed as a float node"));
        Assert.IsTrue(plan.Steps.Any(s => s.OpType == "Relu"), "a Relu after a float Gemm runs as its own integer step");
        AssertArenaIsSound(plan);
        var runner = new IntegerModelRunner(plan);
        int correct = 0;
        foreach (var index in data.HeldOutIndices.Take(500))
        {
            var logits = runner.Run(new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(data.Image(index).ToArray(), 1, 1, 28, 28) })["logits"];
            if (ArgMax(logits.Floats) == data.Labels[index]) correct++;
        }
        Assert.IsGreaterThanOrEqualTo(0.97, correct / 500.0);
        // The generated code runs the float steps on the runtime's float kernels (FloatFallbackEmitTests compiles and runs it).
        var text = QuantBuild.Emit.CSharpEmitter.Emit(plan, new QuantBuild.Emit.CSharpEmitOptions { ClassName = "M", Namespace = "N" });
        Assert.Contains("private readonly MatMulFloat step", text);
    }

    [TestMethod]
    [DataRow("oww-embedding")]
    [DataRow("oww-alexa")]
    public void WakeWordModelsRunEndToEnd(string id)
    {
        var real = TestAssets.RealModel(id);
        var (model, plan, graph) = LowerRealModel(id);
        AssertArenaIsSound(plan);
        var engine = new InferenceEngine(graph);
        var runner = new IntegerModelRunner(plan);
        var report = new List<string>();
        foreach (var c in real.Cases)
        {
            var inputs = c.LoadInputs();
            var expected = engine.Run(inputs);
            var actual = runner.Run(inputs);
            foreach (var o in graph.Outputs)
            {
                var e = expected[o.Name].Floats;
                var a = actual[o.Name].Floats;
                Assert.IsTrue(a.All(float.IsFinite), $"{c.Name}/{o.Name} has non-finite values");
                double maxRef = e.Max(v => Math.Abs(v)), maxDiff = e.Select((v, i) => Math.Abs(v - a[i])).Max();
                report.Add($"{c.Name}/{o.Name}: max|int−fp32| {maxDiff:G3} (max|fp32| {maxRef:G3})");
                // Loose: per-tensor min-max int8 on every activation; catches wiring errors, not tuning.
                Assert.IsLessThanOrEqualTo(0.25 * Math.Max(maxRef, 1e-3), maxDiff, $"{c.Name}/{o.Name}: {report[^1]}");
            }
        }
        TestContext.WriteLine(Describe(id, model, plan) + "\n" + string.Join("\n", report));
    }

    internal static string Describe(string id, QuantizedModel model, IntegerPlan plan) =>
        $"{id}: {plan.Steps.Count} steps, arena {plan.ArenaBytes} B (lower bound {plan.ArenaLowerBound} B); float steps: " +
        (plan.FloatNodeNames.Count == 0 ? "none" : string.Join(", ", plan.Steps.OfType<FloatStep>().Select(f => $"{f.OpType} '{f.NodeName}' ({f.Reason})"))) +
        (plan.Warnings.Count > 0 ? "; warnings: " + string.Join("; ", plan.Warnings) : "") +
        "\nsteps: " + string.Join(" | ", plan.Steps.GroupBy(s => s.OpType).Select(g => $"{g.Key}×{g.Count()}"));
}
