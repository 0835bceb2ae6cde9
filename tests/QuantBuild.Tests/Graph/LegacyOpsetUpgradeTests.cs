using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Tests.Graph;

[TestClass]
public sealed class LegacyOpsetUpgradeTests
{
    /// <summary>A model of the given opset: declared inputs, constant initializers, nodes, one output "y".</summary>
    private sealed class LegacyModel(int opset)
    {
        public ModelProto Proto { get; } = new() { IrVersion = 3, Graph = new GraphProto { Name = "legacy" }, OpsetImport = { new OperatorSetIdProto { Domain = "", Version = opset } } };

        public LegacyModel Input(string name, params long[] dims)
        {
            Proto.Graph.Input.Add(ImportTests.Value(name, dims));
            return this;
        }

        public LegacyModel Constant(string name, Tensor value)
        {
            Proto.Graph.Initializer.Add(TensorProtoConverter.FromTensor(value, name));
            return this;
        }

        public NodeProto Node(string op, string[] inputs, string output = "y", string? name = null)
        {
            var n = new NodeProto { Name = name ?? $"{op.ToLowerInvariant()}0", OpType = op };
            n.Input.AddRange(inputs);
            n.Output.Add(output);
            Proto.Graph.Node.Add(n);
            return n;
        }

        public ModelGraph Import()
        {
            if (Proto.Graph.Output.Count == 0) Proto.Graph.Output.Add(new ValueInfoProto { Name = "y" });
            return OnnxImporter.Import(Proto, sourcePath: "legacy.onnx");
        }
    }

    private static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };
    private static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };
    private static AttributeProto Ints(string name, params long[] v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Ints, Ints = { v } };

    private static float[] Iota(int n, float scale = 1f) => Enumerable.Range(0, n).Select(i => (i - n / 2) * scale).ToArray();

    private static Tensor Run(ModelGraph graph, params (string Name, Tensor Value)[] feeds) =>
        new InferenceEngine(graph).Run(feeds.ToDictionary(f => f.Name, f => f.Value))["y"];

    [TestMethod]
    public void AddWithBroadcastAxisAlignsAConstantBAtThatAxis()
    {
        var m = new LegacyModel(6).Input("a", 2, 3, 4).Constant("b", Tensor.FromFloats([10f, 20f, 30f], 3));
        m.Node("Add", ["a", "b"]).Attribute.Add([Int("broadcast", 1), Int("axis", 1)]);
        var graph = m.Import();

        Assert.AreEqual(7, graph.OpsetVersion);
        var add = graph.Nodes.Single();
        Assert.IsFalse(add.HasAttribute("broadcast") || add.HasAttribute("axis"), "legacy attributes must be gone");
        CollectionAssert.AreEqual(new[] { 3, 1 }, graph.Initializers[add.Inputs[1]].Shape);
        var a = Iota(24);
        var y = Run(graph, ("a", Tensor.FromFloats(a, 2, 3, 4))).Floats;
        for (int i = 0; i < 24; i++)
            Assert.AreEqual(a[i] + 10f * (1 + i / 4 % 3), y[i], $"element {i}");
    }

    [TestMethod]
    public void BroadcastAxisExpandsOneDimsOfB()
    {
        // PyTorch's opset-6 export: B [2, 1] at axis 0 of A [2, 3], B's 1-dim repeated along A's axis 1.
        var m = new LegacyModel(6).Input("a", 2, 3).Constant("b", Tensor.FromFloats([10f, 20f], 2, 1));
        m.Node("Add", ["a", "b"]).Attribute.Add([Int("broadcast", 1), Int("axis", 0)]);
        var y = Run(m.Import(), ("a", Tensor.FromFloats([0, 1, 2, 3, 4, 5], 2, 3)));
        CollectionAssert.AreEqual(new[] { 2, 3 }, y.Shape);
        CollectionAssert.AreEqual(new[] { 10f, 11f, 12f, 23f, 24f, 25f }, y.Floats);
    }

    [TestMethod]
    public void SubWithBroadcastAxisOnAComputedBInsertsAnUnsqueeze()
    {
        // B comes from a node (no declared shape), A from another: both ranks come from running the prefix.
        var m = new LegacyModel(6).Input("a", 2, 3, 4).Input("b0", 2, 3);
        m.Node("Relu", ["a"], "a1");
        m.Node("Neg", ["b0"], "b1");
        m.Node("Sub", ["a1", "b1"]).Attribute.Add([Int("broadcast", 1), Int("axis", 0)]);
        var graph = m.Import();

        var unsqueeze = graph.Nodes.Single(n => n.OpType == "Unsqueeze");
        CollectionAssert.AreEqual(new long[] { 2 }, unsqueeze.GetInts("axes"));
        var a = Iota(24);
        var b = Iota(6, 0.5f);
        var y = Run(graph, ("a", Tensor.FromFloats(a, 2, 3, 4)), ("b0", Tensor.FromFloats(b, 2, 3))).Floats;
        for (int i = 0; i < 24; i++)
            Assert.AreEqual(MathF.Max(a[i], 0f) + b[i / 4], y[i], $"element {i}");
    }

    [TestMethod]
    public void MulWithSuffixBroadcastJustDropsTheAttributes()
    {
        var m = new LegacyModel(5).Input("a", 2, 3).Constant("b", Tensor.FromFloats([2f, 3f, 4f], 3));
        m.Node("Mul", ["a", "b"]).Attribute.Add([Int("broadcast", 1), Ints("consumed_inputs", 0, 0)]);
        var graph = m.Import();
        var mul = graph.Nodes.Single();
        Assert.AreEqual(0, mul.Attributes.Count);
        Assert.AreEqual("b", mul.Inputs[1]);
        CollectionAssert.AreEqual(new[] { 0f, 3f, 8f, 6f, 12f, 20f }, Run(graph, ("a", Tensor.FromFloats([0, 1, 2, 3, 4, 5], 2, 3))).Floats);
    }

    [TestMethod]
    [DataRow(2L, "does not place")]
    [DataRow(0L, "do not match")] // B [3] against A's axis 0 of size 2: numpy would silently broadcast to [3, 3]
    public void BroadcastAxisThatDoesNotFitIsRefusedNamingNodeAndOp(long axis, string expected)
    {
        var m = new LegacyModel(6).Input("a", 2, 3).Constant("b", Tensor.FromFloats([1f, 2f, 3f], 3));
        m.Node("Add", ["a", "b"], name: "bad_add").Attribute.Add([Int("broadcast", 1), Int("axis", axis)]);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => m.Import());
        Assert.AreEqual(DiagnosticCodes.UnsupportedOpset, e.Code);
        StringAssert.Contains(e.Message, "Add node 'bad_add'");
        StringAssert.Contains(e.Message, expected);
        Assert.AreEqual("bad_add", e.NodeName);
    }

    [TestMethod]
    public void GemmBroadcastAttributeIsDropped()
    {
        var m = new LegacyModel(6).Input("a", 2, 2).Constant("b", Tensor.FromFloats([1f, 0f, 0f, 1f], 2, 2)).Constant("c", Tensor.FromFloats([5f, 7f], 2));
        m.Node("Gemm", ["a", "b", "c"]).Attribute.Add([Int("broadcast", 1), Float("alpha", 2f)]);
        var graph = m.Import();
        Assert.IsFalse(graph.Nodes.Single().HasAttribute("broadcast"));
        CollectionAssert.AreEqual(new[] { 7f, 11f, 11f, 15f }, Run(graph, ("a", Tensor.FromFloats([1, 2, 3, 4], 2, 2))).Floats);
    }

    [TestMethod]
    public void BatchNormalizationInTestModeBecomesOpset7Form()
    {
        var ones = Tensor.FromFloats([1f, 1f], 2);
        var zeros = Tensor.FromFloats([0f, 0f], 2);
        var m = new LegacyModel(5).Input("x", 1, 2, 1, 2).Constant("s", Tensor.FromFloats([2f, 3f], 2)).Constant("b", ones).Constant("mean", zeros).Constant("var", Tensor.FromFloats([4f, 9f], 2));
        m.Node("BatchNormalization", ["x", "s", "b", "mean", "var"]).Attribute.Add([Int("is_test", 1), Float("epsilon", 0f), Float("momentum", 0.9f), Int("spatial", 1), Ints("consumed_inputs", 0, 0, 0, 1, 1)]);
        var graph = m.Import();
        var bn = graph.Nodes.Single();
        Assert.IsFalse(bn.HasAttribute("is_test") || bn.HasAttribute("spatial") || bn.HasAttribute("consumed_inputs"));
        // y = s·x/sqrt(var) + b per channel.
        CollectionAssert.AreEqual(new[] { 2f, 3f, 4f, 7f }, Run(graph, ("x", Tensor.FromFloats([1, 2, 3, 6], 1, 2, 1, 2))).Floats);
    }

    [TestMethod]
    [DataRow("is_test", 0L, "training mode")]
    [DataRow("spatial", 0L, "spatial = 0")]
    public void BatchNormalizationTrainingOrPerActivationIsRefused(string attribute, long value, string expected)
    {
        var p = Tensor.FromFloats([1f], 1);
        var m = new LegacyModel(6).Input("x", 1, 1, 2).Constant("s", p).Constant("b", p).Constant("mean", p).Constant("var", p);
        var node = m.Node("BatchNormalization", ["x", "s", "b", "mean", "var"], name: "bn");
        node.Attribute.Add(Int("is_test", 1));
        node.Attribute.Add(Int(attribute, value));
        if (attribute == "is_test") node.Attribute.RemoveAt(0);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => m.Import());
        Assert.AreEqual(DiagnosticCodes.UnsupportedOpset, e.Code);
        StringAssert.Contains(e.Message, "BatchNormalization node 'bn'");
        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void DropoutInTestModeIsIdentityAndTrainingModeIsRefused()
    {
        var m = new LegacyModel(6).Input("x", 3);
        m.Node("Dropout", ["x"]).Attribute.Add([Int("is_test", 1), Float("ratio", 0.5f)]);
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f }, Run(m.Import(), ("x", Tensor.FromFloats([1, 2, 3], 3))).Floats);

        var training = new LegacyModel(6).Input("x", 3);
        training.Node("Dropout", ["x"], name: "drop").Attribute.Add(Float("ratio", 0.5f));
        var e = Assert.ThrowsExactly<QuantBuildException>(() => training.Import());
        Assert.AreEqual(DiagnosticCodes.UnsupportedOpset, e.Code);
        StringAssert.Contains(e.Message, "Dropout node 'drop'");
    }

    [TestMethod]
    public void PReluSlopeOfCValuesIsPerChannel()
    {
        var m = new LegacyModel(6).Input("x", 1, 2, 3).Constant("slope", Tensor.FromFloats([0.5f, 0.25f], 2));
        m.Node("PRelu", ["x", "slope"]);
        var graph = m.Import();
        CollectionAssert.AreEqual(new[] { 2, 1 }, graph.Initializers[graph.Nodes.Single().Inputs[1]].Shape);
        CollectionAssert.AreEqual(new[] { -2f, 0f, 2f, -1f, 0f, 2f },
            Run(graph, ("x", Tensor.FromFloats([-4, 0, 2, -4, 0, 2], 1, 2, 3))).Floats);
    }

    [TestMethod]
    public void ReshapeShapeAttributeAndConcatDefaultAxisFromOpsetBelow5()
    {
        var m = new LegacyModel(3).Input("x", 2, 3).Input("z", 2, 1);
        m.Node("Reshape", ["x"], "r").Attribute.Add([Ints("shape", 2, 3), Ints("consumed_inputs", 0)]);
        m.Node("Concat", ["r", "z"]); // opset < 4: axis defaults to 1
        var graph = m.Import();
        Assert.AreEqual(1L, graph.Nodes.Single(n => n.OpType == "Concat").GetInt("axis"));
        var y = Run(graph, ("x", Tensor.FromFloats([1, 2, 3, 4, 5, 6], 2, 3)), ("z", Tensor.FromFloats([7, 8], 2, 1)));
        CollectionAssert.AreEqual(new[] { 2, 4 }, y.Shape);
        CollectionAssert.AreEqual(new[] { 1f, 2f, 3f, 7f, 4f, 5f, 6f, 8f }, y.Floats);
    }

    [TestMethod]
    public void Opset1PaddingsAndStringCastAreTranslated()
    {
        var m = new LegacyModel(1).Input("x", 1, 2);
        m.Node("Pad", ["x"], "p").Attribute.Add([Ints("paddings", 0, 1, 0, 0), Float("value", 9f)]);
        m.Node("Cast", ["p"]).Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("DOUBLE") });
        var graph = m.Import();
        CollectionAssert.AreEqual(new long[] { 0, 1, 0, 0 }, graph.Nodes.Single(n => n.OpType == "Pad").GetInts("pads"));
        var y = Run(graph, ("x", Tensor.FromFloats([1f, -1f], 1, 2)));
        Assert.AreEqual(DataType.Double, y.Type);
        CollectionAssert.AreEqual(new[] { 9.0, 1.0, -1.0 }, (double[])y.Data);
    }

    [TestMethod]
    public void Opset1SeluGetsItsOwnDefaultsWrittenOut()
    {
        // Selu-1 defaults (1.6732, 1.0507) differ from Selu-6's; an explicit value is kept.
        var m = new LegacyModel(1).Input("x", 2);
        m.Node("Selu", ["x"], "s");
        m.Node("Selu", ["s"], name: "explicit").Attribute.Add(Float("alpha", 2f));
        var graph = m.Import();
        Assert.AreEqual(1.6732f, graph.Nodes[0].GetFloat("alpha", 0f));
        Assert.AreEqual(1.0507f, graph.Nodes[0].GetFloat("gamma", 0f));
        Assert.AreEqual(2f, graph.Nodes[1].GetFloat("alpha", 0f));

        var opset6 = new LegacyModel(6).Input("x", 2);
        opset6.Node("Selu", ["x"]);
        Assert.IsFalse(opset6.Import().Nodes[0].HasAttribute("alpha"), "Selu-6 defaults are the kernel's own");
    }

    [TestMethod]
    [DataRow("Upsample", 6, "experimental")]
    [DataRow("Tile", 5, "tiles and axis")]
    public void OpsWhoseOldFormIsNotTranslatedAreRefusedNamingNodeAndOp(string op, int opset, string expected)
    {
        var m = new LegacyModel(opset).Input("x", 1, 1, 2, 2);
        m.Node(op, ["x"], name: "old");
        var e = Assert.ThrowsExactly<QuantBuildException>(() => m.Import());
        Assert.AreEqual(DiagnosticCodes.UnsupportedOpset, e.Code);
        StringAssert.Contains(e.Message, $"{op} node 'old'");
        StringAssert.Contains(e.Message, expected);
        StringAssert.Contains(e.Message, $"opset {opset}");
    }

    [TestMethod]
    public void ModelsFromOpset7OnAreLeftAlone()
    {
        var m = new LegacyModel(7).Input("a", 2).Input("b", 2);
        m.Node("Add", ["a", "b"]).Attribute.Add(Ints("consumed_inputs", 0, 0));
        var graph = m.Import();
        Assert.IsTrue(graph.Nodes.Single().HasAttribute("consumed_inputs"), "opset >= 7 graphs are not rewritten");
    }

    [TestMethod]
    public void OpsetZeroIsStillRejected()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => new LegacyModel(0).Input("x", 1).Import());
        Assert.AreEqual(DiagnosticCodes.UnsupportedOpset, e.Code);
    }
}
