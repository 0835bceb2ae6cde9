using System.Globalization;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Quantization;
using QuantBuild.Runtime;
using QuantBuild.Tensors;

namespace QuantBuild.Lowering;

/// <summary>
/// QuantizedModel → <see cref="IntegerPlan"/>. Each node becomes one integer kernel of QuantBuild.Runtime
/// with its build-time parameters (per-channel requantizers, int32 bias, fused clamps, tables), a view
/// (Reshape and friends on codes), or a float fallback step. Recognised patterns: Conv/Gemm/MatMul
/// followed by their only consumer Relu/Clip (fused clamp), hard-swish x·Clip(x+3,0,6)/6 and
/// hard-sigmoid Clip(x+3,0,6)/6 (one lookup table each).
/// </summary>
public static class IntegerLowering
{
    /// <param name="inputShapes">
    /// Shapes to run with, by input name, for inputs whose graph shape has unknown dimensions (an integer
    /// plan is static-shaped; an unknown dimension otherwise becomes 1).
    /// </param>
    public static IntegerPlan Lower(QuantizedModel model, IReadOnlyDictionary<string, int[]>? inputShapes = null) => new Lowerer(model, inputShapes).Run();

    /// <summary>
    /// Op types with an integer kernel (or an integer view) in QuantBuild.Runtime. A node of any other
    /// type always runs as a float step; a node of one of these still may, for its attributes, ranks or
    /// unquantized inputs (the report says why). <c>TryLower</c> refuses every other type through this set, so
    /// a new case in its switch needs its op type here.
    /// </summary>
    public static readonly IReadOnlySet<string> IntegerOpTypes = new HashSet<string>(StringComparer.Ordinal)
    {
        "Conv", "Gemm", "MatMul", "Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh",
        "MaxPool", "AveragePool", "GlobalAveragePool", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity",
        "Dropout", "Transpose", "Softmax", "Concat", "Add", "Sub", "Mul", "Div", "Max",
    };

    /// <summary>Whether a node of this op type can have an integer kernel (see <see cref="IntegerOpTypes"/>).</summary>
    public static bool HasIntegerKernel(string domain, string opType) => domain is "" or "ai.onnx" && IntegerOpTypes.Contains(opType);

    private sealed class Lowerer
    {
        private readonly QuantizedModel _model;
        private readonly ModelGraph _graph;
        private readonly Dictionary<string, List<Node>> _consumers;
        // Type and shape of every value from one float run; the values themselves only where lowering reads
        // them (initializers, non-float shape arithmetic). Keeping every float activation, as a trace does,
        // held gigabytes for a 640x640 detector.
        private readonly Dictionary<string, ProbedValue> _probe = new(StringComparer.Ordinal);

        /// <summary>What the probe run kept of a value: <see cref="Value"/> is null for float activations.</summary>
        private sealed record ProbedValue(DataType Type, int[] Shape, Tensor? Value)
        {
            public int Rank => Shape.Length;
            public int Length => checked((int)Tensor.ElementCount(Shape));
        }
        private readonly Dictionary<string, PlanTensor> _tensors = new(StringComparer.Ordinal);
        private readonly List<PlanTensor> _tensorList = [];
        private readonly List<PlanStep> _steps = [];
        private readonly List<string> _warnings = [];
        private readonly HashSet<Node> _done = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<string> _graphOutputs;
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);
        // Values computed from the input data on every run; bool ones among them are float 0/1 plan tensors.
        private readonly HashSet<string> _dataDependent;

        public Lowerer(QuantizedModel model, IReadOnlyDictionary<string, int[]>? inputShapes)
        {
            _model = model;
            _graph = model.Graph;
            _consumers = _graph.Consumers();
            _graphOutputs = _graph.Outputs.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            _dataDependent = FloatKernelBinding.DataDependentValues(_graph);
            // Shapes (and shape-derived int64 values) of every value: one float run on zero inputs. The
            // prepared graph is static-shaped, so this is exactly what every later run sees.
            var engine = new InferenceEngine(_graph, new EngineOptions { MaxDegreeOfParallelism = 1 });
            Tensor Feed(ValueInfo input) => ShapeInference.DeclaredInput(_graph, input,
                inputShapes is not null && inputShapes.TryGetValue(input.Name, out var given) ? Array.ConvertAll(given, d => (long)d)
                : input.Shape?.Select(d => d is > 0 ? d.Value : 1L).ToArray() ?? []);
            var feeds = _graph.Inputs.ToDictionary(i => i.Name, Feed, StringComparer.Ordinal);
            engine.Run(feeds, observe: null, (name, t) =>
                _probe[name] = new ProbedValue(t.Type, t.Shape, t.Type == DataType.Float && !_graph.Initializers.ContainsKey(name) ? null : t));
        }

        public IntegerPlan Run()
        {
            var inputs = new List<PlanTensor>();
            foreach (var vi in _graph.Inputs)
            {
                if (_probe[vi.Name].Type != DataType.Float)
                    throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"model input '{vi.Name}' is {DataTypes.Name(_probe[vi.Name].Type)}; the integer runtime takes float inputs", _graph.SourcePath);
                inputs.Add(Activation(vi.Name));
            }
            foreach (var node in _graph.Nodes)
            {
                if (_done.Contains(node)) continue;
                if (node.Outputs.All(o => o.Length == 0 || !IsFloatValue(o))) { _done.Add(node); continue; } // shape arithmetic: build-time constants
                string? reason = _model.FloatNodes.Contains(node.Name) ? "listed as a float node" : TryLower(node);
                if (reason is not null) AddFloat(node, reason);
                _done.Add(node);
            }
            foreach (var o in _graph.Outputs)
                if (!_tensors.ContainsKey(o.Name) && _graph.Initializers.TryGetValue(o.Name, out var value) && value.Type == DataType.Float)
                    AddConstantOutput(o.Name, value);
            var outputs = _graph.Outputs.Select(o => _tensors.TryGetValue(o.Name, out var t) ? t
                : throw new QuantBuildException(DiagnosticCodes.InternalError, $"model output '{o.Name}' was not lowered", _graph.SourcePath)).ToList();
            WarnWhenCodebookTablesOutweighIndices();
            FuseCodeMaps(outputs);
            var plan = new IntegerPlan(_model, _steps, _tensorList, inputs, outputs, _warnings);
            ArenaPlanner.Assign(plan);
            return plan;
        }

        /// <summary>
        /// A convolution with plain int8/int4 weights whose output is read by exactly one elementwise step that is a
        /// function of one code (Relu/Clip, LeakyRelu, Requantize, the float-function tables, Max against a
        /// one-element constant, Add or Mul by a one-element constant) takes that step into its output stage, and so on down
        /// the chain: the convolution's rows
        /// are mapped by the composed code maps right after they are written. Each map still rounds to its own
        /// output parameters, so the values in between keep their QDQ quantization (KeptIntermediates) and the bits
        /// are the separate steps' (docs/algorithms/requantization.md, "Fused code maps").
        /// </summary>
        private void FuseCodeMaps(IReadOnlyList<PlanTensor> outputs)
        {
            var modelOutputs = outputs.ToHashSet(ReferenceEqualityComparer.Instance);
            var viewed = _tensorList.Where(t => t.ViewOf is not null).Select(t => t.ViewOf!).ToHashSet(ReferenceEqualityComparer.Instance);
            var readers = new Dictionary<PlanTensor, List<PlanStep>>(ReferenceEqualityComparer.Instance);
            foreach (var step in _steps)
                foreach (var input in step.Inputs)
                {
                    if (!readers.TryGetValue(input, out var list)) readers[input] = list = [];
                    list.Add(step);
                }
            var removed = new HashSet<PlanStep>(ReferenceEqualityComparer.Instance);
            for (int i = 0; i < _steps.Count; i++)
            {
                if (_steps[i] is not ConvStep conv || conv.InputLevels is not null || conv.Weights.Codebook is not null || conv.Weights.IsMultipoint) continue;
                var maps = new List<PlanStep>();
                var kept = new List<string>();
                var output = conv.Outputs[0];
                var fused = conv.FusedNodes.ToList();
                while (!modelOutputs.Contains(output) && !viewed.Contains(output)
                       && readers.TryGetValue(output, out var list) && list.Count == 1 && IsCodeMap(list[0], output))
                {
                    var map = list[0];
                    maps.Add(map);
                    kept.Add(output.Name);
                    kept.AddRange(map.KeptIntermediates);
                    fused.AddRange(map.FusedNodes);
                    removed.Add(map);
                    _tensorList.Remove(output);
                    output = map.Outputs[0];
                }
                if (maps.Count == 0) continue;
                _steps[i] = new ConvStep(conv.NodeName, string.Join("+", [conv.OpType, .. maps.Select(m => m.OpType)]), conv.Inputs[0], output,
                    conv.Geometry, conv.Weights, conv.ClampMin, conv.ClampMax)
                { FusedNodes = fused, KeptIntermediates = kept, Then = maps, ConvOutput = conv.Outputs[0] };
            }
            _steps.RemoveAll(removed.Contains);
        }

        /// <summary>Whether <paramref name="step"/> maps each code of <paramref name="input"/> to one output code by a fixed function.</summary>
        private static bool IsCodeMap(PlanStep step, PlanTensor input) => step switch
        {
            UnaryStep u => u.Inputs[0] == input && u.Kind is UnaryKind.Clip or UnaryKind.LeakyRelu or UnaryKind.Requantize
                or UnaryKind.HardSigmoid or UnaryKind.HardSwish or UnaryKind.Sigmoid or UnaryKind.Tanh,
            BinaryStep { Kind: BinaryKind.Max } b => b.Inputs[0] == input && b.Inputs[1] is { IsConstant: true, Length: 1 }
                && b.Inputs[0].Length == b.Outputs[0].Length,
            BinaryStep { Kind: BinaryKind.Add or BinaryKind.Mul } b => ConstantOperandOf(b, input) is not null && input.Length == b.Outputs[0].Length,
            _ => false,
        };

        /// <summary>
        /// The other operand of an Add or Mul that reads <paramref name="input"/>, when it is a one-element constant (the
        /// step is then a code map of <paramref name="input"/>: PP-OCRv4's learnable affine blocks, a Sub or Div by a
        /// constant); else null.
        /// </summary>
        internal static PlanTensor? ConstantOperandOf(BinaryStep b, PlanTensor input) =>
            b.Inputs[0] == input && b.Inputs[1] is { IsConstant: true, Length: 1 } second ? second
            : b.Inputs[1] == input && b.Inputs[0] is { IsConstant: true, Length: 1 } first ? first
            : null;

        /// <summary>
        /// Per-channel codebooks store 2^bits int8 levels per output channel: at high widths on layers with a
        /// small fan-in (depthwise 3×3: 9 weights a channel) the tables outgrow the weights, and WEQ at 8 bits
        /// on the PaddleOCR classifier stored more bytes than fp32. Say so, with the way out.
        /// </summary>
        private void WarnWhenCodebookTablesOutweighIndices()
        {
            long tableBytes = 0, indexBytes = 0;
            foreach (var weights in _steps.Select(PlanWeights.Of).OfType<PlanWeights>())
                if (weights.Codebook is { } codebook)
                {
                    tableBytes += codebook.Levels.Length;
                    indexBytes += BitPacking.PackedLength(codebook.Indices.Length, codebook.IndexBits);
                }
            if (tableBytes > indexBytes)
                _warnings.Add($"codebook level tables take {tableBytes:N0} bytes, more than the {indexBytes:N0} bytes of packed indices they decode; " +
                              "fewer bits, one table per layer (weights.perChannel: false) or linear weights store this model smaller");
        }

        /// <summary>Build-time value of a non-activation input (initializer or shape-derived), else null.</summary>
        public Tensor? Constant(string name)
        {
            if (_graph.Initializers.TryGetValue(name, out var init)) return init;
            if (_probe.TryGetValue(name, out var t) && t.Type != DataType.Float && !IsDataBool(name)) return t.Value;
            return null;
        }

        /// <summary>A value computed at run time: a float activation, or a bool computed from the data (carried as 0/1 floats; docs/control-flow.md).</summary>
        private bool IsFloatValue(string name) => _probe.TryGetValue(name, out var t) && !_graph.Initializers.ContainsKey(name)
            && (t.Type == DataType.Float || IsDataBool(name));

        private bool IsDataBool(string name) => _probe.TryGetValue(name, out var t) && t.Type == DataType.Bool && _dataDependent.Contains(name);

        private PlanTensor Register(PlanTensor t)
        {
            if (!_names.Add(t.Name)) throw new QuantBuildException(DiagnosticCodes.InternalError, $"value '{t.Name}' lowered twice");
            _tensors[t.Name] = t;
            _tensorList.Add(t);
            return t;
        }

        /// <summary>The plan tensor of an activation, created on first use from the model's activation quantization.</summary>
        private PlanTensor Activation(string name, PlanTensor? viewOf = null)
        {
            if (_tensors.TryGetValue(name, out var existing)) return existing;
            var shape = _probe[name].Shape.ToArray();
            var q = Quant(name);
            // A 16-bit activation is held as its int16 codes; other widths than 8 and 16 stay float in the plan, on
            // their grid (docs/wide-activations.md).
            var grid = q is null && _model.Activations.TryGetValue(name, out var wide) ? wide : null;
            if (grid is { Bits: 16, Signed: true })
                return Register(new PlanTensor(name, shape, PlanElementType.Int16, new QuantParams(grid.Scale, grid.ZeroPoint)) { ViewOf = viewOf, Grid = grid });
            return Register(new PlanTensor(name, shape, q is null ? PlanElementType.Float32 : PlanElementType.Int8, q ?? new QuantParams(1f, 0)) { ViewOf = viewOf, Grid = grid });
        }

        /// <summary>int8 parameters of an activation; uint8 codes become int8 with the zero point moved by −128 (same real values).</summary>
        private QuantParams? Quant(string name)
        {
            if (!_model.Activations.TryGetValue(name, out var a) || a.Bits != 8) return null;
            return new QuantParams(a.Scale, a.Signed ? a.ZeroPoint : a.ZeroPoint - 128);
        }

        private bool IsInt8(string name) => !_graph.Initializers.ContainsKey(name) && Quant(name) is not null;

        private void AddFloat(Node node, string reason)
        {
            var ins = node.Inputs.Where(i => i.Length > 0 && IsFloatValue(i)).Distinct(StringComparer.Ordinal).Select(i => Activation(i)).ToList();
            var outs = node.Outputs.Where(o => o.Length > 0 && IsFloatValue(o)).Select(o => Activation(o)).ToList();
            var constants = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            _model.Weights.TryGetValue(node.Name, out var wq);
            foreach (var name in node.Inputs)
            {
                if (name.Length == 0 || IsFloatValue(name) || constants.ContainsKey(name)) continue;
                var value = Constant(name) ?? throw node.Error(DiagnosticCodes.InternalError, $"input '{name}' has no value at build time");
                // A quantized weight runs as the values its codes stand for, so the float step still shows the weight error.
                constants[name] = wq is not null && wq.WeightName == name ? Tensor.FromFloats(wq.Dequantize(), wq.Shape) : value;
            }
            foreach (var name in node.Inputs.Where(_model.LevelActivations.ContainsKey))
                _warnings.Add($"{node.OpType} node '{node.Name}' runs in float ({reason}) on the linear codes of '{name}', not on its {_model.LevelActivations[name].Grid} levels as the QDQ file does");
            _steps.Add(new FloatStep(node, ins, outs, reason, constants));
        }

        /// <summary>
        /// A model output that is a constant (a folded Constant node): a float step with no activation input
        /// that copies the value into the output's slot on every run, as the QDQ file returns it.
        /// </summary>
        private void AddConstantOutput(string name, Tensor value)
        {
            var copy = new Node(name + "/constant", "Identity", [name], [name]);
            _steps.Add(new FloatStep(copy, [], [Activation(name)], "a constant model output", new Dictionary<string, Tensor>(StringComparer.Ordinal) { [name] = value }));
        }

        private static string? Unless(bool ok, string reason) => ok ? null : reason;

        /// <summary>Lowers one node (and any pattern it starts); returns null on success or why it stays float.</summary>
        private string? TryLower(Node node)
        {
            var acts = node.Inputs.Where(i => i.Length > 0 && IsFloatValue(i)).ToList();
            if (node.OpType is "Add" && TryHardSwishOrSigmoid(node)) return null;
            if (node.OpType == "Conv" && ReadsOrWritesWide(node)) return LowerConv(node, wide: true);
            if (node.OpType == "Add" && AddsWide(node)) return LowerWideAdd(node);
            if (acts.Any(a => !IsInt8(a))) return "an input is not quantized";
            // A Conv/Gemm/MatMul output that goes straight into its Relu/Clip is never int8 itself: the
            // fused step writes the activation's output (the pipeline drops the inner value's quantization).
            bool fusesActivation = node.OpType is "Conv" or "Gemm" or "MatMul" && node.Outputs.Count == 1 && FusibleActivation(node.Outputs[0]) is not null;
            if (!fusesActivation && node.Outputs.Where(o => o.Length > 0).Any(o => !IsInt8(o) && IsFloatValue(o))) return "an output is not quantized";
            if (!HasIntegerKernel(node.Domain, node.OpType)) return $"no integer kernel for {node.OpType}";
            switch (node.OpType)
            {
                case "Conv": return LowerConv(node);
                case "Gemm": return LowerGemm(node);
                case "MatMul": return LowerMatMul(node);
                case "Relu": return Unary(node, UnaryKind.Clip, min: 0f);
                case "Clip":
                    {
                        var (lo, hi) = ClipBounds(node);
                        return lo is null ? "Clip bounds are not constant" : Unary(node, UnaryKind.Clip, min: lo.Value, max: hi!.Value);
                    }
                case "LeakyRelu": return Unary(node, UnaryKind.LeakyRelu, min: node.GetFloat("alpha", 0.01f));
                case "HardSigmoid": return Unary(node, UnaryKind.HardSigmoid, min: node.GetFloat("alpha", 0.2f), max: node.GetFloat("beta", 0.5f));
                case "HardSwish": return Unary(node, UnaryKind.HardSwish);
                case "Sigmoid": return Unary(node, UnaryKind.Sigmoid);
                case "Tanh": return Unary(node, UnaryKind.Tanh);
                case "MaxPool":
                case "AveragePool": return LowerPool(node);
                case "GlobalAveragePool":
                    return Unless(_probe[node.Inputs[0]].Rank == 4, "GlobalAveragePool needs a 4-D input") ?? Unary(node, UnaryKind.GlobalAveragePool);
                case "Reshape":
                case "Flatten":
                case "Squeeze":
                case "Unsqueeze":
                case "Identity":
                case "Dropout":
                    return LowerView(node);
                case "Transpose": return LowerTranspose(node);
                case "Softmax": return LowerSoftmax(node);
                case "Concat": return LowerConcat(node);
                case "Add": return LowerBinary(node, BinaryKind.Add, negateB: false, invertB: false);
                case "Sub": return LowerBinary(node, BinaryKind.Add, negateB: true, invertB: false);
                case "Mul": return LowerBinary(node, BinaryKind.Mul, negateB: false, invertB: false);
                case "Div": return LowerBinary(node, BinaryKind.Mul, negateB: false, invertB: true);
                case "Max": return node.Inputs.Count == 2 ? LowerBinary(node, BinaryKind.Max, false, false) : "Max with other than two inputs";
                default: return $"no integer kernel for {node.OpType}";
            }
        }

        // ---------------------------------------------------------------- Conv / Gemm / MatMul

        /// <summary>
        /// A Conv whose input or output (after a fused Relu/Clip) is a 16-bit activation, the other side int8 or 16-bit:
        /// it runs on Conv2DWide (docs/wide-activations.md, "Integer kernels") when its shape has a fast path.
        /// </summary>
        private bool ReadsOrWritesWide(Node node)
        {
            if (node.Inputs.Count < 2 || node.Outputs.Count != 1 || !IsFloatValue(node.Inputs[0])) return false;
            string output = FusibleActivation(node.Outputs[0], allowWide: true) is { } fused ? fused.Act.Outputs[0] : node.Outputs[0];
            return (IsWide(node.Inputs[0]) || IsWide(output)) && IsCodedActivation(node.Inputs[0]) && IsCodedActivation(output);
        }

        /// <summary>An Add of two activations, at least one 16-bit, the other and the output int8 or 16-bit.</summary>
        private bool AddsWide(Node node) =>
            node.Inputs.Count == 2 && node.Outputs.Count == 1 && node.Inputs.All(IsFloatValue) && node.Inputs.Any(IsWide)
            && node.Inputs.All(IsCodedActivation) && IsCodedActivation(node.Outputs[0]);

        /// <summary>An <see cref="AddsWide"/> Add of same-shape operands runs on AddWide (the 16-bit operand first; Add commutes).</summary>
        private string? LowerWideAdd(Node node)
        {
            string x = node.Inputs[0], y = node.Inputs[1], output = node.Outputs[0];
            int length = _probe[output].Length;
            if (_probe[x].Length != length || _probe[y].Length != length || !_probe[x].Shape.SequenceEqual(_probe[y].Shape))
                return "an Add with a 16-bit operand broadcasts (AddWide takes same-shape operands)";
            var (a, b) = IsWide(x) ? (Activation(x), Activation(y)) : (Activation(y), Activation(x));
            var result = Activation(output);
            var ratio = Math.Max(a.Quant.Scale, b.Quant.Scale) / (double)result.Quant.Scale;
            if (!(ratio < 1 << 29)) return "scale ratio too large for an integer Add";
            _steps.Add(new BinaryStep(node.Name, "Add", BinaryKind.Add, a, b, result, result.CodeRange.Min, result.CodeRange.Max) { FusedNodes = [node.Name] });
            return null;
        }

        /// <summary>An activation the model quantizes to 16-bit signed codes (the plan holds it as <see cref="PlanElementType.Int16"/>).</summary>
        private bool IsWide(string name) => !_graph.Initializers.ContainsKey(name) && _model.Activations.TryGetValue(name, out var a) && a is { Bits: 16, Signed: true };

        /// <summary>An activation the plan holds as codes a kernel reads: int8 or 16-bit.</summary>
        private bool IsCodedActivation(string name) => IsInt8(name) || IsWide(name);

        private string? LowerConv(Node node, bool wide = false)
        {
            if (!_model.Weights.TryGetValue(node.Name, out var wq)) return "weights are not quantized";
            if (wq.Encoding != WeightEncoding.Linear && wq.CodebookLevels is null) return $"{wq.Method} codebook weights without int8 level tables have no integer kernel";
            var x = _probe[node.Inputs[0]];
            var w = _probe[node.Inputs[1]];
            int rank = x.Rank;
            if (rank != 3 && rank != 4) return "only 1-D and 2-D convolutions have an integer kernel";
            int spatial = rank - 2;
            long[] Ints(string name, long fill) => node.GetInts(name) is { Length: > 0 } v ? v : Enumerable.Repeat(fill, spatial).ToArray();
            var kernel = w.Shape.Skip(2).Select(d => (long)d).ToArray();
            var strides = Ints("strides", 1);
            var dilations = Ints("dilations", 1);
            var pads = node.GetInts("pads") is { Length: > 0 } p ? p : new long[2 * spatial];
            var autoPad = node.GetString("auto_pad", "NOTSET");
            var y = _probe[node.Outputs[0]];
            if (autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                pads = new long[2 * spatial];
                for (int d = 0; d < spatial; d++)
                {
                    long total = Math.Max(0, (y.Shape[2 + d] - 1) * strides[d] + (kernel[d] - 1) * dilations[d] + 1 - x.Shape[2 + d]);
                    long small = total / 2, big = total - small;
                    pads[d] = autoPad == "SAME_UPPER" ? small : big;
                    pads[d + spatial] = autoPad == "SAME_UPPER" ? big : small;
                }
            }
            else if (autoPad == "VALID") pads = new long[2 * spatial];
            int group = (int)node.GetInt("group", 1);
            Conv2DGeometry geometry = spatial == 2
                ? new Conv2DGeometry(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], w.Shape[0], w.Shape[2], w.Shape[3],
                    (int)strides[0], (int)strides[1], (int)pads[0], (int)pads[1], (int)pads[2], (int)pads[3], (int)dilations[0], (int)dilations[1], group)
                : new Conv2DGeometry(x.Shape[0], x.Shape[1], 1, x.Shape[2], w.Shape[0], 1, w.Shape[2],
                    1, (int)strides[0], 0, (int)pads[0], 0, (int)pads[1], 1, (int)dilations[0], group);
            if (geometry.OutputLength != y.Length) return "convolution geometry does not match the inferred output shape";
            if (wq.Axis != 0 && wq.Scales.Length != 1) return "conv weights must be quantized per output channel (axis 0)";
            if (_model.LevelActivations.ContainsKey(node.Inputs[0]) && wq.Quantizer == WeightMethod.Multipoint) return "multipoint weights have no kernel for level-coded inputs";
            if (wide) return LowerWideConv(node, wq, geometry);
            var (input, levels) = LevelInput(node, node.Inputs[0]);
            var (outName, lo, hi, fused) = FuseActivation(node.Outputs[0]);
            var output = Activation(outName);
            var weights = Weights(node, wq, wq.Codes, geometry.OutChannels, input.Quant, node.HasInput(2) ? node.Inputs[2] : null);
            FusedActivation.Clip(output.Quant, lo, hi, out int cmin, out int cmax);
            _steps.Add(new ConvStep(node.Name, (levels is null ? "" : "Levels→") + (fused is null ? "Conv" : "Conv+" + fused.OpType), input, output, geometry, weights, cmin, cmax)
            { FusedNodes = fused is null ? [node.Name] : [node.Name, fused.Name], InputLevels = levels });
            return null;
        }

        /// <summary>The 16-bit side of a convolution: pointwise and depthwise shapes, linear or codebook int8 weights.</summary>
        private string? LowerWideConv(Node node, WeightQuantization wq, Conv2DGeometry geometry)
        {
            if (wq.Quantizer == WeightMethod.Multipoint) return "multipoint weights have no kernel for 16-bit activations";
            // int8 codes in run on the int8 GEMM whatever the shape; 16-bit codes in have fast paths for these two shapes only.
            if (IsWide(node.Inputs[0]) && !geometry.IsPointwise && !geometry.IsDepthwise) return "a 16-bit activation feeds a convolution that is neither pointwise nor depthwise (no fast integer kernel)";
            var input = Activation(node.Inputs[0]);
            var fusible = FusibleActivation(node.Outputs[0], allowWide: true);
            if (fusible is { } f) _done.Add(f.Act);
            var output = Activation(fusible is { } g ? g.Act.Outputs[0] : node.Outputs[0]);
            var weights = Weights(node, wq, wq.Codes, geometry.OutChannels, input.Quant, node.HasInput(2) ? node.Inputs[2] : null);
            var (lo, hi) = fusible is { } a ? (a.Lo, a.Hi) : (float.NegativeInfinity, float.PositiveInfinity);
            FusedActivation.Clip(output.Quant, lo, hi, output.CodeRange.Min, output.CodeRange.Max, out int cmin, out int cmax);
            // The kernel's output stage needs M = s_x·s_w/s_y below 2^30 (Conv2DWide); beyond that the node stays float.
            if (weights.Scales.Any(sw => (double)input.Quant.Scale * sw / output.Quant.Scale >= 1 << 29))
                return "requantization multiplier too large for an integer kernel";
            _steps.Add(new ConvStep(node.Name, fusible is { } h ? "Conv+" + h.Act.OpType : "Conv", input, output, geometry, weights, cmin, cmax)
            { FusedNodes = fusible is { } k ? [node.Name, k.Act.Name] : [node.Name] });
            return null;
        }

        private string? LowerGemm(Node node)
        {
            if (!_model.Weights.TryGetValue(node.Name, out var wq)) return "weights are not quantized";
            if (wq.Encoding != WeightEncoding.Linear && wq.CodebookLevels is null) return $"{wq.Method} codebook weights without int8 level tables have no integer kernel";
            if (node.GetInt("transA", 0) != 0) return "Gemm with transA=1";
            if (node.GetFloat("alpha", 1f) != 1f) return "Gemm with alpha ≠ 1";
            if (node.HasInput(2) && node.GetFloat("beta", 1f) != 1f) return "Gemm with beta ≠ 1";
            bool transB = node.GetInt("transB", 0) != 0;
            var a = _probe[node.Inputs[0]];
            if (a.Rank != 2) return "Gemm input must be 2-D";
            int k = wq.Shape[transB ? 1 : 0], n = wq.Shape[transB ? 0 : 1];
            if (wq.Scales.Length != 1 && wq.Axis != (transB ? 0 : 1)) return "Gemm weights must be quantized per output unit";
            var codes = transB ? wq.Codes : Transpose2D(wq.Codes, k, n);
            if (node.HasInput(2) && Constant(node.Inputs[2]) is { } c && c.Length != n) return "Gemm bias must have one value per unit";
            return FullyConnected(node, wq, codes, a.Shape[0], k, n, node.HasInput(2) ? node.Inputs[2] : null);
        }

        private string? LowerMatMul(Node node)
        {
            if (!_model.Weights.TryGetValue(node.Name, out var wq)) return "the second operand is not a quantized constant";
            if (wq.Encoding != WeightEncoding.Linear && wq.CodebookLevels is null) return $"{wq.Method} codebook weights without int8 level tables have no integer kernel";
            if (wq.Shape.Length != 2) return "MatMul weights must be 2-D";
            var a = _probe[node.Inputs[0]];
            if (a.Rank < 2) return "MatMul input must have rank ≥ 2";
            int k = wq.Shape[0], n = wq.Shape[1];
            if (wq.Scales.Length != 1 && wq.Axis != 1) return "MatMul weights must be quantized per column (axis 1)";
            return FullyConnected(node, wq, Transpose2D(wq.Codes, k, n), a.Length / k, k, n, null);
        }

        private string? FullyConnected(Node node, WeightQuantization wq, sbyte[] codes, int batch, int k, int n, string? biasName)
        {
            if (_model.LevelActivations.ContainsKey(node.Inputs[0]) && wq.Quantizer == WeightMethod.Multipoint) return "multipoint weights have no kernel for level-coded inputs";
            var (input, levels) = LevelInput(node, node.Inputs[0]);
            var (outName, lo, hi, fused) = FuseActivation(node.Outputs[0]);
            var output = Activation(outName);
            var weights = Weights(node, wq, codes, n, input.Quant, biasName);
            FusedActivation.Clip(output.Quant, lo, hi, out int cmin, out int cmax);
            _steps.Add(new FullyConnectedStep(node.Name, (levels is null ? "" : "Levels→") + (fused is null ? node.OpType : node.OpType + "+" + fused.OpType), input, output, batch, k, n, weights, cmin, cmax)
            { FusedNodes = fused is null ? [node.Name] : [node.Name, fused.Name], InputLevels = levels });
            return null;
        }

        private static sbyte[] Transpose2D(sbyte[] codes, int rows, int cols)
        {
            var t = new sbyte[codes.Length];
            for (int r = 0; r < rows; r++)
                for (int c = 0; c < cols; c++)
                    t[c * rows + r] = codes[r * cols + c];
            return t;
        }

        /// <summary>Weights with the int32 bias b_q[j] = RNE(b[j] / (s_x·s_w[j])), saturated with a warning (docs/algorithms/linear.md, "Bias quantization").</summary>
        private PlanWeights Weights(Node node, WeightQuantization wq, sbyte[] codes, int channels, QuantParams input, string? biasName)
        {
            if (wq.Quantizer == WeightMethod.Multipoint) return MultipointWeights(node, wq, codes, channels, input, biasName);
            PlanCodebook? codebook = null;
            if (wq.Encoding == WeightEncoding.Codebook)
                (codes, codebook) = CodebookWeights(node, wq, codes, channels);
            // 2–4-bit codes run on the int4 kernels and 5–7-bit codes on the int8 ones: a narrower grid
            // inside a wider storage type computes exactly the same products.
            if (codebook is null && (wq.Bits < 2 || wq.Bits > 8))
                throw node.Error(DiagnosticCodes.UnsupportedDataType, $"{wq.Bits}-bit weights have no integer kernel (2–4 bits run as int4, 5–8 as int8)");
            int storageBits = codebook is not null || wq.Bits > 4 ? 8 : 4;
            if (storageBits == 4 && codes.Any(c => c < -8 || c > 7))
                throw node.Error(DiagnosticCodes.InvalidModel, "int4 weight codes must lie in [-8, 7]");
            var scales = wq.Scales.Length == 1 ? Enumerable.Repeat(wq.Scales[0], channels).ToArray() : wq.Scales.ToArray();
            var bias = new int[channels];
            if (biasName is not null && Constant(biasName) is { } b)
            {
                var values = b.ToFloatArray();
                int saturated = 0;
                for (int j = 0; j < channels; j++)
                {
                    double q = Math.Round(values[j] / ((double)input.Scale * scales[j]), MidpointRounding.ToEven);
                    if (q > int.MaxValue || q < int.MinValue) saturated++;
                    bias[j] = (int)Math.Clamp(q, int.MinValue, int.MaxValue);
                }
                if (saturated > 0)
                    _warnings.Add($"{node.OpType} node '{node.Name}': {saturated} bias value(s) saturated to int32 (input scale × weight scale too small)");
            }
            return new PlanWeights { Name = node.Name, Bits = storageBits, Codes = codes, Scales = scales, Bias = bias, Codebook = codebook };
        }

        /// <summary>
        /// Codebook weights: <paramref name="indices"/> (already in kernel layout, one row per channel) and the
        /// int8 level tables → the decoded levels (what an int8 kernel would multiply by) and the codebook form.
        /// </summary>
        private static (sbyte[] Levels, PlanCodebook Codebook) CodebookWeights(Node node, WeightQuantization wq, sbyte[] indices, int channels)
        {
            var tables = wq.CodebookLevels!;
            int tableSize = 1 << wq.Bits;
            // One table and one scale per layer or per output channel, or one table shared by channels with their own scales.
            bool scalesFit = wq.Scales.Length == tables.Length || (tables.Length == 1 && wq.Scales.Length == channels);
            if ((tables.Length != 1 && tables.Length != channels) || tables.Any(t => t.Length != tableSize) || !scalesFit)
                throw node.Error(DiagnosticCodes.InvalidModel, $"codebook weights need one table of {tableSize} int8 levels per layer or per output channel, and one scale per table or per output channel");
            int fanIn = indices.Length / channels;
            var decoded = new sbyte[indices.Length];
            var raw = new byte[indices.Length];
            for (int i = 0; i < indices.Length; i++)
            {
                raw[i] = unchecked((byte)indices[i]);
                if (raw[i] >= tableSize) throw node.Error(DiagnosticCodes.InvalidModel, $"codebook index {raw[i]} does not fit {wq.Bits} bits");
                decoded[i] = tables[tables.Length == 1 ? 0 : i / fanIn][raw[i]];
            }
            return (decoded, new PlanCodebook { IndexBits = wq.Bits, Indices = raw, Levels = tables.SelectMany(t => t).ToArray(), Channels = channels });
        }

        /// <summary>
        /// Multipoint weights (docs/algorithms/multipoint.md, "Integer inference"): codes of any 2..8-bit grid stored at 4 or 8 bits; the extra points
        /// become extra rows after the first-point rows (their codes are already in kernel row order: a
        /// channel's elements in row-major order are OIHW's filter and the [K] row of Gemm/MatMul). The bias
        /// is quantized at s_x·a_1, the first point's scale. Without extra points it is an ordinary linear layer.
        /// </summary>
        private PlanWeights MultipointWeights(Node node, WeightQuantization wq, sbyte[] codes, int channels, QuantParams input, string? biasName)
        {
            int storage = wq.Bits <= 4 ? 4 : 8;
            var single = Weights(node, new WeightQuantization
            {
                NodeName = wq.NodeName, WeightName = wq.WeightName, Shape = wq.Shape, Axis = wq.Axis, Bits = storage,
                Codes = wq.Codes, Scales = wq.Scales, Method = "linear", Quantizer = WeightMethod.Linear,
            }, codes, channels, input, biasName);
            if (wq.ExtraPoints.Count == 0) return single;
            int k = wq.ChannelLength;
            var extra = new sbyte[wq.ExtraPoints.Count * k];
            for (int e = 0; e < wq.ExtraPoints.Count; e++) wq.ExtraPoints[e].Codes.CopyTo(extra, e * k);
            return new PlanWeights
            {
                Name = single.Name, Bits = storage, Codes = single.Codes, Scales = single.Scales, Bias = single.Bias,
                ExtraCodes = extra,
                ExtraChannels = wq.ExtraPoints.Select(p => p.Channel).ToArray(),
                ExtraScales = wq.ExtraPoints.Select(p => p.Scale).ToArray(),
            };
        }

        /// <summary>
        /// The data input of a Conv/Gemm/MatMul: the activation itself, or — when the model re-codes it on a
        /// level grid — the level indices a <see cref="LevelEncodeStep"/> derives from its codes (added once, in
        /// front of the first consumer), whose Quant is (table scale, 0) so the bias lands at s_table·s_w.
        /// </summary>
        private (PlanTensor Input, LogActivationQuantization? Levels) LevelInput(Node node, string name)
        {
            var linear = Activation(name);
            if (!_model.LevelActivations.TryGetValue(name, out var levels)) return (linear, null);
            var indexName = name + "#levels";
            if (_tensors.TryGetValue(indexName, out var existing)) return (existing, levels);
            var indices = Register(new PlanTensor(indexName, linear.Shape.ToArray(), PlanElementType.Int8, new QuantParams(levels.TableScale, 0)));
            _steps.Add(new LevelEncodeStep(node.Name, linear, indices, levels) { FusedNodes = [] });
            return (indices, levels);
        }

        /// <summary>
        /// When a value's only consumer is Relu or a constant Clip (and the value is not a model output),
        /// the producer writes straight into the activation's output with its clamp.
        /// </summary>
        private (string Output, float Lo, float Hi, Node? Fused) FuseActivation(string value)
        {
            if (FusibleActivation(value) is not { } fused) return (value, float.NegativeInfinity, float.PositiveInfinity, null);
            _done.Add(fused.Act);
            return (fused.Act.Outputs[0], fused.Lo, fused.Hi, fused.Act);
        }

        /// <summary>The Relu or constant Clip that <paramref name="value"/> feeds alone into an int8 output, with its bounds.</summary>
        private (Node Act, float Lo, float Hi)? FusibleActivation(string value, bool allowWide = false)
        {
            if (_graphOutputs.Contains(value) || !_consumers.TryGetValue(value, out var list) || list.Count != 1) return null;
            var act = list[0];
            if (_model.FloatNodes.Contains(act.Name) || act.Outputs.Count != 1 || !(IsInt8(act.Outputs[0]) || (allowWide && IsWide(act.Outputs[0])))) return null;
            if (act.OpType == "Relu") return (act, 0f, float.PositiveInfinity);
            if (act.OpType == "Clip" && ClipBounds(act) is ({ } lo, { } hi)) return (act, lo, hi);
            return null;
        }

        private (float? Lo, float? Hi) ClipBounds(Node clip)
        {
            if (_graph.OpsetVersion < 11)
                return (clip.GetFloat("min", float.NegativeInfinity), clip.GetFloat("max", float.PositiveInfinity));
            float? Bound(int i, float dflt)
            {
                if (!clip.HasInput(i)) return dflt;
                return Constant(clip.Inputs[i]) is { Length: 1 } t ? t.ToFloatArray()[0] : null;
            }
            var lo = Bound(1, float.NegativeInfinity);
            var hi = Bound(2, float.PositiveInfinity);
            return lo is null || hi is null ? (null, null) : (lo, hi);
        }

        // ---------------------------------------------------------------- elementwise

        private string? Unary(Node node, UnaryKind kind, float min = float.NegativeInfinity, float max = float.PositiveInfinity)
        {
            var input = Activation(node.Inputs[0]);
            var output = Activation(node.Outputs[0]);
            _steps.Add(new UnaryStep(node.Name, node.OpType, kind, input, output) { Min = min, Max = max, FusedNodes = [node.Name] });
            return null;
        }

        private string? LowerBinary(Node node, BinaryKind kind, bool negateB, bool invertB)
        {
            var a = node.Inputs[0];
            var b = node.Inputs[1];
            var ta = _probe[a];
            var tb = _probe[b];
            if (ta.Rank > 4 || tb.Rank > 4) return "broadcasting beyond rank 4";
            if ((negateB || invertB) && IsFloatValue(b)) return $"{node.OpType} of two activations has no integer kernel";
            PlanTensor Operand(string name, ProbedValue value, bool transform)
            {
                if (IsFloatValue(name)) return Activation(name);
                var values = value.Value!.ToFloatArray();
                if (transform) values = values.Select(v => negateB ? -v : 1f / v).ToArray();
                float lo = values.Length == 0 ? 0 : values.Min(), hi = values.Length == 0 ? 0 : values.Max();
                var q = kind == BinaryKind.Mul
                    ? QuantParams.FromRange(lo, hi, -127, 127, symmetric: true)
                    : QuantParams.FromRange(lo, hi, -128, 127, symmetric: false);
                var codes = values.Select(v => (sbyte)QuantParams.QuantizeLinear(v, q.Scale, q.ZeroPoint, -128, 127)).ToArray();
                return Register(new PlanTensor(UniqueConstantName(node, name), value.Shape.ToArray(), PlanElementType.Int8, q) { ConstantCodes = codes });
            }
            var pa = Operand(a, ta, false);
            var pb = Operand(b, tb, negateB || invertB);
            if (pa.IsConstant && pb.IsConstant) return "both operands are constant";
            // An Add feeding only a Relu/Clip: the sum is rounded to its own parameters as the QDQ file says, and the
            // activation maps those codes in the same pass, so the sum is never stored.
            var sumQuant = Quant(node.Outputs[0]);
            var (outName, lo, hi, fused) = kind == BinaryKind.Add && sumQuant is not null ? FuseActivation(node.Outputs[0]) : (node.Outputs[0], 0f, 0f, null);
            var output = Activation(outName);
            if (output.Length != Math.Max(pa.Length, pb.Length) && output.Length != pa.Length * pb.Length / Math.Min(pa.Length, pb.Length))
                return "broadcast shape mismatch";
            _steps.Add(fused is null
                ? new BinaryStep(node.Name, node.OpType, kind, pa, pb, output) { FusedNodes = [node.Name] }
                : new BinaryStep(node.Name, node.OpType + "+" + fused.OpType, kind, pa, pb, output)
                {
                    FusedNodes = [node.Name, fused.Name], Then = new FusedClip(sumQuant!.Value, lo, hi), KeptIntermediates = [node.Outputs[0]],
                });
            return null;
        }

        private string UniqueConstantName(Node node, string value)
        {
            var stem = $"{node.Name}/{value}";
            var name = stem;
            for (int i = 2; _names.Contains(name); i++) name = stem + "#" + i.ToString(CultureInfo.InvariantCulture);
            return name;
        }

        /// <summary>
        /// x·Clip(x+3, 0, 6)/6 (hard-swish, also written x·(Clip(x+3,0,6)/6)) and Clip(x+3, 0, 6)/6
        /// (hard-sigmoid) as exported by Paddle, matched node by node: every intermediate value must have
        /// exactly the one consumer the pattern names and must not be a model output.
        /// </summary>
        private bool TryHardSwishOrSigmoid(Node add)
        {
            if (add.Inputs.Count != 2) return false;
            int constIndex = IsScalarConst(add.Inputs[1], 3f) ? 1 : IsScalarConst(add.Inputs[0], 3f) ? 0 : -1;
            if (constIndex < 0) return false;
            var x = add.Inputs[1 - constIndex];
            if (!IsInt8(x)) return false;
            var clip = Single(add.Outputs[0]);
            if (clip is null || clip.OpType != "Clip" || ClipBounds(clip) is not (0f, 6f)) return false;
            var next = Single(clip.Outputs[0]);
            if (next is null) return false;
            var chain = new List<Node> { add, clip };
            string output;
            UnaryKind kind;
            if (IsDivBySix(next))
            {
                chain.Add(next);
                var mul = Single(next.Outputs[0]);
                if (mul is not null && mul.OpType == "Mul" && mul.Inputs.Contains(x) && mul.Inputs.Contains(next.Outputs[0]))
                {
                    chain.Add(mul);
                    (output, kind) = (mul.Outputs[0], UnaryKind.HardSwish);
                }
                else (output, kind) = (next.Outputs[0], UnaryKind.HardSigmoid);
            }
            else if (next.OpType == "Mul" && next.Inputs.Contains(x) && next.Inputs.Contains(clip.Outputs[0]))
            {
                var div = Single(next.Outputs[0]);
                if (div is null || !IsDivBySix(div)) return false;
                chain.Add(next);
                chain.Add(div);
                (output, kind) = (div.Outputs[0], UnaryKind.HardSwish);
            }
            else return false;
            if (!IsInt8(output) || chain.Any(n => _model.FloatNodes.Contains(n.Name))) return false;
            var input = Activation(x);
            var result = Activation(output);
            _steps.Add(new UnaryStep(add.Name, kind + "(pattern)", kind, input, result)
            {
                Min = kind == UnaryKind.HardSigmoid ? 1f / 6f : float.NegativeInfinity,
                Max = kind == UnaryKind.HardSigmoid ? 0.5f : float.PositiveInfinity,
                FusedNodes = chain.Select(n => n.Name).ToList(),
            });
            foreach (var n in chain) _done.Add(n);
            return true;
        }

        private Node? Single(string value) =>
            !_graphOutputs.Contains(value) && _consumers.TryGetValue(value, out var list) && list.Count == 1 && !_done.Contains(list[0]) ? list[0] : null;

        private bool IsScalarConst(string name, float value) =>
            !IsFloatValue(name) && Constant(name) is { Length: 1 } t && t.Type == DataType.Float && Math.Abs(t.Floats[0] - value) <= 1e-6f * Math.Abs(value);

        private bool IsDivBySix(Node n) =>
            (n.OpType == "Div" && IsScalarConst(n.Inputs[1], 6f)) ||
            (n.OpType == "Mul" && (IsScalarConst(n.Inputs[1], 1f / 6f) || IsScalarConst(n.Inputs[0], 1f / 6f)));

        // ---------------------------------------------------------------- pools, data movement

        private string? LowerPool(Node node)
        {
            var x = _probe[node.Inputs[0]];
            if (x.Rank != 4) return "only 2-D pooling has an integer kernel";
            if (node.GetInt("ceil_mode", 0) != 0) return "ceil_mode=1";
            if (node.Outputs.Count > 1 && node.Outputs[1].Length > 0) return "MaxPool indices output";
            if (node.GetString("auto_pad", "NOTSET") is not ("NOTSET" or "VALID")) return "auto_pad SAME";
            var k = node.GetInts("kernel_shape")!;
            var s = node.GetInts("strides") ?? [1, 1];
            var d = node.GetInts("dilations") ?? [1, 1];
            var p = node.GetString("auto_pad", "NOTSET") == "VALID" ? new long[4] : node.GetInts("pads") ?? new long[4];
            var geometry = new Pool2DGeometry(x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3], (int)k[0], (int)k[1], (int)s[0], (int)s[1],
                (int)p[0], (int)p[1], (int)p[2], (int)p[3], (int)d[0], (int)d[1]);
            if (geometry.OutputLength != _probe[node.Outputs[0]].Length) return "pool geometry does not match the inferred output shape";
            var input = Activation(node.Inputs[0]);
            var output = Activation(node.Outputs[0]);
            var kind = node.OpType == "MaxPool" ? UnaryKind.MaxPool : UnaryKind.AveragePool;
            _steps.Add(new UnaryStep(node.Name, node.OpType, kind, input, output)
            { Pool = geometry, CountIncludePad = node.GetInt("count_include_pad", 0) != 0, FusedNodes = [node.Name] });
            return null;
        }

        /// <summary>Reshape-like ops are views of the same codes; a requantize step only when the output has other parameters.</summary>
        private string? LowerView(Node node)
        {
            var input = Activation(node.Inputs[0]);
            var q = Quant(node.Outputs[0])!.Value;
            if (q.Scale == input.Quant.Scale && q.ZeroPoint == input.Quant.ZeroPoint && !_graphOutputs.Contains(node.Inputs[0]))
            {
                Activation(node.Outputs[0], viewOf: input);
                return null;
            }
            return Unary(node, UnaryKind.Requantize);
        }

        private string? LowerTranspose(Node node)
        {
            var x = _probe[node.Inputs[0]];
            var perm = node.GetInts("perm")?.Select(v => (int)v).ToArray() ?? Enumerable.Range(0, x.Rank).Reverse().ToArray();
            if (x.Rank > 6) return "Transpose beyond rank 6";
            var input = Activation(node.Inputs[0]);
            var output = Activation(node.Outputs[0]);
            _steps.Add(new UnaryStep(node.Name, "Transpose", UnaryKind.Transpose, input, output) { Permutation = perm, FusedNodes = [node.Name] });
            return null;
        }

        private string? LowerSoftmax(Node node)
        {
            var x = _probe[node.Inputs[0]];
            int axis = (int)node.GetInt("axis", _graph.OpsetVersion >= 13 ? -1 : 1);
            if (axis < 0) axis += x.Rank;
            // Before opset 13 Softmax flattens at the axis; both definitions agree when it is the last one.
            if (axis != x.Rank - 1) return "Softmax over other than the last axis";
            var input = Activation(node.Inputs[0]);
            var output = Activation(node.Outputs[0]);
            _steps.Add(new UnaryStep(node.Name, "Softmax", UnaryKind.Softmax, input, output) { Axis = axis, FusedNodes = [node.Name] });
            return null;
        }

        /// <summary>
        /// Concat of int8 activations, and of constants among them (a channel-padding Concat appends a
        /// ConstantOfShape block of zeros to an activation): a constant becomes int8 codes at its own
        /// activation parameters when the model quantizes it (as the QDQ file does), else at the output's,
        /// and ConcatInt8 rescales it like any input. A constant of one value is stored as that one code
        /// (ConcatInt8 repeats a single-code input over its shape), so padding costs a byte, not a tensor.
        /// </summary>
        private string? LowerConcat(Node node)
        {
            var ins = node.Inputs.Where(i => i.Length > 0).ToList();
            if (ins.All(i => !IsFloatValue(i))) return "Concat of constants only";
            int axis = (int)node.GetInt("axis");
            if (axis < 0) axis += _probe[ins[0]].Rank;
            var outputQuant = Quant(node.Outputs[0])!.Value;
            PlanTensor Input(string name)
            {
                if (IsFloatValue(name)) return Activation(name);
                var value = Constant(name) ?? throw node.Error(DiagnosticCodes.InternalError, $"input '{name}' has no value at build time");
                var q = Quant(name) ?? outputQuant;
                var codes = value.ToFloatArray().Select(v => (sbyte)QuantParams.QuantizeLinear(v, q.Scale, q.ZeroPoint, -128, 127)).ToArray();
                if (codes.Length > 1 && codes.All(c => c == codes[0])) codes = [codes[0]];
                return Register(new PlanTensor(UniqueConstantName(node, name), value.Shape.ToArray(), PlanElementType.Int8, q) { ConstantCodes = codes });
            }
            if (ins.Any(i => !IsFloatValue(i) && Constant(i) is not { Type: DataType.Float })) return "Concat of a non-float constant";
            var inputs = ins.Select(Input).ToList();
            var output = Activation(node.Outputs[0]);
            _steps.Add(new ConcatStep(node.Name, inputs, output, axis) { FusedNodes = [node.Name] });
            return null;
        }
    }
}
