using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class MatMulGemmTests
{
    private static float[] NaiveMatMul(float[] a, float[] b, int m, int k, int n, int aOff = 0, int bOff = 0)
    {
        var y = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double)a[aOff + i * k + p] * b[bOff + p * n + j];
                y[i * n + j] = (float)s;
            }
        return y;
    }

    private static void AssertClose(float[] expected, float[] actual, double tol = 1e-4)
    {
        Assert.HasCount(expected.Length, actual);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(expected[i], actual[i], tol * (1 + Math.Abs(expected[i])), $"element {i}");
    }

    [TestMethod]
    public void MatMulBroadcastsBatchesAndPromotesVectors()
    {
        var rng = new Random(1);
        var a = OpTester.Random(rng, 1, 2, 1, 3, 4);
        var b = OpTester.Random(rng, 1, 3, 4, 5);
        var y = OpTester.Run("MatMul", [a, b])[0];
        CollectionAssert.AreEqual(new[] { 2, 3, 3, 5 }, y.Shape);
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                AssertClose(NaiveMatMul(a.Floats, b.Floats, 3, 4, 5, i * 12, j * 20), y.Floats.AsSpan((i * 3 + j) * 15, 15).ToArray());

        var v = OpTester.Random(rng, 1, 4);
        var yv = OpTester.Run("MatMul", [v, b])[0];
        CollectionAssert.AreEqual(new[] { 3, 5 }, yv.Shape);
        AssertClose(NaiveMatMul(v.Floats, b.Floats, 1, 4, 5, 0, 20), yv.Floats.AsSpan(5, 5).ToArray());

        var w = OpTester.Random(rng, 1, 4);
        var yw = OpTester.Run("MatMul", [a, w])[0];
        CollectionAssert.AreEqual(new[] { 2, 1, 3 }, yw.Shape);
        AssertClose(NaiveMatMul(a.Floats, w.Floats, 3, 4, 1, 12), yw.Floats.AsSpan(3, 3).ToArray());

        var dot = OpTester.Run("MatMul", [v, w])[0];
        Assert.AreEqual(0, dot.Rank);
        AssertClose(NaiveMatMul(v.Floats, w.Floats, 1, 4, 1), dot.Floats);
    }

    [TestMethod]
    public void MatMulRejectsMismatchedInnerDimensions()
    {
        var ex = Assert.ThrowsExactly<QuantBuild.Diagnostics.QuantBuildException>(() =>
            OpTester.Run("MatMul", [Tensor.Zeros(2, 3), Tensor.Zeros(4, 5)]));
        Assert.AreEqual(QuantBuild.Diagnostics.DiagnosticCodes.ShapeMismatch, ex.Code);
    }

    [TestMethod]
    public void MatMulGradients()
    {
        var rng = new Random(2);
        GradientCheck.Check("MatMul", [OpTester.Random(rng, 1, 3, 4), OpTester.Random(rng, 1, 4, 5)], [0, 1]);
        GradientCheck.Check("MatMul", [OpTester.Random(rng, 1, 2, 3, 4), OpTester.Random(rng, 1, 4, 2)], [0, 1]);            // B shared: folded path
        GradientCheck.Check("MatMul", [OpTester.Random(rng, 1, 2, 1, 3, 4), OpTester.Random(rng, 1, 3, 4, 2)], [0, 1]);      // both broadcast
        GradientCheck.Check("MatMul", [OpTester.Random(rng, 1, 4), OpTester.Random(rng, 1, 2, 4, 3)], [0, 1]);               // 1-D A
        GradientCheck.Check("MatMul", [OpTester.Random(rng, 1, 2, 3, 4), OpTester.Random(rng, 1, 4)], [0, 1]);               // 1-D B
    }

    [TestMethod]
    public void GemmWithTransposesAlphaBetaAndBroadcastBias()
    {
        var rng = new Random(3);
        var a = OpTester.Random(rng, 1, 4, 3); // transA: op(A) is 3x4
        var b = OpTester.Random(rng, 1, 5, 4); // transB: op(B) is 4x5
        var c = OpTester.Random(rng, 1, 3, 1);
        var y = OpTester.Run("Gemm", [a, b, c], configure: n => { n.SetInt("transA", 1); n.SetInt("transB", 1); n.SetFloat("alpha", 0.5f); n.SetFloat("beta", 2f); })[0];
        CollectionAssert.AreEqual(new[] { 3, 5 }, y.Shape);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 5; j++)
            {
                double s = 0;
                for (int p = 0; p < 4; p++) s += a.Floats[p * 3 + i] * b.Floats[j * 4 + p];
                Assert.AreEqual(0.5 * s + 2 * c.Floats[i], y.Floats[i * 5 + j], 1e-5);
            }
    }

    [TestMethod]
    public void GemmGradientsForEveryTransposeAndBiasShape()
    {
        var rng = new Random(4);
        foreach (var (ta, tb) in new[] { (0, 0), (1, 0), (0, 1), (1, 1) })
            foreach (var cShape in new[] { new[] { 3, 5 }, new[] { 5 }, new[] { 3, 1 }, new[] { 1 }, Array.Empty<int>() })
            {
                var a = ta == 1 ? OpTester.Random(rng, 1, 4, 3) : OpTester.Random(rng, 1, 3, 4);
                var b = tb == 1 ? OpTester.Random(rng, 1, 5, 4) : OpTester.Random(rng, 1, 4, 5);
                var c = OpTester.Random(rng, 1, cShape);
                GradientCheck.Check("Gemm", [a, b, c], [0, 1, 2], n => { n.SetInt("transA", ta); n.SetInt("transB", tb); n.SetFloat("alpha", 0.7f); n.SetFloat("beta", 1.5f); });
            }
        GradientCheck.Check("Gemm", [OpTester.Random(rng, 1, 2, 3), OpTester.Random(rng, 1, 3, 4)], [0, 1]);
    }
}
