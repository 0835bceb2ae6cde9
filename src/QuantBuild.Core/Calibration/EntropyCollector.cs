namespace QuantBuild.Calibration;

/// <summary>
/// KL-divergence (entropy) calibration: among symmetric thresholds, pick the one whose 128-level
/// quantized histogram Q stays closest to the clipped reference P (outlier mass folded into P's end
/// bins). QuantBuild uses 2048 bins and 128 quantized bins; ONNX Runtime's defaults (128/128) leave
/// only one candidate and degenerate to min-max.
/// </summary>
public sealed class EntropyCollector(int bins = 2048, int quantizedBins = 128) : IRangeCollector
{
    private readonly RangeHistogram _histogram = new(bins, magnitude: false);

    public void Observe(ReadOnlySpan<float> values) => _histogram.Add(values);

    public ActivationRange ComputeRange()
    {
        var h = _histogram;
        if (h.Total == 0 || h.Top == 0) return new(0, 0);
        int center = h.BinCount / 2;
        double bestKl = double.PositiveInfinity;
        int bestHalf = center;
        for (int half = Math.Max(1, quantizedBins / 2); half <= center; half++)
        {
            double kl = Divergence(h.Counts, center, half, quantizedBins);
            if (kl < bestKl) { bestKl = kl; bestHalf = half; }
        }
        float t = (float)(bestHalf * h.BinWidth);
        return new(Math.Max(-t, h.Min), Math.Min(t, h.Max));
    }

    /// <summary>KL(P‖Q) for the slice of <paramref name="half"/> bins either side of zero.</summary>
    internal static double Divergence(double[] counts, int center, int half, int quantizedBins)
    {
        int start = center - half, length = 2 * half;
        var p = new double[length];
        Array.Copy(counts, start, p, 0, length);
        double left = 0, right = 0;
        for (int i = 0; i < start; i++) left += counts[i];
        for (int i = start + length; i < counts.Length; i++) right += counts[i];
        p[0] += left;
        p[length - 1] += right;

        int groups = Math.Min(quantizedBins, length);
        var q = new double[length];
        int groupSize = length / groups;
        for (int g = 0; g < groups; g++)
        {
            int from = g * groupSize, to = g == groups - 1 ? length : from + groupSize;
            double mass = 0; int nonZero = 0;
            for (int i = from; i < to; i++) { mass += counts[start + i]; if (p[i] != 0) nonZero++; }
            if (nonZero == 0) continue;
            for (int i = from; i < to; i++) if (p[i] != 0) q[i] = mass / nonZero;
        }
        // Outlier mass sits in P's end bins only; Q spreads the in-slice mass. Smooth both.
        if (!Smooth(p) || !Smooth(q)) return double.PositiveInfinity;
        // Both are divided by P's total (all samples): Q lacks the clipped mass, and that loss must count.
        // Normalizing Q by its own smaller total made a slice with one occupied bin look lossless — for a
        // tensor bounded away from zero (a LayerNorm variance in [0.25, 2.45]) the narrowest slice that
        // reaches the data held everything in its end bin, scored KL ≈ 0 and clipped every value.
        double total = p.Sum(), kl = 0;
        for (int i = 0; i < length; i++)
        {
            double pi = p[i] / total, qi = q[i] / total;
            if (pi > 0) kl += pi * Math.Log(pi / qi);
        }
        return kl;
    }

    /// <summary>Gives empty positions a tiny mass taken evenly from the others; false if all are empty.</summary>
    private static bool Smooth(double[] v, double epsilon = 1e-4)
    {
        int zeros = 0;
        foreach (var x in v) if (x == 0) zeros++;
        int nonZeros = v.Length - zeros;
        if (nonZeros == 0) return false;
        double take = epsilon * zeros / nonZeros;
        for (int i = 0; i < v.Length; i++) v[i] = v[i] == 0 ? epsilon : v[i] - take;
        return true;
    }
}
