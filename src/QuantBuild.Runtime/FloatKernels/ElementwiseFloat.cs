using System;

namespace QuantBuild.Runtime
{
    /// <summary>Which function <see cref="ElementwiseFloat"/> applies.</summary>
    public enum ElementwiseFunction
    {
        Identity = 0,
        Relu = 1,
        LeakyRelu = 2,
        Clip = 3,
        Sigmoid = 4,
        Tanh = 5,
        HardSigmoid = 6,
        HardSwish = 7,
        Exp = 8,
        Log = 9,
        Sqrt = 10,
        Abs = 11,
        Neg = 12,
        Erf = 13,
        Reciprocal = 14,
        Floor = 15,
        Ceil = 16,
        /// <summary>Logical Not of a bool carried as 0/1: 1 where x is 0, else 0.</summary>
        Not = 17,
        /// <summary>Cast to bool: 1 where x is non-zero (NaN included, as a cast does), else 0.</summary>
        NonZero = 18,
    }

    /// <summary>
    /// y = f(x) element by element. Transcendentals are evaluated in double and rounded once to float, so
    /// the result is the correctly rounded value in almost every case (the engine's SIMD float versions
    /// are within a few ulps of it).
    /// </summary>
    public sealed class ElementwiseFloat : FloatKernel
    {
        private readonly ElementwiseFunction function;
        private readonly float p;
        private readonly float q;

        /// <param name="p">LeakyRelu α, Clip minimum, HardSigmoid α.</param>
        /// <param name="q">Clip maximum, HardSigmoid β.</param>
        public ElementwiseFloat(ElementwiseFunction function, float p, float q)
        {
            this.function = function;
            this.p = p;
            this.q = q;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            int n = y.Length;
            if (a.Length < n)
            {
                throw new ArgumentException("Input is too short.", "a");
            }

            switch (function)
            {
                case ElementwiseFunction.Identity:
                    a.Slice(0, n).CopyTo(y);
                    break;
                case ElementwiseFunction.Relu:
                    for (int i = 0; i < n; i++) y[i] = a[i] > 0f ? a[i] : (float.IsNaN(a[i]) ? a[i] : 0f);
                    break;
                case ElementwiseFunction.LeakyRelu:
                    for (int i = 0; i < n; i++) y[i] = a[i] >= 0f ? a[i] : p * a[i];
                    break;
                case ElementwiseFunction.Clip:
                    for (int i = 0; i < n; i++) y[i] = a[i] < p ? p : a[i] > q ? q : a[i];
                    break;
                case ElementwiseFunction.Sigmoid:
                    for (int i = 0; i < n; i++) y[i] = (float)(1.0 / (1.0 + Math.Exp(-(double)a[i])));
                    break;
                case ElementwiseFunction.Tanh:
                    for (int i = 0; i < n; i++) y[i] = (float)Math.Tanh(a[i]);
                    break;
                case ElementwiseFunction.HardSigmoid:
                    for (int i = 0; i < n; i++) y[i] = Clamp01(p * a[i] + q);
                    break;
                case ElementwiseFunction.HardSwish:
                    for (int i = 0; i < n; i++) y[i] = a[i] * Clamp01(a[i] * (1f / 6f) + 0.5f);
                    break;
                case ElementwiseFunction.Exp:
                    for (int i = 0; i < n; i++) y[i] = (float)Math.Exp(a[i]);
                    break;
                case ElementwiseFunction.Log:
                    for (int i = 0; i < n; i++) y[i] = (float)Math.Log(a[i]);
                    break;
                case ElementwiseFunction.Sqrt:
                    for (int i = 0; i < n; i++) y[i] = (float)Math.Sqrt(a[i]);
                    break;
                case ElementwiseFunction.Abs:
                    for (int i = 0; i < n; i++) y[i] = Math.Abs(a[i]);
                    break;
                case ElementwiseFunction.Neg:
                    for (int i = 0; i < n; i++) y[i] = -a[i];
                    break;
                case ElementwiseFunction.Erf:
                    for (int i = 0; i < n; i++) y[i] = (float)Erf(a[i]);
                    break;
                case ElementwiseFunction.Reciprocal:
                    for (int i = 0; i < n; i++) y[i] = 1f / a[i];
                    break;
                case ElementwiseFunction.Floor:
                    for (int i = 0; i < n; i++) y[i] = (float)Math.Floor(a[i]);
                    break;
                case ElementwiseFunction.Ceil:
                    for (int i = 0; i < n; i++) y[i] = (float)Math.Ceiling(a[i]);
                    break;
                case ElementwiseFunction.Not:
                    for (int i = 0; i < n; i++) y[i] = a[i] == 0f ? 1f : 0f;
                    break;
                case ElementwiseFunction.NonZero:
                    for (int i = 0; i < n; i++) y[i] = a[i] != 0f ? 1f : 0f;
                    break;
                default:
                    throw new InvalidOperationException("Unknown function.");
            }
        }

        private static float Clamp01(float v)
        {
            return v < 0f ? 0f : v > 1f ? 1f : v;
        }

        /// <summary>erf in double: Taylor series near zero, a continued fraction for erfc in the tails.</summary>
        public static double Erf(double x)
        {
            if (double.IsNaN(x))
            {
                return double.NaN;
            }

            double ax = Math.Abs(x);
            if (ax < 2.5)
            {
                double x2 = x * x;
                double term = x;
                double sum = x;
                for (int n = 1; n < 60; n++)
                {
                    term *= -x2 / n;
                    double add = term / (2 * n + 1);
                    sum += add;
                    if (Math.Abs(add) < 1e-17 * Math.Abs(sum))
                    {
                        break;
                    }
                }

                return 1.1283791670955126 * sum;
            }

            if (ax > 6)
            {
                return Math.Sign(x);
            }

            double tail = ax;
            for (int k = 60; k >= 1; k--)
            {
                tail = ax + k * 0.5 / tail;
            }

            double erfc = Math.Exp(-ax * ax) * 0.56418958354775628 / tail;
            return Math.Sign(x) * (1.0 - erfc);
        }
    }
}
