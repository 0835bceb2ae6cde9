using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Graph;

[TestClass]
public sealed class TransformTests
{
    private static ModelGraph ConvBatchNorm(bool withBias)
    {
        var rng = new Random(7);
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, new long?[] { null, 3, 6, 6 }, new string?[] { "N", null, null, null }));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        g.Initializers["w"] = OpTester.Random(rng, 0.5f, 4, 3, 3, 3);
        if (withBias) g.Initializers["b"] = OpTester.Random(rng, 0.5f, 4);
        g.Initializers["gamma"] = Tensor.FromFloats(new[] { 1.5f, 0.5f, -1f, 2f }, 4);
        g.Initializers["beta"] = Tensor.FromFloats(new[] { 0.1f, -0.2f, 0.3f, 0f }, 4);
        g.Initializers["mean"] = Tensor.FromFloats(new[] { 0.2f, -0.1f, 0f, 0.5f }, 4);
        g.Initializers["var"] = Tensor.FromFloats(new[] { 1f, 0.25f, 2f, 0.5f }, 4);
        var conv = new Node("conv", "Conv", withBias ? new[] { "x", "w", "b" } : new[] { "x", "w" }, new[] { "c" });
        conv.SetInts("pads", new long[] { 1, 1, 1, 1 });
        g.Nodes.Add(conv);
        g.Nodes.Add(new Node("bn", "BatchNormalization", new[] { "c", "gamma", "beta", "mean", "var" }, new[] { "bn_out" }));
        g.Nodes.Add(new Node("relu", "Relu", new[] { "bn_out" }, new[] { "y" }));
        return g;
    }

    [TestMethod]
    [DataRow(true)]
    [DataRow(false)]
    public void BatchNormFoldsIntoConvWithoutChangingTheOutput(bool withBias)
    {
        var x = OpTester.Random(new Random(3), 1f, 2, 3, 6, 6);
        var reference = new InferenceEngine(ConvBatchNorm(withBias)).Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
        var g = ConvBatchNorm(withBias);
        Assert.AreEqual(1, BatchNormFolding.Apply(g));
        Assert.IsFalse(g.Nodes.Any(n => n.OpType == "BatchNormalization"));
        Assert.IsFalse(g.Initializers.ContainsKey("gamma"), "unused BN parameters are dropped");
        var folded = new InferenceEngine(g).Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
        for (int i = 0; i < x.Length && i < folded.Length; i++)
            Assert.AreEqual(reference.Floats[i], folded.Floats[i], 1e-5f, $"element {i}");
    }

    [TestMethod]
    public void BatchNormFoldsIntoGemm()
    {
        var rng = new Random(11);
        ModelGraph Build()
        {
            var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
            g.Inputs.Add(new ValueInfo("x", DataType.Float, new long?[] { 2, 5 }));
            g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
            var r = new Random(11);
            g.Initializers["w"] = OpTester.Random(r, 1f, 3, 5);
            g.Initializers["c"] = OpTester.Random(r, 1f, 3);
            g.Initializers["gamma"] = Tensor.FromFloats(new[] { 1.5f, 0.5f, -1f }, 3);
            g.Initializers["beta"] = Tensor.FromFloats(new[] { 0.1f, -0.2f, 0.3f }, 3);
            g.Initializers["mean"] = Tensor.FromFloats(new[] { 0.2f, -0.1f, 0f }, 3);
            g.Initializers["var"] = Tensor.FromFloats(new[] { 1f, 0.25f, 2f }, 3);
            var gemm = new Node("gemm", "Gemm", new[] { "x", "w", "c" }, new[] { "g" });
            gemm.SetInt("transB", 1);
            gemm.SetFloat("alpha", 0.5f);
            gemm.SetFloat("beta", 2f);
            g.Nodes.Add(gemm);
            g.Nodes.Add(new Node("bn", "BatchNormalization", new[] { "g", "gamma", "beta", "mean", "var" }, new[] { "y" }));
            return g;
        }
        var x = OpTester.Random(rng, 1f, 2, 5);
        var reference = new InferenceEngine(Build()).Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
        var folded = Build();
        Assert.AreEqual(1, BatchNormFolding.Apply(folded));
        var y = new InferenceEngine(folded).Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
        for (int i = 0; i < y.Length; i++) Assert.AreEqual(reference.Floats[i], y.Floats[i], 1e-5f);
    }

    [TestMethod]
    public void ConstantSubgraphsFoldAndShapesAreInferredWithSymbolicBatch()
    {
        var g = ConvBatchNorm(withBias: true);
        // A weight pre-processing chain that should fold away: w2 = Transpose(Transpose(w)).
        var t1 = new Node("t1", "Transpose", new[] { "w" }, new[] { "wt" });
        var t2 = new Node("t2", "Transpose", new[] { "wt" }, new[] { "w2" });
        g.Nodes.InsertRange(0, new[] { t1, t2 });
        g.Nodes.First(n => n.Name == "conv").Inputs[1] = "w2";
        var summary = GraphPreparation.Prepare(g);
        Assert.AreEqual(2, summary.ConstantsFolded);
        Assert.AreEqual(1, summary.BatchNormsFolded);
        CollectionAssert.AreEqual(new[] { "Conv", "Relu" }, g.Nodes.Select(n => n.OpType).ToArray());
        var convOut = g.ValueInfos[g.Nodes[0].Outputs[0]];
        Assert.IsNull(convOut.Shape![0], "batch dimension follows the symbolic input dimension");
        CollectionAssert.AreEqual(new long?[] { 4, 6, 6 }, convOut.Shape.Skip(1).ToArray());
        Assert.AreEqual(DataType.Float, convOut.Type);
    }
}
