using Google.Protobuf;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Graph;

namespace QuantBuild.Tests.Fuzzing;

/// <summary>
/// The fuzzer's findings as small readable cases: the replay of tests/fuzz-regressions only checks that
/// no crash remains, these check which diagnostic each kind of corrupt input gets.
/// </summary>
[TestClass]
public sealed class FuzzFindingTests
{
    [TestMethod]
    public void SidecarStringThatIsNotUtf8IsQb3101AtTheString()
    {
        byte[] json = [.. "{\n  \"$schema\": \""u8, 0xFF, .. "\"\n}"u8];
        var e = Assert.ThrowsExactly<QuantBuildException>(() => SidecarParser.Parse(json, "m.quant.json", "."));
        Assert.AreEqual((DiagnosticCodes.InvalidConfiguration, 2, 14), (e.Code, e.Line, e.Column));
    }

    [TestMethod]
    public void SidecarEscapingHalfASurrogatePairIsQb3101()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => SidecarParser.Parse("""{ "layers": { "\ud800": { "skip": true } } }""", "m.quant.json", "."));
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
    }

    [TestMethod]
    public void NodeMissingARequiredInputIsQb2004BeforeFolding()
    {
        // Add with one operand, and a constant one, so folding would run the kernel on it.
        var model = ImportTests.TinyModel("Add", extra: g =>
        {
            g.Node[0].Input[0] = "c";
            g.Initializer.Add(TensorProtoConverter.FromTensor(Tensor.FromFloats([1f], 1), "c"));
        });
        var graph = OnnxImporter.Import(model, sourcePath: "m.onnx");
        var e = Assert.ThrowsExactly<QuantBuildException>(() => GraphPreparation.Prepare(graph));
        Assert.AreEqual((DiagnosticCodes.MissingInput, "n0"), (e.Code, e.NodeName));
    }

    [TestMethod]
    public void ConstantNodeWithoutOutputIsQb1002()
    {
        var model = ImportTests.TinyModel("Relu", extra: g =>
            g.Node.Add(new NodeProto { Name = "k", OpType = "Constant", Attribute = { new AttributeProto { Name = "value_float", F = 1 } } }));
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Import(model, sourcePath: "m.onnx"));
        Assert.AreEqual(DiagnosticCodes.InvalidModel, e.Code);
    }

    [TestMethod]
    public void HugeDimensionWithFewBytesIsQb1006WithoutAllocatingForTheShape()
    {
        var proto = new TensorProto { Name = "w", DataType = 1, Dims = { 1L << 30 }, RawData = ByteString.CopyFrom(new byte[4]) };
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoConverter.ToTensor(proto));
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, e.Code);
        Assert.IsTrue(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "a 4 GiB array was allocated before the check");
    }

    [TestMethod]
    public void TruncatedNestedMessageIsQb1002()
    {
        // Field 7 (graph) claims almost 2 GiB, then field 2 of the graph (its name) runs off the end: Google.Protobuf
        // throws IndexOutOfRangeException here rather than InvalidProtocolBufferException.
        byte[] bytes = [0x08, 0x08, 0x3A, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x12, 0xFF];
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxModelFile.Parse(bytes, "m.onnx"));
        Assert.AreEqual(DiagnosticCodes.InvalidModel, e.Code);
    }

    [TestMethod]
    public void BatchNormalizationWithMismatchedParametersIsNotFoldedAndIsQb2003()
    {
        // Conv (2 output channels) → BatchNormalization whose variance has one value: folding used to index past it.
        var model = ImportTests.TinyModel("Relu", extra: g =>
        {
            g.Input[0] = ImportTests.Value("x", 1, 1, 2, 2);
            g.Output[0] = ImportTests.Value("y", 1, 2, 2, 2);
            g.Node[0].Input[0] = "bn";
            g.Initializer.Add(TensorProtoConverter.FromTensor(Tensor.FromFloats([1f, 2f], 2, 1, 1, 1), "w"));
            foreach (var (name, values) in new[] { ("g", new[] { 1f, 1f }), ("b", new[] { 0f, 0f }), ("m", new[] { 0f, 0f }), ("v", new[] { 1f }) })
                g.Initializer.Add(TensorProtoConverter.FromTensor(Tensor.FromFloats(values, values.Length), name));
            g.Node.Insert(0, new NodeProto { Name = "conv", OpType = "Conv", Input = { "x", "w" }, Output = { "c" } });
            g.Node.Insert(1, new NodeProto { Name = "norm", OpType = "BatchNormalization", Input = { "c", "g", "b", "m", "v" }, Output = { "bn" } });
        });
        var graph = OnnxImporter.Import(model, sourcePath: "m.onnx");
        GraphPreparation.Prepare(graph, inferShapes: false);
        Assert.IsTrue(graph.Nodes.Any(n => n.OpType == "BatchNormalization"), "the mismatched BatchNormalization was folded");
        var e = Assert.ThrowsExactly<QuantBuildException>(() => ShapeInference.Apply(graph));
        Assert.AreEqual((DiagnosticCodes.ShapeMismatch, "norm"), (e.Code, e.NodeName));
    }

    [TestMethod]
    public void DequantizeLinearWithTheWrongNumberOfScalesIsQb4103()
    {
        var model = ImportTests.TinyModel("Relu", extra: g =>
        {
            g.Initializer.Add(TensorProtoConverter.FromTensor(new Tensor(DataType.Int8, [3, 4], new sbyte[12]), "codes"));
            g.Initializer.Add(TensorProtoConverter.FromTensor(Tensor.FromFloats([0.1f, 0.2f], 2), "scales"));
            g.Node.Add(new NodeProto { Name = "dq", OpType = "DequantizeLinear", Input = { "codes", "scales" }, Output = { "w" },
                Attribute = { new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 0 } } });
        });
        var e = Assert.ThrowsExactly<QuantBuildException>(() => QdqOnnxImporter.Import(model, "m.quant.onnx"));
        Assert.AreEqual(DiagnosticCodes.InvalidQdqModel, e.Code);
    }
}
