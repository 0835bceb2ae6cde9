using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;

namespace QuantBuild.Tests.Quantization;

/// <summary>Every rewrite of the opset upgrade keeps the engine's outputs bit-identical.</summary>
[TestClass]
public sealed class OpsetUpgradeTests
{
    private static ModelGraph Single(int opset, string op, int[] inputShape, Action<Node> configure, int[]? outputShape = null)
    {
        var g = new ModelGraph { OpsetVersion = opset, IrVersion = 4 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, inputShape.Select(d => (long?)d).ToArray()));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        var node = new Node("n", op, ["x"], ["y"]);
        configure(node);
        g.Nodes.Add(node);
        ShapeInference.Apply(g);
        return g;
    }

    private static void AssertSameOutputs(ModelGraph g, int[] shape, int target = 13)
    {
        var r = new Random(5);
        var x = Tensor.FromFloats(Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => (float)(r.NextDouble() * 8 - 4)).ToArray(), shape);
        var feeds = new Dictionary<string, Tensor> { ["x"] = x };
        var before = new InferenceEngine(g).Run(feeds)["y"];
        OpsetUpgrade.Apply(g, target);
        Assert.AreEqual(target, g.OpsetVersion);
        var after = new InferenceEngine(g).Run(feeds)["y"];
        CollectionAssert.AreEqual(before.Shape, after.Shape);
        CollectionAssert.AreEqual(before.Floats, after.Floats);
    }

    [TestMethod]
    public void ClipAttributesBecomeInputs()
    {
        var g = Single(9, "Clip", [2, 5], n => { n.SetFloat("min", -1f); n.SetFloat("max", 2.5f); });
        AssertSameOutputs(g, [2, 5]);
        var clip = g.Nodes.Single();
        Assert.AreEqual(3, clip.Inputs.Count);
        Assert.IsFalse(clip.HasAttribute("min"));

        var onlyMax = Single(9, "Clip", [2, 5], n => n.SetFloat("max", 1f));
        AssertSameOutputs(onlyMax, [2, 5]);
        Assert.AreEqual("", onlyMax.Nodes.Single().Inputs[1], "an absent min stays an omitted input");
    }

    [TestMethod]
    public void SoftmaxOnTheLastAxisKeepsOneNodeOtherwiseFlattenAndReshape()
    {
        var last = Single(9, "Softmax", [3, 4], n => n.SetInt("axis", 1));
        AssertSameOutputs(last, [3, 4]);
        Assert.AreEqual(1, last.Nodes.Count);

        var inner = Single(9, "Softmax", [2, 3, 4], n => n.SetInt("axis", 1));
        AssertSameOutputs(inner, [2, 3, 4]);
        CollectionAssert.AreEqual(new[] { "Flatten", "Softmax", "Reshape" }, inner.Nodes.Select(n => n.OpType).ToArray());
    }

    [TestMethod]
    public void SoftmaxOnAnInnerAxisOfADynamicShapeIsRefused()
    {
        var g = Single(9, "Softmax", [2, 3, 4], n => n.SetInt("axis", 1));
        g.Inputs[0].Shape = [null, 3, 4];
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OpsetUpgrade.Apply(g));
        Assert.AreEqual(DiagnosticCodes.CannotUpgradeOpset, e.Code);
        StringAssert.Contains(e.Message, "'n'");
    }

    [TestMethod]
    public void PadSliceSqueezeUnsqueezeAndReduceMoveAttributesToInputs()
    {
        AssertSameOutputs(Single(9, "Pad", [2, 3], n => { n.SetInts("pads", [0, 1, 1, 2]); n.SetFloat("value", 0.5f); }), [2, 3]);
        AssertSameOutputs(Single(9, "Slice", [4, 6], n => { n.SetInts("starts", [1, 2]); n.SetInts("ends", [3, 100]); n.SetInts("axes", [0, 1]); }), [4, 6]);
        AssertSameOutputs(Single(9, "Unsqueeze", [4, 6], n => n.SetInts("axes", [0, 3])), [4, 6]);
        AssertSameOutputs(Single(9, "Squeeze", [4, 1, 6], n => n.SetInts("axes", [1])), [4, 1, 6]);
        AssertSameOutputs(Single(9, "ReduceSum", [4, 6], n => n.SetInts("axes", [1])), [4, 6]);
        var mean = Single(13, "ReduceMean", [4, 6], n => n.SetInts("axes", [0]));
        AssertSameOutputs(mean, [4, 6], target: 21);
        Assert.AreEqual(2, mean.Nodes.Single().Inputs.Count, "ReduceMean takes axes as an input from 18");
    }
}
