namespace QuantBuild.Calibration;

/// <summary>
/// Streaming histogram of log2 x for the positive values of one activation (docs/algorithms/weq.md, "Histogram"): 1024 bins of
/// 1/16 octave over log2 x ∈ [−40, 24); values outside go to the end bins, x ≤ 0 (and NaN) are not counted.
/// Fixed size whatever the number of samples.
/// </summary>
public sealed class Log2Histogram
{
    public const int Bins = 1024;
    /// <summary>Bins per octave.</summary>
    public const int PerOctave = 16;
    /// <summary>Bin index of log2 x = 0 (the range starts at −40 octaves).</summary>
    public const int ZeroBin = 40 * PerOctave;

    public long[] Counts { get; } = new long[Bins];
    public long Positive { get; private set; }
    /// <summary>Largest value seen (0 when none was positive).</summary>
    public double Max { get; private set; }

    public void Add(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
        {
            if (!(v > 0) || float.IsInfinity(v)) continue;
            Counts[BinOf(v)]++;
            Positive++;
            if (v > Max) Max = v;
        }
    }

    /// <summary>floor(16·log2 x) + 640, clamped to the table.</summary>
    public static int BinOf(double x) => Math.Clamp((int)Math.Floor(PerOctave * Math.Log2(x)) + ZeroBin, 0, Bins - 1);
}

/// <summary>
/// The usual range collector of an activation plus its <see cref="Log2Histogram"/>, for the ReLU outputs that
/// get a log-domain level grid: the linear int8 range is still needed (the producer writes linear codes).
/// </summary>
public sealed class LevelGridCollector(IRangeCollector inner) : IRangeCollector
{
    public Log2Histogram Histogram { get; } = new();

    public void Observe(ReadOnlySpan<float> values)
    {
        inner.Observe(values);
        Histogram.Add(values);
    }

    public ActivationRange ComputeRange() => inner.ComputeRange();
}
