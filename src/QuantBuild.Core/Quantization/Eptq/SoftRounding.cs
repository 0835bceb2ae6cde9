namespace QuantBuild.Quantization.Eptq;

/// <summary>
/// AdaRound-style soft rounding (docs/algorithms/eptq.md, "Soft rounding" and "Regularizer and annealing"): a weight's code is floor(W/Δ) + h(V) where
/// h is a rectified sigmoid of a free variable V; a regularizer with an annealed exponent β drives h
/// to 0 or 1, after which rounding is hard again (h ≥ 0.5 → up).
/// </summary>
public static class SoftRounding
{
    /// <summary>Stretch of the rectified sigmoid (ζ, γ): h reaches exactly 0 and 1 at finite V.</summary>
    public const double Zeta = 1.1, Gamma = -0.1;
    /// <summary>β schedule (docs/algorithms/eptq.md, "Regularizer and annealing"): 20 during the first 20% of the steps, then linearly down to 2.</summary>
    public const double BetaStart = 20, BetaEnd = 2, WarmFraction = 0.2;

    /// <summary>h(V) = clamp(sigmoid(V)·(ζ − γ) + γ, 0, 1).</summary>
    public static double H(double v) => Math.Clamp(Sigmoid(v) * (Zeta - Gamma) + Gamma, 0, 1);

    /// <summary>dh/dV; 0 where the clamp is active.</summary>
    public static double DhDv(double v)
    {
        double s = Sigmoid(v);
        double raw = s * (Zeta - Gamma) + Gamma;
        return raw <= 0 || raw >= 1 ? 0 : s * (1 - s) * (Zeta - Gamma);
    }

    /// <summary>The V with h(V) = r for a fractional part r in [0, 1] (always finite since r − γ ≥ 0.1).</summary>
    public static double InitialV(double r) => -Math.Log((Zeta - Gamma) / (r - Gamma) - 1);

    /// <summary>β at a 0-based step of <paramref name="total"/> steps.</summary>
    public static double Beta(int step, int total)
    {
        if (total <= 1) return BetaEnd;
        double t = (double)step / (total - 1);
        if (t <= WarmFraction) return BetaStart;
        return BetaStart + (BetaEnd - BetaStart) * (t - WarmFraction) / (1 - WarmFraction);
    }

    /// <summary>One element's regularizer 1 − |2h − 1|^β (0 when h ∈ {0, 1}, 1 at h = 0.5).</summary>
    public static double Regularizer(double h, double beta) => 1 - Math.Pow(Math.Abs(2 * h - 1), beta);

    /// <summary>d(1 − |2h − 1|^β)/dh.</summary>
    public static double RegularizerGradient(double h, double beta)
    {
        double u = 2 * h - 1;
        if (u == 0) return 0;
        return -beta * Math.Pow(Math.Abs(u), beta - 1) * Math.Sign(u) * 2;
    }

    private static double Sigmoid(double v) => v >= 0 ? 1 / (1 + Math.Exp(-v)) : Math.Exp(v) / (1 + Math.Exp(v));
}

/// <summary>Adam over one flat parameter vector (double precision, fixed element order: deterministic).</summary>
public sealed class AdamState(int length, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
{
    private readonly double[] _m = new double[length], _v = new double[length];
    private int _step;

    public double LearningRate { get; } = learningRate;

    public void Step(double[] parameters, double[] gradient)
    {
        _step++;
        double c1 = 1 - Math.Pow(beta1, _step), c2 = 1 - Math.Pow(beta2, _step);
        for (int i = 0; i < parameters.Length; i++)
        {
            double g = gradient[i];
            _m[i] = beta1 * _m[i] + (1 - beta1) * g;
            _v[i] = beta2 * _v[i] + (1 - beta2) * g * g;
            parameters[i] -= LearningRate * (_m[i] / c1) / (Math.Sqrt(_v[i] / c2) + epsilon);
        }
    }
}
