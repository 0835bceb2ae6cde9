using QuantBuild.Diagnostics;
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

    // x -> n1 -> n2 -> ... -> y, alternating Relu and Neg: a chain the fusion pass would run as one loop
    // unless its intermediates are asked for.
    private static ModelGraph Chain(int length)
    {
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, new long?[] { 1, Width }));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        for (int i = 1; i <= length; i++)
            g.Nodes.Add(new Node($"node{i}", i % 2 == 0 ? "Neg" : "Relu", new[] { i == 1 ? "x" : $"v{i - 1}" }, new[] { i == length ? "y" : $"v{i}" }));
        return g;
    }

    [TestMethod]
    public void ObservingEveryValueOfAChainKeepsTwoArraysAlive()
    {
        // Each value of the chain is read by the next node only, so once that node ran it is dead: an
        // observing run holds at most two chain values (a node's input and output) whatever the chain's
        // length, and the arena hands the two arrays back and forth. A trace keeps all twenty.
        const int length = 20;
        var engine = new InferenceEngine(Chain(length), new EngineOptions { MaxDegreeOfParallelism = 1 });
        var x = OpTester.Random(new Random(6), 2f, 1, Width);
        var feeds = new Dictionary<string, Tensor> { ["x"] = x };
        var expected = engine.Forward(feeds);
        var arrays = new HashSet<Array>(ReferenceEqualityComparer.Instance);
        var seen = new List<string>();
        var outputs = engine.Run(feeds, observe: null, (name, value) =>
        {
            seen.Add(name);
            // Valid during the call: the values a trace computes.
            CollectionAssert.AreEqual(expected[name].Floats, value.Floats, name);
            if (name != "x") arrays.Add(value.Data);
        });
        CollectionAssert.AreEqual(new[] { "x" }.Concat(Enumerable.Range(1, length - 1).Select(i => $"v{i}")).Append("y").ToArray(), seen.ToArray(),
            "every value once, in execution order");
        Assert.HasCount(2, arrays, "chain values share two arrays");
        CollectionAssert.AreEqual(expected["y"].Floats, outputs["y"].Floats);
        Assert.AreEqual(length + 1, expected.Values.Values.Select(t => t.Data).Distinct(ReferenceEqualityComparer.Instance).Count(), "a trace keeps every value");
    }

    [TestMethod]
    public void AnObservedValueIsReleasedAfterItsLastReaderButAnExtraOutputIsKept()
    {
        // In AliasGraph c's last reader is exp and d's is neg2: observed, c's array is rented again for e and
        // d's for y. Asked for as extra outputs they belong to the caller and no array is reused.
        var engine = new InferenceEngine(AliasGraph(), new EngineOptions { MaxDegreeOfParallelism = 1 });
        var feeds = new Dictionary<string, Tensor> { ["x"] = OpTester.Random(new Random(7), 2f, 1, Width) };
        var arrays = new Dictionary<string, Array>();
        var y = engine.Run(feeds, new[] { "c", "d", "e" }, (name, value) => arrays[name] = value.Data)["y"];
        Assert.AreSame(arrays["c"], arrays["e"]);
        Assert.AreSame(arrays["d"], y.Data);
        var kept = engine.Run(feeds, new[] { "c", "d", "e" });
        Assert.AreEqual(4, new[] { kept["c"], kept["d"], kept["e"], kept["y"] }.Select(t => t.Data).Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.ThrowsExactly<QuantBuildException>(() => engine.Run(feeds, new[] { "nope" }, (_, _) => { }));
    }
}
