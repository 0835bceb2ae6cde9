using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

/// <summary>
/// Engine plumbing that kernels do not see: value slots, recycled output arrays, the profiler.
/// </summary>
[TestClass]
public sealed class EngineRunTests
{
    private const int Width = 1024; // above the arena's pooling threshold

    // a = relu(x); b = reshape(a) (shares a's array); c = -a (last reader of a);
    // d = exp(c) (first array rented after a is released); y = b + (-d) = relu(x) - exp(-relu(x)).
    private static ModelGraph AliasGraph()
    {
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, new long?[] { 1, Width }));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        g.Initializers["flat"] = Tensor.FromInt64(new long[] { Width }, 1);
        g.Nodes.Add(new Node("relu", "Relu", new[] { "x" }, new[] { "a" }));
        g.Nodes.Add(new Node("view", "Reshape", new[] { "a", "flat" }, new[] { "b" }));
        g.Nodes.Add(new Node("neg", "Neg", new[] { "a" }, new[] { "c" }));
        g.Nodes.Add(new Node("exp", "Exp", new[] { "c" }, new[] { "d" }));
        g.Nodes.Add(new Node("neg2", "Neg", new[] { "d" }, new[] { "e" }));
        g.Nodes.Add(new Node("add", "Add", new[] { "b", "e" }, new[] { "y" }));
        return g;
    }

    private static float[] Expected(Tensor x) => x.Floats.Select(v => Math.Max(v, 0f) - MathF.Exp(-Math.Max(v, 0f))).ToArray();

    [TestMethod]
    public void AValueSharingAReleasedArrayKeepsItsContents()
    {
        var engine = new InferenceEngine(AliasGraph(), new EngineOptions { MaxDegreeOfParallelism = 1 });
        var x = OpTester.Random(new Random(5), 2f, 1, Width);
        for (int run = 0; run < 3; run++)
        {
            var y = engine.Run(new Dictionary<string, Tensor> { ["x"] = x })["y"];
            var expected = Expected(x);
            for (int i = 0; i < Width; i++)
                Assert.AreEqual(expected[i], y.Floats[i], 1e-6f, $"run {run}, element {i}");
        }
    }

    [TestMethod]
    public void OutputsOfAnEarlierRunAreNotOverwrittenByLaterRuns()
    {
        var engine = new InferenceEngine(AliasGraph(), new EngineOptions { MaxDegreeOfParallelism = 1 });
        var x1 = OpTester.Random(new Random(1), 2f, 1, Width);
        var x2 = OpTester.Random(new Random(2), 2f, 1, Width);
        var y1 = engine.Run(new Dictionary<string, Tensor> { ["x"] = x1 })["y"];
        var snapshot = (float[])y1.Floats.Clone();
        var extra = engine.Run(new Dictionary<string, Tensor> { ["x"] = x1 }, new[] { "b", "d" });
        for (int run = 0; run < 3; run++) engine.Run(new Dictionary<string, Tensor> { ["x"] = x2 });
        CollectionAssert.AreEqual(snapshot, y1.Floats);
        var again = engine.Run(new Dictionary<string, Tensor> { ["x"] = x1 })["y"];
        CollectionAssert.AreEqual(snapshot, again.Floats);
        // Intermediate values asked for as extra outputs are the caller's too.
        CollectionAssert.AreEqual(x1.Floats.Select(v => Math.Max(v, 0f)).ToArray(), extra["b"].Floats);
        for (int i = 0; i < Width; i++)
            Assert.AreEqual(MathF.Exp(-Math.Max(x1.Floats[i], 0f)), extra["d"].Floats[i], 1e-6f);
    }

    [TestMethod]
    public void ForwardTraceKeepsEveryValue()
    {
        var engine = new InferenceEngine(AliasGraph());
        var x = OpTester.Random(new Random(3), 2f, 1, Width);
        var trace = engine.Forward(new Dictionary<string, Tensor> { ["x"] = x });
        foreach (var name in new[] { "x", "flat", "a", "b", "c", "d", "e", "y" })
            Assert.IsTrue(trace.Values.ContainsKey(name), name);
        CollectionAssert.AreEqual(x.Floats.Select(v => -Math.Max(v, 0f)).ToArray(), trace["c"].Floats);
    }

    [TestMethod]
    public void ProfileCountsEveryNodeWhenEnabled()
    {
        Assert.IsNull(new InferenceEngine(AliasGraph()).Profile);
        var engine = new InferenceEngine(AliasGraph(), new EngineOptions { Profile = true });
        var x = OpTester.Random(new Random(4), 1f, 1, Width);
        for (int i = 0; i < 2; i++) engine.Run(new Dictionary<string, Tensor> { ["x"] = x });
        var nodes = engine.Profile!.Nodes;
        Assert.HasCount(6, nodes);
        Assert.IsTrue(nodes.All(n => n.Calls == 2), string.Join(", ", nodes.Select(n => $"{n.Name}:{n.Calls}")));
        var byType = engine.Profile.ByOpType;
        Assert.AreEqual(2, byType.Single(e => e.OpType == "Neg").Calls / 2);
        StringAssert.Contains(engine.Profile.Report(), "Reshape");
        StringAssert.Contains(engine.Profile.Report(), "[1,1024] [1] -> [1024]");
        engine.Profile.Reset();
        Assert.IsTrue(engine.Profile.Nodes.All(n => n.Calls == 0));
    }
}
