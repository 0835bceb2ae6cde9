using QuantBuild.Cli.Commands;
using QuantBuild.Configuration;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Onnx.IO;
using QuantBuild.Quantization;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

/// <summary>
/// Real models quantized end to end and run by ONNX Runtime: the QDQ file is the product a user
/// deploys to ORT, so its accuracy is measured there, against fp32 in the same runtime.
/// </summary>
[TestClass]
public sealed class QuantizeRealModelTests
{
    public TestContext TestContext { get; set; } = null!;

    private (double Fp32, double Quantized, long Fp32Size, long QuantSize) MnistAccuracy(string weightsJson)
    {
        var oracle = TestAssets.RequireOracle();
        using var temp = new TempFolder();
        QuantizeTestData.WriteMnistCalibration(temp.Path);
        var sidecar = temp.File("mnist.quant.json");
        File.WriteAllText(sidecar, $$"""{ "weights": {{weightsJson}}, "calibration": { "inputs": { "input": "calib/*.npy" } } }""");
        var job = QuantizeJob.Run(new QuantizeRequest(QuantizeTestData.MnistModel, sidecar, temp.File("out"), "mnist"), 2, TextWriter.Null);
        Assert.AreEqual("100", job.Pipeline.Model.Notes["calibration.samples"]);
        var quantPath = temp.File("out", "mnist.quant.onnx");

        var (heldOut, labels) = QuantizeTestData.WriteHeldOut(temp.Path);
        var inputs = new Dictionary<string, string> { ["input"] = heldOut };
        double fp32 = QuantizeTestData.Accuracy(oracle.Run(QuantizeTestData.MnistModel, inputs, ["logits"])["logits"], labels);
        double quant = QuantizeTestData.Accuracy(oracle.QdqMeaning().Run(quantPath, inputs, ["logits"])["logits"], labels);
        long fs = new FileInfo(QuantizeTestData.MnistModel).Length, qs = new FileInfo(quantPath).Length;
        TestContext.WriteLine($"weights {weightsJson}: fp32 {fp32:P2}, QDQ in ORT {quant:P2}; file {fs} -> {qs} bytes");
        return (fp32, quant, fs, qs);
    }

    [TestMethod]
    public void MnistW8A8InOnnxRuntimeIsWithinPointThreeOfFp32()
    {
        var (fp32, quant, fs, qs) = MnistAccuracy("""{ "bits": 8 }""");
        Assert.AreEqual(0.989, fp32, 1e-9, "the committed model's recorded fp32 accuracy");
        Assert.IsTrue(quant >= fp32 - 0.003, $"W8A8 {quant:P2} vs fp32 {fp32:P2}");
        Assert.IsTrue(qs * 3.5 < fs, $"int8 weights should make the file ~4x smaller: {fs} -> {qs}");
    }

    [TestMethod]
    public void MnistW4A8InOnnxRuntimeStaysUseful()
    {
        var (fp32, quant, fs, qs) = MnistAccuracy("""{ "bits": 4, "range": "mse" }""");
        // 4-bit per-channel weights with no retraining: a loss is expected, a collapse is a bug.
        Assert.IsTrue(quant >= fp32 - 0.02, $"W4A8 {quant:P2} vs fp32 {fp32:P2}");
        Assert.IsTrue(qs * 6 < fs, $"INT4 weights (two per byte) should make the file ~7x smaller: {fs} -> {qs}");
    }

    [TestMethod]
    public void PaddleOcrClassifierQuantizedAgreesWithFp32InOnnxRuntime()
    {
        var oracle = TestAssets.RequireOracle();
        var model = TestAssets.RealModel("ppocr-cls");
        using var temp = new TempFolder();
        // Calibrate on the available real cases (one file each, paired by name order).
        Directory.CreateDirectory(temp.File("calib"));
        int k = 0;
        foreach (var c in model.Cases) File.Copy(c.InputFiles["x"], temp.File("calib", $"x{k++}.npy"));
        File.WriteAllText(temp.File("cls.quant.json"), """{ "calibration": { "inputs": { "x": "calib/*.npy" } } }""");
        var job = QuantizeJob.Run(new QuantizeRequest(model.ModelPath, temp.File("cls.quant.json"), temp.File("out"), "cls"), 2, TextWriter.Null);
        Assert.AreEqual("9", job.Pipeline.Model.Notes["source.opset"]);
        Assert.AreEqual("13", job.Pipeline.Model.Notes["opset"]);
        Assert.AreEqual(53, job.Pipeline.Model.Weights.Values.Count(w => w.Shape.Length == 4), "every Conv weight quantized");
        var quantPath = temp.File("out", "cls.quant.onnx");

        var output = OnnxImporter.Load(model.ModelPath).Outputs[0].Name;
        foreach (var c in model.Cases)
        {
            var reference = oracle.Run(model.ModelPath, c.InputFiles, [output])[output].Floats;
            var quantized = oracle.QdqMeaning().Run(quantPath, c.InputFiles, [output])[output].Floats;
            TestContext.WriteLine($"{c.Name}: fp32 [{string.Join(", ", reference)}], QDQ [{string.Join(", ", quantized)}]");
            Assert.AreEqual(ArgMax(reference), ArgMax(quantized), $"case {c.Name}");
        }
        TestContext.WriteLine($"file {new FileInfo(model.ModelPath).Length} -> {new FileInfo(quantPath).Length} bytes");
    }

    [TestMethod]
    public void CodebookTablesLargerThanTheirIndicesGiveABuildWarning()
    {
        // WEQ at 8 bits keeps 256 levels per output channel: on the classifier's depthwise 3x3 layers (9
        // weights a channel) the tables outweigh the indices; at 3 bits they do not.
        var model = TestAssets.RealModel("ppocr-cls");
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("calib"));
        File.Copy(model.Cases[0].InputFiles["x"], temp.File("calib", "x0.npy"));
        string Quantize(int bits)
        {
            var sidecar = temp.File($"w{bits}.quant.json");
            File.WriteAllText(sidecar, $$"""{ "weights": { "method": "weq", "bits": {{bits}} }, "calibration": { "inputs": { "x": "calib/*.npy" } }, "outputs": { "onnx": false, "report": false } }""");
            var log = new StringWriter();
            QuantizeJob.Run(new QuantizeRequest(model.ModelPath, sidecar, temp.File($"out{bits}"), "cls"), 2, log);
            return log.ToString();
        }

        var eightBits = Quantize(8);
        StringAssert.Contains(eightBits, $"{model.ModelPath}: warning QB4105: codebook level tables take");
        var threeBits = Quantize(3);
        Assert.IsFalse(threeBits.Contains("QB4105", StringComparison.Ordinal), threeBits);
    }

    [TestMethod]
    public void OpsetUpgradeKeepsPaddleOcrOutputsBitIdentical()
    {
        var model = TestAssets.RealModel("ppocr-cls");
        var graph = OnnxImporter.Load(model.ModelPath);
        GraphPreparation.Prepare(graph);
        var before = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var inputs = model.Cases[0].LoadInputs();
        var expected = before.Run(inputs)[graph.Outputs[0].Name].Floats;
        int rewritten = OpsetUpgrade.Apply(graph);
        Assert.IsTrue(rewritten > 0, "the opset-9 Clips need rewriting");
        Assert.AreEqual(13, graph.OpsetVersion);
        Assert.IsFalse(graph.Nodes.Any(n => n.OpType == "Clip" && (n.HasAttribute("min") || n.HasAttribute("max"))));
        var after = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 1 });
        CollectionAssert.AreEqual(expected, after.Run(inputs)[graph.Outputs[0].Name].Floats);
    }

    private static int ArgMax(float[] v) => Array.IndexOf(v, v.Max());
}
