namespace QuantBuild.Engine;

/// <summary>Special functions the BCL lacks, evaluated in double so the float32 result is correctly rounded or within an ulp.</summary>
public static class SpecialFunctions
{
    private const double TwoOverSqrtPi = 1.1283791670955126;
    private const double OneOverSqrtPi = 0.5641895835477563;

    /// <summary>
    /// The error function. |x| &lt; 2.5: its Maclaurin series (alternating, terms shrink fast
    /// enough that double precision loses only a few digits to cancellation). Beyond: erfc from
    /// its continued fraction, which converges quickly for large |x|. Absolute error &lt; 1e-12.
    /// </summary>
    public static double Erf(double x)
    {
        if (double.IsNaN(x)) return double.NaN;
        double ax = System.Math.Abs(x);
        if (ax < 2.5)
        {
            double x2 = x * x;
            double term = x;      // (-1)^n x^(2n+1) / n!
            double sum = x;
            for (int n = 1; n < 60; n++)
            {
                term *= -x2 / n;
                double add = term / (2 * n + 1);
                sum += add;
                if (System.Math.Abs(add) < 1e-17 * System.Math.Abs(sum)) break;
            }
            return TwoOverSqrtPi * sum;
        }
        if (ax > 6) return System.Math.Sign(x);
        // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), evaluated from the tail.
        double tail = ax;
        for (int k = 60; k >= 1; k--) tail = ax + k * 0.5 / tail;
        double erfc = System.Math.Exp(-ax * ax) * OneOverSqrtPi / tail;
        return System.Math.Sign(x) * (1.0 - erfc);
    }

    public static float Erf(float x) => (float)Erf((double)x);
}
