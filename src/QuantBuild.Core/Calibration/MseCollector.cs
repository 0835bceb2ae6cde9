namespace QuantBuild.Calibration;

/// <summary>
/// Picks the clipping threshold that minimises the expected squared quantization error of the
/// observed distribution (histogram centres weighted by their counts), counting both rounding
/// error inside the range and clipping error outside it. Candidates are bin edges from 1/16 of
/// the histogram's range up to its top, which always includes the full range, so the result is
/// never worse than min-max on the same histogram.
/// </summary>
public sealed class MseCollector(int bits = 8, int bins = 2048) : IRangeCollector
{
    private readonly RangeHistogram _histogram = new(bins, magnitude: false);

    public void Observe(ReadOnlySpan<float> values) => _histogram.Add(values);

    public ActivationRange ComputeRange()
    {
        var h = _histogram;
        if (h.Total == 0 || h.Top == 0) return new(0, 0);
        bool nonNegative = h.Min >= 0;
        int levels = (1 << bits) - 1;
        double fullRange = Math.Max(Math.Abs(h.Min), Math.Abs(h.Max));
        double best = double.PositiveInfinity, bestT = fullRange;
        int center = h.BinCount / 2;
        int first = Math.Max(1, center / 16);
        // The candidate set ends at the exact observed extreme: that is the min-max threshold.
        var candidates = Enumerable.Range(first, center - first + 1).Select(i => i * h.BinWidth)
            .Where(t => t < fullRange).Append(fullRange).ToArray();
        foreach (double t in candidates)
        {
            double err = Error(h, t, nonNegative, levels);
            if (err < best) { best = err; bestT = t; }
        }
        float top = (float)bestT;
        return nonNegative ? new(0, Math.Min(top, h.Max)) : new(Math.Max(-top, h.Min), Math.Min(top, h.Max));
    }

    /// <summary>Mean squared error of fake-quantizing every bin centre with range [-t,t] (or [0,t]).</summary>
    internal static double Error(RangeHistogram h, double t, bool nonNegative, int levels)
    {
        double lo = nonNegative ? 0 : -t, hi = t;
        double step = (hi - lo) / levels;
        double sum = 0;
        for (int k = 0; k < h.BinCount; k++)
        {
            double count = h.Counts[k];
            if (count == 0) continue;
            double c = h.Center(k);
            double q = c <= lo ? lo : c >= hi ? hi : lo + Math.Round((c - lo) / step, MidpointRounding.ToEven) * step;
            double d = c - q;
            sum += count * d * d;
        }
        return sum / h.Total;
    }
}
