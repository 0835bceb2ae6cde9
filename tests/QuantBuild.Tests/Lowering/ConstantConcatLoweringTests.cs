using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Runtime;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Lowering;

/// <summary>
/// A channel-padding Concat (an int8 activation + a constant block of zeros, as BlazeFace has eleven of) lowers
/// to ConcatInt8, not to a float step, with the block stored as one code; other constants keep every code.
/// </summary>
[TestClass]
public sealed class ConstantConcatLoweringTests
{
    private static IntegerPlan LowerConcat(Tensor constant, out Dictionary<string, Tensor> feeds, out ModelGraph graph)
    {
        var rng = new Random(3);
        var x = Tensor.FromFloats(Enumerable.Range(0, 2 * 3 * 4).Select(_ => (float)rng.NextDouble() * 5 - 1).ToArray(), 1, 2, 3, 4);
        graph = OpTester.SingleNodeGraph("Concat", [x, constant], configure: n => n.SetInt("axis", 1), constants: new Dictionary<int, Tensor> { [1] = constant });
        ShapeInference.Apply(graph);
        feeds = new Dictionary<string, Tensor> { ["in0"] = x };
        var model = TestQuantizer.Quantize(graph, [feeds]);
        return IntegerLowering.Lower(model);
    }

    [TestMethod]
    public void ZeroPaddingBlockIsOneCodeOfConcatInt8()
    {
        var plan = LowerConcat(Tensor.FromFloats(new float[1 * 5 * 3 * 4], 1, 5, 3, 4), out var feeds, out var graph);
        Assert.IsEmpty(plan.FloatNodeNames, string.Join(", ", plan.FloatNodeNames));
        var concat = plan.Steps.OfType<ConcatStep>().Single();
        var padding = concat.Inputs[1];
        Assert.IsTrue(padding.IsConstant);
        Assert.HasCount(1, padding.ConstantCodes!);
        var output = concat.Outputs[0];
        Assert.AreEqual(output.Quant.ZeroPoint, (int)padding.ConstantCodes![0], "zero is the output's zero point");
        var actual = new IntegerModelRunner(plan).Run(feeds)["out0"].Floats;
        var expected = new InferenceEngine(graph).Run(feeds)["out0"].Floats;
        for (int i = 0; i < expected.Length; i++)
            Assert.IsLessThanOrEqualTo(output.Quant.Scale * 1.01f, Math.Abs(expected[i] - actual[i]), $"[{i}]");
        Assert.IsTrue(actual.Skip(24).All(v => v == 0f), "the padding channels are exactly zero");
    }

    [TestMethod]
    public void ConstantOfSeveralValuesKeepsEveryCode()
    {
        var values = Enumerable.Range(0, 2 * 3 * 4).Select(i => (i % 5) * 0.5f).ToArray();
        var plan = LowerConcat(Tensor.FromFloats(values, 1, 2, 3, 4), out var feeds, out var graph);
        var constant = plan.Steps.OfType<ConcatStep>().Single().Inputs[1];
        Assert.HasCount(values.Length, constant.ConstantCodes!);
        var actual = new IntegerModelRunner(plan).Run(feeds)["out0"].Floats;
        var expected = new InferenceEngine(graph).Run(feeds)["out0"].Floats;
        float step = plan.Steps.OfType<ConcatStep>().Single().Outputs[0].Quant.Scale;
        for (int i = 0; i < expected.Length; i++)
            Assert.IsLessThanOrEqualTo(step * 1.01f, Math.Abs(expected[i] - actual[i]), $"[{i}]");
    }
}
