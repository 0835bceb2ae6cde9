using QuantBuild.Diagnostics;

namespace QuantBuild.Lowering;

/// <summary>
/// Static activation arena: every stored tensor lives from the step that writes it to the last step
/// that reads it (model inputs from before the first step, model outputs to after the last). Tensors
/// are placed largest first, each in the smallest gap left by already placed tensors whose lifetimes
/// overlap its own (best fit), ties broken by creation order, so the layout is deterministic.
/// </summary>
public static class ArenaPlanner
{
    /// <summary>Every offset is a multiple of this: float views need 4, and 16 keeps SIMD loads aligned.</summary>
    public const int Alignment = 16;

    public static void Assign(IntegerPlan plan)
    {
        var first = new Dictionary<PlanTensor, int>(ReferenceEqualityComparer.Instance);
        var last = new Dictionary<PlanTensor, int>(ReferenceEqualityComparer.Instance);
        void Touch(PlanTensor t, int step)
        {
            if (t.IsConstant) return;
            var root = t.Root;
            first[root] = first.TryGetValue(root, out var f) ? Math.Min(f, step) : step;
            last[root] = last.TryGetValue(root, out var l) ? Math.Max(l, step) : step;
        }
        foreach (var t in plan.Inputs) Touch(t, -1);
        for (int s = 0; s < plan.Steps.Count; s++)
        {
            foreach (var t in plan.Steps[s].Inputs) Touch(t, s);
            foreach (var t in plan.Steps[s].Outputs) Touch(t, s);
        }
        foreach (var t in plan.Outputs) Touch(t, plan.Steps.Count);

        var order = plan.Tensors.Select((t, i) => (Tensor: t, Index: i))
            .Where(x => first.ContainsKey(x.Tensor))
            .OrderByDescending(x => x.Tensor.ByteLength).ThenBy(x => x.Index)
            .Select(x => x.Tensor).ToList();
        var placed = new List<(int Start, int End, int First, int Last)>();
        int arenaEnd = 0;
        // The arena is one array: it must fit the memory ceiling (and 32-bit offsets) before it is laid out further.
        long limit = Math.Min(TensorLimits.Current.MaxTotalBytes, Array.MaxLength);
        foreach (var t in order)
        {
            int size = AlignUp(t.ByteLength);
            int f = first[t], l = last[t];
            var busy = placed.Where(p => p.First <= l && f <= p.Last).OrderBy(p => p.Start).ThenBy(p => p.End).ToList();
            int bestOffset = -1, bestGap = int.MaxValue, cursor = 0;
            foreach (var p in busy)
            {
                int gap = p.Start - cursor;
                if (gap >= size && gap < bestGap) { bestGap = gap; bestOffset = cursor; }
                cursor = Math.Max(cursor, p.End);
            }
            if (bestOffset < 0) bestOffset = cursor;
            if ((long)bestOffset + size > limit)
            {
                var writer = plan.Steps.FirstOrDefault(s => s.Outputs.Contains(t));
                throw new QuantBuildException(DiagnosticCodes.TensorTooLarge,
                    $"the integer plan's arena reaches {TensorLimits.Bytes((long)bestOffset + size)} with '{t.Name}' [{string.Join(",", t.Shape)}], more than the limit of " +
                    $"{TensorLimits.Bytes(limit)} in all (--max-memory-bytes)", plan.Model.Graph.SourcePath, node: writer?.NodeName);
            }
            t.Offset = bestOffset;
            placed.Add((bestOffset, bestOffset + size, f, l));
            arenaEnd = Math.Max(arenaEnd, bestOffset + size);
        }
        foreach (var t in plan.Tensors)
            if (!t.IsConstant && t.ViewOf is not null) t.Offset = t.Root.Offset;

        int lowerBound = 0;
        for (int s = -1; s <= plan.Steps.Count; s++)
        {
            int alive = first.Where(kv => kv.Value <= s && s <= last[kv.Key]).Sum(kv => kv.Key.ByteLength);
            lowerBound = Math.Max(lowerBound, alive);
        }
        plan.ArenaBytes = Math.Max(arenaEnd, Alignment);
        plan.ArenaLowerBound = lowerBound;
    }

    private static int AlignUp(int bytes) => checked((bytes + Alignment - 1) / Alignment * Alignment);
}
