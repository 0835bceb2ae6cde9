using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Tests.Infrastructure;
using static QuantBuild.Tests.Engine.ElementwiseTestUtil;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class NormalizationReduceTests
{
    [TestMethod]
    public void Softmax_AxisSemanticsChangeAtOpset13()
    {
        var x = F(new float[] { 0, 1, 2, 3 }, 2, 2);
        var x3 = x.Reshape(1, 2, 2);
        // Opset 11, axis 1 on [1,2,2]: one row of 4 elements (input coerced to 2-D).
        var flat = OpTester.Run("Softmax", new[] { x3 }, opset: 11)[0].Floats;
        float z = 1 + MathF.E + MathF.Exp(2) + MathF.Exp(3);
        AreClose(new[] { 1 / z, MathF.E / z, MathF.Exp(2) / z, MathF.Exp(3) / z }, flat);
        // Opset 13, axis 1: normalize along dimension 1 only (columns of each 2x2 block).
        var perAxis = OpTester.Run("Softmax", new[] { x3 }, configure: n => n.SetInt("axis", 1), opset: 13)[0].Floats;
        float a = 1 / (1 + MathF.Exp(2));
        AreClose(new[] { a, a, 1 - a, 1 - a }, perAxis);
        // Opset 13 default axis = -1: rows.
        float b = 1 / (1 + MathF.E);
        AreClose(new[] { b, 1 - b, b, 1 - b }, OpTester.Run("Softmax", new[] { x }, opset: 13)[0].Floats);
        AreClose(new[] { MathF.Log(b), MathF.Log(1 - b), MathF.Log(b), MathF.Log(1 - b) }, OpTester.Run("LogSoftmax", new[] { x }, opset: 13)[0].Floats);
    }

    [TestMethod]
    public void Softmax_LargeInputsDoNotOverflow()
    {
        var y = OpTester.Run("Softmax", new[] { F(new float[] { 1000, 1001 }, 1, 2) })[0].Floats;
        AreClose(new[] { 1 / (1 + MathF.E), MathF.E / (1 + MathF.E) }, y);
    }

    [TestMethod]
    public void Softmax_GradientCheck()
    {
        var rng = new Random(3);
        var x = OpTester.Random(rng, 2f, 2, 3, 4);
        foreach (var op in new[] { "Softmax", "LogSoftmax" })
        {
            GradientCheck.Check(op, new[] { x }, new[] { 0 }, opset: 13, step: 1e-3f);
            GradientCheck.Check(op, new[] { x }, new[] { 0 }, n => n.SetInt("axis", 1), opset: 13, step: 1e-3f);
            GradientCheck.Check(op, new[] { x }, new[] { 0 }, n => n.SetInt("axis", 0), opset: 13, step: 1e-3f);
            GradientCheck.Check(op, new[] { x }, new[] { 0 }, opset: 11, step: 1e-3f);
        }
    }

    [TestMethod]
    public void LayerNormalization_NormalizesTrailingAxes()
    {
        var x = F(new float[] { 1, 2, 3, 4, 10, 20, 30, 40 }, 2, 4);
        var scale = F(new float[] { 1, 1, 2, 2 }, 4);
        var bias = F(new float[] { 0, 0, 0, 1 }, 4);
        var r = OpTester.Run("LayerNormalization", new[] { x, scale, bias }, outputCount: 3, configure: n => n.SetFloat("epsilon", 0f));
        float s = 1f / MathF.Sqrt(1.25f);
        AreClose(new[] { -1.5f * s, -0.5f * s, 1f * s, 3f * s + 1, -1.5f * s, -0.5f * s, 1f * s, 3f * s + 1 }, r[0].Floats, 1e-4f);
        CollectionAssert.AreEqual(new[] { 2, 1 }, r[1].Shape);
        AreClose(new[] { 2.5f, 25f }, r[1].Floats);
        AreClose(new[] { s, s / 10 }, r[2].Floats);
    }

    [TestMethod]
    public void LayerNormalization_GradientCheck()
    {
        var rng = new Random(6);
        var x = OpTester.Random(rng, 2f, 2, 3, 4);
        GradientCheck.Check("LayerNormalization", new[] { x, OpTester.Random(rng, 1f, 4), OpTester.Random(rng, 1f, 4) }, new[] { 0, 1, 2 }, step: 1e-3f);
        GradientCheck.Check("LayerNormalization", new[] { x, OpTester.Random(rng, 1f, 3, 4) }, new[] { 0, 1 }, n => n.SetInt("axis", 1), step: 1e-3f);
        GradientCheck.Check("LayerNormalization", new[] { x, OpTester.Random(rng, 1f, 3, 4), OpTester.Random(rng, 1f, 3, 4) }, new[] { 0, 1, 2 },
            n => { n.SetInt("axis", -2); n.SetFloat("epsilon", 1e-3f); }, step: 1e-3f);
    }

    [TestMethod]
    public void BatchNormalization_AppliesPerChannelStatistics()
    {
        var x = F(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, 1, 2, 2, 2);
        var y = OpTester.Run("BatchNormalization", new[] { x, F(new float[] { 1, 2 }, 2), F(new float[] { 0, 1 }, 2), F(new float[] { 2, 6 }, 2), F(new float[] { 4, 1 }, 2) },
            configure: n => n.SetFloat("epsilon", 0f))[0].Floats;
        AreClose(new float[] { -0.5f, 0, 0.5f, 1, -1, 1, 3, 5 }, y);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("BatchNormalization", new[] { x, F(new float[] { 1, 2 }, 2), F(new float[] { 0, 1 }, 2), F(new float[] { 2, 6 }, 2), F(new float[] { 4, 1 }, 2) },
            outputCount: 3, configure: n => n.SetInt("training_mode", 1)));
        Assert.AreEqual(DiagnosticCodes.InvalidAttribute, e.Code);
    }

    [TestMethod]
    public void BatchNormalization_GradientCheck()
    {
        var rng = new Random(10);
        var inputs = new[] { OpTester.Random(rng, 2f, 2, 3, 2, 2), OpTester.Random(rng, 1f, 3), OpTester.Random(rng, 1f, 3), OpTester.Random(rng, 1f, 3), Positive(rng, 0.5f, 2f, 3) };
        GradientCheck.Check("BatchNormalization", inputs, new[] { 0, 1, 2, 3, 4 }, step: 1e-3f);
        var rank2 = new[] { OpTester.Random(rng, 2f, 4, 3), inputs[1], inputs[2], inputs[3], inputs[4] };
        GradientCheck.Check("BatchNormalization", rank2, new[] { 0, 1, 2 }, n => n.SetFloat("epsilon", 0.1f), step: 1e-3f);
    }

    private static readonly float[] Data = { 1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, 0.5f }; // [2,3,2]

    [TestMethod]
    public void Reduce_AxesAttributeBeforeOpset13Or18AndInputAfter()
    {
        var x = F(Data, 2, 3, 2);
        var axes = Tensor.FromInt64(new long[] { 1 }, 1);
        var sum13 = OpTester.Run("ReduceSum", new[] { x, axes }, opset: 13, constantInputs: 1)[0];
        CollectionAssert.AreEqual(new[] { 2, 1, 2 }, sum13.Shape);
        CollectionAssert.AreEqual(new float[] { 9, 12, -9, -5.5f }, sum13.Floats);
        var sum11 = OpTester.Run("ReduceSum", new[] { x }, configure: n => { n.Attributes["axes"] = OpTester.Ints("axes", 1); n.SetInt("keepdims", 0); }, opset: 11)[0];
        CollectionAssert.AreEqual(new[] { 2, 2 }, sum11.Shape);
        CollectionAssert.AreEqual(new float[] { 9, 12, -9, -5.5f }, sum11.Floats);
        var mean17 = OpTester.Run("ReduceMean", new[] { x }, configure: n => n.Attributes["axes"] = OpTester.Ints("axes", -1), opset: 17)[0];
        CollectionAssert.AreEqual(new float[] { 1.5f, 3.5f, 5.5f, -1.5f, -3.5f, -2.25f }, mean17.Floats);
        var max18 = OpTester.Run("ReduceMax", new[] { x, Tensor.FromInt64(new long[] { 0, 2 }, 2) }, opset: 18)[0];
        CollectionAssert.AreEqual(new[] { 1, 3, 1 }, max18.Shape);
        CollectionAssert.AreEqual(new float[] { 2, 4, 6 }, max18.Floats);
        var all = OpTester.Run("ReduceMin", new[] { x }, configure: n => n.SetInt("keepdims", 0), opset: 18)[0];
        Assert.AreEqual(0, all.Rank);
        Assert.AreEqual(-5f, all.Floats[0]);
        var noop = OpTester.Run("ReduceSum", new[] { x, Tensor.FromInt64(Array.Empty<long>(), 0) }, configure: n => n.SetInt("noop_with_empty_axes", 1), opset: 13)[0];
        CollectionAssert.AreEqual(Data, noop.Floats);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("ReduceSum", new[] { x }, configure: n => n.Attributes["axes"] = OpTester.Ints("axes", 3), opset: 11));
        Assert.AreEqual(DiagnosticCodes.InvalidAttribute, e.Code);
    }

    [TestMethod]
    public void Reduce_OtherKinds()
    {
        var x = F(Data, 2, 3, 2);
        void Check(string op, float[] expected) =>
            AreClose(expected, OpTester.Run(op, new[] { x }, configure: n => { n.Attributes["axes"] = OpTester.Ints("axes", 2); n.SetInt("keepdims", 0); }, opset: 13)[0].Floats, 1e-4f);
        Check("ReduceProd", new float[] { 2, 12, 30, 2, 12, -2.5f });
        Check("ReduceL1", new float[] { 3, 7, 11, 3, 7, 5.5f });
        Check("ReduceL2", new float[] { MathF.Sqrt(5), 5, MathF.Sqrt(61), MathF.Sqrt(5), 5, MathF.Sqrt(25.25f) });
        Check("ReduceSumSquare", new float[] { 5, 25, 61, 5, 25, 25.25f });
        Check("ReduceLogSumExp", new[] { (1f, 2f), (3f, 4f), (5f, 6f), (-1f, -2f), (-3f, -4f), (-5f, 0.5f) }.Select(p => MathF.Log(MathF.Exp(p.Item1) + MathF.Exp(p.Item2))).ToArray());
        var ints = Tensor.FromInt64(new long[] { 1, 2, 3, 4 }, 2, 2);
        CollectionAssert.AreEqual(new long[] { 4, 6 }, OpTester.Run("ReduceSum", new[] { ints, Tensor.FromInt64(new long[] { 0 }, 1) }, opset: 13)[0].Int64s);
    }

    [TestMethod]
    public void Reduce_IsBitIdenticalWhateverTheThreadCount()
    {
        var x = OpTester.Random(new Random(2), 3f, 4, 32, 30, 30);
        foreach (var axes in new[] { new long[] { 2, 3 }, new long[] { 1 }, new long[] { 0, 2 } })
        {
            var g = OpTester.SingleNodeGraph("ReduceMean", new[] { x }, configure: n => n.Attributes["axes"] = OpTester.Ints("axes", axes), opset: 17);
            var feeds = new Dictionary<string, Tensor> { ["in0"] = x };
            var one = new InferenceEngine(g, new EngineOptions { MaxDegreeOfParallelism = 1 }).Run(feeds)["out0"].Floats;
            var many = new InferenceEngine(g, new EngineOptions { MaxDegreeOfParallelism = 4 }).Run(feeds)["out0"].Floats;
            CollectionAssert.AreEqual(one, many);
        }
    }

    [TestMethod]
    [DataRow("ReduceSum")] [DataRow("ReduceMean")] [DataRow("ReduceMax")] [DataRow("ReduceMin")] [DataRow("ReduceProd")]
    [DataRow("ReduceL1")] [DataRow("ReduceL2")] [DataRow("ReduceSumSquare")] [DataRow("ReduceLogSumExp")] [DataRow("ReduceLogSum")]
    public void Reduce_GradientCheck(string op)
    {
        var rng = new Random(17);
        var x = op == "ReduceLogSum" ? Positive(rng, 0.5f, 2f, 2, 3, 4) : AwayFromZero(rng, 2f, 0.2f, 2, 3, 4);
        foreach (var axes in new[] { new long[] { 1 }, new long[] { 0, 2 }, new long[] { -1 }, Array.Empty<long>() })
            foreach (var keep in new[] { 0L, 1L })
            {
                GradientCheck.Check(op, new[] { x }, new[] { 0 }, n =>
                {
                    if (axes.Length > 0) n.Attributes["axes"] = OpTester.Ints("axes", axes);
                    n.SetInt("keepdims", keep);
                }, opset: 11, step: 1e-3f);
            }
        // Axes as an input (opset 18).
        GradientCheck.Check(op, new[] { x, Tensor.FromInt64(new long[] { 2 }, 1) }, new[] { 0 }, opset: 18, constantInputs: new[] { 1 }, step: 1e-3f);
    }

    [TestMethod]
    public void ReduceProd_GradientWithAZero()
    {
        var x = F(new float[] { 2, 0, 3, 4, 5, 6 }, 2, 3);
        var g = Gradients("ReduceProd", new[] { x }, F(new float[] { 1, 1 }, 2, 1), n => n.Attributes["axes"] = OpTester.Ints("axes", 1), opset: 13, wrt: 0);
        CollectionAssert.AreEqual(new float[] { 0, 6, 0, 30, 24, 20 }, g["in0"].Floats);
    }

    [TestMethod]
    public void Cast_ConvertsBetweenTypes()
    {
        var f = F(new float[] { -1.7f, 0, 2.5f, 300 }, 4);
        Tensor To(Tensor t, DataType type) => OpTester.Run("Cast", new[] { t }, configure: n => n.SetInt("to", (long)type))[0];
        CollectionAssert.AreEqual(new long[] { -1, 0, 2, 300 }, To(f, DataType.Int64).Int64s);
        CollectionAssert.AreEqual(new[] { -1, 0, 2, 300 }, To(f, DataType.Int32).Int32s);
        CollectionAssert.AreEqual(new[] { true, false, true, true }, To(f, DataType.Bool).Bools);
        CollectionAssert.AreEqual(new double[] { -1.7f, 0, 2.5, 300 }, To(f, DataType.Double).Doubles);
        CollectionAssert.AreEqual(new byte[] { 255, 0, 2, 44 }, To(Tensor.FromInt64(new long[] { -1, 0, 2, 300 }, 4), DataType.UInt8).UInt8s);
        CollectionAssert.AreEqual(new float[] { 1, 0 }, To(new Tensor(DataType.Bool, new[] { 2 }, new[] { true, false }), DataType.Float).Floats);
        CollectionAssert.AreEqual(new float[] { -3, 7 }, To(new Tensor(DataType.Int8, new[] { 2 }, new sbyte[] { -3, 7 }), DataType.Float).Floats);
        var like = OpTester.Run("CastLike", new[] { f, Tensor.FromInt64(new long[] { 0 }, 1) })[0];
        Assert.AreEqual(DataType.Int64, like.Type);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => To(f, DataType.String));
        Assert.AreEqual(DiagnosticCodes.UnsupportedDataType, e.Code);
    }

    [TestMethod]
    public void Cast_FloatToFloatPassesTheGradient()
    {
        var x = OpTester.Random(new Random(1), 1f, 3, 2);
        GradientCheck.Check("Cast", new[] { x }, new[] { 0 }, n => n.SetInt("to", (long)DataType.Float));
    }
}
