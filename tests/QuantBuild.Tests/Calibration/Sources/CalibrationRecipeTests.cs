using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Calibration.Sources;

/// <summary>
/// Image and audio recipes from the sidecar through <see cref="CalibrationPlan"/>: what they read, and every bad
/// input reported while the plan is resolved (before calibration), with its code, file and line.
/// </summary>
[TestClass]
public sealed class CalibrationRecipeTests
{
    /// <summary>y = Relu(x): one input of the given shape.</summary>
    private static ModelGraph Graph(params long?[] shape)
    {
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, shape));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, shape));
        g.Nodes.Add(new Node("relu", "Relu", ["x"], ["y"]));
        return g;
    }

    private static QuantizationSettings Sidecar(TempFolder temp, string inputJson)
    {
        var path = temp.File("m.quant.json");
        File.WriteAllText(path, "{\n  \"calibration\": {\n    \"inputs\": {\n      \"x\": " + inputJson + "\n    }\n  }\n}\n");
        return SidecarParser.Load(path);
    }

    private static QuantBuildException ResolveError(ModelGraph graph, QuantizationSettings settings) =>
        Assert.ThrowsExactly<QuantBuildException>(() => CalibrationPlan.Resolve(graph, settings));

    [TestMethod]
    public void TheStringFormAndTheTensorsObjectAreTheSameAndRecipesAreRead()
    {
        using var temp = new TempFolder();
        Assert.IsNull(Sidecar(temp, "\"calib/*.npy\"").Calibration.Inputs[0].Recipe);
        var tensors = Sidecar(temp, """{ "tensors": "calib/*.npy" }""").Calibration.Inputs[0];
        Assert.AreEqual(("calib/*.npy", (CalibrationRecipe?)null, 4), (tensors.Pattern, tensors.Recipe, tensors.Line));
        var image = Sidecar(temp, """{ "images": "p/*.jpg", "resize": [128, 96], "fit": "letterbox", "pad": 114, "channelOrder": "bgr", "layout": "NHWC", "scale": 0.5, "mean": [1, 2, 3], "std": [4] }""");
        var r = (ImageRecipe)image.Calibration.Inputs[0].Recipe!;
        Assert.AreEqual("p/*.jpg", image.Calibration.Inputs[0].Pattern);
        CollectionAssert.AreEqual(new[] { 128, 96 }, r.Resize);
        Assert.AreEqual((ImageFit.Letterbox, 114.0, ChannelOrder.Bgr, ImageLayout.Nhwc, 0.5), (r.Fit, r.Pad, r.ChannelOrder, r.Layout, r.Scale));
        CollectionAssert.AreEqual(new[] { 1.0, 2, 3 }, r.Mean);
        var audio = (AudioRecipe)Sidecar(temp, """{ "audio": "wav/**/*.wav", "sampleRate": 16000, "window": 1280, "hop": 640, "scale": 32768, "fileChannels": 1 }""").Calibration.Inputs[0].Recipe!;
        Assert.AreEqual((16000, 1280, 640, 32768.0, (int?)1, (int?)null), (audio.SampleRate, audio.Window, audio.Hop, audio.Scale, audio.FileChannels, audio.FileSampleRate));
    }

    [TestMethod]
    [DataRow("""{ "images": "a/*.png", "audio": "b/*.wav" }""", 4, "exactly one of")]
    [DataRow("""{ "resize": [2, 2] }""", 4, "exactly one of")]
    [DataRow("{ \"images\": \"a/*.png\",\n  \"window\": 400 }", 5, "window does not apply to \"images\"")]
    [DataRow("""{ "tensors": "a/*.npy", "scale": 2 }""", 4, "scale does not apply to \"tensors\"")]
    [DataRow("""{ "audio": "a/*.wav", "window": 400 }""", 4, "needs sampleRate")]
    [DataRow("""{ "images": "a/*.png", "mean": [1, 2] }""", 4, "mean has 2 values")]
    [DataRow("""{ "images": "a/*.png", "std": [0] }""", 4, "must not be 0")]
    [DataRow("""{ "images": "a/*.png", "fit": "crop" }""", 4, "fit needs resize")]
    [DataRow("""{ "images": "a/*.png", "resize": [128, 128], "pad": 3 }""", 4, "pad only applies to fit \"letterbox\"")]
    [DataRow("""{ "images": "a/*.png", "resize": [128] }""", 4, "resize must be an array of 2 integers")]
    [DataRow("""{ "images": "a/*.png", "layout": "CHW" }""", 4, "\"NCHW\", \"NHWC\"")]
    [DataRow("""{ "images": "" }""", 4, "is empty")]
    public void BadRecipesAreQB3101AtTheirLine(string json, int line, string expected)
    {
        using var temp = new TempFolder();
        var e = Assert.ThrowsExactly<QuantBuildException>(() => Sidecar(temp, json));
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
        Assert.AreEqual(temp.File("m.quant.json"), e.File);
        Assert.AreEqual(line, e.Line);
        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void TensorProtoFilesCalibrateLikeNpyFiles()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("t"));
        QuantBuild.Onnx.IO.TensorProtoFile.Write(temp.File("t", "a.pb"), Tensor.FromFloats([1, -2, 3, 4], 1, 4), "x");
        QuantBuild.Onnx.IO.NpyFile.Write(temp.File("t", "b.npy"), Tensor.FromFloats([5, 6, 7, -8], 1, 4));
        var graph = Graph(1, 4);
        var plan = CalibrationPlan.Resolve(graph, Sidecar(temp, """{ "tensors": "t/*" }"""));
        var samples = CalibrationRunner.EnumerateSamples(graph, plan).Select(s => s.Feeds["x"].Floats).ToList();
        Assert.AreEqual(2, samples.Count);
        CollectionAssert.AreEqual(new[] { 1f, -2, 3, 4 }, samples[0]);
        CollectionAssert.AreEqual(new[] { 5f, 6, 7, -8 }, samples[1]);
    }

    [TestMethod]
    public void ImagesAreReadInOrdinalOrderAsOneSampleEach()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("p"));
        // Ordinal order: "B.png" < "a.png" < "b.png".
        foreach (var (name, value) in new[] { ("b.png", (byte)30), ("a.png", (byte)20), ("B.png", (byte)10) })
            PngWriter.Write(temp.File("p", name), 2, 2, 1, [value, value, value, value]);
        var graph = Graph(null, 1, 2, 2);
        var plan = CalibrationPlan.Resolve(graph, Sidecar(temp, """{ "images": "p/*.png", "channelOrder": "gray", "scale": 0.1 }"""));
        var samples = CalibrationRunner.EnumerateSamples(graph, plan).ToList();
        CollectionAssert.AreEqual(new[] { "B.png", "a.png", "b.png" }, samples.Select(s => Path.GetFileName(s.Files[0])).ToArray());
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f }, samples.Select(s => s.Feeds["x"].Floats[0]).ToArray());
        CollectionAssert.AreEqual(new[] { 1, 1, 2, 2 }, samples[0].Feeds["x"].Shape);
    }

    [TestMethod]
    public void AWavFileGivesOneSamplePerWindowShapedAsTheModelInput()
    {
        using var temp = new TempFolder();
        // 8 kHz stereo, resampled to 16 kHz: left 16384, right 0 → mono 0.25 throughout.
        File.WriteAllBytes(temp.File("a.wav"), WavBytes.Pcm16(8000, 2, Enumerable.Repeat(new short[] { 16384, 0 }, 6).SelectMany(x => x).ToArray()));
        var graph = Graph(null, 1, 4);
        var plan = CalibrationPlan.Resolve(graph, Sidecar(temp, """{ "audio": "*.wav", "sampleRate": 16000, "window": 4, "hop": 2, "scale": 4 }"""));
        var samples = CalibrationRunner.EnumerateSamples(graph, plan).ToList();
        Assert.AreEqual(5, samples.Count, "12 samples at 16 kHz: windows at 0, 2, 4, 6, 8");
        CollectionAssert.AreEqual(new[] { 1, 1, 4 }, samples[0].Feeds["x"].Shape);
        CollectionAssert.AreEqual(new[] { 1f, 1f, 1f, 1f }, samples[4].Feeds["x"].Floats);
    }

    [TestMethod]
    public void EveryBadFileOrMismatchIsReportedWhileThePlanIsResolved()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("p"));
        PngWriter.Write(temp.File("p", "a.png"), 4, 4, 3, new byte[48]);
        File.WriteAllBytes(temp.File("p", "b.png"), PngWriter.Encode(4, 4, 3, new byte[48])[..50]);
        var nhwc = Graph(1, 4, 4, 3);

        // The recipe's shape against the model's, at the input's line, before any file is opened (b.png is corrupt).
        var e = ResolveError(nhwc, Sidecar(temp, """{ "images": "p/*.png" }"""));
        Assert.AreEqual((DiagnosticCodes.CalibrationDataMismatch, 4), (e.Code, e.Line));
        StringAssert.Contains(e.Message, "[1,3,?,?]");
        StringAssert.Contains(e.Message, "layout \"NHWC\"");
        e = ResolveError(Graph(1, 3, 8, 8), Sidecar(temp, """{ "images": "p/*.png", "resize": [4, 4] }"""));
        StringAssert.Contains(e.Message, "resize [8, 8]");

        // The corrupt file, found before calibration.
        e = ResolveError(nhwc, Sidecar(temp, """{ "images": "p/*.png", "layout": "NHWC" }"""));
        Assert.AreEqual((DiagnosticCodes.InvalidImage, temp.File("p", "b.png")), (e.Code, e.File));

        // An image of the wrong size without resize.
        e = ResolveError(Graph(1, 3, 8, 8), Sidecar(temp, """{ "images": "p/a.png" }"""));
        Assert.AreEqual((DiagnosticCodes.CalibrationFileMismatch, temp.File("p", "a.png")), (e.Code, e.File));
        StringAssert.Contains(e.Message, "\"resize\": [8, 8]");

        // An empty match.
        e = ResolveError(nhwc, Sidecar(temp, """{ "images": "photos/*.jpg", "layout": "NHWC" }"""));
        Assert.AreEqual((DiagnosticCodes.CalibrationFilesNotFound, 4), (e.Code, e.Line));
        StringAssert.Contains(e.Message, "photos/*.jpg");

        // Audio: declared rate and channels, a corrupt file, a window the model cannot take.
        File.WriteAllBytes(temp.File("a.wav"), WavBytes.Pcm16(22050, 2, 1, 2, 3, 4));
        var audio = Graph(null, 400);
        var parse = Assert.ThrowsExactly<QuantBuildException>(() => Sidecar(temp, """{ "audio": "a.wav", "sampleRate": 16000, "window": 400, "fileSampleRate": 22050 }"""));
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, parse.Code, "fileSampleRate must equal sampleRate");
        e = ResolveError(audio, Sidecar(temp, """{ "audio": "a.wav", "sampleRate": 16000, "window": 400, "fileSampleRate": 16000 }"""));
        Assert.AreEqual((DiagnosticCodes.CalibrationFileMismatch, temp.File("a.wav")), (e.Code, e.File));
        StringAssert.Contains(e.Message, "sampled at 22050 Hz");
        e = ResolveError(audio, Sidecar(temp, """{ "audio": "a.wav", "sampleRate": 22050, "window": 400, "fileChannels": 1 }"""));
        Assert.AreEqual((DiagnosticCodes.CalibrationFileMismatch, temp.File("a.wav")), (e.Code, e.File));
        StringAssert.Contains(e.Message, "has 2 channels");
        e = ResolveError(audio, Sidecar(temp, """{ "audio": "a.wav", "sampleRate": 16000, "window": 512 }"""));
        Assert.AreEqual((DiagnosticCodes.CalibrationDataMismatch, 4), (e.Code, e.Line));
        StringAssert.Contains(e.Message, "needs window 400");
        File.WriteAllBytes(temp.File("b.wav"), "RIFF\0\0\0\0WAVEfmt "u8.ToArray());
        e = ResolveError(audio, Sidecar(temp, """{ "audio": "b.wav", "sampleRate": 16000, "window": 400 }"""));
        Assert.AreEqual((DiagnosticCodes.InvalidWav, temp.File("b.wav")), (e.Code, e.File));
    }
}
