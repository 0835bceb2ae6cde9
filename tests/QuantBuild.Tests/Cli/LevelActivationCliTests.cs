using QuantBuild.Compilation;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using QuantBuild.Cli;
using QuantBuild.Configuration;
using QuantBuild.Emit;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;
using ProductNpy = QuantBuild.Onnx.IO.NpyFile;
using static QuantBuild.Tests.Infrastructure.Logits;

namespace QuantBuild.Tests.Cli;

/// <summary>
/// Log-domain activations (activations.levels) end to end on the real MNIST model: `quantbuild quantize`,
/// `quantbuild run --int` on the 2,000 held-out digits (the QDQ file read back), ONNX Runtime on the same
/// file agreeing with it, and the generated C# compiled (net10.0 app and a netstandard2.0 / C# 7.3 library)
/// giving the runner's outputs bit for bit.
/// </summary>
[TestClass]
public sealed class LevelActivationCliTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    [TestCategory("Integration")]
    public void WeqWeightsWithWeightedLogActivationsQuantizeRunIntAndOnnxRuntimeAgree()
    {
        var oracle = TestAssets.RequireOracle();
        using var temp = new TempFolder();
        var model = temp.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        QuantizeTestData.WriteMnistCalibration(temp.Path, 100);
        // 4-bit levels miss the quality floor; automatic 16-bit promotion is off so that every layer runs on the level kernels under test.
        File.WriteAllText(temp.File("mnist.quant.json"), """
            { "weights": { "method": "weq", "bits": 4 },
              "activations": { "bits": 8, "levels": "weighted-log", "levelBits": 4, "autoPrecision": false },
              "calibration": { "inputs": { "input": "calib/*.npy" } } }
            """);

        var quantize = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(0, quantize.Exit, quantize.Err);
        var generated = File.ReadAllText(temp.File("out", "mnist.g.cs"));
        StringAssert.Contains(generated, "new LogLevelEncoder(");

        // The report names the level-coded tensors, their base/offset and the levels as deployed.
        var coded = new List<string>();
        using (var report = JsonDocument.Parse(File.ReadAllText(temp.File("out", "mnist.report.json"))))
        {
            StringAssert.Contains(report.RootElement.GetProperty("represents").GetString(), "Level-coded activations");
            foreach (var l in report.RootElement.GetProperty("levelActivations").EnumerateArray())
            {
                coded.Add(l.GetProperty("name").GetString()!);
                Assert.AreEqual("weighted-log", l.GetProperty("grid").GetString());
                Assert.AreEqual(16, l.GetProperty("levels").GetArrayLength());
                Assert.AreEqual(0, l.GetProperty("levels")[0].GetDouble());
                int step = l.GetProperty("stepSixteenths").GetInt32();
                Assert.IsTrue(step is >= 2 and <= 32 && step % 2 == 0, $"step {step}");
                TestContext.WriteLine($"{l.GetProperty("name").GetString()}: base 2^({step}/16), first level {l.GetProperty("firstLevel").GetDouble()}, {l.GetProperty("levelsInUse").GetInt32()} levels in use");
            }
        }
        Assert.IsNotEmpty(coded, "MNIST's ReLU outputs feeding Conv/MatMul must be level-coded");

        // The QDQ file read back plans the same level steps.
        var imported = QdqOnnxImporter.Load(temp.File("out", "mnist.quant.onnx"));
        CollectionAssert.AreEquivalent(coded, imported.LevelActivations.Keys.ToList());
        var plan = IntegerLowering.Lower(imported);
        Assert.IsEmpty(plan.FloatNodeNames);
        Assert.HasCount(coded.Count, plan.Steps.OfType<LevelEncodeStep>().ToList());
        TestContext.WriteLine("steps: " + string.Join(" | ", plan.Steps.Select(s => s.OpType)));

        // Integer runtime (run --int reads the QDQ file) and ONNX Runtime on the held-out digits.
        var (heldOut, labels) = QuantizeTestData.WriteHeldOut(temp.Path);
        var run = CliHarness.Cli("run", temp.File("out", "mnist.quant.onnx"), "--int", "--input", $"input={heldOut}", "--out", temp.File("res"));
        Assert.AreEqual(0, run.Exit, run.Err);
        var ours = ProductNpy.Read(temp.File("res", "logits.npy"));
        double accuracy = QuantizeTestData.Accuracy(ours, labels);
        var ort = oracle.QdqMeaning().Run(temp.File("out", "mnist.quant.onnx"), new Dictionary<string, string> { ["input"] = heldOut }, ["logits"])["logits"];
        double ortAccuracy = QuantizeTestData.Accuracy(ort, labels);
        int agree = 0;
        double maxDiff = 0;
        for (int b = 0; b < labels.Length; b++)
        {
            if (ArgMax(ours.Floats.AsSpan(b * 10, 10)) == ArgMax(ort.Floats.AsSpan(b * 10, 10))) agree++;
            for (int k = 0; k < 10; k++) maxDiff = Math.Max(maxDiff, Math.Abs(ours.Floats[b * 10 + k] - ort.Floats[b * 10 + k]));
        }
        double outputScale = imported.Activations["logits"].Scale;
        TestContext.WriteLine($"MNIST WEQ W4 + weighted-log A4: integer runtime {accuracy:P2}, ORT on the QDQ file {ortAccuracy:P2}, top-1 agreement {agree}/{labels.Length}, " +
            $"max |logit diff| {maxDiff:F4} ({maxDiff / outputScale:F1} output steps)");
        // Measured 98.45% / 98.45% with 2000/2000 agreement (fp32 98.90%); the floor leaves 0.45 points for platform noise only.
        Assert.IsGreaterThanOrEqualTo(0.98, accuracy, $"integer accuracy {accuracy:P2}");
        Assert.IsGreaterThanOrEqualTo(0.98, ortAccuracy, $"ORT accuracy {ortAccuracy:P2}");
        Assert.IsGreaterThanOrEqualTo(labels.Length * 0.995, agree, "integer runtime and ORT must pick the same digit almost always");
    }

    [TestMethod]
    [TestCategory("Integration")]
    public void GeneratedCodeWithLevelStepsCompilesForNet10AndNetStandardAndMatchesTheRunner()
    {
        using var temp = new TempFolder();
        QuantizeTestData.WriteMnistCalibration(temp.Path, 64);
        var settings = new QuantizationSettings
        {
            Activations = new ActivationSettings { Levels = ActivationLevelGrid.Log, LevelBits = 3 },
            Calibration = new CalibrationSettings { Inputs = [new CalibrationInput("input", "calib/*.npy")], BaseDirectory = temp.Path },
        };
        var plan = ModelCompiler.Compile(QuantizeTestData.MnistModel, settings).RequirePlan().Plan;
        Assert.IsNotEmpty(plan.Steps.OfType<LevelEncodeStep>().ToList());
        Assert.IsTrue(plan.Steps.Any(s => s is ConvStep { InputLevels: not null } or FullyConnectedStep { InputLevels: not null }));
        var runner = new IntegerModelRunner(plan);
        var digits = QuantizeTestData.Digits;
        var indices = digits.HeldOutIndices.Take(100).ToArray();

        var app = Directory.CreateDirectory(temp.File("app")).FullName;
        var options = new CSharpEmitOptions { ClassName = "MnistLevels", Namespace = "Consumer.Levels", ToolVersion = "0.1.0-test" };
        File.WriteAllText(Path.Combine(app, "MnistLevels.g.cs"), CSharpEmitter.Emit(plan, options));
        File.WriteAllText(Path.Combine(app, "QuantBuild.Runtime.g.cs"), CSharpEmitter.EmitRuntime(options.EffectiveRuntimeNamespace));
        File.WriteAllText(Path.Combine(app, "Program.cs"), Program);
        File.WriteAllText(Path.Combine(app, "app.csproj"), Project("<OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable>"));
        using (var input = new BinaryWriter(File.Create(Path.Combine(app, "inputs.bin"))))
            foreach (var i in indices) foreach (var v in digits.Image(i)) input.Write(v);
        // The same class as a netstandard2.0 library compiled as C# 7.3 (how Unity-like consumers build it).
        var lib = Directory.CreateDirectory(temp.File("lib")).FullName;
        var ns20 = options with { NullableDirective = false, Access = "public" };
        File.WriteAllText(Path.Combine(lib, "MnistLevels.g.cs"), CSharpEmitter.Emit(plan, ns20));
        File.WriteAllText(Path.Combine(lib, "QuantBuild.Runtime.g.cs"), CSharpEmitter.EmitRuntime(ns20.EffectiveRuntimeNamespace, nullableDirective: false));
        File.WriteAllText(Path.Combine(lib, "lib.csproj"), Project("<TargetFramework>netstandard2.0</TargetFramework><LangVersion>7.3</LangVersion></PropertyGroup>" +
            "<ItemGroup><PackageReference Include=\"System.Memory\" Version=\"4.5.5\" /></ItemGroup><PropertyGroup>"));

        var (libCode, libLog) = Dotnet(lib, "build", "-c", "Release");
        Assert.AreEqual(0, libCode, libLog);
        var (appCode, appLog) = Dotnet(app, "build", "-c", "Release");
        Assert.AreEqual(0, appCode, appLog);
        Assert.DoesNotMatchRegex(new Regex(@"warning [A-Z]+\d+"), libLog + appLog);
        var (runCode, runLog) = Dotnet(app, "bin/Release/net10.0/app.dll", indices.Length.ToString(CultureInfo.InvariantCulture));
        Assert.AreEqual(0, runCode, runLog);
        TestContext.WriteLine(runLog.Trim());
        Assert.AreEqual("0", Regex.Match(runLog, @"allocated (\d+) bytes").Groups[1].Value, "Run must not allocate after warm-up");

        using var outputs = new BinaryReader(File.OpenRead(Path.Combine(app, "outputs.bin")));
        for (int n = 0; n < indices.Length; n++)
        {
            var expected = runner.Run(new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(digits.Image(indices[n]).ToArray(), 1, 1, 28, 28) })["logits"].Floats;
            foreach (var e in expected)
            {
                float actual = outputs.ReadSingle();
                Assert.AreEqual(BitConverter.SingleToInt32Bits(e), BitConverter.SingleToInt32Bits(actual), $"digit {n}: generated {actual}, runner {e}");
            }
        }
    }

    private static string Project(string properties) =>
        "<Project Sdk=\"Microsoft.NET.Sdk\">\n  <PropertyGroup>" + properties +
        "<TreatWarningsAsErrors>true</TreatWarningsAsErrors><ImplicitUsings>disable</ImplicitUsings></PropertyGroup>\n</Project>\n";

    private static (int Code, string Log) Dotnet(string directory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        if (args[0] == "build") { start.ArgumentList.Add("-nr:false"); start.ArgumentList.Add("--nologo"); }
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    private const string Program = """
        using System;
        using System.IO;
        using Consumer.Levels;

        internal static class Program
        {
            private static int Main(string[] args)
            {
                int count = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
                byte[] raw = File.ReadAllBytes("inputs.bin");
                float[] pixels = new float[raw.Length / 4];
                Buffer.BlockCopy(raw, 0, pixels, 0, raw.Length);
                var model = new MnistLevels();
                float[] all = new float[count * 10];
                model.Run(pixels.AsSpan(0, 784), all.AsSpan(0, 10)); // warm-up (JIT, static data)
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int n = 0; n < count; n++)
                {
                    model.Run(pixels.AsSpan(n * 784, 784), all.AsSpan(n * 10, 10));
                }
                long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                byte[] bytes = new byte[all.Length * 4];
                Buffer.BlockCopy(all, 0, bytes, 0, bytes.Length);
                File.WriteAllBytes("outputs.bin", bytes);
                Console.WriteLine("ran " + count + " digits; allocated " + allocated + " bytes in Run after warm-up");
                return 0;
            }
        }
        """;
}
