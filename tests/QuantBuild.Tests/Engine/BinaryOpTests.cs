using QuantBuild.Diagnostics;
using QuantBuild.Tests.Infrastructure;
using static QuantBuild.Tests.Engine.ElementwiseTestUtil;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class BinaryOpTests
{
    [TestMethod]
    public void Arithmetic_BroadcastsPerChannel()
    {
        var x = F(new float[] { 1, 2, 3, 4, 5, 6, 7, 8 }, 1, 2, 2, 2);
        var c = F(new float[] { 10, 100 }, 2, 1, 1);
        CollectionAssert.AreEqual(new float[] { 11, 12, 13, 14, 105, 106, 107, 108 }, OpTester.Run("Add", new[] { x, c })[0].Floats);
        CollectionAssert.AreEqual(new float[] { 9, 8, 7, 6, 95, 94, 93, 92 }, OpTester.Run("Sub", new[] { c, x })[0].Floats);
        CollectionAssert.AreEqual(new float[] { 10, 20, 30, 40, 500, 600, 700, 800 }, OpTester.Run("Mul", new[] { x, c })[0].Floats);
        CollectionAssert.AreEqual(new float[] { 0.1f, 0.2f, 0.3f, 0.4f, 0.05f, 0.06f, 0.07f, 0.08f }, OpTester.Run("Div", new[] { x, c })[0].Floats);
        CollectionAssert.AreEqual(new[] { 1, 2, 2, 2 }, OpTester.Run("Add", new[] { x, c })[0].Shape);
    }

    [TestMethod]
    public void Arithmetic_WorksOnShapeIntegers()
    {
        var shape = Tensor.FromInt64(new long[] { 1, 64, 7, 7 }, 4);
        var two = Tensor.FromInt64(new long[] { 2 }, 1);
        CollectionAssert.AreEqual(new long[] { 0, 32, 3, 3 }, OpTester.Run("Div", new[] { shape, two })[0].Int64s);
        CollectionAssert.AreEqual(new long[] { 2, 128, 14, 14 }, OpTester.Run("Mul", new[] { shape, two })[0].Int64s);
        CollectionAssert.AreEqual(new long[] { 3, 66, 9, 9 }, OpTester.Run("Add", new[] { shape, two })[0].Int64s);
        CollectionAssert.AreEqual(new long[] { -1, 62, 5, 5 }, OpTester.Run("Sub", new[] { shape, two })[0].Int64s);
        var i32 = new Tensor(DataType.Int32, new[] { 2 }, new[] { -7, 7 });
        var d32 = new Tensor(DataType.Int32, new[] { 1 }, new[] { 2 });
        CollectionAssert.AreEqual(new[] { -3, 3 }, OpTester.Run("Div", new[] { i32, d32 })[0].Int32s, "integer division truncates toward zero");
    }

    [TestMethod]
    public void Arithmetic_ReportsMismatchedShapesAndTypes()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Add", new[] { Tensor.Zeros(2, 3), Tensor.Zeros(4) }));
        Assert.AreEqual(DiagnosticCodes.ShapeMismatch, e.Code);
        e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Mul", new[] { Tensor.Zeros(2), Tensor.FromInt64(new long[] { 1, 2 }, 2) }));
        Assert.AreEqual(DiagnosticCodes.UnsupportedDataType, e.Code);
        e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Div", new[] { Tensor.FromInt64(new long[] { 1 }, 1), Tensor.FromInt64(new long[] { 0 }, 1) }));
        Assert.AreEqual(DiagnosticCodes.InvalidInputValue, e.Code);
    }

    public static IEnumerable<object[]> BroadcastCases => new[]
    {
        new object[] { new[] { 2, 3, 4 }, new[] { 2, 3, 4 } },
        new object[] { new[] { 2, 3, 4 }, Array.Empty<int>() },
        new object[] { new[] { 2, 3, 2, 2 }, new[] { 3, 1, 1 } },
        new object[] { new[] { 4 }, new[] { 2, 3, 4 } },
        new object[] { new[] { 3, 1 }, new[] { 1, 4 } },
    };

    [TestMethod]
    [DynamicData(nameof(BroadcastCases))]
    public void Arithmetic_GradientsReduceOverBroadcastAxes(int[] aShape, int[] bShape)
    {
        var rng = new Random(5);
        foreach (var op in new[] { "Add", "Sub", "Mul", "Div" })
        {
            var a = OpTester.Random(rng, 2f, aShape);
            var b = op == "Div" ? Positive(rng, 0.5f, 2f, bShape) : OpTester.Random(rng, 2f, bShape);
            GradientCheck.Check(op, new[] { a, b }, new[] { 0, 1 }, step: 1e-3f);
            GradientCheck.Check(op, new[] { b, a }, new[] { 0, 1 }, step: 1e-3f, tolerance: op == "Div" ? 5e-2 : 2e-2);
        }
    }

    [TestMethod]
    public void Pow_HandlesConstantAndTensorExponents()
    {
        var x = F(new float[] { 1, 2, 3, 4 }, 4);
        CollectionAssert.AreEqual(new float[] { 1, 4, 9, 16 }, OpTester.Run("Pow", new[] { x, Tensor.Scalar(2f) }, constantInputs: 1)[0].Floats);
        AreClose(new float[] { 1, MathF.Sqrt(2), MathF.Sqrt(3), 2 }, OpTester.Run("Pow", new[] { x, Tensor.Scalar(0.5f) })[0].Floats);
        AreClose(new float[] { 1, 8, 27, 64 }, OpTester.Run("Pow", new[] { x, Tensor.Scalar(3f) })[0].Floats);
        AreClose(new float[] { 1, 2, 9, 0.25f }, OpTester.Run("Pow", new[] { x, F(new float[] { 5, 1, 2, -1 }, 4) })[0].Floats);
        var ints = new Tensor(DataType.Int32, new[] { 3 }, new[] { 2, 3, -2 });
        CollectionAssert.AreEqual(new[] { 8, 27, -8 }, OpTester.Run("Pow", new[] { ints, Tensor.FromInt64(new long[] { 3 }, 1) })[0].Int32s);
        AreClose(new float[] { 1, 4, 9, 16 }, OpTester.Run("Pow", new[] { x, Tensor.FromInt64(new long[] { 2 }, 1) })[0].Floats);
    }

    [TestMethod]
    public void Pow_GradientsForBaseAndExponent()
    {
        var rng = new Random(9);
        var x = Positive(rng, 0.5f, 2f, 2, 3, 4);
        GradientCheck.Check("Pow", new[] { x, Tensor.Scalar(2f) }, new[] { 0 }, constantInputs: new[] { 1 }, step: 1e-3f);
        GradientCheck.Check("Pow", new[] { x, Tensor.Scalar(0.5f) }, new[] { 0 }, constantInputs: new[] { 1 }, step: 1e-3f);
        GradientCheck.Check("Pow", new[] { x, Tensor.Scalar(-1.5f) }, new[] { 0, 1 }, step: 1e-3f);
        GradientCheck.Check("Pow", new[] { x, OpTester.Random(rng, 2f, 4) }, new[] { 0, 1 }, step: 1e-3f);
        GradientCheck.Check("Pow", new[] { Positive(rng, 0.5f, 2f, 4), OpTester.Random(rng, 2f, 3, 4) }, new[] { 0, 1 }, step: 1e-3f);
    }

    [TestMethod]
    public void MaxMin_AreVariadicWithBroadcasting()
    {
        var a = F(new float[] { 1, 5, 3 }, 3);
        var b = F(new float[] { 4, 2, 6 }, 3);
        var c = F(new float[] { 3 }, 1);
        CollectionAssert.AreEqual(new float[] { 4, 5, 6 }, OpTester.Run("Max", new[] { a, b, c })[0].Floats);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3 }, OpTester.Run("Min", new[] { a, b, c })[0].Floats);
        CollectionAssert.AreEqual(new float[] { 8, 10, 12 }, OpTester.Run("Sum", new[] { a, b, c })[0].Floats);
        AreClose(new float[] { 8 / 3f, 10 / 3f, 4 }, OpTester.Run("Mean", new[] { a, b, c })[0].Floats);
        CollectionAssert.AreEqual(new float[] { 1, 5, 3 }, OpTester.Run("Max", new[] { a })[0].Floats);
        CollectionAssert.AreEqual(new long[] { 4, 5 }, OpTester.Run("Max", new[] { Tensor.FromInt64(new long[] { 1, 5 }, 2), Tensor.FromInt64(new long[] { 4 }, 1) })[0].Int64s);
    }

    [TestMethod]
    public void MaxMin_GradientGoesToFirstInputOnTies()
    {
        var a = F(new float[] { 1, 7, 3 }, 3);
        var b = F(new float[] { 1, 2, 6 }, 3);
        var g = F(new float[] { 10, 20, 30 }, 3);
        var grads = Gradients("Max", new[] { a, b }, g, wrt: new[] { 0, 1 });
        CollectionAssert.AreEqual(new float[] { 10, 20, 0 }, grads["in0"].Floats);
        CollectionAssert.AreEqual(new float[] { 0, 0, 30 }, grads["in1"].Floats);
        grads = Gradients("Min", new[] { a, b }, g, wrt: new[] { 0, 1 });
        CollectionAssert.AreEqual(new float[] { 10, 0, 30 }, grads["in0"].Floats);
        CollectionAssert.AreEqual(new float[] { 0, 20, 0 }, grads["in1"].Floats);
    }

    [TestMethod]
    public void Variadic_GradientChecks()
    {
        var rng = new Random(21);
        foreach (var op in new[] { "Max", "Min", "Sum", "Mean" })
        {
            GradientCheck.Check(op, new[] { OpTester.Random(rng, 2f, 2, 3), OpTester.Random(rng, 2f, 2, 3), OpTester.Random(rng, 2f, 2, 3) }, new[] { 0, 1, 2 }, step: 1e-3f);
            GradientCheck.Check(op, new[] { OpTester.Random(rng, 2f, 2, 3, 4), OpTester.Random(rng, 2f, 3, 1) }, new[] { 0, 1 }, step: 1e-3f);
            GradientCheck.Check(op, new[] { OpTester.Random(rng, 2f, 4) }, new[] { 0 }, step: 1e-3f);
        }
    }
}
