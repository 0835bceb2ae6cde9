using System.Runtime.InteropServices;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Runtime;
using QuantBuild.Tensors;

namespace QuantBuild.Lowering;

/// <summary>
/// Runs an <see cref="IntegerPlan"/> in-process with the same QuantBuild.Runtime kernels, built with the
/// same arguments, that the generated C# calls, over one arena laid out by <see cref="ArenaPlanner"/>.
/// Float inputs are quantized at the edge and outputs dequantized, exactly as the generated Run does.
/// Not thread-safe (one arena per instance).
/// </summary>
public sealed class IntegerModelRunner
{
    private readonly byte[] _arena;
    private readonly Action[] _steps;
    private readonly Dictionary<FloatStep, FloatStepExecution> _floatSteps;

    public IntegerModelRunner(IntegerPlan plan)
    {
        Plan = plan;
        // Float steps run on the same Runtime float kernels as the generated code, with the same scratch
        // layout, so both give the same bits; a step no float kernel covers falls back to the engine.
        _floatSteps = FloatStepExecution.Prepare(plan, out int arenaBytes, out _);
        _arena = new byte[arenaBytes];
        _steps = plan.Steps.Select(PrepareChecked).ToArray();
    }

    /// <summary>
    /// The runtime kernels refuse parameters no integer kernel can compute with (a requantization multiplier
    /// beyond 2^30 from extreme scales in a QDQ file): that is the model's fault, reported naming the node.
    /// </summary>
    private Action PrepareChecked(PlanStep step)
    {
        try
        {
            return Prepare(step);
        }
        catch (ArgumentException e)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidQdqModel,
                $"{step.OpType} node '{step.NodeName}' cannot run in integers with the quantization parameters it has: {e.Message.ReplaceLineEndings(" ")}",
                Plan.Model.Graph.SourcePath, node: step.NodeName, inner: e);
        }
    }

    public IntegerPlan Plan { get; }

    /// <summary>When set (one slot per step), <see cref="Run(IReadOnlyDictionary{string, Tensor})"/> adds each step's Stopwatch ticks to it (benchmark profiling).</summary>
    public long[]? StepTicks { get; set; }

    /// <summary>Runs on float inputs (by model input name) and returns float outputs by name.</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs) => Run(inputs, capture: null);

    /// <summary>Like <see cref="Run(IReadOnlyDictionary{string, Tensor})"/>, also copying every int8 value a step writes into <paramref name="capture"/> (for per-layer comparisons).</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, Dictionary<string, sbyte[]>? capture)
    {
        foreach (var t in Plan.Inputs)
        {
            if (!inputs.TryGetValue(t.Name, out var value))
                throw new QuantBuildException(DiagnosticCodes.MissingInput, $"model input '{t.Name}' was not given");
            var data = value.ToFloatArray();
            if (data.Length != t.Length)
                throw new QuantBuildException(DiagnosticCodes.InvalidInputValue, $"model input '{t.Name}' must have {t.Length} elements ([{string.Join(",", t.Shape)}]), got {data.Length}");
            if (t.Type == PlanElementType.Int8) QuantParams.QuantizeLinear(data, Codes(t), t.Quant.Scale, t.Quant.ZeroPoint);
            else data.CopyTo(Floats(t));
            if (capture is not null && t.Type == PlanElementType.Int8) capture[t.Name] = Codes(t).ToArray();
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
            if (capture is null) continue;
            foreach (var o in Plan.Steps[s].Outputs)
                if (o.Type == PlanElementType.Int8) capture[o.Name] = Codes(o).ToArray();
        }
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var t in Plan.Outputs)
        {
            var values = new float[t.Length];
            if (t.Type == PlanElementType.Int8) QuantParams.DequantizeLinear(Codes(t), values, t.Quant.Scale, t.Quant.ZeroPoint);
            else Floats(t).CopyTo(values);
            result[t.Name] = Tensor.FromFloats(values, t.Shape);
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

    private Span<float> Floats(int offset, int length) => MemoryMarshal.Cast<byte, float>(_arena.AsSpan(offset, checked(length * 4)));

    /// <summary>Dequantize int8 inputs into scratch, run the kernel calls, quantize int8 outputs: what the generated code does.</summary>
    private Action PrepareFloatKernels(FloatStepExecution execution)
    {
        var step = execution.Step;
        var kernels = execution.Calls.Select(c => (Call: c, Kernel: c.Create())).ToArray();
        var int8Inputs = step.Inputs.Where(t => t.Type == PlanElementType.Int8).ToArray();
        var int8Outputs = step.Outputs.Where(t => t.Type == PlanElementType.Int8).ToArray();
        ReadOnlySpan<float> Operand(FloatOperand? o) =>
            o is null ? ReadOnlySpan<float>.Empty : o.Constant is not null ? o.Constant : Floats(execution.FloatOffset(o.Tensor!), o.Tensor!.Length);
        return () =>
        {
            foreach (var t in int8Inputs)
                QuantParams.DequantizeLinear(Codes(t), Floats(execution.FloatOffset(t), t.Length), t.Quant.Scale, t.Quant.ZeroPoint);
            foreach (var (call, kernel) in kernels)
                kernel.Eval(Operand(call.Inputs[0]), Operand(call.Inputs.Count > 1 ? call.Inputs[1] : null), Operand(call.Inputs.Count > 2 ? call.Inputs[2] : null),
                    Floats(execution.FloatOffset(call.Output), call.Output.Length));
            foreach (var t in int8Outputs)
                QuantParams.QuantizeLinear(Floats(execution.FloatOffset(t), t.Length), Codes(t), t.Quant.Scale, t.Quant.ZeroPoint);
        };
    }

    private Span<float> Floats(PlanTensor t) => MemoryMarshal.Cast<byte, float>(_arena.AsSpan(t.Offset, t.ByteLength));

    private Action Prepare(PlanStep step)
    {
        var input = step.Inputs.Count > 0 ? step.Inputs[0] : null;
        var output = step.Outputs[0];
        switch (step)
        {
            case LevelEncodeStep e:
                {
                    var k = new LogLevelEncoder(e.Table, e.Levels.LevelCount);
                    return () => k.Eval(Codes(input!), Codes(output));
                }
            case ConvStep { InputLevels: { } levels } c:
                {
                    var kernel = new Conv2DLogInput(c.Geometry, levels.TableLevels, levels.TableScale, c.Weights.Scales, output.Quant, LevelInputWeights(c.Weights, c.Geometry.OutChannels, c.Geometry.FanIn), c.Weights.Bias, c.ClampMin, c.ClampMax);
                    return () => kernel.Eval(Codes(input!), Codes(output));
                }
            case FullyConnectedStep { InputLevels: { } levels } f:
                {
                    var kernel = new FullyConnectedLogInput(f.Batch, f.InFeatures, f.Units, levels.TableLevels, levels.TableScale, f.Weights.Scales, output.Quant, LevelInputWeights(f.Weights, f.Units, f.InFeatures), f.Weights.Bias, f.ClampMin, f.ClampMax);
                    return () => kernel.Eval(Codes(input!), Codes(output));
                }
            case ConvStep c when c.Weights.Codebook is { } cb:
                {
                    var packed = cb.PackedIndices();
                    var levels = cb.Levels;
                    var kernel = new Conv2DCodebook(c.Geometry, input!.Quant, c.Weights.Scales, output.Quant, packed, cb.IndexBits, levels, c.Weights.Bias, c.ClampMin, c.ClampMax);
                    return () => kernel.Eval(Codes(input), packed, levels, Codes(output));
                }
            case FullyConnectedStep f when f.Weights.Codebook is { } cb:
                {
                    var packed = cb.PackedIndices();
                    var levels = cb.Levels;
                    var kernel = new FullyConnectedCodebook(f.Batch, f.InFeatures, f.Units, input!.Quant, f.Weights.Scales, output.Quant, packed, cb.IndexBits, levels, f.Weights.Bias, f.ClampMin, f.ClampMax);
                    return () => kernel.Eval(Codes(input), packed, levels, Codes(output));
                }
            case ConvStep c when c.Weights.IsMultipoint:
                {
                    var stored = c.Weights.StoredBytes();
                    var kernel = new Conv2DMultipoint(c.Geometry, input!.Quant, c.Weights.Scales, output.Quant, c.Weights.Bits, c.Weights.Bias,
                        c.Weights.ExtraChannels!, c.Weights.ExtraScales!, c.ClampMin, c.ClampMax);
                    return () => kernel.Eval(Codes(input), stored, Codes(output));
                }
            case FullyConnectedStep f when f.Weights.IsMultipoint:
                {
                    var stored = f.Weights.StoredBytes();
                    var kernel = new FullyConnectedMultipoint(f.Batch, f.InFeatures, f.Units, input!.Quant, f.Weights.Scales, output.Quant, f.Weights.Bits, f.Weights.Bias,
                        f.Weights.ExtraChannels!, f.Weights.ExtraScales!, f.ClampMin, f.ClampMax);
                    return () => kernel.Eval(Codes(input), stored, Codes(output));
                }
            case ConvStep c when c.Weights.Bits == 8:
                {
                    var kernel = new Conv2DInt8(c.Geometry, input!.Quant, c.Weights.Scales, output.Quant, c.Weights.Codes, c.Weights.Bias, c.ClampMin, c.ClampMax);
                    var w = c.Weights.Codes;
                    return () => kernel.Eval(Codes(input), w, Codes(output));
                }
            case ConvStep c:
                {
                    var packed = c.Weights.StoredBytes();
                    var kernel = new Conv2DInt4(c.Geometry, input!.Quant, c.Weights.Scales, output.Quant, packed, c.Weights.Bias, c.ClampMin, c.ClampMax);
                    return () => kernel.Eval(Codes(input), packed, Codes(output));
                }
            case FullyConnectedStep f when f.Weights.Bits == 8:
                {
                    var kernel = new FullyConnectedInt8(f.Batch, f.InFeatures, f.Units, input!.Quant, f.Weights.Scales, output.Quant, f.Weights.Codes, f.Weights.Bias, f.ClampMin, f.ClampMax);
                    var w = f.Weights.Codes;
                    return () => kernel.Eval(Codes(input), w, Codes(output));
                }
            case FullyConnectedStep f:
                {
                    var packed = f.Weights.StoredBytes();
                    var kernel = new FullyConnectedInt4(f.Batch, f.InFeatures, f.Units, input!.Quant, f.Weights.Scales, output.Quant, packed, f.Weights.Bias, f.ClampMin, f.ClampMax);
                    return () => kernel.Eval(Codes(input), packed, Codes(output));
                }
            case UnaryStep u: return PrepareUnary(u, input!, output);
            case BinaryStep b:
                {
                    var a = b.Inputs[0];
                    var bb = b.Inputs[1];
                    switch (b.Kind)
                    {
                        case BinaryKind.Add:
                            {
                                var k = new AddInt8(a.Shape, a.Quant, bb.Shape, bb.Quant, output.Quant, b.ClampMin, b.ClampMax);
                                return () => k.Eval(Codes(a), Codes(bb), Codes(output));
                            }
                        case BinaryKind.Mul:
                            {
                                var k = new MulInt8(a.Shape, a.Quant, bb.Shape, bb.Quant, output.Quant, b.ClampMin, b.ClampMax);
                                return () => k.Eval(Codes(a), Codes(bb), Codes(output));
                            }
                        default:
                            {
                                var k = new MaxInt8(a.Shape, a.Quant, bb.Shape, bb.Quant, output.Quant);
                                return () => k.Eval(Codes(a), Codes(bb), Codes(output));
                            }
                    }
                }
            case ConcatStep c:
                {
                    var k = new ConcatInt8(c.Inputs.Select(i => i.Shape).ToArray(), c.Inputs.Select(i => i.Quant).ToArray(), output.Quant, c.Axis);
                    var ins = c.Inputs.ToArray();
                    return () =>
                    {
                        for (int i = 0; i < ins.Length; i++) k.Eval(i, Codes(ins[i]), Codes(output));
                    };
                }
            case FloatStep f: return PrepareFloat(f);
            default: throw new QuantBuildException(DiagnosticCodes.InternalError, $"no executor for {step.GetType().Name}");
        }
    }

    /// <summary>The int8 weights of a log-input kernel, decoded from their stored form as the generated constructor does.</summary>
    public static sbyte[] LevelInputWeights(PlanWeights w, int channels, int fanIn) => w.Codebook is { } cb
        ? LogLevelInput.Weights(cb.PackedIndices(), 8, channels, fanIn, cb.IndexBits, cb.Levels)
        : LogLevelInput.Weights(w.StoredBytes(), w.Bits, channels, fanIn, 0, ReadOnlySpan<sbyte>.Empty);

    private Action PrepareUnary(UnaryStep u, PlanTensor input, PlanTensor output)
    {
        switch (u.Kind)
        {
            case UnaryKind.Requantize:
                {
                    var k = new RequantizeInt8(input.Quant, output.Quant);
                    return () => k.Eval(Codes(input), Codes(output));
                }
            case UnaryKind.Clip:
                {
                    var k = new ClipInt8(input.Quant, output.Quant, u.Min, u.Max);
                    return () => k.Eval(Codes(input), Codes(output));
                }
            case UnaryKind.LeakyRelu:
                {
                    var k = new LeakyReluInt8(input.Quant, output.Quant, u.Min);
                    return () => k.Eval(Codes(input), Codes(output));
                }
            case UnaryKind.MaxPool:
                {
                    var k = new MaxPoolInt8(u.Pool!, input.Quant, output.Quant);
                    return () => k.Eval(Codes(input), Codes(output));
                }
            case UnaryKind.AveragePool:
                {
                    var k = new AveragePoolInt8(u.Pool!, input.Quant, output.Quant, u.CountIncludePad);
                    return () => k.Eval(Codes(input), Codes(output));
                }
            case UnaryKind.GlobalAveragePool:
                {
                    var s = input.Shape;
                    var k = new GlobalAveragePoolInt8(s[0], s[1], s[2], s[3], input.Quant, output.Quant);
                    return () => k.Eval(Codes(input), Codes(output));
                }
            case UnaryKind.Transpose:
                {
                    var k = new TransposeInt8(input.Shape, u.Permutation!, input.Quant, output.Quant);
                    return () => k.Eval(Codes(input), Codes(output));
                }
            case UnaryKind.Softmax:
                {
                    int rowLength = input.Shape[^1];
                    var k = new SoftmaxInt8(input.Length / rowLength, rowLength, input.Quant, output.Quant);
                    return () => k.Eval(Codes(input), Codes(output));
                }
            default:
                {
                    var k = Table(u, input.Quant, output.Quant);
                    return () => k.Eval(Codes(input), Codes(output));
                }
        }
    }

    /// <summary>The lookup table of an activation, built by the same factory the generated code calls.</summary>
    public static LookupTableInt8 Table(UnaryStep u, QuantParams input, QuantParams output) => u.Kind switch
    {
        UnaryKind.HardSigmoid => LookupTableInt8.HardSigmoid(input, output, u.Min, u.Max),
        UnaryKind.HardSwish => LookupTableInt8.HardSwish(input, output),
        UnaryKind.Sigmoid => LookupTableInt8.Sigmoid(input, output),
        UnaryKind.Tanh => LookupTableInt8.Tanh(input, output),
        _ => throw new QuantBuildException(DiagnosticCodes.InternalError, $"{u.Kind} is not a table"),
    };

    private Action PrepareFloat(FloatStep f)
    {
        if (_floatSteps.TryGetValue(f, out var execution)) return PrepareFloatKernels(execution);
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
                var values = new float[t.Length];
                if (t.Type == PlanElementType.Int8) QuantParams.DequantizeLinear(Codes(t), values, t.Quant.Scale, t.Quant.ZeroPoint);
                else Floats(t).CopyTo(values);
                args[i] = Tensor.FromFloats(values, t.Shape);
            }
            var results = kernel.Forward(args);
            for (int o = 0; o < outputs.Length && o < results.Length; o++)
            {
                var t = outputs[o];
                if (t is null) continue;
                var values = results[o].ToFloatArray();
                if (t.Type == PlanElementType.Int8) QuantParams.QuantizeLinear(values, Codes(t), t.Quant.Scale, t.Quant.ZeroPoint);
                else values.CopyTo(Floats(t));
            }
        };
    }
}
