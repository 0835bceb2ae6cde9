using System.Text.Json;
using QuantBuild.Cli;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Oracle;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Verification;

/// <summary>
/// The sidecar's verify object (docs/verify.md): parsed with calibration's sample syntax, checked before long work, run
/// through `quantbuild quantize` on the MNIST model with held-out PNG digits, its figures cross-checked with ONNX Runtime.
/// </summary>
[TestClass]
public sealed class BuildVerificationTests
{
    private const string Sidecar = "m.quant.json";
    private const string GrayDigits = "\"channelOrder\": \"gray\", \"scale\": 0.00392156862745098";

    private static QuantBuildException ParseError(string json)
    {
        try
        {
            SidecarParser.Parse(json, Sidecar, "/base");
        }
        catch (QuantBuildException e)
        {
            return e;
        }
        throw new AssertFailedException("the sidecar parsed");
    }

    [TestMethod]
    public void VerifyReadsSamplesWithCalibrationsSyntaxAndItsThresholds()
    {
        var s = SidecarParser.Parse($$"""
            { "verify": { "inputs": { "input": { "images": "held/*.png", {{GrayDigits}} } }, "maxSamples": 50,
                          "minTop1Agreement": 0.97, "minSqnrDb": 25, "maxAbsError": 0.5 } }
            """, Sidecar, "/base");
        var v = s.Verify!;
        Assert.AreEqual("verify", v.Samples.Section);
        Assert.AreEqual("/base", v.Samples.BaseDirectory);
        Assert.AreEqual(50, v.Samples.MaxSamples);
        Assert.AreEqual("held/*.png", v.Samples.Inputs[0].Pattern);
        Assert.AreEqual(ChannelOrder.Gray, ((ImageRecipe)v.Samples.Inputs[0].Recipe!).ChannelOrder);
        Assert.AreEqual((0.97, 25.0, 0.5), (v.MinTop1Agreement, v.MinSqnrDb, v.MaxAbsError));
        Assert.AreEqual((1, 13), (v.Line, v.Column), "the verify object");
        // Unlike calibration (256), every held-out file is used unless the sidecar bounds it.
        Assert.AreEqual(0, SidecarParser.Parse("""{ "verify": { "inputs": { "x": "a.npy" } } }""", Sidecar, "/base").Verify!.Samples.MaxSamples);
        Assert.IsNull(SidecarParser.Parse("{}", Sidecar, "/base").Verify);
    }

    [TestMethod]
    public void VerifyWithoutSamplesIsQB3108AtTheObject()
    {
        foreach (var json in new[] { "{\n  \"verify\": { \"minSqnrDb\": 20 }\n}", "{\n  \"verify\": { \"inputs\": {} }\n}" })
        {
            var e = ParseError(json);
            Assert.AreEqual(DiagnosticCodes.VerifySetEmpty, e.Code, e.Message);
            Assert.AreEqual((2, 13), (e.Line, e.Column), e.Message);
            StringAssert.StartsWith(e.ToCanonicalString(), $"{Sidecar}(2,13): error QB3108:");
        }
    }

    [TestMethod]
    public void VerifyErrorsAreReportedAtTheirLine()
    {
        // A threshold out of range, at its value.
        var e = ParseError("{ \"verify\": {\n  \"inputs\": { \"x\": \"a.npy\" },\n  \"minTop1Agreement\": 98 } }");
        Assert.AreEqual((DiagnosticCodes.InvalidConfiguration, 3, 23), (e.Code, e.Line, e.Column), e.Message);
        StringAssert.Contains(e.Message, "verify.minTop1Agreement must be in 0..1");
        // The recipe is checked by the calibration code, named after verify.
        e = ParseError("{ \"verify\": {\n  \"inputs\": { \"x\": { \"images\": \"*.png\",\n    \"fit\": \"crop\" } } } }");
        Assert.AreEqual((DiagnosticCodes.InvalidConfiguration, 3, 12), (e.Code, e.Line, e.Column), e.Message);
        StringAssert.Contains(e.Message, "verify.inputs.x.fit needs resize");
        // An unknown key lists the allowed ones.
        e = ParseError("{ \"verify\": {\n  \"inputs\": { \"x\": \"a.npy\" },\n  \"minSqnr\": 20 } }");
        Assert.AreEqual((DiagnosticCodes.InvalidConfiguration, 3, 3), (e.Code, e.Line, e.Column), e.Message);
        StringAssert.Contains(e.Message, "minSqnrDb");
    }

    /// <summary>MNIST with calibration PNGs from training digits and verify PNGs from held-out digits.</summary>
    private static (string Model, string[] HeldOut) MnistFolder(TempFolder temp, string verifyExtra, int heldOutCount = 24)
    {
        var model = temp.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        Directory.CreateDirectory(temp.File("calib"));
        Directory.CreateDirectory(temp.File("held"));
        var digits = QuantizeTestData.Digits;
        static byte[] Bytes(ReadOnlySpan<float> pixels) => pixels.ToArray().Select(v => (byte)Math.Round(v * 255)).ToArray();
        for (int k = 0; k < 16; k++)
            PngWriter.Write(temp.File("calib", $"c{k:D2}.png"), 28, 28, 1, Bytes(digits.Image(digits.TrainingIndices[k * 400])));
        var heldOut = new string[heldOutCount];
        for (int k = 0; k < heldOutCount; k++)
        {
            heldOut[k] = temp.File("held", $"h{k:D2}.png");
            PngWriter.Write(heldOut[k], 28, 28, 1, Bytes(digits.Image(digits.HeldOutIndices[k * 50])));
        }
        File.WriteAllText(temp.File("mnist.quant.json"), $$"""
            {
              "calibration": { "inputs": { "input": { "images": "calib/*.png", {{GrayDigits}} } } },
              "verify": {
                "inputs": { "input": { "images": "held/*.png", {{GrayDigits}} } }{{verifyExtra}}
              }
            }
            """);
        return (model, heldOut);
    }

    /// <summary>
    /// The figures the build reports are the real ones: recomputed here from ONNX Runtime (the oracle of the tests) on the
    /// same held-out digits, fp32 model against the written .quant.onnx, they match the report's qdq-onnx entry, and
    /// the integer plan's entry is present with its own figures. The log has one line per artifact and output.
    /// </summary>
    [TestMethod]
    public void MnistVerifyPassesAndReportsAgreementThatOnnxRuntimeConfirms()
    {
        using var temp = new TempFolder();
        var (model, heldOut) = MnistFolder(temp, ",\n \"minTop1Agreement\": 0.9, \"minSqnrDb\": 20, \"maxAbsError\": 5");
        var (exit, stdout, err) = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(0, exit, err);
        StringAssert.Contains(stdout, "mnist: verify: qdq-onnx output 'logits' vs fp32 ONNX Runtime on 24 samples: top-1 ");
        StringAssert.Contains(stdout, "mnist: verify: integer-plan output 'logits' vs fp32 ONNX Runtime on 24 samples: top-1 ");

        using var report = JsonDocument.Parse(File.ReadAllBytes(temp.File("out", "mnist.report.json")));
        var verify = report.RootElement.GetProperty("verify");
        Assert.AreEqual(24, verify.GetProperty("samples").GetInt32());
        Assert.AreEqual(OrtOracle.Version, verify.GetProperty("onnxRuntime").GetString());
        Assert.AreEqual(20, verify.GetProperty("thresholds").GetProperty("minSqnrDb").GetDouble());
        var artifacts = verify.GetProperty("artifacts").EnumerateArray().ToDictionary(a => a.GetProperty("artifact").GetString()!, a => a.GetProperty("outputs")[0]);
        CollectionAssert.AreEquivalent(new[] { "qdq-onnx", "integer-plan" }, artifacts.Keys.ToArray());

        // Independently: fp32 model and the written QDQ file in ORT (graph as written), sample by sample.
        var oracle = new OrtOracle().QdqMeaning();
        int agree = 0;
        double signal = 0, error = 0, maxAbs = 0;
        foreach (var png in heldOut)
        {
            var pixels = StbImageSharp.ImageResult.FromMemory(File.ReadAllBytes(png), StbImageSharp.ColorComponents.Grey).Data;
            var input = new Dictionary<string, Tensors.Tensor>
            {
                ["input"] = Tensors.Tensor.FromFloats(pixels.Select(p => (float)(p * 0.00392156862745098)).ToArray(), 1, 1, 28, 28),
            };
            var reference = oracle.Run(model, input, ["logits"])["logits"].Floats;
            var quantized = oracle.Run(temp.File("out", "mnist.quant.onnx"), input, ["logits"])["logits"].Floats;
            if (Logits.ArgMax(reference) == Logits.ArgMax(quantized)) agree++;
            for (int i = 0; i < reference.Length; i++)
            {
                double d = (double)reference[i] - quantized[i];
                signal += (double)reference[i] * reference[i];
                error += d * d;
                maxAbs = Math.Max(maxAbs, Math.Abs(d));
            }
        }
        var qdq = artifacts["qdq-onnx"];
        Assert.AreEqual(24, qdq.GetProperty("top1Rows").GetInt32());
        Assert.AreEqual(agree, qdq.GetProperty("top1Agree").GetInt32());
        Assert.AreEqual(10 * Math.Log10(signal / error), qdq.GetProperty("sqnrDb").GetDouble(), 0.01);
        Assert.AreEqual(maxAbs, qdq.GetProperty("maxAbsError").GetDouble(), maxAbs * 1e-3);
        Assert.IsTrue(agree >= 22, $"int8 MNIST keeps the fp32 decision on {agree}/24 held-out digits");

        var integer = artifacts["integer-plan"];
        Assert.AreEqual(24, integer.GetProperty("top1Rows").GetInt32());
        Assert.IsTrue(integer.GetProperty("sqnrDb").GetDouble() >= 20, integer.ToString());
    }

    /// <summary>A missed threshold fails with QB4107 at its line, with the figure, and leaves no output at all.</summary>
    [TestMethod]
    public void MissedThresholdFailsWithQB4107AndWritesNothing()
    {
        using var temp = new TempFolder();
        var (model, _) = MnistFolder(temp, ",\n \"minSqnrDb\": 90", heldOutCount: 4);
        var (exit, stdout, err) = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(ExitCodes.Failed, exit);
        StringAssert.Contains(err, $"{temp.File("mnist.quant.json")}(5,15): error QB4107: verification on 4 held-out samples missed 2 thresholds: ");
        StringAssert.Contains(err, "integer-plan output 'logits' has an SQNR of ");
        StringAssert.Contains(err, "below verify.minSqnrDb 90.0 dB");
        StringAssert.Contains(stdout, "mnist: verify: integer-plan output 'logits'", "the figures are in the log too");
        Assert.IsFalse(Directory.Exists(temp.File("out")), "nothing written");
    }

    /// <summary>A verify pattern that matches nothing is an empty verify set: reported at its line before calibration runs.</summary>
    [TestMethod]
    public void VerifyPatternMatchingNothingFailsBeforeCalibration()
    {
        using var temp = new TempFolder();
        var (model, heldOut) = MnistFolder(temp, "", heldOutCount: 1);
        File.Delete(heldOut[0]);
        var (exit, stdout, err) = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(ExitCodes.Failed, exit);
        StringAssert.Contains(err, $"{temp.File("mnist.quant.json")}(4,38): error QB3102: verify input 'input': the pattern \"held/*.png\" matches no file");
        Assert.DoesNotContain("calibration:", stdout, "reported before calibration started");
        Assert.IsFalse(Directory.Exists(temp.File("out")), "nothing written");
    }

    /// <summary>
    /// The tool as shipped (a copy of quantbuild.dll with its dependencies), run as its own process with this platform's
    /// ONNX Runtime library replaced by a file that is not a library: a sidecar with verify fails with QB4108 naming the
    /// expected file and folder, before calibration, and writes nothing; without verify the same tool never touches ORT.
    /// </summary>
    [TestMethod]
    public void AnOnnxRuntimeLibraryThatCannotLoadIsQB4108BeforeAnyWork()
    {
        using var temp = new TempFolder();
        var tool = temp.File("tool");
        Directory.CreateDirectory(tool);
        foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory).Where(f => f.EndsWith(".dll", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal)))
            File.Copy(file, Path.Combine(tool, Path.GetFileName(file)));
        var rid = System.Runtime.InteropServices.RuntimeInformation.RuntimeIdentifier;
        var native = Path.Combine(tool, "runtimes", rid, "native");
        Directory.CreateDirectory(native);
        var library = QuantBuild.Verification.OnnxRuntimeLibrary.ExpectedFile;
        Assert.IsTrue(File.Exists(Path.Combine(AppContext.BaseDirectory, "runtimes", rid, "native", library)), $"the build ships {library} for {rid}");
        File.WriteAllText(Path.Combine(native, library), "not a shared library");

        var (model, _) = MnistFolder(temp, "", heldOutCount: 2);
        var broken = RunTool(tool, "quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(ExitCodes.Failed, broken.Exit, broken.Err);
        StringAssert.Contains(broken.Err, $"{temp.File("mnist.quant.json")}(3,13): error QB4108: verify runs the models in ONNX Runtime, whose native library cannot be loaded on {rid}: expected {library} from Microsoft.ML.OnnxRuntime under {native}");
        Assert.DoesNotContain("calibration:", broken.Out, "reported before calibration started");
        Assert.IsFalse(Directory.Exists(temp.File("out")), "nothing written");

        File.WriteAllText(temp.File("mnist.quant.json"), $$"""{ "calibration": { "inputs": { "input": { "images": "calib/*.png", {{GrayDigits}} } } } }""");
        var plain = RunTool(tool, "quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(0, plain.Exit, plain.Err);
    }

    private static (int Exit, string Out, string Err) RunTool(string toolFolder, params string[] args)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(toolFolder, "quantbuild.dll"));
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr);
    }
}
