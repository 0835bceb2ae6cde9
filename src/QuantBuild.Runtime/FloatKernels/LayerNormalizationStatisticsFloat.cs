using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// The optional Mean or InvStdDev output of LayerNormalization: one value per normalized row, computed
    /// exactly as <see cref="LayerNormalizationFloat"/> computes the statistics it normalizes with (double
    /// sums, rounded to float), so all three outputs of one node agree.
    /// </summary>
    public sealed class LayerNormalizationStatisticsFloat : FloatKernel
    {
        private readonly int rows;
        private readonly int n;
        private readonly float epsilon;
        private readonly bool invStdDev;

        /// <param name="invStdDev">write 1/√(variance + ε) instead of the mean</param>
        public LayerNormalizationStatisticsFloat(int rows, int n, float epsilon, bool invStdDev)
        {
            this.rows = rows;
            this.n = n;
            this.epsilon = epsilon;
            this.invStdDev = invStdDev;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> x = a.Slice(r * n, n);
                double sum = 0;
                for (int j = 0; j < n; j++) sum += x[j];
                float mean = (float)(sum / n);
                if (!invStdDev)
                {
                    y[r] = mean;
                    continue;
                }

                double squares = 0;
                for (int j = 0; j < n; j++)
                {
                    float d = x[j] - mean;
                    squares += (double)d * d;
                }

                y[r] = (float)(1.0 / Math.Sqrt(squares / n + epsilon));
            }
        }
    }
}
