using System.Text.Json;
using QuantBuild.Calibration;
using QuantBuild.Compilation;
using QuantBuild.Configuration;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Models;

/// <summary>
/// The build's measurement of the integer plan against the float model (docs/output-quality.md): the SQNR it
/// reports is the defined one, the report carries it, and a model output below the floor is a QB4106 warning
/// naming the output and the activations that lose the most.
/// </summary>
[TestClass]
public sealed class OutputQualityTests
{
    /// <summary>The reported SQNR of every output equals 10·log10(Σ ref² / Σ (ref − ours)²) recomputed here over the same samples.</summary>
    [TestMethod]
    public void ReportedOutputSqnr_IsTheDefinedOne_OverTheFirstCalibrationSamples()
    {
        using var temp = new TempFolder();
        QuantizeTestData.WriteMnistCalibration(temp.Path, 12);
        var settings = new QuantizationSettings
        {
            Calibration = new CalibrationSettings { Inputs = [new CalibrationInput("input", "calib/*.npy")], BaseDirectory = temp.Path },
            Quality = new QualitySettings { Samples = 5 },
        };
        var compiled = ModelCompiler.Compile(QuantizeTestData.MnistModel, settings, new EngineOptions { MaxDegreeOfParallelism = 2 });
        var quality = compiled.Quality ?? throw new AssertFailedException("no quality measurement");
        Assert.AreEqual(5, quality.Samples);

        var graph = OnnxImporter.Load(QuantizeTestData.MnistModel);
        GraphPreparation.Prepare(graph, inferShapes: false);
        var engine = new InferenceEngine(graph);
        var runner = new IntegerModelRunner(compiled.RequirePlan());
        var plan = CalibrationPlan.Resolve(graph, settings);
        var output = compiled.RequirePlan().Plan.Outputs.Single().Name;
        double signal = 0, error = 0;
        foreach (var sample in CalibrationRunner.EnumerateSamples(graph, plan, 5))
        {
            var reference = engine.Run(sample.Feeds)[output].ToFloatArray();
            var ours = runner.Run(sample.Feeds)[output].ToFloatArray();
            for (int i = 0; i < reference.Length; i++)
            {
                signal += (double)reference[i] * reference[i];
                error += ((double)reference[i] - ours[i]) * ((double)reference[i] - ours[i]);
            }
        }

        double expected = 10 * Math.Log10(signal / error);
        var reported = quality.Outputs.Single();
        Assert.AreEqual(output, reported.Name);
        Assert.AreEqual(expected, reported.SqnrDb, 1e-9 * Math.Abs(expected));
        Assert.IsGreaterThan(quality.FloorDb, reported.SqnrDb, "MNIST at W8A8 must be above the default floor");
        Assert.IsEmpty(compiled.QualityWarnings);
        // Every stored activation is measured, in plan order, with its grid's range.
        Assert.IsNotEmpty(quality.Activations);
        Assert.IsTrue(quality.Activations.All(a => a.RangeMin <= 0 && a.RangeMax >= 0 && a.ClippedFraction is >= 0 and <= 1));
    }

    /// <summary>
    /// BlazeFace at the defaults: the face-score output sits far below the floor (its calibrated range is almost all
    /// negative), so the build warns with the output's name; the report lists every output and activation; a lower
    /// floor silences the warning and samples 0 turns the measurement off.
    /// </summary>
    [TestMethod]
    public void BlazeFace_WarnsQB4106_ForTheFaceScores_AndTheReportCarriesTheMeasurement()
    {
        var model = TestAssets.RealModel("blazeface-front-128");
        using var temp = new TempFolder();
        var casesDir = Path.GetDirectoryName(Path.GetDirectoryName(model.Cases[0].InputFiles.Values.First())!)!;
        string Sidecar(string quality)
        {
            var path = temp.File($"side{quality.Length}.quant.json");
            // Automatic 16-bit promotion (measured by WideActivationTests) is off: this is the measurement of the all-int8 plan.
            File.WriteAllText(path, $$"""{ "calibration": { "inputs": { "input:0": {{JsonSerializer.Serialize(Path.Combine(casesDir, "*", "input_0.npy"))}} } }, "activations": { "autoPrecision": false }{{quality}} }""");
            return path;
        }

        var (exit, _, err) = CliHarness.Cli("quantize", model.ModelPath, "--config", Sidecar(""), "--out", temp.File("default"), "--threads", "2");
        Assert.AreEqual(0, exit, err);
        StringAssert.Contains(err, "warning QB4106: model output 'Identity_1:0'");
        var report = JsonDocument.Parse(File.ReadAllBytes(Directory.GetFiles(temp.File("default"), "*.report.json", SearchOption.AllDirectories).Single())).RootElement;
        var quality = report.GetProperty("quality");
        Assert.AreEqual(4, quality.GetProperty("samples").GetInt32());
        var outputs = quality.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!, o => o.GetProperty("sqnrDb").GetDouble());
        CollectionAssert.AreEquivalent(new[] { "Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0" }, outputs.Keys.ToArray());
        Assert.IsLessThan(20, outputs["Identity_1:0"]);
        Assert.IsGreaterThan(60, quality.GetProperty("activations").GetArrayLength());

        (exit, _, err) = CliHarness.Cli("quantize", model.ModelPath, "--config", Sidecar(""", "quality": { "outputSqnrFloorDb": 5 }"""), "--out", temp.File("low"), "--threads", "2");
        Assert.AreEqual(0, exit, err);
        Assert.DoesNotContain("QB4106", err);

        (exit, _, err) = CliHarness.Cli("quantize", model.ModelPath, "--config", Sidecar(""", "quality": { "samples": 0 }"""), "--out", temp.File("off"), "--threads", "2");
        Assert.AreEqual(0, exit, err);
        Assert.DoesNotContain("QB4106", err);
        var off = JsonDocument.Parse(File.ReadAllBytes(Directory.GetFiles(temp.File("off"), "*.report.json", SearchOption.AllDirectories).Single())).RootElement;
        Assert.IsFalse(off.TryGetProperty("quality", out _));
    }
}
