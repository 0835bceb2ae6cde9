using System.Reflection;
using QuantBuild.Diagnostics;

namespace QuantBuild.Lowering;

/// <summary>One kernel object of the plan: a field of the generated class, built once by <see cref="Create"/>.</summary>
public sealed class PlanKernel
{
    internal PlanKernel(string name, PlanValue create, string comment)
    {
        Name = name;
        Create = create;
        Comment = comment;
        Type = create switch
        {
            NewValue n => n.Constructor.DeclaringType!,
            CallValue c => c.Method.ReturnType,
            _ => throw new QuantBuildException(DiagnosticCodes.InternalError, $"kernel {name} is neither constructed nor made by a factory"),
        };
    }

    /// <summary>Field name in the generated class ("step12", "step12_1").</summary>
    public string Name { get; }
    public Type Type { get; }
    /// <summary>A <see cref="NewValue"/> or <see cref="CallValue"/> (a static factory).</summary>
    public PlanValue Create { get; }
    public string Comment { get; }
}

/// <summary>One call made while the model runs: a kernel's method (Eval) or a static method (quantize at a float step's edge).</summary>
public sealed class PlanInvocation
{
    internal PlanInvocation(PlanKernel? target, MethodInfo method, IReadOnlyList<PlanValue> arguments)
    {
        Target = target;
        Method = method;
        Arguments = arguments;
    }

    /// <summary>The kernel whose method runs; null for a static method.</summary>
    public PlanKernel? Target { get; }
    public MethodInfo Method { get; }
    public IReadOnlyList<PlanValue> Arguments { get; }
}

/// <summary>The calls that compute one <see cref="PlanStep"/>: kernels built once, invocations run in order.</summary>
public sealed class StepCalls
{
    internal StepCalls(PlanStep step, int index, IReadOnlyList<PlanKernel> kernels, IReadOnlyList<PlanInvocation> invocations, string? unboundReason)
    {
        Step = step;
        Index = index;
        Kernels = kernels;
        Invocations = invocations;
        UnboundReason = unboundReason;
    }

    public PlanStep Step { get; }
    /// <summary>Position of the step in the plan.</summary>
    public int Index { get; }
    public IReadOnlyList<PlanKernel> Kernels { get; }
    public IReadOnlyList<PlanInvocation> Invocations { get; }
    /// <summary>Why no runtime kernel computes this (float) step; null when the step is bound.</summary>
    public string? UnboundReason { get; }
    public bool IsBound => UnboundReason is null;
}

/// <summary>
/// The compiled plan (docs/plan-format.md): every step of an <see cref="IntegerPlan"/> as typed calls of
/// QuantBuild.Runtime kernels — which kernel, its constructor arguments (constants included), and the arena
/// spans each call reads and writes. <see cref="IntegerModelRunner"/> interprets it, the C# emitter prints it,
/// and the report counts its data, so the code a user ships and the code the build measured are one plan.
/// </summary>
public sealed class KernelPlan
{
    internal KernelPlan(IntegerPlan plan, IReadOnlyList<StepCalls> steps, IReadOnlyList<PlanData> data, int arenaBytes)
    {
        Plan = plan;
        Steps = steps;
        Data = data;
        ArenaBytes = arenaBytes;
    }

    /// <summary>Binds every step of <paramref name="plan"/> to runtime kernels (float steps no kernel covers stay unbound).</summary>
    public static KernelPlan Build(IntegerPlan plan) => KernelBinding.Bind(plan);

    public IntegerPlan Plan { get; }
    public IReadOnlyList<StepCalls> Steps { get; }
    /// <summary>Every constant the calls use, in first-use order (names are unique).</summary>
    public IReadOnlyList<PlanData> Data { get; }
    /// <summary>Bytes of the arena: the plan's activations plus the float scratch region of float steps.</summary>
    public int ArenaBytes { get; }

    public IEnumerable<PlanKernel> Kernels => Steps.SelectMany(s => s.Kernels);

    /// <summary>Float steps no runtime kernel computes, with the reason (empty when the plan can be emitted).</summary>
    public IReadOnlyList<StepCalls> Unbound => Steps.Where(s => !s.IsBound).ToList();

    /// <summary>Fails with QB2001 naming every step the generated runtime cannot compute.</summary>
    public KernelPlan RequireComplete()
    {
        var unbound = Unbound;
        if (unbound.Count > 0)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedOperator,
                $"the generated runtime cannot run {unbound.Count} float node(s): " +
                string.Join(", ", unbound.Select(u => $"{u.Step.OpType} '{u.Step.NodeName}' ({u.UnboundReason})")),
                Plan.Model.Graph.SourcePath, node: unbound[0].Step.NodeName);
        return this;
    }

    /// <summary>Bytes of integer weight data (codes, packed indices, level tables) the kernels of Conv/Gemm steps read.</summary>
    public long WeightBytes => Data.Where(d => d.Role == PlanDataRole.Weights).Sum(d => d.ByteLength);

    /// <summary>Bytes of float32 data (weights and constants of float steps).</summary>
    public long FloatDataBytes => Data.Where(d => d.ElementType == typeof(float) && d.Role == PlanDataRole.FloatStep).Sum(d => d.ByteLength);
}
