namespace QuantBuild.Quantization;

/// <summary>
/// Weighted-entropy-based weight quantization (Park, Ahn, Yoo, CVPR 2017, Algorithm 1; docs/algorithms/weq.md, "Weights (Algorithm 1)"),
/// paper variant: the non-negative weights and the magnitudes of the negative ones are clustered
/// separately into N/2 clusters each (N = 2^bits), every cluster a contiguous range of the
/// importance-sorted weights (importance w²). Boundaries start equal-population and each sweep moves every
/// inner boundary to the position in its neighbours' span that maximises the weighted entropy
/// S = −Σ I_n·P_n·ln P_n (P_n = share of the tensor's weights, I_n = mean importance), until a sweep
/// changes nothing. A cluster's representative is sqrt(I_n), the RMS of its magnitudes; a weight takes
/// the representative of the cluster with the largest lower boundary ≤ |w|.
/// Code layout: 0 … N/2−1 the negative representatives from most negative up, N/2 … N−1 the
/// non-negative ones ascending, so the table is non-decreasing.
/// </summary>
public sealed class WeqQuantizer : IWeightQuantizer
{
    public const string MethodName = "weq";

    /// <summary>Sweeps before giving up on convergence (each sweep strictly raises S, so it always ends; this bounds time).</summary>
    public const int MaxSweeps = 200;

    public WeightQuantization Quantize(WeightQuantizationRequest r) =>
        CodebookWeights.Build(r, MethodName, r.Settings.Bits, values => QuantizeGroup(values, r.Settings.Bits));

    /// <summary>The clusters of one sign group.</summary>
    /// <param name="Cuts">cluster m holds sorted elements [Cuts[m], Cuts[m+1])</param>
    /// <param name="Representatives">sqrt(mean importance) per cluster; an empty cluster repeats its nearest non-empty neighbour's</param>
    /// <param name="Entropy">the group's weighted entropy S at the end</param>
    public sealed record Clustering(double[] SortedMagnitudes, int[] Cuts, double[] Representatives, double Entropy, int Sweeps)
    {
        /// <summary>Cluster of a magnitude: the non-empty cluster with the largest lower boundary ≤ x (else the first non-empty one).</summary>
        public int Assign(double magnitude)
        {
            int chosen = -1;
            for (int m = 0; m < Representatives.Length; m++)
            {
                if (Cuts[m] == Cuts[m + 1]) continue;
                if (chosen < 0 || SortedMagnitudes[Cuts[m]] <= magnitude) chosen = m;
                else break;
            }
            return Math.Max(chosen, 0);
        }
    }

    public static CodebookGroup QuantizeGroup(float[] values, int bits)
    {
        int perSign = (1 << bits) / 2;
        var nonNegative = values.Where(v => v >= 0).Select(v => (double)v).Order().ToArray();
        var negative = values.Where(v => v < 0).Select(v => -(double)v).Order().ToArray();
        var positive = Cluster(nonNegative, perSign, values.Length);
        var negatives = Cluster(negative, perSign, values.Length);
        var table = new double[2 * perSign];
        for (int m = 0; m < perSign; m++)
        {
            table[perSign + m] = positive.Representatives[m];
            table[perSign - 1 - m] = -negatives.Representatives[m];
        }
        var codes = new int[values.Length];
        for (int i = 0; i < values.Length; i++)
            codes[i] = values[i] >= 0 ? perSign + positive.Assign(values[i]) : perSign - 1 - negatives.Assign(-(double)values[i]);
        return new CodebookGroup(table, codes);
    }

    /// <summary>
    /// Algorithm 1 on one group: <paramref name="sortedMagnitudes"/> ascending, <paramref name="clusters"/>
    /// clusters, shares P_n relative to <paramref name="totalCount"/> (the whole tensor's weight count).
    /// Exhaustive neighbour scan with prefix sums: O(n) per sweep.
    /// </summary>
    public static Clustering Cluster(double[] sortedMagnitudes, int clusters, int totalCount)
    {
        int n = sortedMagnitudes.Length;
        var prefix = new double[n + 1];
        for (int i = 0; i < n; i++) prefix[i + 1] = prefix[i] + sortedMagnitudes[i] * sortedMagnitudes[i];
        var cuts = new int[clusters + 1];
        for (int m = 0; m <= clusters; m++) cuts[m] = (int)((long)n * m / clusters);

        double Term(int from, int to) => ClusterTerm(prefix, from, to, totalCount);
        int sweeps = 0;
        for (bool changed = clusters > 1 && n > 0; changed && sweeps < MaxSweeps; sweeps++)
        {
            changed = false;
            for (int m = 1; m < clusters; m++)
            {
                int lo = cuts[m - 1], hi = cuts[m + 1];
                int best = cuts[m];
                double bestS = Term(lo, best) + Term(best, hi);
                for (int c = lo; c <= hi; c++)
                {
                    double s = Term(lo, c) + Term(c, hi);
                    if (s > bestS) { bestS = s; best = c; }
                }
                if (best != cuts[m]) { cuts[m] = best; changed = true; }
            }
        }

        var reps = new double[clusters];
        var filled = new bool[clusters];
        for (int m = 0; m < clusters; m++)
        {
            int count = cuts[m + 1] - cuts[m];
            if (count == 0) continue;
            reps[m] = Math.Sqrt((prefix[cuts[m + 1]] - prefix[cuts[m]]) / count);
            filled[m] = true;
        }
        // Unused codes stand for the nearest used representative, so no code decodes to a value far from the data.
        for (int m = 0; m < clusters; m++)
        {
            if (filled[m]) continue;
            for (int d = 1; d < clusters; d++)
            {
                if (m - d >= 0 && filled[m - d]) { reps[m] = reps[m - d]; break; }
                if (m + d < clusters && filled[m + d]) { reps[m] = reps[m + d]; break; }
            }
        }
        return new Clustering(sortedMagnitudes, cuts, reps, Entropy(prefix, cuts, totalCount), sweeps);
    }

    /// <summary>S = Σ_n −I_n·P_n·ln P_n over the clusters given by <paramref name="cuts"/> (0·ln 0 = 0).</summary>
    public static double Entropy(double[] prefixImportance, int[] cuts, int totalCount)
    {
        double s = 0;
        for (int m = 0; m + 1 < cuts.Length; m++) s += ClusterTerm(prefixImportance, cuts[m], cuts[m + 1], totalCount);
        return s;
    }

    /// <summary>−I·P·ln P of the cluster [from, to): I·P = Σ importance / N_w needs only the prefix sums.</summary>
    private static double ClusterTerm(double[] prefix, int from, int to, int totalCount)
    {
        int count = to - from;
        if (count <= 0) return 0;
        double share = (double)count / totalCount;
        return -(prefix[to] - prefix[from]) / totalCount * Math.Log(share);
    }
}
