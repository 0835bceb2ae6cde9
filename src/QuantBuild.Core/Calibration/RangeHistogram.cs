namespace QuantBuild.Calibration;

/// <summary>
/// A fixed-size histogram whose range grows by doubling. It covers [-Top, Top) for signed data
/// or [0, Top) for magnitudes; when a value lands beyond Top, Top doubles and neighbouring bins
/// merge pairwise. Because zero always sits on a bin edge, merged bins stay aligned with the old
/// ones and no count is ever split. Memory is constant whatever the number of samples: the
/// calibration contract (ORT instead appends bins, which grows without bound). With
/// <c>sums</c> it also keeps each bin's sum of values, so a bin's mean stands in for its values more
/// closely than its centre (a near-constant tensor fills one bin whose centre can lie outside the data).
/// </summary>
public sealed class RangeHistogram
{
    public RangeHistogram(int bins = 2048, bool magnitude = false, bool sums = false)
    {
        if (bins < 4 || bins % 2 != 0) throw new ArgumentOutOfRangeException(nameof(bins), "needs an even count of at least 4");
        Counts = new double[bins];
        Sums = sums ? new double[bins] : null;
        IsMagnitude = magnitude;
    }

    public double[] Counts { get; }
    /// <summary>Sum of the (absolute, for magnitudes) values in each bin, when asked for.</summary>
    public double[]? Sums { get; }
    public bool IsMagnitude { get; }
    public double Top { get; private set; }
    public double Total { get; private set; }
    public float Min { get; private set; } = float.PositiveInfinity;
    public float Max { get; private set; } = float.NegativeInfinity;

    public int BinCount => Counts.Length;
    public double Lower => IsMagnitude ? 0 : -Top;
    public double BinWidth => (Top - Lower) / Counts.Length;
    public double Edge(int i) => Lower + i * BinWidth;
    public double Center(int i) => Lower + (i + 0.5) * BinWidth;
    /// <summary>
    /// Edge i as the nearest float32 at or above it: every value counted below the edge is then ≤ the returned
    /// threshold, so a range ending there keeps them all (a plain cast may round the edge below such a value).
    /// </summary>
    public float EdgeRoundedUp(int i)
    {
        double edge = Edge(i);
        float f = (float)edge;
        return f < edge ? MathF.BitIncrement(f) : f;
    }

    /// <summary>Mean of bin i's values when sums are kept, else its centre.</summary>
    public double Mean(int i) => Sums is not null && Counts[i] > 0 ? Sums[i] / Counts[i] : Center(i);

    public void Add(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty) return;
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) throw new ArgumentException("calibration data holds NaN or infinity", nameof(values));
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        Min = Math.Min(Min, lo);
        Max = Math.Max(Max, hi);
        double needed = Math.Max(Math.Abs((double)lo), Math.Abs((double)hi));
        if (needed == 0 && Top == 0)
        {
            // All zeros so far: remember the mass, place it once a range exists.
            _pendingZeros += values.Length;
            Total += values.Length;
            return;
        }
        if (Top == 0) Top = needed * (1 + 1e-6) + double.Epsilon;
        while (needed >= Top) Grow();
        if (_pendingZeros > 0) { Counts[IndexOf(0)] += _pendingZeros; _pendingZeros = 0; }

        double scale = Counts.Length / (Top - Lower);
        double lower = Lower;
        int last = Counts.Length - 1;
        var sums = Sums;
        foreach (var v in values)
        {
            double x = IsMagnitude ? Math.Abs((double)v) : v;
            int i = (int)((x - lower) * scale);
            i = i < 0 ? 0 : i > last ? last : i;
            Counts[i] += 1;
            if (sums is not null) sums[i] += x;
        }
        Total += values.Length;
    }

    private double _pendingZeros;

    private int IndexOf(double x)
    {
        int i = (int)((x - Lower) / BinWidth);
        return Math.Clamp(i, 0, Counts.Length - 1);
    }

    private void Grow()
    {
        Merge(Counts);
        if (Sums is not null) Merge(Sums);
        Top *= 2;
    }

    private void Merge(double[] bins)
    {
        int n = bins.Length;
        var merged = new double[n];
        if (IsMagnitude)
        {
            // [0,T) -> [0,2T): old bins 2k,2k+1 become new bin k.
            for (int k = 0; k < n / 2; k++) merged[k] = bins[2 * k] + bins[2 * k + 1];
        }
        else
        {
            // [-T,T) -> [-2T,2T): the old range lands in the middle half, two old bins per new bin.
            int quarter = n / 4;
            for (int k = 0; k < n / 2; k++) merged[quarter + k] = bins[2 * k] + bins[2 * k + 1];
            if (n % 4 != 0) throw new InvalidOperationException("signed histograms need a bin count divisible by 4");
        }
        Array.Copy(merged, bins, n);
    }
}
