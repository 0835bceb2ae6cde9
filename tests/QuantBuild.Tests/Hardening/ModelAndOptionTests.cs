using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Hardening;

/// <summary>The smaller probe findings of issue 10 (item 7): graphs that define a name twice, command-line slips, blame for NaN weights, warnings on stdout.</summary>
[TestClass]
public sealed class ModelAndOptionTests
{
    private static ValueInfoProto Value(string name, params long[] dims) =>
        OnnxExporter.ToProto(new ValueInfo(name, DataType.Float, dims.Select(d => (long?)d).ToArray()));

    private static NodeProto NodeOf(string op, string name, string input, string output)
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.Add(input);
        n.Output.Add(output);
        return n;
    }

    private static string Save(TempFolder temp, Action<GraphProto> build)
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        build(model.Graph);
        var path = temp.File("model.onnx");
        OnnxModelFile.Save(model, path);
        return path;
    }

    private static string Input(TempFolder temp)
    {
        var path = temp.File("x.npy");
        NpyFile.Write(path, Tensor.Create(DataType.Float, [2]));
        return path;
    }

    [TestMethod]
    public void TwoNodesWritingOneTensorAreRefusedNamingTheSecond()
    {
        using var temp = new TempFolder();
        var model = Save(temp, g =>
        {
            g.Input.Add(Value("x", 2));
            g.Node.Add(NodeOf("Relu", "first", "x", "y"));
            g.Node.Add(NodeOf("Neg", "second", "x", "y"));
            g.Output.Add(Value("y", 2));
        });
        var err = BadInput.AssertFails(CliHarness.Cli("run", model, "--input", $"x={Input(temp)}", "--out", temp.File("out")), DiagnosticCodes.DuplicateDefinition);
        StringAssert.Contains(err, $"{model}: error QB2010: Neg node 'second' writes 'y', which Relu node 'first' already defines [node 'second']");
    }

    [TestMethod]
    public void ANodeOverwritingAGraphInputIsRefused()
    {
        using var temp = new TempFolder();
        var model = Save(temp, g =>
        {
            g.Input.Add(Value("x", 2));
            g.Node.Add(NodeOf("Relu", "loop", "x", "x"));
            g.Output.Add(Value("x", 2));
        });
        var err = BadInput.AssertFails(CliHarness.Cli("run", model, "--input", $"x={Input(temp)}", "--out", temp.File("out")), DiagnosticCodes.DuplicateDefinition);
        StringAssert.Contains(err, "which graph input 'x' already defines");
    }

    [TestMethod]
    public void AGraphInputDeclaredTwiceIsRefused()
    {
        using var temp = new TempFolder();
        var model = Save(temp, g =>
        {
            g.Input.Add(Value("x", 2));
            g.Input.Add(Value("x", 3));
            g.Node.Add(NodeOf("Relu", "r", "x", "y"));
            g.Output.Add(Value("y", 2));
        });
        var err = BadInput.AssertFails(CliHarness.Cli("run", model, "--input", $"x={Input(temp)}", "--out", temp.File("out")), DiagnosticCodes.DuplicateDefinition);
        StringAssert.Contains(err, $"{model}: error QB2010: graph input 'x' is declared more than once");
    }

    [TestMethod]
    public void AnEmptyOutFolderIsAnError()
    {
        using var temp = new TempFolder();
        var input = BadInput.MnistInput(temp);
        var err = BadInput.AssertFails(CliHarness.Cli("run", QuantizeTestData.MnistModel, "--input", input, "--out", ""), DiagnosticCodes.InvalidArguments);
        StringAssert.Contains(err, "--out must name a folder");
        BadInput.AssertFails(CliHarness.Cli("run", QuantizeTestData.MnistModel, "--int", "--input", input, "--out", " "), DiagnosticCodes.InvalidArguments);
        BadInput.AssertFails(CliHarness.Cli("quantize", QuantizeTestData.MnistModel, "--out", ""), DiagnosticCodes.InvalidArguments);
    }

    [TestMethod]
    [DataRow("run")]
    [DataRow("quantize")]
    public void ANonNumericThreadCountIsACleanArgumentError(string verb)
    {
        using var temp = new TempFolder();
        var r = CliHarness.Cli(verb, QuantizeTestData.MnistModel, "--out", temp.File("out"), "--threads", "abc");
        var err = BadInput.AssertFails(r, DiagnosticCodes.InvalidArguments);
        StringAssert.Contains(err, "error QB3001: --threads must be a whole number of at least 1, got 'abc'");
        Assert.IsFalse(err.Contains("System.", StringComparison.Ordinal), err);
        Assert.AreEqual(ExitCodeForArguments, r.Exit);
        BadInput.AssertFails(CliHarness.Cli(verb, QuantizeTestData.MnistModel, "--out", temp.File("out"), "--threads", "0"), DiagnosticCodes.InvalidArguments);
    }

    private const int ExitCodeForArguments = 2;

    /// <summary>A NaN in conv2's weights reached the activations first, and the calibration data was blamed.</summary>
    [TestMethod]
    public void ANaNWeightIsBlamedOnItsInitializerNotOnTheCalibrationData()
    {
        using var temp = new TempFolder();
        string? weight = null, conv = null;
        var model = BadInput.MutatedMnist(temp, m =>
        {
            var node = m.Graph.Node.Where(n => n.OpType == "Conv").Skip(1).First();
            conv = node.Name;
            weight = node.Input[1];
            var proto = m.Graph.Initializer.First(t => t.Name == weight);
            var values = TensorProtoConverter.ToTensor(proto);
            values.Floats[3] = float.NaN;
            m.Graph.Initializer[m.Graph.Initializer.IndexOf(proto)] = TensorProtoConverter.FromTensor(values, weight);
        });
        QuantizeTestData.WriteMnistCalibration(temp.Path, 2);
        File.WriteAllText(temp.File("mnist.quant.json"), """{ "calibration": { "inputs": { "input": "calib/*.npy" } } }""");
        var err = BadInput.AssertFails(CliHarness.Cli("quantize", model, "--out", temp.File("out")), DiagnosticCodes.InvalidInitializerValue);
        StringAssert.Contains(err, $"{model}: error QB2011: initializer '{weight}' of Conv node '{conv}' holds NaN at element 3");
        StringAssert.Contains(err, $"[node '{conv}']");
        Assert.IsFalse(err.Contains("calibration", StringComparison.Ordinal), err);
    }

    /// <summary>QB4105 is a diagnostic: it goes to stderr, in canonical form, and stdout keeps only progress and results.</summary>
    [TestMethod]
    public void QuantizationWarningsGoToStandardError()
    {
        using var temp = new TempFolder();
        // A depthwise 3x3 layer: 9 weights a channel. At 2 bits the 4-level tables (4 bytes a channel) outweigh the
        // indices they decode (3 bytes), which the plan warns about; the layer still stores smaller than decoded
        // int8 levels (9 bytes), so it keeps its codebooks.
        var rng = new Random(7);
        var graph = OpTester.SingleNodeGraph("Conv", [Tensor.Create(DataType.Float, [1, 32, 8, 8]), OpTester.Random(rng, 1f, 32, 1, 3, 3)],
            configure: n => n.Attributes["group"] = new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = 32 },
            opset: 13, constants: new Dictionary<int, Tensor> { [1] = OpTester.Random(rng, 1f, 32, 1, 3, 3) });
        var model = BadInput.Save(temp, graph, "depthwise.onnx");
        Directory.CreateDirectory(temp.File("calib"));
        NpyFile.Write(temp.File("calib", "x0.npy"), OpTester.Random(rng, 1f, 1, 32, 8, 8));
        File.WriteAllText(temp.File("depthwise.quant.json"), """{ "weights": { "method": "weq", "bits": 2 }, "calibration": { "inputs": { "in0": "calib/*.npy" } }, "outputs": { "onnx": false, "report": false } }""");
        var r = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(0, r.Exit, r.Err);
        StringAssert.Contains(r.Err, $"{model}: warning QB4105: codebook level tables take");
        Assert.IsFalse(r.Out.Contains("QB4105", StringComparison.Ordinal), r.Out);
    }
}
