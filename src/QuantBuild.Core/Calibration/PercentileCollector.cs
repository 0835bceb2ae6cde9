namespace QuantBuild.Calibration;

/// <summary>
/// Clips at the p-th percentile of |x| (docs/algorithms/calibration.md, "percentile"): the threshold is the
/// <em>upper</em> edge of the first bin whose cumulative share reaches p/100, so at least p% of the values
/// lie below it and at most (100 − p)% are clipped. The range is then clamped to the observed minimum and
/// maximum, so p = 100 gives exactly the min-max range, and a one-sided tensor keeps its observed lower end.
/// </summary>
/// <remarks>
/// ONNX Runtime takes the bin's lower edge instead. That clips the whole bin holding the percentile, which
/// for a near-constant tensor (every value in the top bin) is every value: the range ended below the data.
/// </remarks>
public sealed class PercentileCollector(double percentile = 99.999, int bins = 2048) : IRangeCollector
{
    private readonly RangeHistogram _histogram = new(bins, magnitude: true);

    public void Observe(ReadOnlySpan<float> values) => _histogram.Add(values);

    public ActivationRange ComputeRange()
    {
        var h = _histogram;
        if (h.Total == 0 || h.Top == 0) return new(0, 0);
        double target = percentile / 100.0 * h.Total, cumulative = 0;
        int k = h.BinCount - 1;
        for (int i = 0; i < h.BinCount; i++)
        {
            cumulative += h.Counts[i];
            if (cumulative >= target * (1 - 1e-12)) { k = i; break; }
        }
        float t = h.EdgeRoundedUp(k + 1);
        return new(Math.Max(-t, h.Min), Math.Min(t, h.Max));
    }
}
