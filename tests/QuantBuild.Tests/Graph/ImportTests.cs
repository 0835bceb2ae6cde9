using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Tests.Graph;

[TestClass]
public sealed class ImportTests
{
    internal static ModelProto TinyModel(string opType, int opset = 13, Action<GraphProto>? extra = null)
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        var g = model.Graph;
        g.Input.Add(Value("x", 1, 2, 3));
        g.Output.Add(Value("y", 1, 2, 3));
        var node = new NodeProto { Name = "n0", OpType = opType };
        node.Input.Add("x");
        node.Output.Add("y");
        g.Node.Add(node);
        extra?.Invoke(g);
        return model;
    }

    internal static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    [TestMethod]
    public void UnsupportedOperatorIsReportedWhenTheEngineIsBuiltNamingNodeAndOp()
    {
        var graph = OnnxImporter.Import(TinyModel("FancyNewOp"), sourcePath: "m.onnx");
        var e = Assert.ThrowsExactly<QuantBuildException>(() => new InferenceEngine(graph));
        Assert.AreEqual(DiagnosticCodes.UnsupportedOperator, e.Code);
        StringAssert.Contains(e.Message, "FancyNewOp");
        StringAssert.Contains(e.Message, "n0");
        Assert.AreEqual("m.onnx", e.File);
        StringAssert.StartsWith(e.ToCanonicalString(), "m.onnx: error QB2001:");
    }

    [TestMethod]
    public void ConstantNodesBecomeInitializers()
    {
        var model = TinyModel("Identity", extra: g =>
        {
            var c = new NodeProto { Name = "c", OpType = "Constant" };
            c.Output.Add("k");
            c.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = TensorProtoConverter.FromTensor(Tensor.FromFloats(new[] { 1f, 2f }, 2), "") });
            g.Node.Insert(0, c);
            var c2 = new NodeProto { Name = "c2", OpType = "Constant" };
            c2.Output.Add("ints");
            c2.Attribute.Add(new AttributeProto { Name = "value_ints", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 4, 5, 6 } });
            g.Node.Insert(0, c2);
        });
        var graph = OnnxImporter.Import(model);
        Assert.AreEqual(1, graph.Nodes.Count);
        CollectionAssert.AreEqual(new[] { 1f, 2f }, graph.Initializers["k"].Floats);
        CollectionAssert.AreEqual(new long[] { 4, 5, 6 }, graph.Initializers["ints"].Int64s);
    }

    [TestMethod]
    public void NodesOutOfOrderAreSortedAndDanglingInputsReported()
    {
        var model = TinyModel("Identity", extra: g =>
        {
            // y2 = Identity(y) listed before the node that produces y.
            var n = new NodeProto { Name = "late", OpType = "Identity" };
            n.Input.Add("y"); n.Output.Add("y2");
            g.Node.Insert(0, n);
        });
        var graph = OnnxImporter.Import(model);
        CollectionAssert.AreEqual(new[] { "n0", "late" }, graph.Nodes.Select(n => n.Name).ToArray());

        var broken = TinyModel("Identity", extra: g => g.Node[0].Input[0] = "nowhere");
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Import(broken));
        Assert.AreEqual(DiagnosticCodes.GraphNotTopological, e.Code);
        StringAssert.Contains(e.Message, "nowhere");
    }

    [TestMethod]
    public void OpsetOutsideTheSupportedRangeIsRejected()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Import(TinyModel("Identity", opset: 22)));
        Assert.AreEqual(DiagnosticCodes.UnsupportedOpset, e.Code);
    }

    [TestMethod]
    public void GarbageBytesGiveInvalidModelError()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxModelFile.Parse(new byte[] { 0xFF, 0xFF, 0xFF, 0x07 }, "bad.onnx"));
        Assert.AreEqual(DiagnosticCodes.InvalidModel, e.Code);
        Assert.AreEqual("bad.onnx", e.File);
    }

    [TestMethod]
    public void MissingModelInputIsAnErrorNamingIt()
    {
        var engine = new InferenceEngine(OnnxImporter.Import(TinyModel("Identity")));
        var e = Assert.ThrowsExactly<QuantBuildException>(() => engine.Run(new Dictionary<string, Tensor>()));
        Assert.AreEqual(DiagnosticCodes.MissingInput, e.Code);
        StringAssert.Contains(e.Message, "'x'");
        var wrongShape = Assert.ThrowsExactly<QuantBuildException>(() => engine.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Zeros(1, 3, 2) }));
        Assert.AreEqual(DiagnosticCodes.InvalidInputValue, wrongShape.Code);
    }

    [TestMethod]
    public void ExportThenImportKeepsNodesInitializersAndInterface()
    {
        var model = TinyModel("Identity");
        var graph = OnnxImporter.Import(model);
        graph.Initializers["w"] = Tensor.FromFloats(new[] { 3f }, 1);
        var again = OnnxImporter.Import(OnnxModelFile.Parse(OnnxExporter.Export(graph).ToByteArray()));
        Assert.AreEqual(graph.Nodes.Count, again.Nodes.Count);
        Assert.AreEqual("Identity", again.Nodes[0].OpType);
        CollectionAssert.AreEqual(new[] { 3f }, again.Initializers["w"].Floats);
        Assert.AreEqual("[1,2,3]", again.Inputs[0].ShapeString);
        Assert.AreEqual(13, again.OpsetVersion);
    }
}
