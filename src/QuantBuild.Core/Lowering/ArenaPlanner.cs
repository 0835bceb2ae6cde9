using QuantBuild.Diagnostics;

namespace QuantBuild.Lowering;

/// <summary>
/// Static activation arena: every stored tensor lives from the step that writes it to the last step
/// that reads it (model inputs from before the first step, model outputs to after the last). Tensors
/// are placed one by one, each in the smallest gap left by already placed tensors whose lifetimes
/// overlap its own (best fit), under a fixed set of placement orders; the smallest layout is kept (the
/// first on ties), so the layout is deterministic.
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

        var stored = plan.Tensors.Select((t, i) => (Tensor: t, Index: i)).Where(x => first.ContainsKey(x.Tensor)).ToList();
        // Best fit depends on the order tensors are placed in, and no one order wins on every model (fusing an Add
        // with its Relu once cost BlazeFace 25 % under the largest-first order alone). A few fixed orders are tried
        // and the smallest layout kept (the first on ties), so the result stays deterministic.
        var orders = new[]
        {
            stored.OrderByDescending(x => x.Tensor.ByteLength).ThenBy(x => x.Index),
            stored.OrderByDescending(x => x.Tensor.ByteLength).ThenBy(x => first[x.Tensor]).ThenBy(x => x.Index),
            stored.OrderByDescending(x => (long)x.Tensor.ByteLength * (last[x.Tensor] - first[x.Tensor] + 1)).ThenBy(x => x.Index),
            stored.OrderByDescending(x => last[x.Tensor] - first[x.Tensor]).ThenByDescending(x => x.Tensor.ByteLength).ThenBy(x => x.Index),
            stored.OrderBy(x => first[x.Tensor]).ThenByDescending(x => x.Tensor.ByteLength).ThenBy(x => x.Index),
            stored.OrderByDescending(x => x.Tensor.ByteLength).ThenByDescending(x => last[x.Tensor]).ThenBy(x => x.Index),
            stored.OrderByDescending(x => x.Tensor.ByteLength).ThenByDescending(x => first[x.Tensor]).ThenBy(x => x.Index),
        }.Concat(Enumerable.Range(1, 24).Select(seed =>
        {
            // Largest first with equal sizes in seeded orders: models repeat shapes, and which of several equal tensors
            // goes first decides where the gaps fall.
            var random = new Random(seed);
            var keys = new Dictionary<PlanTensor, int>(ReferenceEqualityComparer.Instance);
            foreach (var x in stored) keys[x.Tensor] = random.Next();
            return (IOrderedEnumerable<(PlanTensor Tensor, int Index)>)stored.OrderByDescending(x => x.Tensor.ByteLength).ThenBy(x => keys[x.Tensor]).ThenBy(x => x.Index);
        })).ToArray();
        // The arena is one array: it must fit the memory ceiling (and 32-bit offsets) before it is laid out further.
        long limit = Math.Min(TensorLimits.Current.MaxTotalBytes, Array.MaxLength);
        Dictionary<PlanTensor, long>? best = null;
        long bestEnd = long.MaxValue;
        foreach (var order in orders)
        {
            var (offsets, end) = Place(order.Select(x => x.Tensor).ToList(), first, last);
            if (end < bestEnd) (best, bestEnd) = (offsets, end);
        }
        if (bestEnd > limit)
        {
            // The smallest layout still crosses the limit: name the first tensor it places past it.
            var (t, offset) = best!.Where(kv => kv.Value + AlignUp(kv.Key.ByteLength) > limit).OrderBy(kv => kv.Value).First();
            var writer = plan.Steps.FirstOrDefault(s => s.Outputs.Contains(t));
            throw new QuantBuildException(DiagnosticCodes.TensorTooLarge,
                $"the integer plan's arena reaches {TensorLimits.Bytes(offset + AlignUp(t.ByteLength))} with '{t.Name}' [{string.Join(",", t.Shape)}], more than the limit of " +
                $"{TensorLimits.Bytes(limit)} in all (--max-memory-bytes)", plan.Model.Graph.SourcePath, node: writer?.NodeName);
        }
        foreach (var (t, offset) in best!) t.Offset = (int)offset;
        int arenaEnd = (int)bestEnd;
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

    /// <summary>Best fit in the given order: each tensor goes into the smallest gap between the tensors already placed whose lifetimes overlap its own.</summary>
    private static (Dictionary<PlanTensor, long> Offsets, long End) Place(List<PlanTensor> order, Dictionary<PlanTensor, int> first, Dictionary<PlanTensor, int> last)
    {
        var offsets = new Dictionary<PlanTensor, long>(ReferenceEqualityComparer.Instance);
        var placed = new List<(long Start, long End, int First, int Last)>();
        long arenaEnd = 0;
        foreach (var t in order)
        {
            long size = AlignUp(t.ByteLength);
            int f = first[t], l = last[t];
            var busy = placed.Where(p => p.First <= l && f <= p.Last).OrderBy(p => p.Start).ThenBy(p => p.End).ToList();
            long bestOffset = -1, bestGap = long.MaxValue, cursor = 0;
            foreach (var p in busy)
            {
                long gap = p.Start - cursor;
                if (gap >= size && gap < bestGap) { bestGap = gap; bestOffset = cursor; }
                cursor = Math.Max(cursor, p.End);
            }
            if (bestOffset < 0) bestOffset = cursor;
            offsets[t] = bestOffset;
            placed.Add((bestOffset, bestOffset + size, f, l));
            arenaEnd = Math.Max(arenaEnd, bestOffset + size);
        }
        return (offsets, arenaEnd);
    }

    private static int AlignUp(int bytes) => checked((bytes + Alignment - 1) / Alignment * Alignment);
}
