using System.Text.Json;
using QuantBuild.Cli.Commands;
using QuantBuild.Configuration;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
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
    public void CodebookLayersWhoseTablesOutweighTheirIndices_AreStoredDecoded_AsSmallAsLinear()
    {
        // WEQ at 8 bits keeps 256 levels per output channel: 8-bit indices are as large as the int8 levels, so every
        // layer is stored as its decoded levels - as many bytes as linear W8, and no warning about tables. At 3 bits the
        // wide layers keep their codebooks (the depthwise 3x3 channels, 9 weights each, are stored decoded).
        var model = TestAssets.RealModel("ppocr-cls");
        using var temp = new TempFolder();
        (string Log, string Code) Quantize(string method, int bits)
        {
            var log = QuantizePaddleOcr(model, temp, $"{method}{bits}", $$"""{ "method": "{{method}}", "bits": {{bits}} }""", """{ "onnx": false, "report": false }""");
            return (log, File.ReadAllText(temp.File($"out{method}{bits}", "cls.g.cs")));
        }
        static long WeightBytes(string code) => long.Parse(System.Text.RegularExpressions.Regex.Match(code, @"weights (\d+) bytes").Groups[1].Value);

        var (eightBitLog, eightBits) = Quantize("weq", 8);
        Assert.DoesNotContain("QB4105", eightBitLog);
        Assert.DoesNotContain("Conv2DCodebook(", eightBits);
        Assert.AreEqual(WeightBytes(Quantize("linear", 8).Code), WeightBytes(eightBits));
        var (threeBitLog, threeBits) = Quantize("weq", 3);
        Assert.DoesNotContain("QB4105", threeBitLog);
        StringAssert.Contains(threeBits, "new Conv2DCodebook(");
    }

    /// <summary>
    /// Issue 13: LogQuant W4 on PaddleOCR cls stored 114,576 bytes of weights against 74,628 for linear W4 (report counts,
    /// scales included), because every channel of every 1x1 layer carried its own 16-entry table. Its per-channel tables
    /// are identical, so each layer now stores one shared table with per-channel scales: within 10% of linear.
    /// </summary>
    [TestMethod]
    public void LogQuantFourBits_SharesOneTablePerLayer_WithinTenPercentOfLinear()
    {
        var model = TestAssets.RealModel("ppocr-cls");
        using var temp = new TempFolder();
        JsonDocument Report(string method)
        {
            QuantizePaddleOcr(model, temp, method, $$"""{ "method": "{{method}}", "bits": 4 }""", $$"""{ "onnx": {{(method == "log" ? "true" : "false")}}, "csharp": false }""");
            return JsonDocument.Parse(File.ReadAllText(temp.File($"out{method}", "cls.report.json")));
        }
        using var log = Report("log");
        using var linear = Report("linear");
        long Bytes(JsonDocument d) => d.RootElement.GetProperty("sizes").GetProperty("weightsQuantizedBytes").GetInt64();
        int shared = 0;
        foreach (var layer in log.RootElement.GetProperty("layers").EnumerateArray())
        {
            if (layer.GetProperty("encoding").GetString() != "codebook") continue;
            shared++;
            Assert.AreEqual(1, layer.GetProperty("codebooks").GetInt32(), layer.GetProperty("node").GetString());
            Assert.AreEqual(layer.GetProperty("shape")[layer.GetProperty("axis").GetInt32()].GetInt32(), layer.GetProperty("codebookScales").GetInt32());
        }
        TestContext.WriteLine($"PaddleOCR cls W4 weights: log {Bytes(log)} bytes ({shared} shared-table layers), linear {Bytes(linear)} bytes");
        Assert.IsGreaterThan(40, shared, "the 1x1 and depthwise layers keep a shared codebook");
        Assert.IsLessThanOrEqualTo(1.10 * Bytes(linear), Bytes(log));

        // ONNX Runtime on the shared-table QDQ file (Gather of int8 levels, per-channel DequantizeLinear) computes what
        // our integer runtime computes on the file read back.
        var oracle = TestAssets.RequireOracle();
        var file = temp.File("outlog", "cls.quant.onnx");
        var imported = QdqOnnxImporter.Load(file);
        var output = OnnxImporter.Load(model.ModelPath).Outputs[0].Name;
        foreach (var c in model.Cases)
        {
            var inputs = c.LoadInputs();
            var runner = new IntegerModelRunner(IntegerLowering.Lower(imported, inputs.ToDictionary(kv => kv.Key, kv => kv.Value.Shape.ToArray())));
            var ort = oracle.QdqMeaning().Run(file, c.InputFiles, [output])[output].Floats;
            var ours = runner.Run(inputs)[output].Floats;
            TestContext.WriteLine($"{c.Name}: ORT [{string.Join(", ", ort)}], integer runtime [{string.Join(", ", ours)}]");
            Assert.AreEqual(ArgMax(ort), ArgMax(ours), $"case {c.Name}");
            for (int k = 0; k < ort.Length; k++) Assert.AreEqual(ort[k], ours[k], 0.01, $"case {c.Name} output {k}");
        }
    }

    /// <summary>
    /// LogQuant gives every channel of some PaddleOCR layers the same exponent, so their scale tensor is one value
    /// repeated. It must stay an initializer: the file's uniform-constant compaction once turned it into a
    /// ConstantOfShape, and `run --int` could not read the file back (QB4103).
    /// </summary>
    [TestMethod]
    public void UniformWeightScales_StayInitializers_AndTheFileReadsBack()
    {
        var model = TestAssets.RealModel("ppocr-cls");
        using var temp = new TempFolder();
        QuantizePaddleOcr(model, temp, "log", """{ "method": "log", "bits": 4 }""", """{ "csharp": false, "report": false }""");
        var file = temp.File("outlog", "cls.quant.onnx");
        var graph = OnnxImporter.Load(file);
        var dequantized = graph.Nodes.Where(n => n.OpType == "DequantizeLinear").SelectMany(n => n.Inputs.Skip(1)).ToHashSet();
        Assert.IsFalse(graph.Nodes.Any(n => n.OpType == "ConstantOfShape" && dequantized.Contains(n.Outputs[0])), "a DequantizeLinear scale is computed, not stored");
        var imported = QdqOnnxImporter.Load(file);
        Assert.IsTrue(imported.Weights.Values.Any(w => w.Scales.Length > 1 && w.Scales.Distinct().Count() == 1), "the model must have a layer whose channel scales are all equal");
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

    /// <summary>
    /// The PaddleOCR classifier quantized by the CLI's job, calibrated on its first case, into <c>out{name}</c>, without
    /// the quality measurement: the sidecar's weights and outputs objects as given. Returns what the job logged.
    /// </summary>
    private static string QuantizePaddleOcr(QuantBuild.Oracle.RealModel model, TempFolder temp, string name, string weightsJson, string outputsJson)
    {
        if (!Directory.Exists(temp.File("calib")))
        {
            Directory.CreateDirectory(temp.File("calib"));
            File.Copy(model.Cases[0].InputFiles["x"], temp.File("calib", "x0.npy"));
        }
        var sidecar = temp.File($"{name}.quant.json");
        File.WriteAllText(sidecar, $$"""{ "weights": {{weightsJson}}, "calibration": { "inputs": { "x": "calib/*.npy" } }, "outputs": {{outputsJson}}, "quality": { "samples": 0 } }""");
        var log = new StringWriter();
        QuantizeJob.Run(new QuantizeRequest(model.ModelPath, sidecar, temp.File($"out{name}"), "cls"), 2, log);
        return log.ToString();
    }
}
