using System;
using System.Runtime.InteropServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Batched matrix product in float32, covering MatMul (broadcast batch dimensions, a constant or an
    /// activation B) and Gemm (transA/transB, y = α·A·B + β·C with C broadcast over [M, N]). For each
    /// batch the offsets of its A and B matrices are precomputed; every output row accumulates
    /// A[i, k]·B[k, :] over k, so the innermost loop walks contiguous rows of B and y when B is not
    /// transposed.
    /// </summary>
    public sealed class MatMulFloat : FloatKernel
    {
        private readonly int m, k, n;
        private readonly int[] aOffsets;
        private readonly int[] bOffsets;
        private readonly bool transA, transB;
        private readonly float alpha, beta;
        private readonly int cRowStride, cColumnStride;
        private readonly bool hasC;

        /// <param name="aOffsets">start of each batch's A matrix (one entry per output batch)</param>
        /// <param name="bOffsets">start of each batch's B matrix</param>
        /// <param name="cRowStride">C's stride along M (0 when broadcast)</param>
        /// <param name="cColumnStride">C's stride along N (0 when broadcast)</param>
        public MatMulFloat(int m, int k, int n, int[] aOffsets, int[] bOffsets, bool transA, bool transB,
            float alpha, float beta, bool hasC, int cRowStride, int cColumnStride)
        {
            if (aOffsets.Length != bOffsets.Length)
            {
                throw new ArgumentException("One B offset per batch is needed.", "bOffsets");
            }

            this.m = m;
            this.k = k;
            this.n = n;
            this.aOffsets = aOffsets;
            this.bOffsets = bOffsets;
            this.transA = transA;
            this.transB = transB;
            this.alpha = alpha;
            this.beta = beta;
            this.hasC = hasC;
            this.cRowStride = cRowStride;
            this.cColumnStride = cColumnStride;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            for (int batch = 0; batch < aOffsets.Length; batch++)
            {
                int ao = aOffsets[batch], bo = bOffsets[batch];
                for (int i = 0; i < m; i++)
                {
                    Span<float> row = y.Slice((batch * m + i) * n, n);
                    row.Clear();
                    if (transB)
                    {
                        for (int j = 0; j < n; j++)
                        {
                            float sum = 0f;
                            int bRow = bo + j * k;
                            for (int p = 0; p < k; p++)
                            {
                                sum += A(a, ao, i, p) * b[bRow + p];
                            }

                            row[j] = sum;
                        }
                    }
                    else
                    {
                        for (int p = 0; p < k; p++)
                        {
                            float av = A(a, ao, i, p);
                            if (av == 0f)
                            {
                                continue;
                            }

                            ReadOnlySpan<float> bRow = b.Slice(bo + p * n, n);
                            int j = 0;
#if NET8_0_OR_GREATER
                            // Whole vectors of the row, each element's products still added in p order.
                            j = FloatRow.MultiplyAdd(ref MemoryMarshal.GetReference(bRow), ref MemoryMarshal.GetReference(row), av, n);
#endif
                            for (; j < n; j++)
                            {
                                row[j] += av * bRow[j];
                            }
                        }
                    }

                    if (alpha != 1f)
                    {
                        for (int j = 0; j < n; j++) row[j] *= alpha;
                    }

                    if (hasC)
                    {
                        for (int j = 0; j < n; j++) row[j] += beta * c[i * cRowStride + j * cColumnStride];
                    }
                }
            }
        }

        private float A(ReadOnlySpan<float> a, int offset, int i, int p)
        {
            return transA ? a[offset + p * m + i] : a[offset + i * k + p];
        }
    }
}
