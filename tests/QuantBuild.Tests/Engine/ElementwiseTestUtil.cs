using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

internal static class ElementwiseTestUtil
{
    /// <summary>Random floats in ±scale whose magnitude is at least <paramref name="minAbs"/>, so finite differences do not straddle a kink at 0.</summary>
    public static Tensor AwayFromZero(Random rng, float scale, float minAbs, params int[] shape)
    {
        var t = OpTester.Random(rng, scale, shape);
        var d = t.Floats;
        for (int i = 0; i < d.Length; i++)
            if (MathF.Abs(d[i]) < minAbs) d[i] = d[i] < 0 ? -minAbs - 0.05f : minAbs + 0.05f;
        return t;
    }

    public static Tensor Positive(Random rng, float low, float high, params int[] shape)
    {
        var t = OpTester.Random(rng, 1f, shape);
        var d = t.Floats;
        for (int i = 0; i < d.Length; i++) d[i] = low + (d[i] + 1f) / 2f * (high - low);
        return t;
    }

    public static Tensor F(float[] data, params int[] shape) => Tensor.FromFloats(data, shape);

    /// <summary>Runs a single node forward and backward with a given output gradient.</summary>
    public static Dictionary<string, Tensor> Gradients(string op, Tensor?[] inputs, Tensor seed, Action<Node>? configure = null, int opset = 17, params int[] wrt)
    {
        var g = OpTester.SingleNodeGraph(op, inputs, 1, configure, opset);
        var engine = new InferenceEngine(g, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var feeds = new Dictionary<string, Tensor>();
        for (int i = 0; i < inputs.Length; i++) if (inputs[i] is not null) feeds[$"in{i}"] = inputs[i]!;
        var trace = engine.Forward(feeds);
        return engine.Backward(trace, new Dictionary<string, Tensor> { ["out0"] = seed }, wrt.Select(i => $"in{i}"));
    }

    public static void AreClose(float[] expected, float[] actual, float tolerance = 1e-5f)
    {
        Assert.AreEqual(expected.Length, actual.Length, "length");
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual[i], tolerance + 1e-5f * MathF.Abs(expected[i]), $"element {i}");
    }
}
