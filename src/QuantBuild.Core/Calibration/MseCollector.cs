namespace QuantBuild.Calibration;

/// <summary>
/// Picks the clipping threshold that minimises the expected squared quantization error of the
/// observed distribution (docs/algorithms/calibration.md, "mse"), counting both rounding error inside the range and
/// clipping error outside it. Each bin stands for its count of values at the bin's mean. A candidate t
/// gives the range the collector would return, [max(−t, min), min(t, max)] widened to contain 0, and is
/// scored on the 2^bits − 1 steps of that range, so a one-sided tensor (either sign) is scored on the grid
/// it really gets. Candidates are bin edges from 1/16 of the histogram's range up to its top, plus the
/// observed max|x| itself, so the result is never worse than min-max on the same histogram; ties keep the
/// wider range.
/// </summary>
public sealed class MseCollector(int bits = 8, int bins = 2048) : IRangeCollector
{
    // Bin means, not centres: a near-constant tensor fills one bin whose centre lies half a bin below the
    // data, and the threshold at that bin's lower edge (which clips every value) then lost to the full
    // range only by the histogram's 1e-6 headroom.
    private readonly RangeHistogram _histogram = new(bins, magnitude: false, sums: true);

    public void Observe(ReadOnlySpan<float> values) => _histogram.Add(values);

    public ActivationRange ComputeRange()
    {
        var h = _histogram;
        if (h.Total == 0 || h.Top == 0) return new(0, 0);
        int levels = (1 << bits) - 1;
        double fullRange = Math.Max(Math.Abs((double)h.Min), Math.Abs((double)h.Max));
        double best = Error(h, fullRange, levels), bestT = fullRange;
        int center = h.BinCount / 2;
        int first = Math.Max(1, center / 16);
        // Widest first; a narrower threshold has to be strictly better to replace the min-max one.
        for (int i = center; i >= first; i--)
        {
            double t = i * h.BinWidth;
            if (t >= fullRange) continue;
            double err = Error(h, t, levels);
            if (err < best) { best = err; bestT = t; }
        }
        return Clip(h, bestT);
    }

    /// <summary>The range threshold <paramref name="t"/> gives: symmetric ±t clamped to the observed extremes.</summary>
    internal static ActivationRange Clip(RangeHistogram h, double t)
    {
        float top = (float)t;
        return new(Math.Max(-top, h.Min), Math.Min(top, h.Max));
    }

    /// <summary>
    /// Mean squared error of fake-quantizing every bin mean on the range threshold <paramref name="t"/> gives,
    /// widened to contain 0 (as the scale rule does), with <paramref name="levels"/> steps.
    /// </summary>
    internal static double Error(RangeHistogram h, double t, int levels)
    {
        var r = Clip(h, t);
        double lo = Math.Min(r.Min, 0), hi = Math.Max(r.Max, 0);
        double step = (hi - lo) / levels;
        if (step <= 0) return double.PositiveInfinity;
        double sum = 0;
        for (int k = 0; k < h.BinCount; k++)
        {
            double count = h.Counts[k];
            if (count == 0) continue;
            double c = h.Mean(k);
            double q = c <= lo ? lo : c >= hi ? hi : lo + Math.Round((c - lo) / step, MidpointRounding.ToEven) * step;
            double d = c - q;
            sum += count * d * d;
        }
        return sum / h.Total;
    }
}
