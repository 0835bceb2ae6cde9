namespace QuantBuild.Calibration;

/// <summary>
/// Clips at the p-th percentile of |x| (symmetric), as ONNX Runtime's percentile calibrator does:
/// the threshold is the lower edge of the first bin whose cumulative share reaches p/100, so
/// p = 100 gives the highest occupied bin's lower edge, within one bin of max|x|.
/// </summary>
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
        float t = (float)h.Edge(k);
        return new(Math.Max(-t, h.Min), Math.Min(t, h.Max));
    }
}
