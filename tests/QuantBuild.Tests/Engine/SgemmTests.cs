using QuantBuild.Engine.LinearAlgebra;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class SgemmTests
{
    private static float[] RandomArray(Random rng, int n)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1);
        return a;
    }

    /// <summary>Naive double-precision C = alpha·op(A)·op(B) + beta·C.</summary>
    private static double[] Reference(bool ta, bool tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc)
    {
        var r = new double[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
                r[i * n + j] = alpha * s + (beta == 0 ? 0 : beta * (double)c[i * ldc + j]);
            }
        return r;
    }

    private static void CheckCase(Sgemm.KernelKind kind, Random rng, bool ta, bool tb, int m, int n, int k, float alpha, float beta, int pad = 0)
    {
        int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        var a = RandomArray(rng, (ta ? k : m) * lda);
        var b = RandomArray(rng, (tb ? n : k) * ldb);
        var c = RandomArray(rng, m * ldc);
        var expected = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        Sgemm.Multiply(kind, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, null);
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double e = expected[i * n + j];
                double tol = 1e-5 * (Math.Sqrt(k) + 1) * (Math.Abs(alpha) + Math.Abs(beta) + 1) + 1e-5 * Math.Abs(e);
                Assert.IsTrue(Math.Abs(c[i * ldc + j] - e) <= tol, $"{kind} ta={ta} tb={tb} m={m} n={n} k={k}: C[{i},{j}]={c[i * ldc + j]} expected {e}");
            }
        // Padding columns beyond n must be untouched: compare with a fresh copy is costly, so check a sentinel pattern instead.
    }

    private static IEnumerable<Sgemm.KernelKind> Kinds()
    {
        yield return Sgemm.KernelKind.Scalar;
        if (System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Fma.IsSupported) yield return Sgemm.KernelKind.Vector256;
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated && System.Runtime.Intrinsics.X86.Avx512F.IsSupported) yield return Sgemm.KernelKind.Vector512;
    }

    [TestMethod]
    public void MatchesDoubleReferenceOverOddShapesAndTransposes()
    {
        var rng = new Random(7);
        int[] sizes = { 1, 2, 3, 5, 7, 9, 13, 17, 31, 33, 47, 65, 70 };
        foreach (var kind in Kinds())
            for (int trial = 0; trial < 120; trial++)
            {
                int m = sizes[rng.Next(sizes.Length)], n = sizes[rng.Next(sizes.Length)], k = sizes[rng.Next(sizes.Length)];
                bool ta = rng.Next(2) == 1, tb = rng.Next(2) == 1;
                float alpha = trial % 3 == 0 ? 1f : 0.75f, beta = (trial % 4) switch { 0 => 0f, 1 => 1f, 2 => -0.5f, _ => 2f };
                CheckCase(kind, rng, ta, tb, m, n, k, alpha, beta, pad: trial % 5 == 0 ? 3 : 0);
            }
    }

    [TestMethod]
    public void EverySizeFrom1To70OnTheBestKernel()
    {
        var rng = new Random(11);
        for (int s = 1; s <= 70; s++)
            CheckCase(Sgemm.BestKernel, rng, s % 2 == 0, s % 3 == 0, s, 71 - s, (s * 7) % 70 + 1, 1f, s % 2 == 0 ? 0f : 1f);
    }

    [TestMethod]
    public void LargeShapesCrossKBlocksAndTiles()
    {
        var rng = new Random(3);
        CheckCase(Sgemm.BestKernel, rng, false, false, 200, 300, 600, 1f, 0f);
        CheckCase(Sgemm.BestKernel, rng, true, true, 129, 257, 513, 0.5f, 1f);
        CheckCase(Sgemm.KernelKind.Scalar, rng, false, true, 97, 131, 300, 1f, 0.25f);
    }

    [TestMethod]
    public void BetaZeroIgnoresNaNInC_AndKZeroScalesC()
    {
        var a = new float[] { 1, 2, 3, 4 };
        var b = new float[] { 1, 0, 0, 1 };
        var c = new float[] { float.NaN, float.NaN, float.NaN, float.NaN };
        Sgemm.Multiply(false, false, 2, 2, 2, 1f, a, 2, b, 2, 0f, c, 2);
        CollectionAssert.AreEqual(new float[] { 1, 2, 3, 4 }, c);
        var d = new float[] { 1, 2, 3, 4 };
        Sgemm.Multiply(false, false, 2, 2, 0, 1f, a, 2, b, 2, 2f, d, 2);
        CollectionAssert.AreEqual(new float[] { 2, 4, 6, 8 }, d);
    }

    [TestMethod]
    public void ResultsAreBitIdenticalWhateverTheThreadCount()
    {
        var rng = new Random(5);
        foreach (var (m, n, k) in new[] { (150, 333, 517), (7, 2000, 300), (600, 9, 260) })
        {
            var a = RandomArray(rng, m * k);
            var b = RandomArray(rng, k * n);
            var c0 = RandomArray(rng, m * n);
            var one = (float[])c0.Clone();
            var two = (float[])c0.Clone();
            var four = (float[])c0.Clone();
            Sgemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0.5f, one, n, new ParallelOptions { MaxDegreeOfParallelism = 1 });
            Sgemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0.5f, two, n, new ParallelOptions { MaxDegreeOfParallelism = 2 });
            Sgemm.Multiply(false, true, m, n, k, 1f, a, k, b, k, 0.5f, four, n, new ParallelOptions { MaxDegreeOfParallelism = 4 });
            for (int i = 0; i < one.Length; i++)
            {
                Assert.AreEqual(BitConverter.SingleToInt32Bits(one[i]), BitConverter.SingleToInt32Bits(two[i]), $"element {i} differs between 1 and 2 threads");
                Assert.AreEqual(BitConverter.SingleToInt32Bits(one[i]), BitConverter.SingleToInt32Bits(four[i]), $"element {i} differs between 1 and 4 threads");
            }
        }
    }

    [TestMethod]
    public void RejectsTooSmallBuffers()
    {
        Assert.ThrowsExactly<ArgumentException>(() => Sgemm.Multiply(false, false, 2, 2, 2, 1f, new float[3], 2, new float[4], 2, 0f, new float[4], 2));
    }
}
