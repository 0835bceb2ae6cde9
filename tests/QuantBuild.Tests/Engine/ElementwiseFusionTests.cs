using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

/// <summary>
/// Run executes chains of float elementwise nodes as one pass; it must give exactly the bits the
/// node-by-node execution gives, and still hand out any intermediate a caller asks for.
/// </summary>
[TestClass]
public sealed class ElementwiseFusionTests
{
    private static InferenceEngine Engine(ModelGraph g, bool fuse, int threads = 1, bool profile = false) =>
        new(g, new EngineOptions { MaxDegreeOfParallelism = threads, FuseElementwise = fuse, Profile = profile });

    private static void AssertSameBits(Tensor expected, Tensor actual, string what)
    {
        CollectionAssert.AreEqual(expected.Shape, actual.Shape, $"{what}: shape");
        var e = expected.Floats;
        var a = actual.Floats;
        for (int i = 0; i < e.Length; i++)
            if (BitConverter.SingleToInt32Bits(e[i]) != BitConverter.SingleToInt32Bits(a[i]))
                Assert.Fail($"{what}: element {i} is {a[i]:R}, unfused gives {e[i]:R}");
    }

    private static int FusedChains(InferenceEngine engine) =>
        engine.Profile!.Nodes.Count(n => n.Shapes?.StartsWith("fused", StringComparison.Ordinal) == true);

    [TestMethod]
    [DynamicData(nameof(TestAssets.RealModelIds), typeof(TestAssets))]
    public void RealModelOutputsAreBitIdenticalFusedAndUnfused(string modelId)
    {
        var model = TestAssets.RealModel(modelId);
        var graph = OnnxImporter.Load(model.ModelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        var unfused = Engine(graph, fuse: false);
        var fused1 = Engine(graph, fuse: true, threads: 1, profile: true);
        var fused2 = Engine(graph, fuse: true, threads: 2);
        foreach (var c in model.Cases)
        {
            var feeds = c.LoadInputs();
            var expected = unfused.Run(feeds);
            var trace = fused1.Forward(feeds); // Forward never fuses: it must agree too
            for (int run = 0; run < 2; run++) // the second run reuses recycled arrays
            {
                var a = fused1.Run(feeds);
                var b = fused2.Run(feeds);
                foreach (var (name, t) in expected)
                {
                    AssertSameBits(t, a[name], $"{modelId}/{c.Name} {name} (1 thread, run {run})");
                    AssertSameBits(t, b[name], $"{modelId}/{c.Name} {name} (2 threads, run {run})");
                    AssertSameBits(t, trace[name], $"{modelId}/{c.Name} {name} (trace)");
                }
            }
        }
        if (modelId == "ppocr-cls")
            Assert.IsGreaterThanOrEqualTo(18, FusedChains(fused1), "every hard-swish chain should run fused");
    }

    [TestMethod]
    public void RequestedIntermediatesOfAChainStillComeOut()
    {
        var model = TestAssets.RealModel("ppocr-cls");
        var graph = OnnxImporter.Load(model.ModelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        // The Clip of the first hard-swish is an intermediate of a fused chain.
        var clip = graph.Nodes.First(n => n.OpType == "Clip").Outputs[0];
        var engine = Engine(graph, fuse: true, profile: true);
        var feeds = model.Cases[0].LoadInputs();
        var trace = engine.Forward(feeds);
        var result = engine.Run(feeds, new[] { clip });
        AssertSameBits(trace[clip], result[clip], clip);
        foreach (var o in graph.Outputs) AssertSameBits(trace[o.Name], result[o.Name], o.Name);
        var plain = engine.Run(feeds);
        Assert.IsFalse(plain.ContainsKey(clip));
        Assert.IsGreaterThan(0, FusedChains(engine));
    }

    // y = LeakyRelu(Clip((3 - x) / d, lo, hi)) · x - 0.5 over values including NaN, ±0 and ±inf;
    // the chain value sits on the right of Sub and on the left of Div.
    private static ModelGraph SyntheticGraph(int opset)
    {
        var g = new ModelGraph { OpsetVersion = opset, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, null));
        g.Inputs.Add(new ValueInfo("d", DataType.Float, null));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        g.Initializers["three"] = Tensor.FromFloats(new[] { 3f }, 1);
        g.Initializers["half"] = Tensor.FromFloats(new[] { 0.5f });
        g.Nodes.Add(new Node("sub", "Sub", new[] { "three", "x" }, new[] { "a" }));
        g.Nodes.Add(new Node("div", "Div", new[] { "a", "d" }, new[] { "b" }));
        Node clip;
        if (opset >= 11)
        {
            g.Initializers["lo"] = Tensor.FromFloats(new[] { -1f });
            g.Initializers["hi"] = Tensor.FromFloats(new[] { 2.5f });
            clip = new Node("clip", "Clip", new[] { "b", "lo", "hi" }, new[] { "c" });
        }
        else
        {
            clip = new Node("clip", "Clip", new[] { "b" }, new[] { "c" });
            clip.SetFloat("min", -1f);
            clip.SetFloat("max", 2.5f);
        }
        g.Nodes.Add(clip);
        var leaky = new Node("leaky", "LeakyRelu", new[] { "c" }, new[] { "e" });
        leaky.SetFloat("alpha", 0.3f);
        g.Nodes.Add(leaky);
        g.Nodes.Add(new Node("mul", "Mul", new[] { "e", "x" }, new[] { "f" }));
        g.Nodes.Add(new Node("sub2", "Sub", new[] { "f", "half" }, new[] { "y" }));
        return g;
    }

    [TestMethod]
    [DataRow(13, 1, 5000)]
    [DataRow(13, 2, 70000)]
    [DataRow(13, 1, 7)]
    [DataRow(10, 1, 5000)]
    public void SyntheticChainIsBitIdenticalIncludingSpecialValues(int opset, int threads, int length)
    {
        var rng = new Random(length);
        var x = OpTester.Random(rng, 8f, 1, length);
        var d = OpTester.Random(rng, 2f, 1, length);
        float[] specials = { float.NaN, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, 3f, 1e-30f };
        for (int i = 0; i < Math.Min(length, 40); i++)
        {
            x.Floats[i] = specials[i % specials.Length];
            d.Floats[i] = specials[(i / specials.Length) % specials.Length];
        }
        var feeds = new Dictionary<string, Tensor> { ["x"] = x, ["d"] = d };
        var expected = Engine(SyntheticGraph(opset), fuse: false).Run(feeds)["y"];
        var engine = Engine(SyntheticGraph(opset), fuse: true, threads, profile: true);
        AssertSameBits(expected, engine.Run(feeds)["y"], "y");
        Assert.AreEqual(1, FusedChains(engine));
        // A scalar divisor broadcasts inside the fused pass.
        var scalarFeeds = new Dictionary<string, Tensor> { ["x"] = x, ["d"] = Tensor.FromFloats(new[] { -0.75f }, 1, 1) };
        AssertSameBits(Engine(SyntheticGraph(opset), fuse: false).Run(scalarFeeds)["y"], engine.Run(scalarFeeds)["y"], "y (scalar d)");
    }

    [TestMethod]
    public void ChainsThatDoNotFitTheFusedPassRunNodeByNode()
    {
        // int64 shape arithmetic and a per-row broadcast both fall back to the kernels.
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Undefined, null));
        g.Inputs.Add(new ValueInfo("r", DataType.Undefined, null));
        g.Outputs.Add(new ValueInfo("y", DataType.Undefined, null));
        g.Nodes.Add(new Node("add", "Add", new[] { "x", "r" }, new[] { "a" }));
        g.Nodes.Add(new Node("mul", "Mul", new[] { "a", "x" }, new[] { "y" }));
        var engine = Engine(g, fuse: true);
        var ints = engine.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromInt64(new long[] { 2, 3 }, 2), ["r"] = Tensor.FromInt64(new long[] { 1, 1 }, 2) })["y"];
        CollectionAssert.AreEqual(new long[] { 6, 12 }, ints.ToInt64Array());
        var x = Tensor.FromFloats(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 2, 3);
        var r = Tensor.FromFloats(new[] { 10f, 20f }, 2, 1);
        var y = engine.Run(new Dictionary<string, Tensor> { ["x"] = x, ["r"] = r })["y"];
        CollectionAssert.AreEqual(new[] { 11f, 24f, 39f, 96f, 125f, 156f }, y.Floats);
    }
}
