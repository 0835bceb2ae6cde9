using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// LayerNormalization in float32 over rows of <c>n</c> values: (x − mean)/√(var + ε)·scale + bias, with
    /// the scale in <c>b</c> and the bias in <c>c</c> (each n values, or c empty). Mean and variance are
    /// accumulated in double.
    /// </summary>
    public sealed class LayerNormalizationFloat : FloatKernel
    {
        private readonly int rows, n;
        private readonly float epsilon;

        public LayerNormalizationFloat(int rows, int n, float epsilon)
        {
            this.rows = rows;
            this.n = n;
            this.epsilon = epsilon;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<float> x = a.Slice(r * n, n);
                Span<float> row = y.Slice(r * n, n);
                double sum = 0;
                for (int j = 0; j < n; j++) sum += x[j];
                float mean = (float)(sum / n);
                double squares = 0;
                for (int j = 0; j < n; j++)
                {
                    float d = x[j] - mean;
                    squares += (double)d * d;
                }

                float inv = (float)(1.0 / Math.Sqrt(squares / n + epsilon));
                for (int j = 0; j < n; j++)
                {
                    float v = (x[j] - mean) * inv * b[j];
                    row[j] = c.Length == 0 ? v : v + c[j];
                }
            }
        }
    }
}
