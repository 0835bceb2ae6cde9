namespace QuantBuild.Quantization.MixedPrecision;

/// <summary>
/// Exact multiple-choice knapsack (docs/mixed-precision.md, "Mixed precision under a weight budget"): pick exactly one option per group so that the
/// summed integer cost stays within a capacity and the summed value (sensitivity) is minimal.
/// <para>
/// Costs are first reduced without losing exactness: every group's cheapest option is subtracted (the
/// capacity shrinks by their sum) and the remaining costs are divided by their greatest common divisor
/// (any reachable total is a multiple of it, so flooring the capacity to it excludes nothing feasible).
/// Small reduced capacities run the table DP over cost units, O(groups · options · capacity); larger
/// ones run the Pareto-frontier DP, which keeps only the non-dominated (cost, value) pairs after each
/// group — also exact, and its size is bounded by the number of distinct reachable costs.
/// </para>
/// <para>
/// Determinism: options are examined in the order given and only a strict improvement replaces the
/// incumbent, so among equal objectives the earlier option of a group wins (callers order options by
/// descending bit width: a tie keeps more bits).
/// </para>
/// </summary>
public static class MultipleChoiceKnapsack
{
    /// <summary>Largest DP table (groups+1 × capacity+1 cells) before switching to the Pareto frontier.</summary>
    public const long TableCellLimit = 50_000_000;

    public enum Method { Auto, Table, Pareto }

    /// <summary>The chosen option per group and the objective, or null when even the cheapest options exceed the capacity.</summary>
    public sealed record Solution(int[] Choice, long Cost, double Value);

    /// <param name="costs">costs[g][o] ≥ 0: cost of option o of group g (e.g. bytes)</param>
    /// <param name="values">values[g][o]: what option o adds to the objective (e.g. measured output error)</param>
    /// <param name="capacity">upper bound on the summed cost</param>
    public static Solution? Solve(IReadOnlyList<long[]> costs, IReadOnlyList<double[]> values, long capacity, Method method = Method.Auto)
    {
        int groups = costs.Count;
        if (values.Count != groups) throw new ArgumentException("costs and values need one entry per group");
        for (int g = 0; g < groups; g++)
        {
            if (costs[g].Length == 0 || costs[g].Length != values[g].Length) throw new ArgumentException($"group {g} needs at least one option and one value per cost");
            if (costs[g].Any(c => c < 0)) throw new ArgumentException($"group {g} has a negative cost");
            if (values[g].Any(v => !double.IsFinite(v))) throw new ArgumentException($"group {g} has a non-finite value");
        }

        var minimum = costs.Select(c => c.Min()).ToArray();
        long baseCost = minimum.Sum();
        if (baseCost > capacity) return null;
        var reduced = costs.Select((c, g) => c.Select(x => x - minimum[g]).ToArray()).ToArray();
        long divisor = 0;
        foreach (var c in reduced) foreach (var x in c) divisor = Gcd(divisor, x);
        if (divisor == 0) divisor = 1;
        long maxUseful = reduced.Sum(c => c.Max()) / divisor;
        long units = Math.Min((capacity - baseCost) / divisor, maxUseful);
        var unitCosts = reduced.Select(c => c.Select(x => x / divisor).ToArray()).ToArray();

        bool table = method == Method.Table || (method == Method.Auto && (groups + 1L) * (units + 1) <= TableCellLimit);
        var choice = table ? SolveTable(unitCosts, values, (int)units) : SolvePareto(unitCosts, values, units);
        long cost = 0;
        double value = 0;
        for (int g = 0; g < groups; g++) { cost += costs[g][choice[g]]; value += values[g][choice[g]]; }
        return new Solution(choice, cost, value);
    }

    private static int[] SolveTable(long[][] costs, IReadOnlyList<double[]> values, int units)
    {
        int groups = costs.Length;
        // best[u] = least value of the groups so far with total unit cost ≤ u ("at most" semantics,
        // so the answer is best[units] with no final scan).
        var best = new double[units + 1];
        var next = new double[units + 1];
        var back = new byte[groups][];
        for (int g = 0; g < groups; g++)
        {
            back[g] = new byte[units + 1];
            var c = costs[g];
            var v = values[g];
            for (int u = 0; u <= units; u++)
            {
                double incumbent = double.PositiveInfinity;
                int pick = -1;
                for (int o = 0; o < c.Length; o++)
                {
                    if (c[o] > u) continue;
                    double candidate = best[u - c[o]] + v[o];
                    if (candidate < incumbent) { incumbent = candidate; pick = o; }
                }
                // The cheapest option always fits because reduced costs start at 0.
                next[u] = incumbent;
                back[g][u] = (byte)pick;
            }
            (best, next) = (next, best);
        }
        var choice = new int[groups];
        long remaining = units;
        for (int g = groups - 1; g >= 0; g--)
        {
            choice[g] = back[g][remaining];
            remaining -= costs[g][choice[g]];
        }
        return choice;
    }

    private readonly record struct State(long Cost, double Value, int Previous, int Option);

    private static int[] SolvePareto(long[][] costs, IReadOnlyList<double[]> values, long units)
    {
        int groups = costs.Length;
        var layers = new List<State[]>(groups);
        var frontier = new[] { new State(0, 0, -1, -1) };
        for (int g = 0; g < groups; g++)
        {
            var extended = new List<State>(frontier.Length * costs[g].Length);
            for (int s = 0; s < frontier.Length; s++)
                for (int o = 0; o < costs[g].Length; o++)
                {
                    long cost = frontier[s].Cost + costs[g][o];
                    if (cost <= units) extended.Add(new State(cost, frontier[s].Value + values[g][o], s, o));
                }
            // Cheapest first; at equal cost the smaller value, then the earlier (state, option) pair — a total order.
            extended.Sort((a, b) => a.Cost != b.Cost ? a.Cost.CompareTo(b.Cost)
                : a.Value != b.Value ? a.Value.CompareTo(b.Value)
                : a.Previous != b.Previous ? a.Previous.CompareTo(b.Previous) : a.Option.CompareTo(b.Option));
            var kept = new List<State>();
            double bestValue = double.PositiveInfinity;
            foreach (var state in extended)
                if (state.Value < bestValue) { kept.Add(state); bestValue = state.Value; }
            frontier = kept.ToArray();
            layers.Add(frontier);
        }
        // The last state of the frontier is the least value (values strictly fall along it).
        var choice = new int[groups];
        int index = frontier.Length - 1;
        for (int g = groups - 1; g >= 0; g--)
        {
            var state = layers[g][index];
            choice[g] = state.Option;
            index = state.Previous;
        }
        return choice;
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}
