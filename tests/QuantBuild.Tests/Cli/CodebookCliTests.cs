using System.Text.Json;
using QuantBuild.Cli;
using QuantBuild.Configuration;
using QuantBuild.Emit;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Lowering;
using QuantBuild.Tests.Quantization;
using ProductNpy = QuantBuild.Onnx.IO.NpyFile;
using static QuantBuild.Tests.Infrastructure.Logits;

namespace QuantBuild.Tests.Cli;

/// <summary>
/// Codebook weights (WEQ, LogQuant) end to end on the real MNIST model: `quantbuild quantize` with a
/// sidecar method, `quantbuild run --int` on the 2,000 held-out digits, the generated C# kernels, and the
/// QDQ file in ONNX Runtime agreeing with our integer runtime.
/// </summary>
[TestClass]
public sealed class CodebookCliTests
{
    public TestContext TestContext { get; set; } = null!;

    /// <summary>The test fixture's W8A8 model with every weight re-quantized by a codebook method (no calibration pipeline needed).</summary>
    internal static QuantizedModel QuantizeMnistCodebook(MnistDataset data, string method, int bits)
    {
        var model = IntegerRunnerTests.QuantizeMnist(data, 8);
        foreach (var (name, linear) in model.Weights.ToList())
        {
            var node = model.Graph.Nodes.Single(n => n.Name == name);
            var values = model.Graph.Initializers[linear.WeightName].Floats;
            model.Weights[name] = WeightQuantizers.For(WeightMethods.FromLabel(method)).Quantize(new WeightQuantizationRequest(node, linear.WeightName, values, linear.Shape, linear.Axis,
                new WeightSettings { Method = WeightMethods.FromLabel(method), Bits = bits }, null!));
        }
        return model;
    }

    /// <summary>
    /// WEQ 3-bit keeps one table per output channel; LogQuant 4-bit stores one table shared by all channels of a layer
    /// with the channels' own scales (its per-channel int8 tables are identical), as a Gather of int8 levels then a
    /// per-channel DequantizeLinear in the QDQ file.
    /// </summary>
    [TestMethod]
    [DataRow("weq", 3)]
    [DataRow("log", 4)]
    public void CodebookQuantizeRunIntAndOnnxRuntimeAgree(string method, int bits)
    {
        var oracle = TestAssets.RequireOracle();
        using var temp = new TempFolder();
        var model = temp.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        QuantizeTestData.WriteMnistCalibration(temp.Path, 100);
        // Low-bit weights miss the quality floor; automatic 16-bit promotion is off so that every layer runs on the codebook kernels under test.
        File.WriteAllText(temp.File("mnist.quant.json"), $$"""{ "weights": { "method": "{{method}}", "bits": {{bits}} }, "activations": { "autoPrecision": false }, "calibration": { "inputs": { "input": "calib/*.npy" } } }""");

        var quantize = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(0, quantize.Exit, quantize.Err);
        var generated = File.ReadAllText(temp.File("out", "mnist.g.cs"));
        StringAssert.Contains(generated, "new Conv2DCodebook(");
        StringAssert.Contains(generated, "new FullyConnectedCodebook(");

        // The report says what the file is: WEQ 3-bit codebooks of 8 entries per output channel, or one LogQuant table of
        // 16 entries per layer with a scale per output channel.
        using (var report = JsonDocument.Parse(File.ReadAllText(temp.File("out", "mnist.report.json"))))
        {
            StringAssert.Contains(report.RootElement.GetProperty("represents").GetString(), "Codebook weights");
            int codebooks = 0;
            foreach (var layer in report.RootElement.GetProperty("layers").EnumerateArray())
            {
                Assert.AreEqual(method, layer.GetProperty("method").GetString());
                if (layer.GetProperty("encoding").GetString() == "decoded-codebook")
                {
                    // A layer whose 8-level tables outweigh what its 3-bit indices save is stored as the int8 levels.
                    Assert.AreEqual(bits, layer.GetProperty("codebookIndexBits").GetInt32());
                    Assert.AreEqual(8, layer.GetProperty("bits").GetInt32());
                    continue;
                }
                codebooks++;
                Assert.AreEqual("codebook", layer.GetProperty("encoding").GetString());
                Assert.AreEqual(1 << bits, layer.GetProperty("codebookEntries").GetInt32());
                int channels = layer.GetProperty("shape")[layer.GetProperty("axis").GetInt32()].GetInt32();
                Assert.AreEqual(method == "log" ? 1 : channels, layer.GetProperty("codebooks").GetInt32());
                Assert.AreEqual(channels, layer.GetProperty("codebookScales").GetInt32());
                Assert.AreEqual("per-channel", layer.GetProperty("granularity").GetString());
            }
            Assert.IsGreaterThan(0, codebooks);
        }

        // Integer runtime on the held-out digits (the CLI reads the QDQ file back).
        var (heldOut, labels) = QuantizeTestData.WriteHeldOut(temp.Path);
        var run = CliHarness.Cli("run", temp.File("out", "mnist.quant.onnx"), "--int", "--input", $"input={heldOut}", "--out", temp.File("res"));
        Assert.AreEqual(0, run.Exit, run.Err);
        var ours = ProductNpy.Read(temp.File("res", "logits.npy"));
        double accuracy = QuantizeTestData.Accuracy(ours, labels);

        // The imported file holds the same codebooks the quantizer made (and the decoded layers as WEQ's int8 levels),
        // and plans codebook kernels for the codebook layers.
        var imported = QdqOnnxImporter.Load(temp.File("out", "mnist.quant.onnx"));
        Assert.IsTrue(imported.Weights.Values.All(w => w.Method == method
            && (w.Encoding == WeightEncoding.Codebook ? w.Bits == bits : w.Bits == 8)));
        Assert.IsTrue(imported.Weights.Values.Where(w => w.Encoding == WeightEncoding.Codebook)
            .All(w => w.CodebookLevels!.Length == (method == "log" ? 1 : w.Channels) && w.Scales.Length == w.Channels));
        if (method == "log")
        {
            // The shared tables are Gathered as int8 and dequantized per channel (no per-channel table offsets).
            var file = QuantBuild.Graph.OnnxImporter.Load(temp.File("out", "mnist.quant.onnx"));
            Assert.IsFalse(file.Nodes.Any(n => n.OpType == "Add" && n.Name.Contains("_codebook_", StringComparison.Ordinal)));
            Assert.AreEqual(imported.Weights.Values.Count(w => w.Encoding == WeightEncoding.Codebook),
                file.Nodes.Count(n => n.OpType == "DequantizeLinear" && n.Inputs[0].EndsWith("_codebook_gathered", StringComparison.Ordinal)));
        }
        var plan = IntegerLowering.Lower(imported);
        var stepWeights = plan.Steps.Select(PlanWeights.Of).OfType<PlanWeights>().ToList();
        Assert.AreEqual(imported.Weights.Values.Count(w => w.Encoding == WeightEncoding.Codebook), stepWeights.Count(w => w.Codebook?.IndexBits == bits));
        // WeightBytes of the generated class = packed indices + int8 tables + per-channel scales, or the int8 levels of a
        // decoded layer (whose per-channel scales count as channel parameters, as for linear weights); the quantizer
        // counts the same bytes plus those scales.
        long planBytes = stepWeights.Sum(w => w.Codebook is { } cb ? cb.StoredBytes : w.Codes.Length);
        long decodedScales = stepWeights.Where(w => w.Codebook is null).Sum(w => 4L * w.Scales.Length);
        Assert.AreEqual(imported.Weights.Values.Sum(QuantizationPipeline.QuantizedWeightBytes), planBytes + decodedScales);
        StringAssert.Contains(generated, $"public const int WeightBytes = {planBytes};", $"plan bytes {planBytes}");

        // ONNX Runtime on the QDQ file: Gather of the dequantized int8 tables feeds float Conv/Gemm.
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
        TestContext.WriteLine($"MNIST {method} W{bits}A8: integer runtime {accuracy:P2}, ORT on the QDQ file {ortAccuracy:P2}, top-1 agreement {agree}/{labels.Length}, " +
            $"max |logit diff| {maxDiff:F4} ({maxDiff / outputScale:F1} output steps)");
        Assert.IsGreaterThanOrEqualTo(0.97, accuracy, $"{method} W{bits}A8 integer accuracy {accuracy:P2} (fp32 98.90%)");
        Assert.IsGreaterThanOrEqualTo(0.97, ortAccuracy, $"{method} W{bits}A8 in ORT {ortAccuracy:P2}");
        Assert.IsGreaterThanOrEqualTo(labels.Length * 0.99, agree, "integer runtime and ORT must pick the same digit almost always");
    }

    /// <summary>The QDQ file read back (what `run --int` executes) holds exactly the quantizer's codebook weights, shared tables included.</summary>
    [TestMethod]
    [DataRow("log", 4)]
    [DataRow("log", 3)]
    [DataRow("weq", 3)]
    public void CodebookQdqRoundTripGivesTheSameWeights(string method, int bits)
    {
        var model = QuantizeMnistCodebook(IntegerRunnerTests.LoadMnist(), method, bits);
        var codebooks = model.Weights.Values.Where(w => w.Encoding == WeightEncoding.Codebook).ToList();
        Assert.IsNotEmpty(codebooks);
        Assert.IsTrue(codebooks.All(w => w.Scales.Length == w.Channels && w.CodebookLevels!.Length == (method == "log" ? 1 : w.Channels)));
        var bytes = QdqOnnxEmitter.EmitBytes(model);
        CollectionAssert.AreEqual(bytes, QdqOnnxEmitter.EmitBytes(model), "the same model gives the same file");
        var imported = QdqOnnxImporter.Import(QdqOnnxEmitter.Emit(model));
        Assert.HasCount(model.Weights.Count, imported.Weights);
        foreach (var (name, w) in model.Weights)
        {
            var back = imported.Weights[name];
            Assert.AreEqual(w.Encoding, back.Encoding, name);
            Assert.AreEqual(w.Bits, back.Bits, name);
            Assert.AreEqual(w.Axis, back.Axis, name);
            Assert.AreEqual(w.Method, back.Method, name);
            CollectionAssert.AreEqual(w.Shape, back.Shape, name);
            CollectionAssert.AreEqual(w.Codes, back.Codes, name);
            CollectionAssert.AreEqual(w.Scales, back.Scales, name);
            CollectionAssert.AreEqual(w.Dequantize(), back.Dequantize(), name);
            if (w.Encoding != WeightEncoding.Codebook) continue;
            Assert.HasCount(w.CodebookLevels!.Length, back.CodebookLevels!, name);
            for (int t = 0; t < w.CodebookLevels.Length; t++) CollectionAssert.AreEqual(w.CodebookLevels[t], back.CodebookLevels![t], name);
            Assert.HasCount(w.Codebooks!.Length, back.Codebooks!, name);
            for (int t = 0; t < w.Codebooks.Length; t++) CollectionAssert.AreEqual(w.Codebooks[t], back.Codebooks![t], name);
        }
    }

    [TestMethod]
    [DataRow("log", 4)]
    [DataRow("weq", 2)]
    public void CodebookPlanRunsTheSameLayerAsTheDecodedWeights(string method, int bits)
    {
        // The codebook kernels must compute exactly what int8 kernels compute on the decoded levels.
        var data = IntegerRunnerTests.LoadMnist();
        var model = QuantizeMnistCodebook(data, method, bits);
        var plan = IntegerLowering.Lower(model);
        Assert.IsEmpty(plan.FloatNodeNames);
        var codebookRunner = new IntegerModelRunner(plan);
        var decodedPlan = IntegerLowering.Lower(model);
        // Same plan without the codebook form: PlanWeights.Codes already hold the decoded levels.
        foreach (var step in decodedPlan.Steps)
        {
            var weights = step switch { ConvStep c => c.Weights, FullyConnectedStep f => f.Weights, _ => null };
            if (weights is null) continue;
            typeof(PlanWeights).GetProperty(nameof(PlanWeights.Codebook))!.SetValue(weights, null);
        }
        var int8Runner = new IntegerModelRunner(decodedPlan);
        foreach (var index in data.HeldOutIndices.Take(40))
        {
            var input = new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(data.Image(index).ToArray(), 1, 1, 28, 28) };
            CollectionAssert.AreEqual(int8Runner.Run(input)["logits"].Floats, codebookRunner.Run(input)["logits"].Floats);
        }
    }
}
