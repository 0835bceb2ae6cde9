using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Softmax (or LogSoftmax) over the middle dimension of an [outer, n, inner] view, which covers both
    /// the single-axis definition (opset 13) and the flatten-from-axis one (inner = 1). The maximum is
    /// subtracted first; exponentials and the sum are in double, rounded once.
    /// </summary>
    public sealed class SoftmaxFloat : FloatKernel
    {
        private readonly int outer, n, inner;
        private readonly bool log;

        public SoftmaxFloat(int outer, int n, int inner, bool log)
        {
            this.outer = outer;
            this.n = n;
            this.inner = inner;
            this.log = log;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            for (int o = 0; o < outer; o++)
            {
                for (int i = 0; i < inner; i++)
                {
                    int start = o * n * inner + i;
                    float max = float.NegativeInfinity;
                    for (int j = 0; j < n; j++) max = Math.Max(max, a[start + j * inner]);
                    double sum = 0;
                    for (int j = 0; j < n; j++) sum += Math.Exp((double)a[start + j * inner] - max);
                    if (log)
                    {
                        double logSum = Math.Log(sum);
                        for (int j = 0; j < n; j++) y[start + j * inner] = (float)((double)a[start + j * inner] - max - logSum);
                    }
                    else
                    {
                        for (int j = 0; j < n; j++) y[start + j * inner] = (float)(Math.Exp((double)a[start + j * inner] - max) / sum);
                    }
                }
            }
        }
    }
}
