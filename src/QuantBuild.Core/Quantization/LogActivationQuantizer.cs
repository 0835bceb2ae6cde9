using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Runtime;

namespace QuantBuild.Quantization;

/// <summary>
/// A ReLU output re-coded on N = 2^Bits levels: index 0 is the value 0, indices 1..N−1 are increasing
/// levels. The producer still writes <see cref="Linear"/> int8 codes; a 256-entry table maps each code to the
/// index of the level its real value falls into (x ≥ Thresholds[n−1] ⇒ index ≥ n), and the consumer
/// multiplies by <see cref="TableLevels"/>[index]·<see cref="TableScale"/> (int16 fixed point: every level that
/// is at least 2^−15 of the top level keeps ~4 significant digits; smaller ones may round to 0).
/// </summary>
public sealed record LogActivationQuantization(string Name, ActivationLevelGrid Grid, int Bits, ActivationQuantization Linear,
    double[] Levels, double[] Thresholds, float TableScale, short[] TableLevels)
{
    /// <summary>Exponent step between log levels in 1/16 octaves (0 for the uniform grid).</summary>
    public int Step { get; init; }
    /// <summary>Exponent of level 1 in 1/16 octaves: L_1 = 2^(Offset/16) (log grids).</summary>
    public int Offset { get; init; }
    /// <summary>Weighted entropy S of the chosen configuration on the calibration histogram (docs/algorithms/weq.md, "Activation levels").</summary>
    public double WeightedEntropy { get; init; }

    public int LevelCount => Levels.Length;

    /// <summary>The level index of a real value: the number of thresholds ≤ x (0 for x ≤ 0).</summary>
    public int LevelIndex(double x)
    {
        int n = 0;
        while (n < Thresholds.Length && x >= Thresholds[n]) n++;
        return n;
    }

    /// <summary>The value the deployed model uses for level <paramref name="index"/> (int16 level · table scale, float32).</summary>
    public float DeployedLevel(int index) => TableLevels[index] * TableScale;

    /// <summary>Entry c + 128: the level index of linear int8 code c (the runtime's encoding table).</summary>
    public sbyte[] EncodingTable()
    {
        var table = new sbyte[256];
        var q = new QuantParams(Linear.Scale, Linear.Signed ? Linear.ZeroPoint : Linear.ZeroPoint - 128);
        for (int c = -128; c <= 127; c++) table[c + 128] = unchecked((sbyte)LevelIndex(q.Dequantize(c))); // 8-bit grids: indices ≥ 128 wrap, read as byte
        return table;
    }

    /// <summary>Entry c − qmin: the deployed real value of the level linear code c maps to (the QDQ file's Gather table).</summary>
    public float[] CodeValues()
    {
        var values = new float[Linear.QMax - Linear.QMin + 1];
        for (int c = Linear.QMin; c <= Linear.QMax; c++)
            values[c - Linear.QMin] = DeployedLevel(LevelIndex((c - Linear.ZeroPoint) * Linear.Scale));
        return values;
    }
}

/// <summary>
/// Chooses the level grid of one ReLU output from its <see cref="Log2Histogram"/> (docs/algorithms/logquant.md, "Activation grid"; docs/algorithms/weq.md, "Activation levels") and
/// builds the deployable form (thresholds, int16 level table). Level n ≥ 1 of a log grid is
/// L_n = 2^((off + (n−1)·step)/16); it covers the log-bins [off + (n−1)·step − step/2, off + (n−1)·step + step/2),
/// the last level everything above, and everything below level 1's lower edge is the zero level.
/// </summary>
public static class LogActivationQuantizer
{
    /// <summary>Steps the weighted-log search tries: 2, 4, …, 32 sixteenths of an octave (base 2^(1/8) … 4).</summary>
    public static readonly int[] Steps = Enumerable.Range(1, 16).Select(i => 2 * i).ToArray();

    public static LogActivationQuantization Quantize(ActivationLevelGrid grid, int bits, ActivationQuantization linear, Log2Histogram histogram)
    {
        if (bits < 1 || bits > 8) throw new ArgumentOutOfRangeException(nameof(bits), "level bits must be 1..8");
        int levels = 1 << bits;
        // Values below half the linear step are already code z (real 0) when the encoding table sees them, so the
        // search only counts what survives the producer's int8 rounding; the top is the largest linear value.
        double top = (linear.QMax - linear.ZeroPoint) * (double)linear.Scale;
        var counts = Masked(histogram, linear.Scale / 2.0);
        if (counts.All(c => c == 0))
        {
            // Edge case (docs/algorithms/weq.md, "Activation level search"): no positive value survives (all activations ≤ 0) → every code is the zero level.
            return Build(linear, grid, bits, new double[levels], Enumerable.Repeat(double.MaxValue, levels - 1).ToArray(), 0, 0, 0);
        }
        switch (grid)
        {
            case ActivationLevelGrid.Uniform:
            {
                double delta = top / (levels - 1);
                var values = Enumerable.Range(0, levels).Select(n => n * delta).ToArray();
                var thresholds = Enumerable.Range(1, levels - 1).Select(n => (n - 0.5) * delta).ToArray();
                return Build(linear, grid, bits, values, thresholds, 0, 0, double.NaN);
            }
            case ActivationLevelGrid.Log:
            {
                // docs/algorithms/logquant.md, "Activation grid": FSR = round(log2 max) + 1; levels are the exponents FSR−N+1 … FSR−1 (step = one octave).
                int fsr = top > 0 ? LogQuantizer.RoundLog2(top) + 1 : 0;
                int off = Log2Histogram.PerOctave * (fsr - levels + 1);
                return FromLogConfig(linear, grid, bits, 16, off, WeightedEntropy(counts, 16, off, levels));
            }
            case ActivationLevelGrid.WeightedLog:
            {
                var (step, off, s) = Search(counts, levels);
                return FromLogConfig(linear, grid, bits, step, off, s);
            }
            default:
                throw new ArgumentException($"grid {grid} has no levels", nameof(grid));
        }
    }

    /// <summary>Counts with the bins entirely below <paramref name="floor"/> removed.</summary>
    public static long[] Masked(Log2Histogram histogram, double floor)
    {
        var counts = (long[])histogram.Counts.Clone();
        if (floor <= 0) return counts;
        for (int i = 0; i < counts.Length; i++)
        {
            // Bin i covers [2^((i−640)/16), 2^((i−639)/16)).
            if (Math.Pow(2, (i + 1 - Log2Histogram.ZeroBin) / (double)Log2Histogram.PerOctave) <= floor) counts[i] = 0;
            else break;
        }
        return counts;
    }

    /// <summary>
    /// Exhaustive search (docs/algorithms/weq.md, "Activation level search") over every step of <see cref="Steps"/> and every offset that puts some level centre
    /// inside the occupied bins and the last level's lower edge not above the last occupied bin; when no
    /// configuration satisfies the second condition (data narrower than the grid), that condition is dropped.
    /// (The authors' code starts higher, about 2.5 octaves above the lowest occupied bin; this range is a superset
    /// and contains LogQuant's configuration, so the search never scores below LogQuant.)
    /// Returns the configuration with the largest S (first found on ties: smallest step, then smallest offset).
    /// </summary>
    public static (int Step, int Offset, double S) Search(long[] counts, int levels)
    {
        var configs = Candidates(counts, levels).ToList();
        if (configs.Count == 0) return (16, 0, 0);
        int bestStep = configs[0].Step, bestOff = configs[0].Offset;
        double best = double.NegativeInfinity;
        var prefix = Prefix(counts);
        foreach (var (step, off) in configs)
        {
            double s = WeightedEntropyFromPrefix(prefix, step, off, levels);
            if (s > best) (best, bestStep, bestOff) = (s, step, off);
        }
        return (bestStep, bestOff, best);
    }

    /// <summary>The configurations <see cref="Search"/> evaluates, in its order.</summary>
    public static IEnumerable<(int Step, int Offset)> Candidates(long[] counts, int levels)
    {
        int lo = Array.FindIndex(counts, c => c > 0), hi = Array.FindLastIndex(counts, c => c > 0);
        if (lo < 0) return [];
        lo -= Log2Histogram.ZeroBin;
        hi -= Log2Histogram.ZeroBin;
        var fitting = new List<(int, int)>();
        var all = new List<(int, int)>();
        foreach (int step in Steps)
            for (int off = lo - (levels - 2) * step; off <= hi; off++)
            {
                all.Add((step, off));
                if (off + (levels - 2) * step - step / 2 <= hi) fitting.Add((step, off));
            }
        return fitting.Count > 0 ? fitting : all;
    }

    /// <summary>S = −Σ_{n=1}^{N−1} L_n·p_n·ln p_n with p_n the share of positive counts in level n (docs/algorithms/weq.md, "Activation levels").</summary>
    public static double WeightedEntropy(long[] counts, int step, int off, int levels) => WeightedEntropyFromPrefix(Prefix(counts), step, off, levels);

    private static double WeightedEntropyFromPrefix(long[] prefix, int step, int off, int levels)
    {
        long total = prefix[^1];
        if (total == 0) return 0;
        int half = step / 2;
        double s = 0;
        for (int n = 1; n < levels; n++)
        {
            int centre = off + (n - 1) * step;
            int from = Math.Clamp(centre - half + Log2Histogram.ZeroBin, 0, Log2Histogram.Bins);
            int to = n == levels - 1 ? Log2Histogram.Bins : Math.Clamp(centre + half + Log2Histogram.ZeroBin, 0, Log2Histogram.Bins);
            long mass = prefix[to] - prefix[from];
            if (mass == 0) continue;
            double p = (double)mass / total;
            s -= Math.Pow(2, centre / (double)Log2Histogram.PerOctave) * p * Math.Log(p);
        }
        return s;
    }

    private static long[] Prefix(long[] counts)
    {
        var prefix = new long[counts.Length + 1];
        for (int i = 0; i < counts.Length; i++) prefix[i + 1] = prefix[i] + counts[i];
        return prefix;
    }

    private static LogActivationQuantization FromLogConfig(ActivationQuantization linear, ActivationLevelGrid grid, int bits, int step, int off, double s)
    {
        int levels = 1 << bits;
        var values = new double[levels];
        var thresholds = new double[levels - 1];
        for (int n = 1; n < levels; n++)
        {
            values[n] = Pow2Sixteenths(2 * (off + (n - 1) * step), 32);
            // Lower edge of level n: half a step below its centre, in 1/32 octaves so odd half-steps stay exact.
            thresholds[n - 1] = Pow2Sixteenths(2 * off + (2 * n - 3) * step, 32);
        }
        return Build(linear, grid, bits, values, thresholds, step, off, s);
    }

    /// <summary>2^(numerator/denominator) as 2^integer · 2^fraction, so whole octaves are exact powers of two.</summary>
    private static double Pow2Sixteenths(int numerator, int denominator)
    {
        int whole = (int)Math.Floor((double)numerator / denominator);
        int rest = numerator - whole * denominator;
        double fraction = rest == 0 ? 1.0 : rest * 2 == denominator ? Math.Sqrt(2) : Math.Pow(2, (double)rest / denominator);
        return Math.ScaleB(fraction, whole);
    }

    private static LogActivationQuantization Build(ActivationQuantization linear, ActivationLevelGrid grid, int bits, double[] values, double[] thresholds, int step, int off, double s)
    {
        // int16 fixed point with the top level at 32767.
        double max = values.Max();
        float scale = max > 0 && float.IsNormal((float)(max / short.MaxValue)) ? (float)(max / short.MaxValue) : 1f;
        var table = values.Select(v => (short)Math.Clamp(Math.Round(v / scale, MidpointRounding.ToEven), 0, short.MaxValue)).ToArray();
        return new LogActivationQuantization(linear.Name, grid, bits, linear, values, thresholds, scale, table)
        { Step = step, Offset = off, WeightedEntropy = s };
    }
}
