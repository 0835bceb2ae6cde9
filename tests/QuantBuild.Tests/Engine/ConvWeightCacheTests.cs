using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

/// <summary>
/// Conv packs constant weights once per weight tensor. Training and EPTQ replace initializer
/// tensors between runs, so a swapped tensor must be used, never the panels of the old one.
/// </summary>
[TestClass]
public sealed class ConvWeightCacheTests
{
    private static ModelGraph ConvGraph(Tensor w, bool weightIsInput, int[] kernel)
    {
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, new long?[] { 1, 4, 9, 7 }));
        if (weightIsInput) g.Inputs.Add(new ValueInfo("w", DataType.Float, w.Shape.Select(d => (long?)d).ToArray()));
        else g.Initializers["w"] = w;
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        var conv = new Node("conv", "Conv", new[] { "x", "w" }, new[] { "y" });
        conv.SetInts("pads", kernel[0] == 1 ? new long[] { 0, 0, 0, 0 } : new long[] { 1, 1, 1, 1 });
        g.Nodes.Add(conv);
        return g;
    }

    [TestMethod]
    [DataRow(3)] // im2col path
    [DataRow(1)] // pointwise path
    public void SwappingTheWeightInitializerBetweenRunsUsesTheNewWeights(int k)
    {
        var rng = new Random(11);
        var x = OpTester.Random(rng, 1f, 1, 4, 9, 7);
        var w1 = OpTester.Random(rng, 1f, 6, 4, k, k);
        var w2 = OpTester.Random(rng, 1f, 6, 4, k, k);
        var feeds = new Dictionary<string, Tensor> { ["x"] = x };

        var graph = ConvGraph(w1, weightIsInput: false, new[] { k, k });
        var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var first = engine.Run(feeds)["y"].Floats;
        CollectionAssert.AreEqual(first, engine.Run(feeds)["y"].Floats, "same weights, same bits");

        graph.Initializers["w"] = w2;
        var swapped = engine.Run(feeds)["y"].Floats;
        var fresh = new InferenceEngine(ConvGraph(w2, weightIsInput: false, new[] { k, k }), new EngineOptions { MaxDegreeOfParallelism = 1 }).Run(feeds)["y"].Floats;
        CollectionAssert.AreEqual(fresh, swapped);
        CollectionAssert.AreNotEqual(first, swapped);

        // Swapping back is a new tensor identity again (not the first one cached): still right.
        graph.Initializers["w"] = Tensor.FromFloats((float[])w1.Floats.Clone(), w1.Shape);
        CollectionAssert.AreEqual(first, engine.Run(feeds)["y"].Floats);
    }

    [TestMethod]
    public void WeightsFedAsInputsChangeEveryRun()
    {
        var rng = new Random(12);
        var x = OpTester.Random(rng, 1f, 1, 4, 9, 7);
        var w1 = OpTester.Random(rng, 1f, 6, 4, 3, 3);
        var w2 = OpTester.Random(rng, 1f, 6, 4, 3, 3);
        var engine = new InferenceEngine(ConvGraph(w1, weightIsInput: true, new[] { 3, 3 }));
        var y1 = engine.Run(new Dictionary<string, Tensor> { ["x"] = x, ["w"] = w1 })["y"].Floats;
        var y2 = engine.Run(new Dictionary<string, Tensor> { ["x"] = x, ["w"] = w2 })["y"].Floats;
        var reference = new InferenceEngine(ConvGraph(w2, weightIsInput: false, new[] { 3, 3 })).Run(new Dictionary<string, Tensor> { ["x"] = x })["y"].Floats;
        CollectionAssert.AreEqual(reference, y2);
        CollectionAssert.AreNotEqual(y1, y2);
    }
}

/// <summary>Depthwise rows wider than one 16-lane register chunk, with strides, dilations and uneven pads.</summary>
[TestClass]
public sealed class DepthwiseWideRowTests
{
    [TestMethod]
    [DataRow(new[] { 1, 2, 4, 37 }, new[] { 2, 1, 3, 3 }, 1, 1, 1, 1, 1, 1, 1, 1)]
    [DataRow(new[] { 1, 3, 5, 40 }, new[] { 3, 1, 3, 5 }, 1, 2, 1, 2, 1, 2, 1, 3)]
    [DataRow(new[] { 2, 2, 6, 70 }, new[] { 4, 1, 2, 4 }, 2, 3, 1, 1, 0, 3, 1, 0)]
    public void MatchesTheNaiveConvolution(int[] xs, int[] ws, int sh, int sw, int dh, int dw, int pt, int pl, int pb, int pr)
    {
        var rng = new Random(21);
        var x = OpTester.Random(rng, 1f, xs);
        var w = OpTester.Random(rng, 1f, ws);
        var b = OpTester.Random(rng, 1f, ws[0]);
        int group = xs[1];
        int OutSize(int i, int k, int s, int d, int p0, int p1) => (i + p0 + p1 - d * (k - 1) - 1) / s + 1;
        var outSpatial = new[] { OutSize(xs[2], ws[2], sh, dh, pt, pb), OutSize(xs[3], ws[3], sw, dw, pl, pr) };
        var expected = ConvTests.NaiveConv(x, w, b.Floats, group, [sh, sw], [dh, dw], [pt, pl], outSpatial);
        var y = OpTester.Run("Conv", [x, w, b], configure: n =>
        {
            n.SetInt("group", group);
            n.SetInts("strides", [sh, sw]);
            n.SetInts("dilations", [dh, dw]);
            n.SetInts("pads", [pt, pl, pb, pr]);
        })[0];
        CollectionAssert.AreEqual(new[] { xs[0], ws[0] }.Concat(outSpatial).ToArray(), y.Shape);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], y.Floats[i], 1e-4 * (1 + Math.Abs(expected[i])), $"element {i}");
    }
}
