using QuantBuild.Cli;
using QuantBuild.Cli.Commands;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Hardening;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Cli;

/// <summary><c>quantbuild inspect MODEL.onnx</c> on real models and on the bad paths the other verbs refuse.</summary>
[TestClass]
public sealed class InspectCommandTests
{
    /// <summary>The table row of <paramref name="op"/>: operator, count in the file, count after folding, support.</summary>
    private static (int File, string Built, string Support) Row(string output, string op)
    {
        var line = output.Split('\n').Select(l => l.TrimEnd('\r')).SingleOrDefault(l => l.StartsWith($"  {op} ", StringComparison.Ordinal))
            ?? throw new AssertFailedException($"no row for {op} in:\n{output}");
        // After the operator: two right-aligned counts, then the support text (which has spaces of its own).
        var fields = line.Trim()[op.Length..].TrimStart().Split(' ', 3, StringSplitOptions.RemoveEmptyEntries);
        return (int.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture), fields[1], fields[2].Trim());
    }

    [TestMethod]
    public void MnistShowsItsInputOutputOpsetAndOnlyIntegerOperators()
    {
        var r = CliHarness.Cli("inspect", QuantizeTestData.MnistModel);
        Assert.AreEqual(ExitCodes.Success, r.Exit, r.Err);
        Assert.AreEqual("", r.Err);
        StringAssert.Contains(r.Out, "opset 13");
        // The sample's sidecar names this input, and the generated class this output.
        StringAssert.Contains(r.Out, "inputs (1):\n  input: float[N,1,28,28]\n".ReplaceLineEndings());
        StringAssert.Contains(r.Out, "outputs (1):\n  logits: float[N,10]\n".ReplaceLineEndings());
        StringAssert.Contains(r.Out, "nodes: 10 in the file, 10 after folding");
        Assert.AreEqual((2, "2", InspectCommand.Integer), Row(r.Out, "Conv"));
        Assert.AreEqual((2, "2", InspectCommand.Integer), Row(r.Out, "Gemm"));
        Assert.AreEqual((3, "3", InspectCommand.Integer), Row(r.Out, "Relu"));
        StringAssert.Contains(r.Out, "every operator that computes on the data has an integer kernel");
    }

    /// <summary>
    /// PaddleOCR's classifier: symbolic dimensions keep the model's names, Constant and BatchNormalization
    /// nodes are folded as a build folds them, and the operators without an integer kernel are the ones the
    /// integer plan runs in float (the report of a real quantization lists the same op types).
    /// </summary>
    [TestMethod]
    public void PaddleOcrClassifierListsSymbolicDimsFoldedNodesAndFloatOperators()
    {
        var r = CliHarness.Cli("inspect", TestAssets.OcrClassifier);
        Assert.AreEqual(ExitCodes.Success, r.Exit, r.Err);
        StringAssert.Contains(r.Out, "  x: float[p2o.DynamicDimension.0,3,p2o.DynamicDimension.1,p2o.DynamicDimension.2]");
        StringAssert.Contains(r.Out, "  softmax_0.tmp_0: float[p2o.DynamicDimension.3,2]");
        StringAssert.Contains(r.Out, "opset 9");
        var graph = OnnxImporter.Load(TestAssets.OcrClassifier);
        int convs = graph.SourceModel!.Graph.Node.Count(n => n.OpType == "Conv");
        Assert.AreEqual((convs, convs.ToString(System.Globalization.CultureInfo.InvariantCulture), InspectCommand.Integer), Row(r.Out, "Conv"));
        var bn = Row(r.Out, "BatchNormalization");
        Assert.IsTrue(bn.File > 0, r.Out);
        Assert.AreEqual(("0", InspectCommand.Folded), (bn.Built, bn.Support));
        Assert.AreEqual(InspectCommand.Folded, Row(r.Out, "Constant").Support);
        StringAssert.Contains(r.Out, "no integer kernel (these run as float kernels in the generated C#): Cast, Slice");
        Assert.AreEqual(InspectCommand.FloatKernel, Row(r.Out, "Slice").Support);
        Assert.AreEqual(InspectCommand.ShapesOnly, Row(r.Out, "Shape").Support);
    }

    /// <summary>An operator the engine cannot run is reported (it is QB2001 for run and quantize), not raised.</summary>
    [TestMethod]
    public void AnUnsupportedOperatorIsListedAndInspectStillSucceeds()
    {
        using var folder = new TempFolder();
        var path = BadInput.MutatedMnist(folder, model =>
        {
            var relu = model.Graph.Node.First(n => n.OpType == "Relu");
            relu.OpType = "Mystery";
            relu.Domain = "com.example";
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.example", Version = 1 });
        });
        Assert.AreNotEqual(0, CliHarness.Cli("run", path, "--input", BadInput.MnistInput(folder), "--out", folder.File("out")).Exit);

        var r = CliHarness.Cli("inspect", path);
        Assert.AreEqual(ExitCodes.Success, r.Exit, r.Err);
        StringAssert.Contains(r.Out, "com.example 1");
        Assert.AreEqual((1, "-", InspectCommand.Unsupported), Row(r.Out, "com.example.Mystery"));
        Assert.AreEqual((2, "-", InspectCommand.Integer), Row(r.Out, "Relu"));
        StringAssert.Contains(r.Out, "not supported: com.example.Mystery");
    }

    /// <summary>A file `quantize` wrote: its Q/DQ pairs are not float-engine operators, and inspect says which verb takes it.</summary>
    [TestMethod]
    public void AQuantizedModelIsRecognisedAsQdq()
    {
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 8, """{ "calibration": { "inputs": { "input": "calib/*.npy" } }, "outputs": { "csharp": false } }""");
        var quantize = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(0, quantize.Exit, quantize.Err);

        var r = CliHarness.Cli("inspect", temp.File("out", "mnist.quant.onnx"));
        Assert.AreEqual(ExitCodes.Success, r.Exit, r.Err);
        StringAssert.Contains(r.Out, "  input: float[N,1,28,28]");
        Assert.IsTrue(Row(r.Out, "QuantizeLinear").File > 0, r.Out);
        Assert.AreEqual((2, "-", InspectCommand.Integer), Row(r.Out, "Conv"));
        StringAssert.Contains(r.Out, "quantized (QDQ) model: `quantbuild run MODEL --int`");
    }

    [TestMethod]
    public void BadPathsAndFilesAreCleanQbErrors()
    {
        using var folder = new TempFolder();
        BadInput.AssertFails(CliHarness.Cli("inspect", folder.File("missing.onnx")), DiagnosticCodes.FileNotFound);
        BadInput.AssertFails(CliHarness.Cli("inspect", folder.Path), DiagnosticCodes.NotARegularFile);
        var empty = folder.File("empty.onnx");
        File.WriteAllBytes(empty, []);
        BadInput.AssertFails(CliHarness.Cli("inspect", empty), DiagnosticCodes.NotARegularFile);
        var garbage = folder.File("garbage.onnx");
        File.WriteAllText(garbage, "this is not a protobuf model, just text");
        BadInput.AssertFails(CliHarness.Cli("inspect", garbage), DiagnosticCodes.InvalidModel);
        var npy = folder.File("x.npy");
        NpyFile.Write(npy, Tensor.FromFloats([1f, 2f], 2));
        var notAModel = CliHarness.Cli("inspect", npy);
        BadInput.AssertFails(notAModel, DiagnosticCodes.InvalidModel);
        Assert.AreEqual(ExitCodes.Failed, notAModel.Exit);

        var noArgument = CliHarness.Cli("inspect");
        BadInput.AssertFails(noArgument, DiagnosticCodes.InvalidArguments);
        Assert.AreEqual(ExitCodes.InvalidArguments, noArgument.Exit);
    }

    [TestMethod]
    public void RootHelpDescribesEveryVerb()
    {
        var r = CliHarness.Cli("--help");
        Assert.AreEqual(0, r.Exit, r.Err);
        foreach (var verb in new[] { "inspect <MODEL.onnx>", "quantize <MODEL.onnx>", "run <MODEL.onnx>", "build " })
            StringAssert.Contains(r.Out, verb);
        var inspect = CliHarness.Cli("inspect", "--help");
        Assert.AreEqual(0, inspect.Exit, inspect.Err);
        StringAssert.Contains(inspect.Out, " inspect <model> [options]");
        StringAssert.Contains(inspect.Out, "<MODEL.onnx>  The ONNX model to describe.");
    }
}
