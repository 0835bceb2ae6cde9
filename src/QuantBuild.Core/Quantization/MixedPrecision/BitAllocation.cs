using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Quantization.MixedPrecision;

/// <summary>One layer's outcome of the allocation.</summary>
/// <param name="Fixed">true when the sidecar's "layers" set its bits explicitly (the allocator kept them)</param>
/// <param name="Errors">measured output error per candidate width (empty for fixed layers)</param>
public sealed record LayerBitChoice(string Node, int Bits, long Bytes, bool Fixed, IReadOnlyList<(int Bits, double Error, long Bytes)> Errors);

/// <summary>What mixed precision decided, for the report.</summary>
/// <param name="BudgetBytes">the byte budget the weights had to fit (packed-at-width codes plus float32 scales)</param>
/// <param name="ChosenBytes">bytes of the chosen widths in the same measure</param>
/// <param name="StoredBytes">bytes as the generated code stores them: int4 (two per byte) for ≤ 4 bits, one byte otherwise, plus scales</param>
/// <param name="Objective">Σ of the chosen layers' measured errors</param>
public sealed record BitAllocationResult(long BudgetBytes, int[] Candidates, IReadOnlyList<LayerBitChoice> Layers, long ChosenBytes, long StoredBytes,
    double Objective, int SensitivitySamples, string Sensitivity, string Solver);

/// <summary>
/// Mixed precision under a weight-byte budget (docs/mixed-precision.md, "Mixed precision under a weight budget"): when the sidecar's budget lists
/// candidate widths (<c>"budget": { "weightBytes": N | "averageBits": x, "bits": [2, 3, 4, 8] }</c>),
/// every quantized layer without an explicit per-layer width gets the width that minimizes the summed
/// measured output error (<see cref="LayerSensitivity"/>) with the total within the budget, solved
/// exactly (<see cref="MultipleChoiceKnapsack"/>).
/// <para>
/// Which bytes: the budget counts what <see cref="QuantizationPipeline.QuantizedWeightBytes"/> and the
/// report count — codes packed at their own width (⌈n·b/8⌉) plus one float32 scale per channel. The
/// generated code stores 2–4-bit codes as int4 and 5–8-bit codes as int8, so its bytes
/// (<see cref="BitAllocationResult.StoredBytes"/>, also reported) can exceed the budget for 2, 3, 5,
/// 6 or 7 bits; a candidate set of {4, 8} makes the two measures coincide.
/// </para>
/// </summary>
public static class BitAllocation
{
    public const int DefaultSensitivitySamples = 32;

    /// <summary>Chooses widths when the settings ask for it; null when the budget lists no candidates.</summary>
    public static BitAllocationResult? Allocate(QuantizationContext context, QuantizationPipeline.NodePlan plan)
    {
        var settings = context.Settings;
        if (settings.BitCandidates.Count == 0) return null;
        var candidates = settings.BitCandidates.Distinct().OrderDescending().ToArray();
        var configurable = new List<ConfigurableLayer>();
        var fixedLayers = new List<LayerBitChoice>();
        foreach (var (node, index, axis, weights) in plan.Weighted)
        {
            if (settings.Layers.Any(l => l.Bits is not null && l.Matches(node.Name)))
                fixedLayers.Add(new LayerBitChoice(node.Name, weights.Bits, EstimatedBytes(context.Graph, node, index, axis, weights, weights.Bits), true, []));
            else
                configurable.Add(new ConfigurableLayer(node, index, axis, weights));
        }
        long budget = BudgetBytes(context.Graph, plan, settings)!.Value;
        long fixedBytes = fixedLayers.Sum(l => l.Bytes);
        var file = context.ConfigurationFile;

        // The cheapest possible model is checked before the (long) sensitivity measurement.
        long cheapest = fixedBytes + configurable.Sum(l => EstimatedBytes(context.Graph, l.Node, l.WeightIndex, l.Axis, l.Settings, candidates[^1]));
        if (cheapest > budget)
            throw new QuantBuildException(DiagnosticCodes.WeightBudgetExceeded,
                $"the weight budget of {budget} bytes cannot be met: the smallest candidate width ({candidates[^1]} bits) for every allocatable layer " +
                $"plus the layers with explicit bits takes {cheapest} bytes; raise the budget or add a smaller width to budget.bits", file);

        int samples = settings.SensitivitySamples > 0 ? settings.SensitivitySamples : DefaultSensitivitySamples;
        var table = LayerSensitivity.Measure(context, configurable, candidates, samples);
        var solution = MultipleChoiceKnapsack.Solve(table.Bytes, table.Error, budget - fixedBytes)
            ?? throw new QuantBuildException(DiagnosticCodes.WeightBudgetExceeded,
                $"the weight budget of {budget} bytes cannot be met even at {candidates[^1]} bits everywhere", file);

        var layers = new List<LayerBitChoice>();
        var byNode = new Dictionary<string, LayerBitChoice>(StringComparer.Ordinal);
        for (int i = 0; i < configurable.Count; i++)
        {
            int c = solution.Choice[i];
            var errors = candidates.Select((b, k) => (b, table.Error[i][k], table.Bytes[i][k])).ToList();
            byNode[configurable[i].Node.Name] = new LayerBitChoice(configurable[i].Node.Name, candidates[c], table.Bytes[i][c], false, errors);
        }
        foreach (var f in fixedLayers) byNode[f.Node] = f;
        // Report order = graph order.
        foreach (var (node, _, _, _) in plan.Weighted) layers.Add(byNode[node.Name]);
        long stored = 0;
        foreach (var (node, index, axis, weights) in plan.Weighted)
            stored += StoredBytes(context.Graph, node, index, axis, weights, byNode[node.Name].Bits);
        return new BitAllocationResult(budget, candidates, layers, layers.Sum(l => l.Bytes), stored, solution.Value, table.Samples,
            "normalized output MSE, one layer quantized at a time, activations float", "multiple-choice knapsack (exact DP)");
    }

    /// <summary>The plan with each allocated layer's weight settings at its chosen width.</summary>
    public static QuantizationPipeline.NodePlan Apply(QuantizationPipeline.NodePlan plan, BitAllocationResult? allocation)
    {
        if (allocation is null) return plan;
        var bits = allocation.Layers.ToDictionary(l => l.Node, l => l.Bits, StringComparer.Ordinal);
        var weighted = plan.Weighted.Select(w => bits.TryGetValue(w.Node.Name, out var b) ? (w.Node, w.WeightIndex, w.Axis, w.Settings with { Bits = b }) : w).ToList();
        return new QuantizationPipeline.NodePlan(weighted, plan.Float);
    }

    /// <summary>
    /// The byte budget: budget.weightBytes, or budget.averageBits turned into bytes — every quantized
    /// weight at that average width (⌈n·x/8⌉) plus its scales — or null without a budget.
    /// </summary>
    public static long? BudgetBytes(ModelGraph graph, QuantizationPipeline.NodePlan plan, QuantizationSettings settings)
    {
        if (settings.WeightByteBudget is long bytes) return bytes;
        if (settings.AverageBitsBudget is not double average) return null;
        long total = 0;
        foreach (var (node, index, axis, weights) in plan.Weighted)
        {
            var (elements, scales) = Geometry(graph, node, index, axis, weights);
            total += (long)Math.Ceiling(elements * average / 8) + 4L * scales;
        }
        return total;
    }

    /// <summary>Bytes of a layer at a width in the budget's measure, without quantizing it.</summary>
    public static long EstimatedBytes(ModelGraph graph, Node node, int index, int axis, WeightSettings weights, int bits)
    {
        var (elements, scales) = Geometry(graph, node, index, axis, weights);
        return (elements * bits + 7) / 8 + 4L * scales;
    }

    /// <summary>Bytes as the generated code stores the layer: int4 codes two per byte up to 4 bits, one byte each above.</summary>
    public static long StoredBytes(ModelGraph graph, Node node, int index, int axis, WeightSettings weights, int bits) =>
        EstimatedBytes(graph, node, index, axis, weights, bits <= 4 ? 4 : 8);

    private static (long Elements, long Scales) Geometry(ModelGraph graph, Node node, int index, int axis, WeightSettings weights)
    {
        var w = graph.Initializers[node.Inputs[index]];
        return (w.Length, weights.PerChannel && w.Rank > 0 ? w.Shape[axis] : 1);
    }
}
