using QuantBuild.Engine;
using QuantBuild.Tests.Infrastructure;
using static QuantBuild.Tests.Engine.ElementwiseTestUtil;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class ActivationTests
{
    [TestMethod]
    public void Unary_ForwardValues()
    {
        var x = F(new float[] { -4, -1, 0, 0.5f, 4 }, 5);
        float[] Run(string op, Action<QuantBuild.Graph.Node>? cfg = null) => OpTester.Run(op, new[] { x }, configure: cfg)[0].Floats;
        CollectionAssert.AreEqual(new float[] { 0, 0, 0, 0.5f, 4 }, Run("Relu"));
        AreClose(new float[] { -0.04f, -0.01f, 0, 0.5f, 4 }, Run("LeakyRelu"));
        AreClose(new float[] { -8, -2, 0, 0.5f, 4 }, Run("LeakyRelu", n => n.SetFloat("alpha", 2f)));
        AreClose(new float[] { 0, 0.3f, 0.5f, 0.6f, 1 }, Run("HardSigmoid"));
        AreClose(new float[] { 0, 0.1f, 0.6f, 0.85f, 1 }, Run("HardSigmoid", n => { n.SetFloat("alpha", 0.5f); n.SetFloat("beta", 0.6f); }));
        AreClose(new float[] { 0, -1f / 3f, 0, 0.5f * (0.5f / 6 + 0.5f), 4 }, Run("HardSwish"));
        AreClose(x.Floats.Select(v => 1f / (1f + MathF.Exp(-v))).ToArray(), Run("Sigmoid"));
        AreClose(x.Floats.Select(MathF.Tanh).ToArray(), Run("Tanh"));
        AreClose(x.Floats.Select(MathF.Exp).ToArray(), Run("Exp"), 1e-4f);
        CollectionAssert.AreEqual(new float[] { 4, 1, 0, -0.5f, -4 }, Run("Neg"));
        CollectionAssert.AreEqual(new float[] { 4, 1, 0, 0.5f, 4 }, Run("Abs"));
        CollectionAssert.AreEqual(new float[] { -4, -1, 0, 0, 4 }, Run("Floor"));
        CollectionAssert.AreEqual(new float[] { -4, -1, 0, 1, 4 }, Run("Ceil"));
        var p = F(new float[] { 0.25f, 1, 4 }, 3);
        AreClose(new float[] { 0.5f, 1, 2 }, OpTester.Run("Sqrt", new[] { p })[0].Floats);
        AreClose(new float[] { MathF.Log(0.25f), 0, MathF.Log(4) }, OpTester.Run("Log", new[] { p })[0].Floats);
        AreClose(new float[] { 4, 1, 0.25f }, OpTester.Run("Reciprocal", new[] { p })[0].Floats);
        CollectionAssert.AreEqual(new long[] { 3, 0, 2 }, OpTester.Run("Relu", new[] { Tensor.FromInt64(new long[] { 3, -1, 2 }, 3) })[0].Int64s);
    }

    [TestMethod]
    public void Erf_MatchesKnownValues()
    {
        // Reference values of erf to 16 digits.
        var cases = new (double X, double Erf)[]
        {
            (0, 0), (1e-4, 1.1283791633342487e-4), (0.1, 0.1124629160182849), (0.5, 0.5204998778130465), (1, 0.8427007929497149),
            (1.5, 0.9661051464753108), (2, 0.9953222650189527), (2.5, 0.9995930479825550), (3, 0.9999779095030014),
            (4, 0.9999999845827421), (-0.7, -0.6778011938374184), (-2.2, -0.9981371537020182),
        };
        foreach (var (x, expected) in cases)
        {
            Assert.AreEqual(expected, SpecialFunctions.Erf(x), 1e-12, $"double erf({x})");
            Assert.AreEqual(expected, OpTester.Run("Erf", new[] { Tensor.Scalar((float)x) })[0].Floats[0], 1e-6 + 1e-7 * Math.Abs(expected), $"float erf({x})");
        }
        Assert.AreEqual(1.0, SpecialFunctions.Erf(10.0));
        Assert.AreEqual(-1.0, SpecialFunctions.Erf(double.NegativeInfinity));
        Assert.IsTrue(double.IsNaN(SpecialFunctions.Erf(double.NaN)));
    }

    [TestMethod]
    [DataRow("Relu")] [DataRow("LeakyRelu")] [DataRow("Sigmoid")] [DataRow("Tanh")] [DataRow("HardSigmoid")] [DataRow("HardSwish")]
    [DataRow("Exp")] [DataRow("Erf")] [DataRow("Neg")] [DataRow("Abs")] [DataRow("Floor")] [DataRow("Ceil")]
    public void Unary_GradientCheck(string op)
    {
        var rng = new Random(op.GetHashCode(StringComparison.Ordinal) & 0xffff);
        var x = AwayFromZero(rng, 4f, 0.1f, 2, 3, 5);
        // Keep clear of the HardSigmoid/HardSwish corners (±2.5 and ±3) and integers for Floor/Ceil.
        var d = x.Floats;
        for (int i = 0; i < d.Length; i++)
        {
            if (MathF.Abs(MathF.Abs(d[i]) - 2.5f) < 0.05f || MathF.Abs(MathF.Abs(d[i]) - 3f) < 0.05f) d[i] += 0.2f;
            if (MathF.Abs(d[i] - MathF.Round(d[i])) < 0.05f) d[i] += 0.1f;
        }
        GradientCheck.Check(op, new[] { x }, new[] { 0 }, step: 1e-3f);
    }

    [TestMethod]
    [DataRow("Sqrt")] [DataRow("Log")] [DataRow("Reciprocal")]
    public void Unary_GradientCheckOnPositiveDomain(string op) =>
        GradientCheck.Check(op, new[] { Positive(new Random(4), 0.5f, 3f, 3, 4) }, new[] { 0 }, step: 1e-3f);

    [TestMethod]
    public void UnaryAttributes_GradientCheck()
    {
        var rng = new Random(8);
        var x = AwayFromZero(rng, 3f, 0.1f, 4, 6);
        GradientCheck.Check("LeakyRelu", new[] { x }, new[] { 0 }, n => n.SetFloat("alpha", 0.3f), step: 1e-3f);
        GradientCheck.Check("LeakyRelu", new[] { x }, new[] { 0 }, n => n.SetFloat("alpha", 1.7f), step: 1e-3f);
        GradientCheck.Check("HardSigmoid", new[] { x }, new[] { 0 }, n => { n.SetFloat("alpha", 0.4f); n.SetFloat("beta", 0.3f); }, step: 1e-3f);
    }

    [TestMethod]
    public void PRelu_BroadcastsSlopePerChannel()
    {
        var x = F(new float[] { -1, 2, -3, 4, -5, 6, -7, 8 }, 1, 2, 2, 2);
        var slope = F(new float[] { 0.5f, 2f }, 2, 1, 1);
        CollectionAssert.AreEqual(new float[] { -0.5f, 2, -1.5f, 4, -10, 6, -14, 8 }, OpTester.Run("PRelu", new[] { x, slope })[0].Floats);
        var vector = F(new float[] { 0.1f, -1f }, 2);
        AreClose(new float[] { -0.1f, 2, -0.3f, 4, -0.5f, 6, -0.7f, 8 }, OpTester.Run("PRelu", new[] { x, vector })[0].Floats);
    }

    [TestMethod]
    public void PRelu_GradientCheck()
    {
        var rng = new Random(12);
        var x = AwayFromZero(rng, 2f, 0.1f, 2, 3, 2, 2);
        GradientCheck.Check("PRelu", new[] { x, OpTester.Random(rng, 1f, 3, 1, 1) }, new[] { 0, 1 }, step: 1e-3f);
        GradientCheck.Check("PRelu", new[] { x, OpTester.Random(rng, 1f, 2) }, new[] { 0, 1 }, step: 1e-3f);
        GradientCheck.Check("PRelu", new[] { x, Tensor.Scalar(1.5f) }, new[] { 0, 1 }, step: 1e-3f);
    }

    [TestMethod]
    public void Clip_BoundsAsAttributesBeforeOpset11AndInputsAfter()
    {
        var x = F(new float[] { -2, -0.5f, 0.5f, 2 }, 4);
        CollectionAssert.AreEqual(new float[] { -1, -0.5f, 0.5f, 1 },
            OpTester.Run("Clip", new[] { x }, configure: n => { n.SetFloat("min", -1); n.SetFloat("max", 1); }, opset: 10)[0].Floats);
        CollectionAssert.AreEqual(new float[] { -2, -0.5f, 0.5f, 1 },
            OpTester.Run("Clip", new[] { x }, configure: n => n.SetFloat("max", 1), opset: 10)[0].Floats);
        CollectionAssert.AreEqual(new float[] { 0, 0, 0.5f, 1 },
            OpTester.Run("Clip", new[] { x, Tensor.Scalar(0), Tensor.Scalar(1) }, opset: 13, constantInputs: new[] { 1, 2 })[0].Floats);
        CollectionAssert.AreEqual(new float[] { -2, -0.5f, 0.5f, 0.6f },
            OpTester.Run("Clip", new Tensor?[] { x, null, Tensor.Scalar(0.6f) }, opset: 13)[0].Floats);
        var i8 = new Tensor(DataType.Int8, new[] { 3 }, new sbyte[] { -100, 5, 100 });
        var lo = new Tensor(DataType.Int8, Array.Empty<int>(), new sbyte[] { -10 });
        CollectionAssert.AreEqual(new sbyte[] { -10, 5, 100 }, OpTester.Run("Clip", new[] { i8, lo }, opset: 13)[0].Int8s);
    }

    [TestMethod]
    public void Clip_GradientPassesInsideTheBoundsAndFeedsTheBounds()
    {
        var x = F(new float[] { -2, -0.5f, 0.5f, 2, 3 }, 5);
        var g = F(new float[] { 1, 2, 3, 4, 5 }, 5);
        var grads = Gradients("Clip", new[] { x, Tensor.Scalar(-1), Tensor.Scalar(1) }, g, opset: 13, wrt: new[] { 0, 1, 2 });
        CollectionAssert.AreEqual(new float[] { 0, 2, 3, 0, 0 }, grads["in0"].Floats);
        Assert.AreEqual(1f, grads["in1"].Floats[0]);
        Assert.AreEqual(9f, grads["in2"].Floats[0]);

        var rng = new Random(2);
        var xs = AwayFromZero(rng, 3f, 0.1f, 3, 4);
        foreach (ref var v in xs.Floats.AsSpan()) if (MathF.Abs(MathF.Abs(v) - 1f) < 0.05f) v += 0.2f;
        GradientCheck.Check("Clip", new[] { xs, Tensor.Scalar(-1), Tensor.Scalar(1) }, new[] { 0, 1, 2 }, opset: 13, step: 1e-3f);
        GradientCheck.Check("Clip", new[] { xs }, new[] { 0 }, n => { n.SetFloat("min", -1); n.SetFloat("max", 1); }, opset: 9, step: 1e-3f);
        GradientCheck.Check("Clip", new Tensor?[] { xs, null, Tensor.Scalar(1) }, new[] { 0, 2 }, opset: 13, step: 1e-3f);
    }

    [TestMethod]
    public void Unary_IsBitIdenticalWhateverTheThreadCount()
    {
        var x = OpTester.Random(new Random(1), 5f, 1, 16, 64, 64);
        var g = OpTester.SingleNodeGraph("HardSwish", new[] { x });
        var one = new InferenceEngine(g, new EngineOptions { MaxDegreeOfParallelism = 1 }).Run(new Dictionary<string, Tensor> { ["in0"] = x })["out0"].Floats;
        var many = new InferenceEngine(g, new EngineOptions { MaxDegreeOfParallelism = 4 }).Run(new Dictionary<string, Tensor> { ["in0"] = x })["out0"].Floats;
        CollectionAssert.AreEqual(one, many);
    }
}
