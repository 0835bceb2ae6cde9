using System.Runtime.InteropServices;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Runtime;
using QuantBuild.Tensors;

namespace QuantBuild.Lowering;

/// <summary>
/// Runs a <see cref="KernelPlan"/> in-process: a generic interpreter of its calls (docs/plan-format.md) —
/// the same QuantBuild.Runtime kernels, built with the same arguments, called with the same arena spans as
/// the generated C# — over one arena. Float inputs are quantized at the edge and outputs dequantized,
/// exactly as the generated Run does. A float step no runtime kernel covers (which the generated code
/// refuses) runs on the reference engine. Not thread-safe (one arena per instance).
/// </summary>
public sealed class IntegerModelRunner
{
    private readonly byte[] _arena;
    private readonly Action[] _steps;

    public IntegerModelRunner(IntegerPlan plan) : this(KernelPlan.Build(plan))
    {
    }

    public IntegerModelRunner(KernelPlan calls)
    {
        Calls = calls;
        Plan = calls.Plan;
        _arena = new byte[calls.ArenaBytes];
        _steps = calls.Steps.Select(PrepareChecked).ToArray();
    }

    /// <summary>
    /// The runtime kernels refuse parameters no integer kernel can compute with (a requantization multiplier
    /// beyond 2^30 from extreme scales in a QDQ file): that is the model's fault, reported naming the node.
    /// </summary>
    private Action PrepareChecked(StepCalls step)
    {
        try
        {
            return step.IsBound ? Prepare(step) : PrepareFloat((FloatStep)step.Step);
        }
        catch (ArgumentException e)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidQdqModel,
                $"{step.Step.OpType} node '{step.Step.NodeName}' cannot run in integers with the quantization parameters it has: {e.Message.ReplaceLineEndings(" ")}",
                Plan.Model.Graph.SourcePath, node: step.Step.NodeName, inner: e);
        }
    }

    /// <summary>Builds the step's kernels and binds its invocations to them and to the arena.</summary>
    private Action Prepare(StepCalls step)
    {
        var kernels = new Dictionary<PlanKernel, object>(ReferenceEqualityComparer.Instance);
        foreach (var k in step.Kernels) kernels[k] = KernelInvoker.Evaluate(k.Create);
        var calls = step.Invocations.Select(i => (Target: i.Target is null ? null : kernels[i.Target], Call: KernelInvoker.Bind(i))).ToArray();
        var arena = _arena;
        if (calls.Length == 1)
        {
            var (target, call) = calls[0];
            return () => call(target, arena);
        }
        return () =>
        {
            foreach (var (target, call) in calls) call(target, arena);
        };
    }

    /// <summary>The compiled plan this runner interprets.</summary>
    public KernelPlan Calls { get; }

    public IntegerPlan Plan { get; }

    /// <summary>When set (one slot per step), <see cref="Run(IReadOnlyDictionary{string, Tensor})"/> adds each step's Stopwatch ticks to it (benchmark profiling).</summary>
    public long[]? StepTicks { get; set; }

    /// <summary>Runs on float inputs (by model input name) and returns float outputs by name.</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs) => Run(inputs, capture: null);

    /// <summary>Like <see cref="Run(IReadOnlyDictionary{string, Tensor})"/>, also copying every int8 value a step writes into <paramref name="capture"/> (for per-layer comparisons).</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, Dictionary<string, sbyte[]>? capture) => Run(inputs, capture, null);

    /// <summary>
    /// Like <see cref="Run(IReadOnlyDictionary{string, Tensor}, Dictionary{string, sbyte[]})"/>, also copying the values of every
    /// 16-bit (grid) activation into <paramref name="wideCapture"/> (docs/wide-activations.md).
    /// </summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, Dictionary<string, sbyte[]>? capture, Dictionary<string, float[]>? wideCapture)
    {
        foreach (var t in Plan.Inputs)
        {
            if (!inputs.TryGetValue(t.Name, out var value))
                throw new QuantBuildException(DiagnosticCodes.MissingInput, $"model input '{t.Name}' was not given");
            var data = value.ToFloatArray();
            if (data.Length != t.Length)
                throw new QuantBuildException(DiagnosticCodes.InvalidInputValue, $"model input '{t.Name}' must have {t.Length} elements ([{string.Join(",", t.Shape)}]), got {data.Length}");
            Store(data, t);
            if (capture is not null && t.Type == PlanElementType.Int8) capture[t.Name] = Codes(t).ToArray();
            if (wideCapture is not null && t.Grid is not null) wideCapture[t.Name] = Values(t);
        }
        for (int s = 0; s < _steps.Length; s++)
        {
            if (StepTicks is null) _steps[s]();
            else
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                _steps[s]();
                StepTicks[s] += System.Diagnostics.Stopwatch.GetTimestamp() - start;
            }
            foreach (var o in Plan.Steps[s].Outputs)
            {
                if (capture is not null && o.Type == PlanElementType.Int8) capture[o.Name] = Codes(o).ToArray();
                if (wideCapture is not null && o.Grid is not null) wideCapture[o.Name] = Values(o);
            }
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var t in Plan.Outputs)
        {
            result[t.Name] = Tensor.FromFloats(Values(t), t.Shape);
        }
        return result;
    }

    /// <summary>The int8 entry point the generated code also has: codes in, codes out (int8 model edges only).</summary>
    public void RunCodes(IReadOnlyList<sbyte[]> inputs, IReadOnlyList<sbyte[]> outputs)
    {
        for (int i = 0; i < Plan.Inputs.Count; i++) inputs[i].AsSpan().CopyTo(Codes(Plan.Inputs[i]));
        foreach (var step in _steps) step();
        for (int i = 0; i < Plan.Outputs.Count; i++) Codes(Plan.Outputs[i]).CopyTo(outputs[i]);
    }

    private Span<sbyte> Codes(PlanTensor t) =>
        t.IsConstant ? t.ConstantCodes : MemoryMarshal.Cast<byte, sbyte>(_arena.AsSpan(t.Offset, t.Length));

    private Span<float> Floats(PlanTensor t) => MemoryMarshal.Cast<byte, float>(_arena.AsSpan(t.Offset, t.ByteLength));

    private Span<short> Int16Codes(PlanTensor t) => MemoryMarshal.Cast<byte, short>(_arena.AsSpan(t.Offset, t.ByteLength));

    /// <summary>The real values <paramref name="t"/> holds: its codes dequantized, or its floats.</summary>
    private float[] Values(PlanTensor t)
    {
        var values = new float[t.Length];
        switch (t.Type)
        {
            case PlanElementType.Int8: QuantParams.DequantizeLinear(Codes(t), values, t.Quant.Scale, t.Quant.ZeroPoint); break;
            case PlanElementType.Int16: QuantParams.DequantizeLinear(Int16Codes(t), values, t.Quant.Scale, t.Quant.ZeroPoint); break;
            default: Floats(t).CopyTo(values); break;
        }
        return values;
    }

    /// <summary>Writes real values into <paramref name="t"/>'s slot as the plan holds it: quantized to its codes, or as floats rounded to its grid.</summary>
    private void Store(float[] values, PlanTensor t)
    {
        switch (t.Type)
        {
            case PlanElementType.Int8: QuantParams.QuantizeLinear(values, Codes(t), t.Quant.Scale, t.Quant.ZeroPoint); break;
            case PlanElementType.Int16: QuantParams.QuantizeLinear(values, Int16Codes(t), t.Quant.Scale, t.Quant.ZeroPoint); break;
            default:
                values.CopyTo(Floats(t));
                if (t.FloatGrid is { } grid) WideActivationGrid.Round(Floats(t), grid.Scale, grid.ZeroPoint, grid.QMin, grid.QMax);
                break;
        }
    }

    private Action PrepareFloat(FloatStep f)
    {
        var node = f.Node;
        var graph = Plan.Model.Graph;
        var context = new KernelContext(graph.OpsetVersion,
            k => node.HasInput(k) && f.Constants.TryGetValue(node.Inputs[k], out var t) ? t : null,
            new ParallelOptions { MaxDegreeOfParallelism = 1 });
        var kernel = OpRegistry.Create(node, context);
        var byName = f.Inputs.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var outputs = node.Outputs.Select(o => f.Outputs.FirstOrDefault(t => t.Name == o)).ToArray();
        return () =>
        {
            var args = new Tensor?[node.Inputs.Count];
            for (int i = 0; i < args.Length; i++)
            {
                var name = node.Inputs[i];
                if (name.Length == 0) continue;
                if (f.Constants.TryGetValue(name, out var constant)) { args[i] = constant; continue; }
                var t = byName[name];
                args[i] = Tensor.FromFloats(Values(t), t.Shape);
            }
            var results = kernel.Forward(args);
            for (int o = 0; o < outputs.Length && o < results.Length; o++)
            {
                var t = outputs[o];
                if (t is null) continue;
                Store(results[o].ToFloatArray(), t);
            }
        };
    }
}
