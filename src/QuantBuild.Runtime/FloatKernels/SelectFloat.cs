using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Where with a condition computed from the data: y = x where the condition is non-zero (true), else z, with
    /// numpy broadcasting of all three (rank ≤ 8). Bool values travel through the generated runtime as 0 and 1.
    /// Inputs: a = condition, b = x, c = z.
    /// </summary>
    public sealed class SelectFloat : FloatKernel
    {
        private readonly int[] outShape;
        private readonly int[] condStrides;
        private readonly int[] xStrides;
        private readonly int[] zStrides;
        private readonly int length;

        public SelectFloat(int[] condShape, int[] xShape, int[] zShape, int[] outShape)
        {
            CheckBroadcastRank(outShape);

            this.outShape = (int[])outShape.Clone();
            condStrides = BroadcastStrides(condShape, outShape);
            xStrides = BroadcastStrides(xShape, outShape);
            zStrides = BroadcastStrides(zShape, outShape);
            length = Length(outShape);
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            if (y.Length < length)
            {
                throw new ArgumentException("Output is too short.", "y");
            }

            int rank = outShape.Length;
            Span<int> index = stackalloc int[MaxBroadcastRank];
            int ci = 0, xi = 0, zi = 0;
            for (int o = 0; o < length; o++)
            {
                y[o] = a[ci] != 0f ? b[xi] : c[zi];

                // Advance the odometer, innermost dimension first.
                for (int d = rank - 1; d >= 0; d--)
                {
                    index[d]++;
                    ci += condStrides[d];
                    xi += xStrides[d];
                    zi += zStrides[d];
                    if (index[d] < outShape[d])
                    {
                        break;
                    }

                    ci -= condStrides[d] * outShape[d];
                    xi -= xStrides[d] * outShape[d];
                    zi -= zStrides[d] * outShape[d];
                    index[d] = 0;
                }
            }
        }
    }
}
