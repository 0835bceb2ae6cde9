namespace QuantBuild.Calibration;

/// <summary>
/// KL-divergence (entropy) calibration over a histogram of |x| (docs/algorithms/calibration.md, "entropy"). For each
/// candidate threshold t (a bin edge), P is the histogram below t with every clipped count folded into its
/// last bin, Q is P's in-range part merged into as many groups as the int8 grid has steps on [0, t] and
/// spread back evenly over P's occupied bins; the t with the smallest KL(P‖Q) wins.
/// <para>
/// KL(P‖Q) only scores how well the grid reproduces the <em>clipped</em> distribution; it does not price the
/// clipping. When most of a tensor sits in one narrow spike away from zero (a LayerNorm variance: nearly
/// everything at ≈ 0.25, a sparse tail to 2.45), a threshold just above the spike leaves P and Q almost one
/// bin each and scores ≈ 0 however much of the tail it folds away, so every wider threshold lost and the
/// range collapsed to the spike. Two rules close that: candidates never clip more than
/// <see cref="MaxClippedFraction"/> of the values (entropy may only trim the tail), and a one-sided tensor
/// is scored on the grid it will really get, 2^bits − 1 steps on [0, t] with its observed minimum kept as
/// the lower end, instead of half of a symmetric grid.
/// </para>
/// </summary>
public sealed class EntropyCollector : IRangeCollector
{
    /// <summary>The largest share of the observed values a threshold may clip.</summary>
    public const double MaxClippedFraction = 0.01;

    private readonly RangeHistogram _histogram;
    private readonly int _bits;

    public EntropyCollector(int bins = 2048, int bits = 8)
    {
        if (bits is < 2 or > 16) throw new ArgumentOutOfRangeException(nameof(bits));
        _histogram = new RangeHistogram(bins, magnitude: true);
        _bits = bits;
    }

    public void Observe(ReadOnlySpan<float> values) => _histogram.Add(values);

    /// <summary>Quantized groups on [0, t]: the steps of [0, t] for one-sided data, one side of the symmetric grid otherwise.</summary>
    internal static int Levels(int bits, bool oneSided) => oneSided ? (1 << bits) - 1 : 1 << (bits - 1);

    public ActivationRange ComputeRange()
    {
        var h = _histogram;
        if (h.Total == 0 || h.Top == 0) return new(0, 0);
        bool nonNegative = h.Min >= 0, nonPositive = h.Max <= 0;
        int levels = Levels(_bits, nonNegative || nonPositive);
        int bins = h.BinCount;

        // The smallest slice that keeps all but MaxClippedFraction of the values (counts above a bin edge
        // shrink as the edge rises, so every slice from here up keeps at least as much).
        double allowed = MaxClippedFraction * h.Total, above = 0;
        int first = bins;
        while (first > 1 && above + h.Counts[first - 1] <= allowed) above += h.Counts[--first];
        first = Math.Max(first, Math.Min(levels, bins));

        var groupMass = new double[levels];
        var groupOccupied = new int[levels];
        double total = h.Counts.Sum(), bestKl = double.PositiveInfinity, clipped = 0;
        int best = bins;
        // Widest first and only a strict improvement replaces the best: ties keep the wider range.
        for (int slice = bins; slice >= first; slice--)
        {
            if (slice < bins) clipped += h.Counts[slice];
            double kl = Divergence(h.Counts, total, slice, clipped, Math.Min(levels, slice), groupMass, groupOccupied);
            if (kl < bestKl) { bestKl = kl; best = slice; }
        }
        float t = h.EdgeRoundedUp(best);
        // One-sided tensors keep their observed minimum (or maximum) and only lose their far tail.
        if (nonNegative) return new(h.Min, Math.Min(t, h.Max));
        if (nonPositive) return new(Math.Max(-t, h.Min), h.Max);
        return new(Math.Max(-t, h.Min), Math.Min(t, h.Max));
    }

    /// <summary>
    /// KL(P‖Q) for the first <paramref name="slice"/> bins of a magnitude histogram holding <paramref name="totalP"/>
    /// counts, <paramref name="clipped"/> of them above the slice, quantized to <paramref name="groups"/> levels. <paramref name="groupMass"/> and
    /// <paramref name="groupOccupied"/> are scratch space of at least <paramref name="groups"/> elements.
    /// </summary>
    /// <remarks>
    /// P and Q are smoothed as usual (every empty position gets <see cref="Epsilon"/>, taken evenly from the
    /// occupied ones), but without materialising them: smoothing keeps each total, and a position empty in P is
    /// empty in Q too, so all those positions add the same term, counted once.
    /// </remarks>
    internal static double Divergence(double[] counts, double totalP, int slice, double clipped, int groups, double[] groupMass, int[] groupOccupied)
    {
        double P(int i) => i == slice - 1 ? counts[i] + clipped : counts[i];
        int emptyP = 0, emptyQ = 0;
        double totalQ = 0;
        for (int g = 0; g < groups; g++)
        {
            // Group g holds bins [g·slice/groups, (g+1)·slice/groups): as even as integer bins allow.
            int from = GroupStart(g, slice, groups), to = GroupStart(g + 1, slice, groups);
            double mass = 0;
            int occupied = 0;
            for (int i = from; i < to; i++)
            {
                mass += counts[i];
                if (P(i) != 0) occupied++;
            }
            groupMass[g] = mass;
            groupOccupied[g] = occupied;
            emptyP += to - from - occupied;
            // Q spreads the group's in-range count over P's occupied bins; a group holding only clipped
            // counts (the last one) leaves them empty in Q.
            emptyQ += mass > 0 ? to - from - occupied : to - from;
            totalQ += mass;
        }
        if (emptyP == slice || emptyQ == slice) return double.PositiveInfinity;
        double takeP = Epsilon * emptyP / (slice - emptyP), takeQ = Epsilon * emptyQ / (slice - emptyQ);

        // Positions empty in both: (ε/ΣP)·ln((ε/ΣP)/(ε/ΣQ)) each.
        double kl = emptyP * (Epsilon / totalP) * Math.Log(totalQ / totalP);
        for (int g = 0; g < groups; g++)
        {
            int from = GroupStart(g, slice, groups), to = GroupStart(g + 1, slice, groups);
            double spread = groupMass[g] > 0 ? groupMass[g] / groupOccupied[g] - takeQ : Epsilon;
            for (int i = from; i < to; i++)
            {
                double pi = P(i);
                if (pi == 0) continue;
                pi -= takeP;
                // Smoothing must not empty an occupied position; such a candidate cannot be scored.
                if (pi <= 0 || spread <= 0) return double.PositiveInfinity;
                kl += pi / totalP * Math.Log(pi / totalP / (spread / totalQ));
            }
        }
        return kl;
    }

    /// <summary>The count given to an empty position when P and Q are smoothed.</summary>
    internal const double Epsilon = 1e-4;

    private static int GroupStart(int g, int slice, int groups) => (int)((long)g * slice / groups);
}
