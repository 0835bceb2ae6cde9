using System.Text.Json;
using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Configuration;

[TestClass]
public sealed class SidecarParserTests
{
    private const string File = "/models/kws.quant.json";

    private static QuantizationSettings Parse(string json) => SidecarParser.Parse(json, File, "/models");

    private static QuantBuildException ParseError(string json)
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => Parse(json));
        Assert.AreEqual(File, e.File);
        return e;
    }

    [TestMethod]
    public void EmptyObjectGivesTheDocumentedDefaults()
    {
        var s = Parse("{}");
        Assert.AreEqual(QuantBuild.Quantization.WeightMethod.Linear, s.Weights.Method);
        Assert.AreEqual(8, s.Weights.Bits);
        Assert.IsTrue(s.Weights.PerChannel);
        Assert.IsTrue(s.Weights.Symmetric);
        Assert.AreEqual(WeightRangeMethod.MinMax, s.Weights.Range);
        Assert.AreEqual(CalibrationMethod.MinMax, s.Activations.Method);
        Assert.AreEqual(8, s.Activations.Bits);
        Assert.IsFalse(s.Activations.Symmetric);
        Assert.AreEqual(0, s.Calibration.Inputs.Count);
        Assert.IsTrue(s.Outputs.Onnx && s.Outputs.CSharp && s.Outputs.Report);
        Assert.IsNull(s.WeightByteBudget);
    }

    [TestMethod]
    public void FullSidecarFromTheDesignIsRead()
    {
        var s = Parse("""
            {
              // comments are allowed: sidecars are written by hand
              "$schema": "../build/QuantBuild.sidecar.schema.json",
              "weights":     { "method": "linear", "bits": 8, "perChannel": true, "symmetric": true, "range": "mse" },
              "activations": { "method": "percentile", "bits": 8, "symmetric": true, "percentile": 99.9 },
              "calibration": { "inputs": { "x": "calib/*.npy", "y": "other/y.npy" }, "maxSamples": 64, "seed": 7 },
              "layers":      { "conv_3": { "weights": { "bits": 4 } }, "head/*": { "skip": true } },
              "budget":      { "weightBytes": 65536 },
              "outputs":     { "onnx": true, "csharp": false, "report": true },
            }
            """);
        Assert.AreEqual(WeightRangeMethod.Mse, s.Weights.Range);
        Assert.AreEqual(CalibrationMethod.Percentile, s.Activations.Method);
        Assert.AreEqual(99.9, s.Activations.Percentile);
        Assert.IsTrue(s.Activations.Symmetric);
        CollectionAssert.AreEqual(new[] { "x", "y" }, s.Calibration.Inputs.Select(i => i.Name).ToArray());
        Assert.AreEqual("calib/*.npy", s.Calibration.Inputs[0].Pattern);
        Assert.AreEqual(6, s.Calibration.Inputs[0].Line);
        Assert.AreEqual(64, s.Calibration.MaxSamples);
        Assert.AreEqual(7, s.Calibration.Seed);
        Assert.AreEqual("/models", s.Calibration.BaseDirectory);
        Assert.AreEqual(65536L, s.WeightByteBudget);
        Assert.IsFalse(s.Outputs.CSharp);

        Assert.AreEqual((4, false), (s.ForNode("conv_3").Weights.Bits, s.ForNode("conv_3").Skip));
        Assert.AreEqual(WeightRangeMethod.Mse, s.ForNode("conv_3").Weights.Range, "an override changes only the keys it names");
        Assert.IsTrue(s.ForNode("head/fc").Skip);
        Assert.IsFalse(s.ForNode("header").Skip, "'head/*' needs the slash");
        Assert.AreEqual(8, s.ForNode("conv_30").Weights.Bits);
    }

    [TestMethod]
    public void ExactNameBeatsGlobWhateverTheOrder()
    {
        var s = Parse("""{ "layers": { "conv1": { "weights": { "bits": 6 } }, "conv*": { "weights": { "bits": 4 } } } }""");
        Assert.AreEqual(6, s.ForNode("conv1").Weights.Bits);
        Assert.AreEqual(4, s.ForNode("conv2").Weights.Bits);
    }

    [TestMethod]
    public void UnknownKeyIsReportedAtItsLineAndColumn()
    {
        var e = ParseError("{\n  \"weights\": {\n    \"bitz\": 4\n  }\n}");
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
        Assert.AreEqual(3, e.Line);
        Assert.AreEqual(5, e.Column);
        StringAssert.Contains(e.Message, "\"bitz\"");
        StringAssert.Contains(e.Message, "bits");
        StringAssert.StartsWith(e.ToCanonicalString(), $"{File}(3,5): error QB3101:");
    }

    [TestMethod]
    public void UnknownTopLevelKeySuggestsTheRightCase()
    {
        var e = ParseError("""{ "Weights": {} }""");
        Assert.AreEqual((1, 3), (e.Line, e.Column));
        StringAssert.Contains(e.Message, "did you mean \"weights\"");
    }

    [TestMethod]
    [DataRow("""{ "weights": { "bits": 9 } }""", 1, 24, "2..8")]
    [DataRow("""{ "weights": { "bits": 1 } }""", 1, 24, "2..8")]
    [DataRow("""{ "activations": { "bits": "8" } }""", 1, 28, "integer")]
    [DataRow("""{ "weights": { "bits": 4.5 } }""", 1, 24, "integer")]
    [DataRow("""{ "weights": { "perChannel": 1 } }""", 1, 30, "true or false")]
    [DataRow("""{ "activations": { "method": "kl" } }""", 1, 30, "\"entropy\"")]
    [DataRow("""{ "calibration": { "inputs": ["a"] } }""", 1, 30, "object")]
    [DataRow("""{ "calibration": { "inputs": { "x": 3 } } }""", 1, 37, "string")]
    [DataRow("""{ "layers": { "c": { "skip": "yes" } } }""", 1, 30, "true or false")]
    [DataRow("""{ "layers": { "c": { "bits": 4 } } }""", 1, 22, "unknown key \"bits\"")]
    [DataRow("""{ "budget": { "weightBytes": 0 } }""", 1, 30, "at least 1")]
    [DataRow("""{ "weights": {}, "weights": {} }""", 1, 18, "twice")]
    [DataRow("""[1, 2]""", 1, 1, "must be an object")]
    [DataRow("""{ "quality": { "samples": -1 } }""", 1, 27, "quality.samples")]
    [DataRow("""{ "quality": { "outputSqnrFloorDb": "high" } }""", 1, 37, "quality.outputSqnrFloorDb")]
    public void BadValuesAreReportedWhereTheyAre(string json, int line, int column, string fragment)
    {
        var e = ParseError(json);
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code, e.Message);
        Assert.AreEqual((line, column), (e.Line, e.Column), e.Message);
        StringAssert.Contains(e.Message, fragment);
    }

    [TestMethod]
    public void SyntaxErrorsCarryThePosition()
    {
        var e = ParseError("{\n  \"weights\": { \"bits\": 8 \n}");
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
        Assert.AreEqual(3, e.Line, e.Message);
        StringAssert.Contains(e.Message, "invalid JSON");
    }

    [TestMethod]
    public void UnimplementedMethodsAndAsymmetricWeightsAreRefusedNotIgnored()
    {
        foreach (var method in SidecarParser.WeightMethods.Except(SidecarParser.ImplementedWeightMethods))
            Assert.AreEqual(DiagnosticCodes.UnsupportedSetting, ParseError($$"""{ "weights": { "method": "{{method}}" } }""").Code, method);
        var e = ParseError("""{ "weights": { "symmetric": false } }""");
        Assert.AreEqual(DiagnosticCodes.UnsupportedSetting, e.Code);
    }

    [TestMethod]
    public void ColumnsCountCharactersNotUtf8Bytes()
    {
        var e = ParseError("{ \"layers\": { \"é\": { \"skip\": 1 } } }");
        Assert.AreEqual(30, e.Column, e.Message);
    }

    [TestMethod]
    public void ByteOrderMarkIsAccepted()
    {
        var bytes = new byte[] { 0xEF, 0xBB, 0xBF }.Concat(System.Text.Encoding.UTF8.GetBytes("{ \"weights\": { \"bits\": 4 } }")).ToArray();
        Assert.AreEqual(4, SidecarParser.Parse(bytes, File, "/models").Weights.Bits);
    }

    [TestMethod]
    public void GlobMatchingIsExact()
    {
        Assert.IsTrue(LayerOverride.GlobMatch("head/*", "head/a/b"));
        Assert.IsTrue(LayerOverride.GlobMatch("*conv*", "model/conv_2/x"));
        Assert.IsTrue(LayerOverride.GlobMatch("a*b*c", "axxbyyc"));
        Assert.IsFalse(LayerOverride.GlobMatch("a*b*c", "axxbyy"));
        Assert.IsFalse(LayerOverride.GlobMatch("conv", "conv1"));
    }

    [TestMethod]
    public void CalibrationGlobsExpandSortedAndMissingOnesAreQB3102()
    {
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("calib", "b"));
        foreach (var f in new[] { "calib/s10.npy", "calib/s2.npy", "calib/b/s1.npy", "calib/notes.txt" })
            System.IO.File.WriteAllText(temp.File(f.Split('/')), "");
        var files = FileGlob.Expand("calib/*.npy", temp.Path);
        CollectionAssert.AreEqual(new[] { temp.File("calib", "s10.npy"), temp.File("calib", "s2.npy") }, files, "ordinal order, not natural order");
        Assert.AreEqual(3, FileGlob.Expand("calib/**/*.npy", temp.Path).Count);
        Assert.AreEqual(1, FileGlob.Expand("calib/s?.npy", temp.Path).Count);

        var input = new CalibrationInput("x", "calib/*.bin", 4, 12);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => FileGlob.ExpandRequired(input, temp.Path, File));
        Assert.AreEqual(DiagnosticCodes.CalibrationFilesNotFound, e.Code);
        Assert.AreEqual((4, 12), (e.Line, e.Column));
        StringAssert.Contains(e.Message, "calib/*.bin");
    }

    [TestMethod]
    public void SchemaListsExactlyTheKeysTheParserAccepts()
    {
        var schemaPath = Path.Combine(TestAssets.RepoRoot, "build", "QuantBuild.sidecar.schema.json");
        using var doc = JsonDocument.Parse(System.IO.File.ReadAllText(schemaPath));
        var root = doc.RootElement;
        Assert.AreEqual("https://json-schema.org/draft/2020-12/schema", root.GetProperty("$schema").GetString());

        JsonElement Resolve(JsonElement e) =>
            e.TryGetProperty("$ref", out var r) ? root.GetProperty("$defs").GetProperty(r.GetString()!.Split('/').Last()) : e;
        string[] Keys(JsonElement e)
        {
            e = Resolve(e);
            Assert.IsFalse(e.TryGetProperty("additionalProperties", out var ap) && ap.ValueKind == JsonValueKind.True);
            return e.GetProperty("properties").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
        }
        var props = root.GetProperty("properties");
        var layerEntry = props.GetProperty("layers").GetProperty("additionalProperties");
        var fromSchema = new Dictionary<string, string[]>
        {
            [""] = Keys(root),
            ["weights"] = Keys(props.GetProperty("weights")),
            ["activations"] = Keys(props.GetProperty("activations")),
            ["calibration"] = Keys(props.GetProperty("calibration")),
            ["calibration/inputs/*"] = Keys(props.GetProperty("calibration").GetProperty("properties").GetProperty("inputs")
                .GetProperty("additionalProperties").GetProperty("oneOf").EnumerateArray().Single(e => e.TryGetProperty("$ref", out _))),
            ["layers/*"] = Keys(layerEntry),
            ["layers/*/weights"] = Keys(layerEntry.GetProperty("properties").GetProperty("weights")),
            ["layers/*/activations"] = Keys(layerEntry.GetProperty("properties").GetProperty("activations")),
            ["weights/multipoint"] = Keys(Resolve(props.GetProperty("weights")).GetProperty("properties").GetProperty("multipoint")),
            ["layers/*/weights/multipoint"] = Keys(Resolve(layerEntry.GetProperty("properties").GetProperty("weights")).GetProperty("properties").GetProperty("multipoint")),
            ["budget"] = Keys(props.GetProperty("budget")),
            ["outputs"] = Keys(props.GetProperty("outputs")),
            ["eptq"] = Keys(props.GetProperty("eptq")),
            ["quality"] = Keys(props.GetProperty("quality")),
            ["verify"] = Keys(props.GetProperty("verify")),
            ["verify/inputs/*"] = Keys(props.GetProperty("verify").GetProperty("properties").GetProperty("inputs")
                .GetProperty("additionalProperties").GetProperty("oneOf").EnumerateArray().Single(e => e.TryGetProperty("$ref", out _))),
        };
        CollectionAssert.AreEquivalent(SidecarParser.KnownKeys.Keys.ToArray(), fromSchema.Keys.ToArray());
        foreach (var (path, keys) in fromSchema)
            CollectionAssert.AreEqual(SidecarParser.KnownKeys[path].Order(StringComparer.Ordinal).ToArray(), keys, $"keys of '{path}'");

        // Enumerations agree too.
        var weights = root.GetProperty("$defs").GetProperty("weights").GetProperty("properties");
        CollectionAssert.AreEqual(SidecarParser.WeightMethods.ToArray(), weights.GetProperty("method").GetProperty("enum").EnumerateArray().Select(x => x.GetString()).ToArray());
        CollectionAssert.AreEqual(SidecarParser.WeightRanges, weights.GetProperty("range").GetProperty("enum").EnumerateArray().Select(x => x.GetString()).ToArray());
        CollectionAssert.AreEqual(SidecarParser.ActivationMethods,
            props.GetProperty("activations").GetProperty("properties").GetProperty("method").GetProperty("enum").EnumerateArray().Select(x => x.GetString()).ToArray());
        var source = root.GetProperty("$defs").GetProperty("calibrationSource").GetProperty("properties");
        CollectionAssert.AreEqual(SidecarParser.ImageFits, source.GetProperty("fit").GetProperty("enum").EnumerateArray().Select(x => x.GetString()).ToArray());
        CollectionAssert.AreEqual(SidecarParser.ChannelOrders, source.GetProperty("channelOrder").GetProperty("enum").EnumerateArray().Select(x => x.GetString()).ToArray());
        CollectionAssert.AreEqual(SidecarParser.ImageLayouts, source.GetProperty("layout").GetProperty("enum").EnumerateArray().Select(x => x.GetString()).ToArray());
        CollectionAssert.AreEqual(SidecarParser.QdqIntegerTypes,
            props.GetProperty("outputs").GetProperty("properties").GetProperty("qdqIntegerType").GetProperty("enum").EnumerateArray().Select(x => x.GetString()).ToArray());
    }

    [TestMethod]
    public void QdqIntegerTypeDefaultsToUInt8AndRejectsOtherTypesAtItsLine()
    {
        Assert.AreEqual(QdqIntegerType.UInt8, Parse("{}").Outputs.QdqIntegerType);
        Assert.AreEqual(QdqIntegerType.Int8, Parse("""{ "outputs": { "qdqIntegerType": "int8" } }""").Outputs.QdqIntegerType);
        Assert.AreEqual(QdqIntegerType.UInt8, Parse("""{ "outputs": { "qdqIntegerType": "uint8", "onnx": true } }""").Outputs.QdqIntegerType);
        var e = ParseError("{\n  \"outputs\": {\n    \"qdqIntegerType\": \"int16\"\n  }\n}");
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
        Assert.AreEqual(3, e.Line);
        StringAssert.Contains(e.Message, "uint8");
    }

    [TestMethod]
    public void QualityDefaultsToFourSamplesAndTwentyDecibels()
    {
        Assert.AreEqual(new QualitySettings { Samples = 4, OutputSqnrFloorDb = 20 }, Parse("{}").Quality);
        Assert.AreEqual(new QualitySettings { Samples = 0, OutputSqnrFloorDb = 12.5 }, Parse("""{ "quality": { "samples": 0, "outputSqnrFloorDb": 12.5 } }""").Quality);
    }
}
