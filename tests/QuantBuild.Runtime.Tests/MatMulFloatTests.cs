using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// <see cref="MatMulFloat"/> with B not transposed (vector rows) against the definition written out here, bit for bit:
/// each y[i, j] starts at 0 and adds A[i, p] · B[p, j] in p order, skipping p where A[i, p] is 0, every product rounded
/// to float before the add; then α, then β·C.
/// </summary>
[TestClass]
public sealed class MatMulFloatTests
{
    [TestMethod]
    [DataRow(3, 7, 29, 1, 1f, 0f, false, DisplayName = "odd row length: vectors and a scalar tail")]
    [DataRow(2, 120, 67, 2, 1f, 0f, false, DisplayName = "two batches, a recognizer-like K")]
    [DataRow(4, 5, 16, 1, 0.5f, 2f, true, DisplayName = "Gemm: alpha and beta C")]
    [DataRow(1, 3, 3, 1, 1f, 0f, false, DisplayName = "shorter than one vector")]
    public void MatchesTheDefinitionBitForBit(int m, int k, int n, int batches, float alpha, float beta, bool hasC)
    {
        var rng = new Random(m * 100 + k + n);
        float[] a = Enumerable.Range(0, batches * m * k).Select(i => i % 5 == 0 ? 0f : (float)(rng.NextDouble() * 4 - 2)).ToArray();
        float[] b = Enumerable.Range(0, batches * k * n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        float[] c = Enumerable.Range(0, m * n).Select(_ => (float)rng.NextDouble()).ToArray();
        int[] aOffsets = Enumerable.Range(0, batches).Select(t => t * m * k).ToArray();
        int[] bOffsets = Enumerable.Range(0, batches).Select(t => t * k * n).ToArray();

        var expected = new float[batches * m * n];
        for (int t = 0; t < batches; t++)
        for (int i = 0; i < m; i++)
        {
            var row = new float[n];
            for (int p = 0; p < k; p++)
            {
                float av = a[aOffsets[t] + i * k + p];
                if (av == 0f) continue;
                for (int j = 0; j < n; j++) row[j] += av * b[bOffsets[t] + p * n + j];
            }
            for (int j = 0; j < n; j++)
            {
                float v = row[j];
                if (alpha != 1f) v *= alpha;
                if (hasC) v += beta * c[i * n + j];
                expected[(t * m + i) * n + j] = v;
            }
        }

        var actual = new float[expected.Length];
        new MatMulFloat(m, k, n, aOffsets, bOffsets, false, false, alpha, beta, hasC, n, 1).Eval(a, b, c, actual);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(actual[i]), $"value {i}: {actual[i]} vs {expected[i]}");
    }
}
