using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using QuantBuild.Diagnostics;
using QuantBuild.Runtime;

namespace QuantBuild.Lowering;

/// <summary>
/// The lowering rules from plan steps to runtime kernel calls (docs/plan-format.md). This is the one
/// place that knows which QuantBuild.Runtime kernel computes a step and with which arguments; adding a
/// kernel means adding its rule here. Constructors and methods are found by their argument types, so a
/// rule that does not fit its kernel's signature fails at build time naming the kernel.
/// </summary>
internal static class KernelBinding
{
    public static KernelPlan Bind(IntegerPlan plan)
    {
        var floatSteps = FloatStepExecution.Prepare(plan, out int arenaBytes, out var unsupported);
        var reasons = new Dictionary<PlanStep, string>(ReferenceEqualityComparer.Instance);
        foreach (var (step, reason) in unsupported) reasons[step] = reason;
        var data = new DataTable();
        var steps = new List<StepCalls>(plan.Steps.Count);
        for (int s = 0; s < plan.Steps.Count; s++)
        {
            var step = plan.Steps[s];
            var binder = new StepBinder(s, data);
            if (step is FloatStep fs)
            {
                if (floatSteps.TryGetValue(fs, out var execution)) binder.Float(execution);
                else
                {
                    steps.Add(new StepCalls(step, s, [], [], reasons[step]));
                    continue;
                }
            }
            else binder.Integer(step);
            steps.Add(new StepCalls(step, s, binder.Kernels, binder.Invocations, null));
        }
        return new KernelPlan(plan, steps, data.All, arenaBytes);
    }

    /// <summary>The plan's constants, with unique names; an int8 constant operand shared by several steps is one datum.</summary>
    private sealed class DataTable
    {
        private readonly Dictionary<string, PlanData> _byName = new(StringComparer.Ordinal);
        private readonly Dictionary<PlanTensor, PlanData> _constants = new(ReferenceEqualityComparer.Instance);
        public List<PlanData> All { get; } = [];

        public PlanData Add(string name, Array values, PlanDataRole role, string description)
        {
            var unique = name;
            for (int n = 1; _byName.ContainsKey(unique); n++) unique = name + "_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var d = new PlanData(unique, values, role, description);
            _byName[unique] = d;
            All.Add(d);
            return d;
        }

        public PlanData Constant(PlanTensor t)
        {
            if (_constants.TryGetValue(t, out var d)) return d;
            var name = "Constant" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(t.Name)))[..12];
            d = Add(name, t.ConstantCodes!, PlanDataRole.Constant, $"constant operand '{t.Name}' [{string.Join(",", t.Shape)}], scale {t.Quant.Scale.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}, zero point {t.Quant.ZeroPoint}");
            _constants[t] = d;
            return d;
        }
    }

    private sealed class StepBinder(int index, DataTable data)
    {
        public List<PlanKernel> Kernels { get; } = [];
        public List<PlanInvocation> Invocations { get; } = [];

        private string Suffix => index.ToString(System.Globalization.CultureInfo.InvariantCulture);

        private DataValue Data(string hint, Array values, PlanDataRole role, string description) =>
            new(data.Add(hint + Suffix, values, role, description));

        private static LiteralValue L(object value) => new(value);

        /// <summary>An operand of an integer kernel: the codes of an activation, or of a constant.</summary>
        private PlanValue Codes(PlanTensor t) => t.IsConstant ? new DataValue(data.Constant(t)) : ArenaValue.Codes(t);

        private PlanKernel Kernel(string name, PlanValue create, string comment)
        {
            var k = new PlanKernel(name, create, comment);
            Kernels.Add(k);
            return k;
        }

        private PlanKernel New<TKernel>(PlanStep step, params PlanValue[] args) => New(typeof(TKernel), step, args);

        private PlanKernel New(Type kernel, PlanStep step, PlanValue[] args) => StepKernel(step, Construct(kernel, args));

        /// <summary>The step's kernel, named after the step.</summary>
        private PlanKernel StepKernel(PlanStep step, PlanValue create) => Kernel("step" + Suffix, create, $"{step.OpType} '{step.NodeName}'");

        private void Eval(PlanKernel kernel, params PlanValue[] args) =>
            Invocations.Add(new PlanInvocation(kernel, Resolve(kernel.Type.GetMethods(BindingFlags.Public | BindingFlags.Instance).Where(m => m.Name == "Eval"), args, kernel.Type.Name + ".Eval"), args));

        // ------------------------------------------------------------ integer steps

        public void Integer(PlanStep step)
        {
            var input = step.Inputs.Count > 0 ? step.Inputs[0] : null;
            var output = step.Outputs[0];
            if (step is ConvStep wide && (wide.Inputs[0].Type == PlanElementType.Int16 || output.Type == PlanElementType.Int16))
            {
                WideConv(wide);
                return;
            }
            if (step is BinaryStep { Kind: BinaryKind.Add } sum && sum.Inputs[0].Type == PlanElementType.Int16)
            {
                WideAdd(sum);
                return;
            }
            var y = ArenaValue.Codes(output);
            switch (step)
            {
                case LevelEncodeStep e:
                    {
                        var table = Data("EncodeTable", e.Table, PlanDataRole.Table,
                            $"level encoding of '{e.Inputs[0].Name}' ({e.Levels.Grid} grid, {e.Levels.LevelCount} levels): entry c + 128 is the level index of int8 code c");
                        Eval(New<LogLevelEncoder>(step, table, L(e.Levels.LevelCount)), Codes(input!), y);
                        return;
                    }
                case ConvStep c:
                    Weighted(c, [L(c.Geometry)], c.Geometry.OutChannels, c.Geometry.FanIn, c.Weights, c.InputLevels, c.ClampMin, c.ClampMax, ConvKernels);
                    return;
                case FullyConnectedStep f:
                    Weighted(f, [L(f.Batch), L(f.InFeatures), L(f.Units)], f.Units, f.InFeatures, f.Weights, f.InputLevels, f.ClampMin, f.ClampMax, FullyConnectedKernels);
                    return;
                case BinaryStep b:
                    {
                        var (a, bb) = (b.Inputs[0], b.Inputs[1]);
                        var kernel = StepKernel(step, BinaryKernel(b, a.Shape, bb.Shape));
                        Eval(kernel, Codes(a), Codes(bb), y);
                        return;
                    }
                case ConcatStep c:
                    {
                        var kernel = New<ConcatInt8>(step, L(c.Inputs.Select(i => i.Shape).ToArray()), L(c.Inputs.Select(i => i.Quant).ToArray()), L(output.Quant), L(c.Axis));
                        for (int i = 0; i < c.Inputs.Count; i++) Eval(kernel, L(i), Codes(c.Inputs[i]), y);
                        return;
                    }
                case UnaryStep u:
                    Eval(Unary(u, input!, output), Codes(input!), y);
                    return;
                default:
                    throw new QuantBuildException(DiagnosticCodes.InternalError, $"no kernel binding for {step.GetType().Name}");
            }
        }

        /// <summary>The kernels of one weighted operator, by how its weights and input are stored.</summary>
        private sealed record WeightedKernels(Type LogInput, Type Codebook, Type Multipoint, Type Int8, Type Int4);

        private static readonly WeightedKernels ConvKernels =
            new(typeof(Conv2DLogInput), typeof(Conv2DCodebook), typeof(Conv2DMultipoint), typeof(Conv2DInt8), typeof(Conv2DInt4));

        private static readonly WeightedKernels FullyConnectedKernels =
            new(typeof(FullyConnectedLogInput), typeof(FullyConnectedCodebook), typeof(FullyConnectedMultipoint), typeof(FullyConnectedInt8), typeof(FullyConnectedInt4));

        /// <summary>
        /// Conv and FullyConnected: the same five storage forms, with the same arguments after the shape
        /// (<paramref name="shape"/>: a Conv2DGeometry, or batch, inputs, units).
        /// </summary>
        private void Weighted(PlanStep step, PlanValue[] shape, int channels, int fanIn, PlanWeights weights,
            QuantBuild.Quantization.LogActivationQuantization? inputLevels, int clampMin, int clampMax, WeightedKernels kernels)
        {
            var input = step.Inputs[0];
            var output = step.Outputs[0];
            // A convolution with fused code maps writes the last map's output but requantizes to its own parameters.
            var convOutput = step is ConvStep { Then.Count: > 0 } fusedConv ? fusedConv.ConvOutput : output;
            PlanValue x = Codes(input), y = ArenaValue.Codes(output), qi = L(input.Quant), qo = L(convOutput.Quant), lo = L(clampMin), hi = L(clampMax);
            var w = WeightData(step, weights, storedAsBytes: inputLevels is not null);
            if (inputLevels is { } lv)
                Eval(New(kernels.LogInput, step, [.. shape, InputLevels(lv), L(lv.TableScale), w.Scales, qo, LevelInputWeights(w, weights, channels, fanIn), w.Bias, lo, hi]), x, y);
            else if (weights.Codebook is { } cb)
                Eval(New(kernels.Codebook, step, [.. shape, qi, w.Scales, qo, w.Stored, L(cb.IndexBits), w.Levels!, w.Bias, lo, hi]), x, w.Stored, w.Levels!, y);
            else if (weights.IsMultipoint)
                Eval(New(kernels.Multipoint, step, [.. shape, qi, w.Scales, qo, L(weights.Bits), w.Bias, w.ExtraChannels!, w.ExtraScales!, lo, hi]), x, w.Stored, y);
            else if (step is ConvStep { Then.Count: > 0 } conv)
                Eval(New(weights.Bits == 8 ? kernels.Int8 : kernels.Int4, step, [.. shape, qi, w.Scales, qo, w.Stored, w.Bias, lo, hi, CodeMaps(conv.Then)]), x, w.Stored, y);
            else
                Eval(New(weights.Bits == 8 ? kernels.Int8 : kernels.Int4, step, [.. shape, qi, w.Scales, qo, w.Stored, w.Bias, lo, hi]), x, w.Stored, y);
        }

        /// <summary>A convolution with 16-bit codes on its input, its output or both (docs/wide-activations.md, "Integer kernels").</summary>
        private void WideConv(ConvStep c)
        {
            var (input, output) = (c.Inputs[0], c.Outputs[0]);
            var w = WeightData(c, c.Weights, storedAsBytes: true);
            var codes = LevelInputWeights(w, c.Weights, c.Geometry.OutChannels, c.Geometry.FanIn);
            var kernel = New<Conv2DWide>(c, L(c.Geometry), L(input.Quant), L(input.CodeBits), w.Scales, L(output.Quant), L(output.CodeBits), codes, w.Bias, L(c.ClampMin), L(c.ClampMax));
            Eval(kernel, ArenaValue.CodesOf(input), ArenaValue.CodesOf(output));
        }

        /// <summary>A same-shape Add whose first operand is 16-bit codes (IntegerLowering puts it first).</summary>
        private void WideAdd(BinaryStep sum)
        {
            var (a, b, output) = (sum.Inputs[0], sum.Inputs[1], sum.Outputs[0]);
            var kernel = New<AddWide>(sum, L(output.Length), L(a.Quant), L(b.Quant), L(b.CodeBits), L(output.Quant), L(output.CodeBits), L(sum.ClampMin), L(sum.ClampMax));
            Eval(kernel, ArenaValue.CodesOf(a), ArenaValue.CodesOf(b), ArenaValue.CodesOf(output));
        }

        /// <summary>The composed code maps of a convolution's fused elementwise steps (docs/algorithms/requantization.md, "Fused code maps").</summary>
        private static NewValue CodeMaps(IReadOnlyList<PlanStep> maps)
        {
            var stages = maps.Select(CodeMap).ToList();
            // Int8CodeMap takes up to three stages; a longer chain nests its head (a composed map is itself a stage).
            while (stages.Count > 3)
                stages = [Construct(typeof(Int8CodeMap), stages.Take(3).ToArray()), .. stages.Skip(3)];
            return Construct(typeof(Int8CodeMap), stages.ToArray());
        }

        /// <summary>One code-map step as its kernel's scalar map (IntegerLowering.IsCodeMap says which steps are).</summary>
        private static PlanValue CodeMap(PlanStep m)
        {
            switch (m)
            {
                case UnaryStep u:
                    return UnaryValue(u, u.Inputs[0], u.Outputs[0]);
                case BinaryStep b:
                    {
                        // The step's own kernel on one-element shapes (same parameters, same fused clip), the constant
                        // on its own side.
                        var constant = b.Inputs[0].IsConstant ? b.Inputs[0] : b.Inputs[1];
                        var kernel = BinaryKernel(b, [1], [1]);
                        return Construct(typeof(ConstantOperandInt8), [kernel, L((int)constant.ConstantCodes![0]), L(constant == b.Inputs[0])]);
                    }
                default:
                    throw new QuantBuildException(DiagnosticCodes.InternalError, $"{m.OpType} '{m.NodeName}' is not a code map");
            }
        }

        /// <summary>
        /// The kernel of an Add, Mul or Max step, with the operand shapes given (the step's own, or one-element shapes
        /// for its scalar map).
        /// </summary>
        private static NewValue BinaryKernel(BinaryStep b, int[] shapeA, int[] shapeB)
        {
            var (a, bb, output) = (b.Inputs[0], b.Inputs[1], b.Outputs[0]);
            PlanValue[] common = [L(shapeA), L(a.Quant), L(shapeB), L(bb.Quant), L(b.Then?.Sum ?? output.Quant)];
            return b.Kind switch
            {
                BinaryKind.Add when b.Then is { } then => Construct(typeof(AddInt8), [.. common, L(b.ClampMin), L(b.ClampMax),
                    Construct(typeof(ClipInt8), [L(then.Sum), L(output.Quant), L(then.Min), L(then.Max)])]),
                BinaryKind.Add => Construct(typeof(AddInt8), [.. common, L(b.ClampMin), L(b.ClampMax)]),
                BinaryKind.Mul => Construct(typeof(MulInt8), [.. common, L(b.ClampMin), L(b.ClampMax)]),
                _ => Construct(typeof(MaxInt8), common),
            };
        }

        private PlanKernel Unary(UnaryStep u, PlanTensor input, PlanTensor output) => StepKernel(u, UnaryValue(u, input, output));

        /// <summary>How a unary step's kernel is made: a constructor, or a LookupTableInt8 factory.</summary>
        private static PlanValue UnaryValue(UnaryStep u, PlanTensor input, PlanTensor output)
        {
            PlanValue qi = L(input.Quant), qo = L(output.Quant);
            PlanValue Table(string factory, params PlanValue[] args) => Call(typeof(LookupTableInt8), factory, [qi, qo, .. args]);
            PlanValue Make<TKernel>(params PlanValue[] args) => Construct(typeof(TKernel), args);
            return u.Kind switch
            {
                UnaryKind.Requantize => Make<RequantizeInt8>(qi, qo),
                UnaryKind.Clip => Make<ClipInt8>(qi, qo, L(u.Min), L(u.Max)),
                UnaryKind.LeakyRelu => Make<LeakyReluInt8>(qi, qo, L(u.Min)),
                UnaryKind.MaxPool => Make<MaxPoolInt8>(L(u.Pool!), qi, qo),
                UnaryKind.AveragePool => Make<AveragePoolInt8>(L(u.Pool!), qi, qo, L(u.CountIncludePad)),
                UnaryKind.GlobalAveragePool => Make<GlobalAveragePoolInt8>(L(input.Shape[0]), L(input.Shape[1]), L(input.Shape[2]), L(input.Shape[3]), qi, qo),
                UnaryKind.Transpose => Make<TransposeInt8>(L(input.Shape), L(u.Permutation!), qi, qo),
                UnaryKind.Softmax => Make<SoftmaxInt8>(L(input.Length / input.Shape[^1]), L(input.Shape[^1]), qi, qo),
                UnaryKind.HardSigmoid => Table(nameof(LookupTableInt8.HardSigmoid), L(u.Min), L(u.Max)),
                UnaryKind.HardSwish => Table(nameof(LookupTableInt8.HardSwish)),
                UnaryKind.Sigmoid => Table(nameof(LookupTableInt8.Sigmoid)),
                UnaryKind.Tanh => Table(nameof(LookupTableInt8.Tanh)),
                _ => throw new QuantBuildException(DiagnosticCodes.InternalError, $"no kernel binding for {u.Kind}"),
            };
        }

        /// <summary>The data a weighted step's kernel reads, named after the step.</summary>
        private sealed record Weights(DataValue Stored, DataValue Scales, DataValue Bias, DataValue? Levels, DataValue? ExtraChannels, DataValue? ExtraScales);

        /// <param name="storedAsBytes">int8 codes as their byte stream (the log-input kernels decode stored bytes at any width)</param>
        private Weights WeightData(PlanStep step, PlanWeights w, bool storedAsBytes)
        {
            string what = $"{step.OpType} '{step.NodeName}'";
            DataValue stored;
            DataValue? levels = null;
            if (w.Codebook is { } cb)
            {
                stored = Data("Weights", cb.PackedIndices(), PlanDataRole.Weights, $"{what}: codebook, {cb.IndexBits}-bit indices packed LSB-first");
                levels = Data("Levels", cb.Levels, PlanDataRole.Weights, $"{what}: {cb.Tables} table(s) of {1 << cb.IndexBits} int8 levels");
            }
            else if (w.Bits == 8 && !w.IsMultipoint && !storedAsBytes)
                stored = Data("Weights", w.Codes, PlanDataRole.Weights, $"{what}: int8 codes");
            else
                stored = Data("Weights", w.StoredBytes(), PlanDataRole.Weights,
                    $"{what}: {(w.Bits == 4 ? "int4 codes packed two per byte (low nibble first)" : "int8 codes")}{(w.IsMultipoint ? $", then {w.ExtraChannels!.Length} multipoint extra rows" : "")}");
            // A codebook's scales are part of its stored form (one float per output channel: docs/algorithms/weq.md), so they count as weights.
            var scales = Data("Scales", w.Scales, w.Codebook is null ? PlanDataRole.ChannelParameters : PlanDataRole.Weights, $"{what}: per-channel weight scales");
            var bias = Data("Bias", w.Bias, PlanDataRole.ChannelParameters, $"{what}: int32 bias at s_in·s_w");
            DataValue? extraChannels = null, extraScales = null;
            if (w.IsMultipoint)
            {
                extraChannels = Data("ExtraChannels", w.ExtraChannels!, PlanDataRole.ChannelParameters, $"{what}: output channel of each multipoint extra row");
                extraScales = Data("ExtraScales", w.ExtraScales!, PlanDataRole.ChannelParameters, $"{what}: scale of each multipoint extra row");
            }
            return new Weights(stored, scales, bias, levels, extraChannels, extraScales);
        }

        private DataValue InputLevels(QuantBuild.Quantization.LogActivationQuantization lv) =>
            Data("InputLevels", lv.TableLevels, PlanDataRole.Table, $"input levels: real value of level index n = entry n · {lv.TableScale.ToString("R", System.Globalization.CultureInfo.InvariantCulture)} (int16 fixed point)");

        /// <summary>A log-input kernel's int8 weights, decoded from their stored form once when the model is built.</summary>
        private static PlanValue LevelInputWeights(Weights data, PlanWeights w, int channels, int fanIn) => w.Codebook is { } cb
            ? Call(typeof(LogLevelInput), nameof(LogLevelInput.Weights), data.Stored, L(8), L(channels), L(fanIn), L(cb.IndexBits), data.Levels!)
            : Call(typeof(LogLevelInput), nameof(LogLevelInput.Weights), data.Stored, L(w.Bits), L(channels), L(fanIn), L(0), new EmptyValue(typeof(sbyte)));

        // ------------------------------------------------------------ float steps

        /// <summary>Dequantize coded inputs into the float scratch, run the float kernels, quantize coded outputs.</summary>
        public void Float(FloatStepExecution execution)
        {
            var step = execution.Step;
            PlanValue View(PlanTensor t) => ArenaValue.Floats(execution.FloatOffset(t), t.Length);
            foreach (var t in step.Inputs.Where(t => t.IsCoded))
                Static(typeof(QuantParams), nameof(QuantParams.DequantizeLinear), ArenaValue.CodesOf(t), View(t), L(t.Quant.Scale), L(t.Quant.ZeroPoint));
            for (int c = 0; c < execution.Calls.Count; c++)
            {
                var call = execution.Calls[c];
                string suffix = $"{Suffix}_{c}";
                string what = $"{step.OpType} '{step.NodeName}'";
                var args = call.Arguments.Select((a, k) => PlanValue.Of(a, array =>
                    new DataValue(data.Add($"FloatData{suffix}_{k}", array, PlanDataRole.FloatStep, $"{what} argument {k} of {call.KernelType.Name}")))).ToArray();
                var kernel = Kernel($"step{suffix}", Construct(call.KernelType, args), $"float {what}");
                var operands = new PlanValue[4];
                for (int k = 0; k < 3; k++)
                {
                    var o = k < call.Inputs.Count ? call.Inputs[k] : null;
                    operands[k] = o is null ? new EmptyValue(typeof(float))
                        : o.Constant is not null ? new DataValue(data.Add($"FloatOperand{suffix}_{k}", o.Constant, PlanDataRole.FloatStep, $"{what} constant input {k}"))
                        : View(o.Tensor!);
                }
                operands[3] = View(call.Output);
                Eval(kernel, operands);
            }
            foreach (var t in step.Outputs.Where(t => t.IsCoded))
                Static(typeof(QuantParams), nameof(QuantParams.QuantizeLinear), View(t), ArenaValue.CodesOf(t), L(t.Quant.Scale), L(t.Quant.ZeroPoint));
            foreach (var t in step.Outputs.Where(t => t.FloatGrid is not null))
                Static(typeof(WideActivationGrid), nameof(WideActivationGrid.Round), View(t), L(t.FloatGrid!.Scale), L(t.FloatGrid.ZeroPoint), L(t.FloatGrid.QMin), L(t.FloatGrid.QMax));
        }

        private void Static(Type type, string name, params PlanValue[] args) =>
            Invocations.Add(new PlanInvocation(null, Resolve(type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.Name == name), args, type.Name + "." + name), args));
    }

    // ---------------------------------------------------------------- signature matching

    private static NewValue Construct(Type type, PlanValue[] args) => new(Resolve(type.GetConstructors(), args, type.Name), args);

    private static CallValue Call(Type type, string name, params PlanValue[] args) =>
        new(Resolve(type.GetMethods(BindingFlags.Public | BindingFlags.Static).Where(m => m.Name == name), args, type.Name + "." + name), args);

    /// <summary>The one candidate whose parameters accept <paramref name="args"/> (trailing optional parameters may be left out).</summary>
    private static TMethod Resolve<TMethod>(IEnumerable<TMethod> candidates, IReadOnlyList<PlanValue> args, string what) where TMethod : MethodBase
    {
        var fits = candidates.Where(m =>
        {
            var ps = m.GetParameters();
            if (args.Count > ps.Length || ps.Skip(args.Count).Any(p => !p.IsOptional)) return false;
            for (int i = 0; i < args.Count; i++)
                if (!Accepts(ps[i].ParameterType, args[i])) return false;
            return true;
        }).ToList();
        if (fits.Count != 1)
            throw new QuantBuildException(DiagnosticCodes.InternalError,
                $"kernel binding: {fits.Count} overloads of {what} take ({string.Join(", ", args.Select(Describe))})");
        return fits[0];
    }

    /// <summary>Element type of T[], Span&lt;T&gt; or ReadOnlySpan&lt;T&gt;; null otherwise.</summary>
    internal static Type? SequenceElement(Type t) =>
        t.IsArray ? t.GetElementType()
        : t.IsGenericType && (t.GetGenericTypeDefinition() == typeof(Span<>) || t.GetGenericTypeDefinition() == typeof(ReadOnlySpan<>)) ? t.GetGenericArguments()[0]
        : null;

    internal static bool IsSpan(Type t) => t.IsGenericType && (t.GetGenericTypeDefinition() == typeof(Span<>) || t.GetGenericTypeDefinition() == typeof(ReadOnlySpan<>));

    private static bool Accepts(Type parameter, PlanValue value) => value switch
    {
        ArenaValue a => IsSpan(parameter) && SequenceElement(parameter) == a.ElementType,
        DataValue d => SequenceElement(parameter) == d.Data.ElementType && !(parameter.IsGenericType && parameter.GetGenericTypeDefinition() == typeof(Span<>)),
        EmptyValue e => SequenceElement(parameter) == e.ElementType,
        LiteralValue { Value: var v } => parameter.IsInstanceOfType(v),
        NewValue n => parameter.IsAssignableFrom(n.Constructor.DeclaringType),
        CallValue c => parameter.IsAssignableFrom(c.Method.ReturnType) || (IsSpan(parameter) && c.Method.ReturnType.IsArray && SequenceElement(parameter) == c.Method.ReturnType.GetElementType()),
        _ => false,
    };

    private static string Describe(PlanValue v) => v switch
    {
        ArenaValue a => $"arena {a.ElementType.Name}[{a.Length}]",
        DataValue d => $"data {d.Data.ElementType.Name}[]",
        EmptyValue e => $"empty {e.ElementType.Name}",
        LiteralValue l => l.Value.GetType().Name,
        NewValue n => n.Constructor.DeclaringType!.Name,
        CallValue c => c.Method.ReturnType.Name,
        _ => v.GetType().Name,
    };
}
