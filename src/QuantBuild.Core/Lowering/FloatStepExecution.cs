namespace QuantBuild.Lowering;

/// <summary>
/// How one <see cref="FloatStep"/> runs on the float kernels of QuantBuild.Runtime: its kernel calls and
/// where each int8 or int16 tensor it reads or writes lives as float while it runs. Those float copies share one
/// scratch region after the plan's arena (steps run one at a time, so every float step reuses it).
/// </summary>
public sealed class FloatStepExecution
{
    internal FloatStepExecution(FloatStep step, IReadOnlyList<FloatKernelCall> calls, IReadOnlyDictionary<PlanTensor, int> scratch)
    {
        Step = step;
        Calls = calls;
        ScratchOffsets = scratch;
    }

    public FloatStep Step { get; }
    public IReadOnlyList<FloatKernelCall> Calls { get; }
    /// <summary>Byte offset in the arena of the float copy of each coded (int8 or int16) input and output.</summary>
    public IReadOnlyDictionary<PlanTensor, int> ScratchOffsets { get; }

    /// <summary>Byte offset of the float values of <paramref name="t"/> during this step.</summary>
    public int FloatOffset(PlanTensor t) => t.Type == PlanElementType.Float32 ? t.Offset : ScratchOffsets[t];

    /// <summary>
    /// Binds every float step of <paramref name="plan"/>. Steps no float kernel covers are listed in
    /// <paramref name="unsupported"/> (and left out); <paramref name="arenaBytes"/> is the plan's arena plus
    /// the scratch region.
    /// </summary>
    public static Dictionary<FloatStep, FloatStepExecution> Prepare(IntegerPlan plan, out int arenaBytes, out List<(FloatStep Step, string Reason)> unsupported)
    {
        var result = new Dictionary<FloatStep, FloatStepExecution>(ReferenceEqualityComparer.Instance);
        unsupported = [];
        int start = AlignUp(plan.ArenaBytes);
        arenaBytes = plan.ArenaBytes;
        foreach (var step in plan.Steps.OfType<FloatStep>())
        {
            var calls = FloatKernelBinding.TryBind(step, plan.Model.Graph.OpsetVersion, out var reason);
            if (calls is null)
            {
                unsupported.Add((step, reason));
                continue;
            }
            var scratch = new Dictionary<PlanTensor, int>(ReferenceEqualityComparer.Instance);
            int cursor = start;
            foreach (var t in step.Inputs.Concat(step.Outputs))
            {
                if (!t.IsCoded || scratch.ContainsKey(t)) continue;
                scratch[t] = cursor;
                cursor += AlignUp(checked(t.Length * 4));
            }
            arenaBytes = Math.Max(arenaBytes, cursor);
            result[step] = new FloatStepExecution(step, calls, scratch);
        }
        return result;
    }

    private static int AlignUp(int bytes) => checked((bytes + ArenaPlanner.Alignment - 1) / ArenaPlanner.Alignment * ArenaPlanner.Alignment);
}
