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

    [TestMethod]
    public void WeqThreeBitQuantizeRunIntAndOnnxRuntimeAgree()
    {
        var oracle = TestAssets.RequireOracle();
        using var temp = new TempFolder();
        var model = temp.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        QuantizeTestData.WriteMnistCalibration(temp.Path, 100);
        File.WriteAllText(temp.File("mnist.quant.json"), """{ "weights": { "method": "weq", "bits": 3 }, "calibration": { "inputs": { "input": "calib/*.npy" } } }""");

        var quantize = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(0, quantize.Exit, quantize.Err);
        var generated = File.ReadAllText(temp.File("out", "mnist.g.cs"));
        StringAssert.Contains(generated, "new Conv2DCodebook(");
        StringAssert.Contains(generated, "new FullyConnectedCodebook(");

        // The report says what the file is: WEQ 3-bit codebooks of 8 entries per output channel.
        using (var report = JsonDocument.Parse(File.ReadAllText(temp.File("out", "mnist.report.json"))))
        {
            StringAssert.Contains(report.RootElement.GetProperty("represents").GetString(), "Codebook weights");
            int codebooks = 0;
            foreach (var layer in report.RootElement.GetProperty("layers").EnumerateArray())
            {
                Assert.AreEqual("weq", layer.GetProperty("method").GetString());
                if (layer.GetProperty("encoding").GetString() == "decoded-codebook")
                {
                    // A layer whose 8-level tables outweigh what its 3-bit indices save is stored as the int8 levels.
                    Assert.AreEqual(3, layer.GetProperty("codebookIndexBits").GetInt32());
                    Assert.AreEqual(8, layer.GetProperty("bits").GetInt32());
                    continue;
                }
                codebooks++;
                Assert.AreEqual("codebook", layer.GetProperty("encoding").GetString());
                Assert.AreEqual(8, layer.GetProperty("codebookEntries").GetInt32());
                Assert.AreEqual(layer.GetProperty("shape")[layer.GetProperty("axis").GetInt32()].GetInt32(), layer.GetProperty("codebooks").GetInt32());
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
        Assert.IsTrue(imported.Weights.Values.All(w => w.Method == "weq"
            && (w.Encoding == WeightEncoding.Codebook ? w.Bits == 3 : w.Bits == 8)));
        var plan = IntegerLowering.Lower(imported);
        var stepWeights = plan.Steps.Select(PlanWeights.Of).OfType<PlanWeights>().ToList();
        Assert.AreEqual(imported.Weights.Values.Count(w => w.Encoding == WeightEncoding.Codebook), stepWeights.Count(w => w.Codebook is { IndexBits: 3 }));
        // WeightBytes of the generated class = packed 3-bit indices + int8 tables + table scales, or the int8 levels of a
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
        TestContext.WriteLine($"MNIST WEQ W3A8: integer runtime {accuracy:P2}, ORT on the QDQ file {ortAccuracy:P2}, top-1 agreement {agree}/{labels.Length}, " +
            $"max |logit diff| {maxDiff:F4} ({maxDiff / outputScale:F1} output steps)");
        Assert.IsGreaterThanOrEqualTo(0.97, accuracy, $"WEQ W3A8 integer accuracy {accuracy:P2} (fp32 98.90%)");
        Assert.IsGreaterThanOrEqualTo(0.97, ortAccuracy, $"WEQ W3A8 in ORT {ortAccuracy:P2}");
        Assert.IsGreaterThanOrEqualTo(labels.Length * 0.99, agree, "integer runtime and ORT must pick the same digit almost always");
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
