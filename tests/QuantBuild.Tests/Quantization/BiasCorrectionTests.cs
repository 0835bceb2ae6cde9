using QuantBuild.Configuration;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

/// <summary>weights.biasCorrection on the MNIST model at 3 bits, where the weight error is large.</summary>
[TestClass]
public sealed class BiasCorrectionTests
{
    private static PipelineResult Quantize(TempFolder temp, bool correct)
    {
        var sidecar = temp.File(correct ? "corrected.quant.json" : "plain.quant.json");
        File.WriteAllText(sidecar, $$"""
            { "weights": { "bits": 3, "biasCorrection": {{(correct ? "true" : "false")}} }, "calibration": { "inputs": { "input": "calib/*.npy" } } }
            """);
        return QuantizationPipeline.Run(QuantizeTestData.MnistModel, SidecarParser.Load(sidecar), new EngineOptions { MaxDegreeOfParallelism = 2 });
    }

    /// <summary>The prepared graph with every quantized weight replaced by its dequantized codes (activations float).</summary>
    private static InferenceEngine WeightOnly(QuantizedModel model)
    {
        foreach (var w in model.Weights.Values)
            model.Graph.Initializers[w.WeightName] = Tensor.FromFloats(w.Dequantize(), w.Shape);
        return new InferenceEngine(model.Graph);
    }

    private static List<Dictionary<string, Tensor>> Calibration(TempFolder temp) =>
        Directory.GetFiles(temp.File("calib"), "*.npy").Order(StringComparer.Ordinal)
            .Select(f => new Dictionary<string, Tensor> { ["input"] = QuantBuild.Onnx.IO.NpyFile.Read(f) }).ToList();

    /// <summary>
    /// ‖E[y_q − y]‖ per output channel (axis 1, averaged over samples and positions): the systematic
    /// part of the output error, which is what bias correction targets.
    /// </summary>
    private static double MeanShiftNorm(InferenceEngine quantized, InferenceEngine reference, List<Dictionary<string, Tensor>> samples, string output)
    {
        double[]? sum = null;
        long count = 0;
        foreach (var feeds in samples)
        {
            var qt = quantized.Run(feeds, [output])[output];
            var q = qt.Floats;
            var r = reference.Run(feeds, [output])[output].Floats;
            int channels = qt.Shape[1], inner = 1;
            for (int d = 2; d < qt.Rank; d++) inner *= qt.Shape[d];
            sum ??= new double[channels];
            for (int k = 0; k < q.Length; k++) sum[k / inner % channels] += q[k] - r[k];
            count += q.Length / channels;
        }
        return Math.Sqrt(sum!.Sum(v => v * v / count / count));
    }

    [TestMethod]
    public void CorrectionRemovesTheMeanShiftOfEveryLayerAndReducesItAtTheOutput()
    {
        using var temp = new TempFolder();
        QuantizeTestData.WriteMnistCalibration(temp.Path, 64);
        var samples = Calibration(temp);
        var floatGraph = OnnxImporter.Load(QuantizeTestData.MnistModel);
        GraphPreparation.Prepare(floatGraph);
        var reference = new InferenceEngine(floatGraph);

        var plain = Quantize(temp, correct: false).Model;
        var corrected = Quantize(temp, correct: true).Model;
        Assert.IsEmpty(plain.BiasCorrections);
        Assert.AreEqual(corrected.Weights.Count, corrected.BiasCorrections.Count, "every quantized MNIST layer is a Conv or Gemm");
        CollectionAssert.AreEqual(plain.Weights.Values.SelectMany(w => w.Codes).ToArray(), corrected.Weights.Values.SelectMany(w => w.Codes).ToArray(),
            "bias correction leaves the weight codes alone");

        // The corrected biases go through lowering like any bias: the model still runs fully in integers.
        Assert.IsEmpty(IntegerLowering.Lower(corrected).FloatNodeNames);

        var plainEngine = WeightOnly(plain);
        var correctedEngine = WeightOnly(corrected);
        // The first layer sees the exact input in both graphs: its mean output shift must vanish after correction.
        var first = corrected.Graph.Nodes.First(n => corrected.Weights.ContainsKey(n.Name)).Outputs[0];
        double before = MeanShiftNorm(plainEngine, reference, samples, first);
        double after = MeanShiftNorm(correctedEngine, reference, samples, first);
        TestContext.WriteLine($"first layer mean shift {before:G4} -> {after:G4}");
        Assert.IsGreaterThan(0, before);
        Assert.IsLessThan(before * 1e-3, after);

        var output = corrected.Graph.Outputs[0].Name;
        double outBefore = MeanShiftNorm(plainEngine, reference, samples, output);
        double outAfter = MeanShiftNorm(correctedEngine, reference, samples, output);
        TestContext.WriteLine($"output mean shift {outBefore:G4} -> {outAfter:G4}");
        Assert.IsLessThan(outBefore * 0.5, outAfter);
    }

    public TestContext TestContext { get; set; } = null!;
}
