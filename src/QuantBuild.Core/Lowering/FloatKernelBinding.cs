using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Engine.Ops;
using QuantBuild.Graph;
using QuantBuild.Quantization;
using QuantBuild.Runtime;
using QuantBuild.Tensors;

namespace QuantBuild.Lowering;

/// <summary>One input of a float kernel call: a plan tensor (read as float), or constant float data baked into the code.</summary>
public sealed class FloatOperand
{
    private FloatOperand(PlanTensor? tensor, float[]? constant)
    {
        Tensor = tensor;
        Constant = constant;
    }

    public PlanTensor? Tensor { get; }
    public float[]? Constant { get; }

    public static FloatOperand Of(PlanTensor t) => new(t, null);
    public static FloatOperand Of(float[] data) => new(null, data);
}

/// <summary>
/// One call of a QuantBuild.Runtime <see cref="FloatKernel"/>: the kernel type, its constructor arguments
/// (int, float, bool, enum, int[], bool[] and float[] — the last become float data in the generated file)
/// and its up to three inputs and one output. The generated code and <see cref="IntegerModelRunner"/> both
/// build the kernel from this one description, so they run the same arithmetic.
/// </summary>
public sealed class FloatKernelCall(Type kernelType, object[] arguments, IReadOnlyList<FloatOperand?> inputs, PlanTensor output)
{
    public Type KernelType { get; } = kernelType;
    public object[] Arguments { get; } = arguments;
    /// <summary>Operands a, b, c (null where unused).</summary>
    public IReadOnlyList<FloatOperand?> Inputs { get; } = inputs;
    public PlanTensor Output { get; } = output;

    public FloatKernel Create() => (FloatKernel)Activator.CreateInstance(KernelType, Arguments)!;
}

/// <summary>
/// Maps a <see cref="FloatStep"/> onto the float kernels of QuantBuild.Runtime with every attribute fixed
/// at build time, or says why it cannot. Data movement (Transpose, Slice, Gather, Pad, Concat, Split,
/// Expand, Tile, DepthToSpace...) becomes <see cref="SeparableGatherFloat"/> calls with per-axis offset
/// tables planned as the reference engine plans them; Resize in every mode is <see cref="ResizeFloat"/>.
/// </summary>
public static class FloatKernelBinding
{
    // Before Rules: static fields initialize in textual order, and CreateRules reads this one.
    private static readonly Dictionary<string, ReduceFunction> ReduceFunctions = new(StringComparer.Ordinal)
    {
        ["ReduceSum"] = ReduceFunction.Sum,
        ["ReduceMean"] = ReduceFunction.Mean,
        ["ReduceMax"] = ReduceFunction.Max,
        ["ReduceMin"] = ReduceFunction.Min,
        ["ReduceProd"] = ReduceFunction.Prod,
        ["ReduceSumSquare"] = ReduceFunction.SumSquare,
        ["ReduceL1"] = ReduceFunction.L1,
        ["ReduceL2"] = ReduceFunction.L2,
        ["ReduceLogSum"] = ReduceFunction.LogSum,
        ["ReduceLogSumExp"] = ReduceFunction.LogSumExp,
    };

    private delegate IReadOnlyList<FloatKernelCall>? Rule(Binder binder, out string reason);

    /// <summary>
    /// The one list of what the generated runtime can run in float: op type → how a step of it binds.
    /// <see cref="IsSupportedOp"/> and <see cref="UnsupportedNodes"/> read it, so the ops the pipeline
    /// accepts are by construction those that have a binding (which may still refuse one node for its
    /// attributes or non-constant parameters, with a reason).
    /// </summary>
    private static readonly Dictionary<string, Rule> Rules = CreateRules();

    private static Dictionary<string, Rule> CreateRules()
    {
        var rules = new Dictionary<string, Rule>(StringComparer.Ordinal);
        void Add(Rule rule, params string[] ops)
        {
            foreach (var op in ops) rules.Add(op, rule);
        }
        Add((Binder b, out string r) => b.Copy(out r), "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Dropout");
        Add((Binder b, out string r) => b.Cast(out r), "Cast", "CastLike");
        Add((Binder b, out string r) => b.Unary(out r), "Not", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Exp", "Log", "Sqrt", "Abs", "Neg", "Erf", "Reciprocal", "Floor", "Ceil");
        Add((Binder b, out string r) => b.Clip(out r), "Clip");
        Add((Binder b, out string r) => b.Binary(out r), "Add", "Sub", "Mul", "Div", "Pow", "PRelu",
            "Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual", "And", "Or", "Xor");
        Add((Binder b, out string r) => b.Variadic(out r), "Max", "Min", "Sum", "Mean");
        Add((Binder b, out string r) => b.Conv(transposed: false, out r), "Conv");
        Add((Binder b, out string r) => b.Conv(transposed: true, out r), "ConvTranspose");
        Add((Binder b, out string r) => b.MatMul(out r), "MatMul");
        Add((Binder b, out string r) => b.Gemm(out r), "Gemm");
        Add((Binder b, out string r) => b.Pool(out r), "MaxPool", "AveragePool");
        Add((Binder b, out string r) => b.GlobalPool(out r), "GlobalAveragePool", "GlobalMaxPool");
        Add((Binder b, out string r) => b.Reduce(out r), [.. ReduceFunctions.Keys]);
        Add((Binder b, out string r) => b.Softmax(out r), "Softmax", "LogSoftmax");
        Add((Binder b, out string r) => b.LayerNorm(out r), "LayerNormalization");
        Add((Binder b, out string r) => b.BatchNorm(out r), "BatchNormalization");
        Add((Binder b, out string r) => b.Resize(out r), "Resize", "Upsample");
        // Output = a fixed rearrangement of the float inputs, probed through the engine (GatherFloat).
        Add((Binder b, out string r) => b.BindMovement(out r), "Transpose", "Slice", "Gather", "Pad", "Concat", "Split", "Expand", "Tile", "DepthToSpace", "SpaceToDepth");
        Add((Binder b, out string r) => b.Where(out r), "Where");
        return rules;
    }

    /// <summary>Every op type a float step of the generated code may have (some nodes of it may still be refused for their attributes).</summary>
    public static bool IsSupportedOp(string opType) => Rules.ContainsKey(opType);

    /// <summary>The op types <see cref="IsSupportedOp"/> accepts, sorted.</summary>
    public static IReadOnlyList<string> SupportedOps => Rules.Keys.Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Nodes of a prepared graph the generated code cannot run: every node on the model inputs' data path
    /// whose op no float kernel covers, and every node that computes a value from that data that is neither
    /// float nor bool (a Cast of activations to int64, an ArgMax). Bool values computed from the data
    /// (comparisons, And/Or/Not, a Where's condition) travel through the generated runtime as 0 and 1 floats
    /// (docs/control-flow.md); other types are evaluated once, at build time, so such a value would be frozen
    /// at what the build saw: refusing it is the only correct answer. Values that depend only on input shapes
    /// (Shape and what follows from it) are build-time constants and fine. Cheap (no calibration, no engine
    /// run), so the pipeline calls it before calibrating.
    /// </summary>
    public static List<Node> UnsupportedNodes(ModelGraph graph)
    {
        var result = new List<Node>();
        var dataDependent = DataDependentValues(graph);
        foreach (var node in graph.Nodes)
        {
            if (!node.Outputs.Any(o => o.Length > 0 && dataDependent.Contains(o))) continue; // build-time constants: shape arithmetic, a Cast of a shape to float
            DataType? TypeOf(string o) => o.Length > 0 && graph.ValueInfos.TryGetValue(o, out var vi) && vi.Type != DataType.Undefined ? vi.Type : null;
            if (node.Outputs.Any(o => TypeOf(o) is DataType.Float or DataType.Bool))
            {
                if (node.Domain.Length > 0 || !IsSupportedOp(node.OpType)) result.Add(node);
            }
            else if (node.Outputs.Any(o => TypeOf(o) is not null)) result.Add(node); // a non-float value computed from the data
        }
        return result;
    }

    /// <summary>Values that depend on the model inputs' values, not only on their shapes (the generated code computes these on every run).</summary>
    public static HashSet<string> DataDependentValues(ModelGraph graph)
    {
        var dataDependent = new HashSet<string>(graph.Inputs.Select(i => i.Name), StringComparer.Ordinal);
        foreach (var node in graph.Nodes) // topological order
            if (node.OpType != "Shape" && node.Inputs.Any(i => i.Length > 0 && dataDependent.Contains(i)))
                foreach (var o in node.Outputs.Where(o => o.Length > 0)) dataDependent.Add(o);
        return dataDependent;
    }

    /// <summary>The kernel calls computing <paramref name="step"/> in order, or null with <paramref name="reason"/>.</summary>
    public static IReadOnlyList<FloatKernelCall>? TryBind(FloatStep step, int opsetVersion, out string reason)
    {
        try
        {
            var binder = new Binder(step, opsetVersion);
            var calls = binder.Bind(out reason);
            return calls;
        }
        catch (QuantBuildException e)
        {
            reason = e.Message;
            return null;
        }
    }

    /// <summary>
    /// Most output elements a data-movement step may store as a per-element <see cref="GatherFloat"/>
    /// table (the fallback for ops without a parametric form): 64 Ki entries, ~0.5 MB of C# at most.
    /// </summary>
    public const int MaxProbeTableEntries = 1 << 16;

    /// <summary>
    /// The element-number probe (<see cref="GatherFloat"/> tables from running the engine's kernel on
    /// element indices) for a data-movement step, whatever its size: the tests' oracle for the parametric
    /// movement kernels.
    /// </summary>
    public static IReadOnlyList<FloatKernelCall>? TryBindByProbe(FloatStep step, int opsetVersion, out string reason) =>
        new Binder(step, opsetVersion).BindByProbe(int.MaxValue, out reason);

    private sealed class Binder(FloatStep step, int opset)
    {
        private readonly Node _node = step.Node;

        private PlanTensor? Activation(int k) =>
            _node.HasInput(k) ? step.Inputs.FirstOrDefault(t => t.Name == _node.Inputs[k]) : null;

        private Tensor? Constant(int k) =>
            _node.HasInput(k) && step.Constants.TryGetValue(_node.Inputs[k], out var t) ? t : null;

        private FloatOperand? Operand(int k)
        {
            if (Activation(k) is { } t) return FloatOperand.Of(t);
            if (Constant(k) is { } c) return FloatOperand.Of(c.ToFloatArray());
            return null;
        }

        private int[]? ShapeOf(int k) => Activation(k)?.Shape ?? Constant(k)?.Shape;

        private PlanTensor? Output(int k = 0) =>
            k < _node.Outputs.Count ? step.Outputs.FirstOrDefault(t => t.Name == _node.Outputs[k]) : null;

        private static FloatKernelCall Call<TKernel>(object[] args, PlanTensor output, params FloatOperand?[] inputs) where TKernel : FloatKernel =>
            new(typeof(TKernel), args, inputs, output);

        public IReadOnlyList<FloatKernelCall>? Bind(out string reason)
        {
            reason = "";
            var y = Output();
            if (y is null)
            {
                // Only Split may have its first output unused; others have no float output to compute.
                if (_node.OpType is not ("Split" or "LayerNormalization")) { reason = "no float output"; return null; }
            }
            if (step.Inputs.Count == 0) return ConstantOutputs(out reason);
            return Rules.TryGetValue(_node.OpType, out var rule) ? rule(this, out reason)
                : Refuse(out reason, $"the generated runtime has no float kernel for {_node.OpType}");
        }

        private static List<FloatKernelCall>? Refuse(out string reason, string why)
        {
            reason = why;
            return null;
        }

        private FloatKernelCall CopyCall(PlanTensor output, FloatOperand? input) =>
            Call<ElementwiseFloat>([ElementwiseFunction.Identity, 0f, 0f], output, input);

        /// <summary>A float step's outputs are float, and its activation inputs are float: a Cast among them is a copy.</summary>
        public List<FloatKernelCall>? Copy(out string reason)
        {
            reason = "";
            return [CopyCall(Output()!, Operand(0))];
        }

        /// <summary>
        /// Cast among float types is a copy; a cast to bool maps every non-zero value to 1, which is how bool
        /// values travel through the generated runtime (casts to integer types of data are refused earlier).
        /// </summary>
        public List<FloatKernelCall>? Cast(out string reason)
        {
            reason = "";
            var to = _node.OpType == "Cast" ? (DataType)_node.GetInt("to") : Constant(1)?.Type ?? DataType.Float;
            return to == DataType.Bool ? Unary(ElementwiseFunction.NonZero) : Copy(out reason);
        }

        /// <summary>Where on a condition computed from the data selects element by element; on a constant one it is a fixed gather.</summary>
        public List<FloatKernelCall>? Where(out string reason)
        {
            reason = "";
            if (Activation(0) is null) return BindMovement(out reason);
            var y = Output()!;
            if (y.Shape.Length > 8) { reason = "broadcasting beyond rank 8"; return null; }
            return [Call<SelectFloat>([ShapeOf(0)!, ShapeOf(1)!, ShapeOf(2)!, y.Shape], y, Operand(0), Operand(1), Operand(2))];
        }

        public List<FloatKernelCall>? Unary(out string reason)
        {
            reason = "";
            return _node.OpType switch
            {
                "Relu" => Unary(ElementwiseFunction.Relu),
                "LeakyRelu" => Unary(ElementwiseFunction.LeakyRelu, _node.GetFloat("alpha", 0.01f)),
                "Sigmoid" => Unary(ElementwiseFunction.Sigmoid),
                "Tanh" => Unary(ElementwiseFunction.Tanh),
                "HardSigmoid" => Unary(ElementwiseFunction.HardSigmoid, _node.GetFloat("alpha", 0.2f), _node.GetFloat("beta", 0.5f)),
                "HardSwish" => Unary(ElementwiseFunction.HardSwish),
                "Exp" => Unary(ElementwiseFunction.Exp),
                "Log" => Unary(ElementwiseFunction.Log),
                "Sqrt" => Unary(ElementwiseFunction.Sqrt),
                "Abs" => Unary(ElementwiseFunction.Abs),
                "Neg" => Unary(ElementwiseFunction.Neg),
                "Erf" => Unary(ElementwiseFunction.Erf),
                "Reciprocal" => Unary(ElementwiseFunction.Reciprocal),
                "Floor" => Unary(ElementwiseFunction.Floor),
                "Ceil" => Unary(ElementwiseFunction.Ceil),
                "Not" => Unary(ElementwiseFunction.Not),
                _ => Refuse(out reason, $"{_node.OpType} is not an elementwise function"),
            };
        }

        public List<FloatKernelCall>? Binary(out string reason) => _node.OpType switch
        {
            "Add" => Binary(BinaryFunction.Add, out reason),
            "Sub" => Binary(BinaryFunction.Sub, out reason),
            "Mul" => Binary(BinaryFunction.Mul, out reason),
            "Div" => Binary(BinaryFunction.Div, out reason),
            "Pow" => Binary(BinaryFunction.Pow, out reason),
            "PRelu" => Binary(BinaryFunction.PRelu, out reason),
            "Equal" => Binary(BinaryFunction.Equal, out reason),
            "Greater" => Binary(BinaryFunction.Greater, out reason),
            "GreaterOrEqual" => Binary(BinaryFunction.GreaterOrEqual, out reason),
            "Less" => Binary(BinaryFunction.Less, out reason),
            "LessOrEqual" => Binary(BinaryFunction.LessOrEqual, out reason),
            "And" => Binary(BinaryFunction.And, out reason),
            "Or" => Binary(BinaryFunction.Or, out reason),
            "Xor" => Binary(BinaryFunction.Xor, out reason),
            _ => Refuse(out reason, $"{_node.OpType} is not a binary function"),
        };

        /// <summary>
        /// Max/Min/Sum/Mean of any number of inputs, folded left to right as the engine does: the first pair
        /// broadcast straight to the output shape (elementwise ops commute with broadcasting), each further
        /// input combined in place on the output, then Mean's division by the count.
        /// </summary>
        public List<FloatKernelCall>? Variadic(out string reason)
        {
            reason = "";
            var y = Output()!;
            if (y.Shape.Length > 8) return Refuse(out reason, "broadcasting beyond rank 8");
            var kind = _node.OpType switch { "Max" => BinaryFunction.Max, "Min" => BinaryFunction.Min, _ => BinaryFunction.Add };
            var present = Enumerable.Range(0, _node.Inputs.Count).Where(_node.HasInput).ToList();
            if (present.Count == 0) return Refuse(out reason, $"{_node.OpType} without inputs");
            if (present.Count == 1)
            {
                if (FloatKernel.Length(ShapeOf(present[0])!) != y.Length) return Refuse(out reason, $"a one-input {_node.OpType} that broadcasts");
                return [CopyCall(y, Operand(present[0]))];
            }
            var calls = new List<FloatKernelCall>
            {
                Call<BroadcastBinaryFloat>([kind, ShapeOf(present[0])!, ShapeOf(present[1])!, y.Shape], y, Operand(present[0]), Operand(present[1])),
            };
            foreach (var k in present.Skip(2))
                calls.Add(Call<BroadcastBinaryFloat>([kind, y.Shape, ShapeOf(k)!, y.Shape], y, FloatOperand.Of(y), Operand(k)));
            if (_node.OpType == "Mean")
                calls.Add(Call<BroadcastBinaryFloat>([BinaryFunction.Div, y.Shape, new[] { 1 }, y.Shape], y, FloatOperand.Of(y), FloatOperand.Of([(float)present.Count])));
            return calls;
        }

        private List<FloatKernelCall> Unary(ElementwiseFunction f, float p = 0f, float q = 0f) =>
            [Call<ElementwiseFloat>([f, p, q], Output()!, Operand(0))];

        public List<FloatKernelCall>? Clip(out string reason)
        {
            reason = "";
            float lo, hi;
            if (opset < 11)
            {
                lo = _node.GetFloat("min", float.NegativeInfinity);
                hi = _node.GetFloat("max", float.PositiveInfinity);
            }
            else
            {
                if ((_node.HasInput(1) && Constant(1) is null) || (_node.HasInput(2) && Constant(2) is null))
                {
                    // A bound computed at run time (a spectrogram floor at max − 80 dB): max with the lower
                    // bound, then min with the upper one, the second in place on the output.
                    var y = Output()!;
                    var calls = new List<FloatKernelCall>();
                    var current = Operand(0);
                    var currentShape = ShapeOf(0)!;
                    foreach (var (k, f) in new[] { (1, BinaryFunction.Max), (2, BinaryFunction.Min) })
                    {
                        if (!_node.HasInput(k)) continue;
                        calls.Add(Call<BroadcastBinaryFloat>([f, currentShape, ShapeOf(k)!, y.Shape], y, current, Operand(k)));
                        current = FloatOperand.Of(y);
                        currentShape = y.Shape;
                    }
                    if (calls.Count == 0) calls.Add(Call<ElementwiseFloat>([ElementwiseFunction.Identity, 0f, 0f], y, current));
                    return calls;
                }
                lo = Constant(1) is { } l ? l.ToFloatArray()[0] : float.NegativeInfinity;
                hi = Constant(2) is { } h ? h.ToFloatArray()[0] : float.PositiveInfinity;
            }
            return [Call<ElementwiseFloat>([ElementwiseFunction.Clip, lo, hi], Output()!, Operand(0))];
        }

        private List<FloatKernelCall>? Binary(BinaryFunction f, out string reason)
        {
            reason = "";
            var y = Output()!;
            if (y.Shape.Length > 8) { reason = "broadcasting beyond rank 8"; return null; }
            return [Call<BroadcastBinaryFloat>([f, ShapeOf(0)!, ShapeOf(1)!, y.Shape], y, Operand(0), Operand(1))];
        }

        private long[] Ints(string name, int count, long fill) =>
            _node.GetInts(name) is { Length: > 0 } v ? v : Enumerable.Repeat(fill, count).ToArray();

        /// <summary>Pads (begin..., end...) with auto_pad resolved against the known output size.</summary>
        private long[] Pads(int spatial, int[] inSpatial, int[] outSpatial, long[] kernel, long[] strides, long[] dilations, bool transposed)
        {
            var autoPad = _node.GetString("auto_pad", "NOTSET");
            if (autoPad == "VALID") return new long[2 * spatial];
            if (autoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                var pads = new long[2 * spatial];
                for (int d = 0; d < spatial; d++)
                {
                    long extent = (kernel[d] - 1) * dilations[d] + 1;
                    long total = transposed
                        ? Math.Max(0, (inSpatial[d] - 1) * strides[d] + extent - outSpatial[d])
                        : Math.Max(0, (outSpatial[d] - 1) * strides[d] + extent - inSpatial[d]);
                    long small = total / 2, big = total - small;
                    pads[d] = autoPad == "SAME_UPPER" ? small : big;
                    pads[d + spatial] = autoPad == "SAME_UPPER" ? big : small;
                }
                return pads;
            }
            return _node.GetInts("pads") is { Length: > 0 } p ? p : new long[2 * spatial];
        }

        /// <summary>
        /// ConvTranspose pads when output_shape is given (it wins over pads and auto_pad): the full output
        /// minus the requested size, split as the engine does (the odd unit to the end for SAME_UPPER, to
        /// the beginning otherwise; floor division, so a negative total grows the end).
        /// </summary>
        private long[] OutputShapePads(int spatial, int[] inSpatial, int[] outSpatial, long[] kernel, long[] strides, long[] dilations)
        {
            var outPad = Ints("output_padding", spatial, 0);
            var pads = new long[2 * spatial];
            for (int d = 0; d < spatial; d++)
            {
                long full = strides[d] * (inSpatial[d] - 1) + outPad[d] + (kernel[d] - 1) * dilations[d] + 1;
                long total = full - outSpatial[d];
                long half = (long)Math.Floor(total / 2.0);
                pads[d] = _node.GetString("auto_pad", "NOTSET") == "SAME_UPPER" ? half : total - half;
                pads[d + spatial] = total - pads[d];
            }
            return pads;
        }

        public List<FloatKernelCall>? Conv(bool transposed, out string reason)
        {
            reason = "";
            var xs = ShapeOf(0)!;
            var w = Constant(1);
            if (Activation(0) is null || w is null) { reason = $"{_node.OpType} needs an activation input and constant weights"; return null; }
            if (xs.Length < 3 || xs.Length - 2 > WindowGeometryNd.MaxSpatialRank) { reason = $"a {xs.Length - 2}-D convolution has no float kernel"; return null; }
            int spatial = xs.Length - 2;
            var y = Output()!;
            var kernel = w.Shape.Skip(2).Select(d => (long)d).ToArray();
            var strides = Ints("strides", spatial, 1);
            var dilations = Ints("dilations", spatial, 1);
            var pads = transposed && _node.GetInts("output_shape") is { Length: > 0 }
                ? OutputShapePads(spatial, xs[2..], y.Shape[2..], kernel, strides, dilations)
                : Pads(spatial, xs[2..], y.Shape[2..], kernel, strides, dilations, transposed);
            int group = (int)_node.GetInt("group", 1);
            var bias = Constant(2)?.ToFloatArray() ?? [];
            if (_node.HasInput(2) && Constant(2) is null) { reason = "bias is not constant"; return null; }
            if (spatial > 2)
            {
                int[] Int(long[] v, int from = 0) => v.Skip(from).Take(spatial).Select(d => checked((int)d)).ToArray();
                var (sliding, produced) = transposed ? (y.Shape[2..], xs[2..]) : (xs[2..], y.Shape[2..]);
                return
                [
                    Call<ConvNdFloat>([transposed, xs[0], xs[1], y.Shape[1], group, sliding, produced, Int(kernel), Int(strides), Int(pads), Int(dilations), w.ToFloatArray(), bias], y, Operand(0)),
                ];
            }
            bool two = spatial == 2;
            object[] args =
            [
                xs[0], xs[1], two ? xs[2] : 1, two ? xs[3] : xs[2], y.Shape[1], two ? y.Shape[2] : 1, two ? y.Shape[3] : y.Shape[2],
                two ? (int)kernel[0] : 1, (int)kernel[two ? 1 : 0], two ? (int)strides[0] : 1, (int)strides[two ? 1 : 0],
                two ? (int)pads[0] : 0, (int)pads[two ? 1 : 0], two ? (int)dilations[0] : 1, (int)dilations[two ? 1 : 0], group,
                w.ToFloatArray(), bias,
            ];
            return transposed ? [Call<ConvTransposeFloat>(args, y, Operand(0))] : [Call<ConvFloat>(args, y, Operand(0))];
        }

        public List<FloatKernelCall>? MatMul(out string reason)
        {
            reason = "";
            var a = ShapeOf(0)!;
            var b = ShapeOf(1)!;
            var y = Output()!;
            var a2 = a.Length == 1 ? [1, a[0]] : a;
            var b2 = b.Length == 1 ? [b[0], 1] : b;
            int m = a2[^2], k = a2[^1], n = b2[^1];
            if (b2[^2] != k) { reason = "MatMul inner dimensions differ"; return null; }
            var aBatch = a2[..^2];
            var bBatch = b2[..^2];
            int rank = Math.Max(aBatch.Length, bBatch.Length);
            var batchShape = new int[rank];
            for (int d = 0; d < rank; d++)
            {
                int da = d - (rank - aBatch.Length) >= 0 ? aBatch[d - (rank - aBatch.Length)] : 1;
                int db = d - (rank - bBatch.Length) >= 0 ? bBatch[d - (rank - bBatch.Length)] : 1;
                batchShape[d] = Math.Max(da, db);
            }
            var aStrides = FloatKernel.BroadcastStrides(aBatch, batchShape);
            var bStrides = FloatKernel.BroadcastStrides(bBatch, batchShape);
            int batches = FloatKernel.Length(batchShape);
            var aOffsets = new int[batches];
            var bOffsets = new int[batches];
            for (int i = 0; i < batches; i++)
            {
                int rest = i, ao = 0, bo = 0;
                for (int d = rank - 1; d >= 0; d--)
                {
                    int idx = rest % batchShape[d];
                    rest /= batchShape[d];
                    ao += idx * aStrides[d];
                    bo += idx * bStrides[d];
                }
                aOffsets[i] = ao * m * k;
                bOffsets[i] = bo * k * n;
            }
            if ((long)batches * m * n != y.Length) { reason = "MatMul output size does not match"; return null; }
            return [Call<MatMulFloat>([m, k, n, aOffsets, bOffsets, false, false, 1f, 0f, false, 0, 0], y, Operand(0), Operand(1))];
        }

        public List<FloatKernelCall>? Gemm(out string reason)
        {
            reason = "";
            var a = ShapeOf(0)!;
            var b = ShapeOf(1)!;
            var y = Output()!;
            if (a.Length != 2 || b.Length != 2) { reason = "Gemm operands must be 2-D"; return null; }
            bool transA = _node.GetInt("transA", 0) != 0, transB = _node.GetInt("transB", 0) != 0;
            int m = transA ? a[1] : a[0], k = transA ? a[0] : a[1], n = transB ? b[0] : b[1];
            float alpha = _node.GetFloat("alpha", 1f), beta = _node.GetFloat("beta", 1f);
            bool hasC = _node.HasInput(2);
            int cRow = 0, cCol = 0;
            if (hasC)
            {
                var strides = FloatKernel.BroadcastStrides(ShapeOf(2)!, [m, n]);
                (cRow, cCol) = (strides[0], strides[1]);
            }
            return [Call<MatMulFloat>([m, k, n, new[] { 0 }, new[] { 0 }, transA, transB, alpha, beta, hasC, cRow, cCol], y, Operand(0), Operand(1), hasC ? Operand(2) : null)];
        }

        public List<FloatKernelCall>? Pool(out string reason)
        {
            reason = "";
            var xs = ShapeOf(0)!;
            var y = Output()!;
            if (xs.Length < 3 || xs.Length - 2 > WindowGeometryNd.MaxSpatialRank) { reason = $"{xs.Length - 2}-D pooling has no float kernel"; return null; }
            int spatial = xs.Length - 2;
            var kernel = _node.GetInts("kernel_shape")!;
            var strides = Ints("strides", spatial, 1);
            var dilations = Ints("dilations", spatial, 1);
            var pads = Pads(spatial, xs[2..], y.Shape[2..], kernel, strides, dilations, transposed: false);
            if (spatial > 2)
            {
                int[] Int(long[] v, int from = 0) => v.Skip(from).Take(spatial).Select(d => checked((int)d)).ToArray();
                return
                [
                    Call<PoolNdFloat>([_node.OpType == "MaxPool", _node.GetInt("count_include_pad", 0) != 0, xs[0] * xs[1], xs[2..], y.Shape[2..],
                        Int(kernel), Int(strides), Int(pads), Int(pads, spatial), Int(dilations)], y, Operand(0)),
                ];
            }
            bool two = spatial == 2;
            return
            [
                Call<PoolFloat>(
                [
                    _node.OpType == "MaxPool", _node.GetInt("count_include_pad", 0) != 0, xs[0] * xs[1],
                    two ? xs[2] : 1, two ? xs[3] : xs[2], two ? y.Shape[2] : 1, two ? y.Shape[3] : y.Shape[2],
                    two ? (int)kernel[0] : 1, (int)kernel[two ? 1 : 0], two ? (int)strides[0] : 1, (int)strides[two ? 1 : 0],
                    two ? (int)pads[0] : 0, (int)pads[two ? 1 : 0], two ? (int)pads[2] : 0, (int)pads[two ? 3 : 1],
                    two ? (int)dilations[0] : 1, (int)dilations[two ? 1 : 0],
                ], y, Operand(0)),
            ];
        }

        public List<FloatKernelCall>? GlobalPool(out string reason)
        {
            reason = "";
            var xs = ShapeOf(0)!;
            int plane = xs.Skip(2).Aggregate(1, (p, d) => p * d);
            return
            [
                Call<PoolFloat>([_node.OpType == "GlobalMaxPool", false, xs[0] * xs[1], 1, plane, 1, 1, 1, plane, 1, 1, 0, 0, 0, 0, 1, 1], Output()!, Operand(0)),
            ];
        }

        public List<FloatKernelCall>? Reduce(out string reason)
        {
            reason = "";
            var f = ReduceFunctions[_node.OpType];
            var xs = ShapeOf(0)!;
            if (xs.Length > 8) { reason = "reduction beyond rank 8"; return null; }
            long[]? axes = _node.GetInts("axes");
            if (_node.HasInput(1))
            {
                if (Constant(1) is not { } t) { reason = "reduction axes are not constant"; return null; }
                axes = t.ToInt64Array();
            }
            var reduced = new bool[xs.Length];
            if (axes is null || axes.Length == 0)
            {
                if (_node.GetInt("noop_with_empty_axes", 0) != 0)
                    return [Call<ElementwiseFloat>([ElementwiseFunction.Identity, 0f, 0f], Output()!, Operand(0))];
                Array.Fill(reduced, true);
            }
            else foreach (var ax in axes) reduced[ax < 0 ? ax + xs.Length : ax] = true;
            return [Call<ReduceFloat>([f, xs, reduced], Output()!, Operand(0))];
        }

        public List<FloatKernelCall>? Softmax(out string reason)
        {
            reason = "";
            var xs = ShapeOf(0)!;
            bool flatten = opset < 13;
            long axisAttr = _node.GetInt("axis", flatten ? 1 : -1);
            int rank = xs.Length;
            int axis = rank == 0 ? 0 : (int)(axisAttr < 0 ? axisAttr + rank : axisAttr);
            int outer = 1, n = 1, inner = 1;
            for (int i = 0; i < axis; i++) outer *= xs[i];
            if (flatten) for (int i = axis; i < rank; i++) n *= xs[i];
            else
            {
                if (rank > 0) n = xs[axis];
                for (int i = axis + 1; i < rank; i++) inner *= xs[i];
            }
            return [Call<SoftmaxFloat>([outer, n, inner, _node.OpType == "LogSoftmax"], Output()!, Operand(0))];
        }

        public List<FloatKernelCall>? LayerNorm(out string reason)
        {
            reason = "";
            var xs = ShapeOf(0)!;
            int axis = (int)_node.GetInt("axis", -1);
            if (axis < 0) axis += xs.Length;
            int rows = xs.Take(axis).Aggregate(1, (p, d) => p * d);
            int n = xs.Skip(axis).Aggregate(1, (p, d) => p * d);
            float[]? Param(int k)
            {
                if (!_node.HasInput(k)) return null;
                var c = Constant(k);
                if (c is null) return null;
                var v = c.ToFloatArray();
                return v.Length == n ? v : v.Length == 1 ? Enumerable.Repeat(v[0], n).ToArray() : null;
            }
            var scale = Param(1);
            var bias = Param(2);
            if (scale is null || (_node.HasInput(2) && bias is null)) { reason = "LayerNormalization scale and bias must be constants of the normalized shape"; return null; }
            if (_node.GetInt("stash_type", 1) != 1) return Refuse(out reason, "LayerNormalization stash_type other than float32");
            float epsilon = _node.GetFloat("epsilon", 1e-5f);
            var calls = new List<FloatKernelCall>();
            if (Output(0) is { } y)
                calls.Add(Call<LayerNormalizationFloat>([rows, n, epsilon], y, Operand(0), FloatOperand.Of(scale), bias is null ? null : FloatOperand.Of(bias)));
            // The optional Mean and InvStdDev outputs (training graphs and the backend tests read them).
            for (int k = 1; k <= 2; k++)
                if (Output(k) is { } stat)
                    calls.Add(Call<LayerNormalizationStatisticsFloat>([rows, n, epsilon, k == 2], stat, Operand(0)));
            return calls;
        }

        /// <summary>
        /// Standalone inference-mode BatchNormalization (one not folded into a Conv): the statistics are
        /// folded into a per-channel scale and shift by the engine's own fold, so both run y = x·a + b.
        /// </summary>
        public List<FloatKernelCall>? BatchNorm(out string reason)
        {
            reason = "";
            if (step.Outputs.Count > 1) return Refuse(out reason, "BatchNormalization running mean/var outputs (training mode)");
            var xs = ShapeOf(0)!;
            var (_, channels, spatial) = BatchNormalizationKernel.ChannelLayout(xs);
            var p = new float[4][];
            for (int k = 1; k <= 4; k++)
            {
                if (Constant(k) is not { } t) return Refuse(out reason, "BatchNormalization scale, bias, mean and variance must be build-time constants");
                if (t.Length != channels) return Refuse(out reason, $"BatchNormalization input {k} has {t.Length} values for {channels} channels");
                p[k - 1] = t.ToFloatArray();
            }
            // Validates the attributes (training_mode, spatial) as the engine does.
            OpRegistry.Create(_node, new KernelContext(opset, _ => null, new ParallelOptions { MaxDegreeOfParallelism = 1 }));
            var (a, b, _) = BatchNormalizationKernel.Fold(p[0], p[1], p[2], p[3], _node.GetFloat("epsilon", 1e-5f));
            return [Call<ChannelAffineFloat>([channels, spatial, a, b], Output()!, Operand(0))];
        }

        /// <summary>
        /// Resize/Upsample in every mode: the per-axis tap tables come from the engine's own planning
        /// (<see cref="ResizeKernel.Tables"/>), so coordinate transformation, rounding, cubic coefficients,
        /// antialias and exclude_outside are the engine's by construction. Tables are per axis (output
        /// length × taps), never per element.
        /// </summary>
        public List<FloatKernelCall>? Resize(out string reason)
        {
            reason = "";
            var xs = ShapeOf(0)!;
            var y = Output()!;
            if (xs.Length > 8) return Refuse(out reason, "Resize beyond rank 8");
            var args = new Tensor?[_node.Inputs.Count];
            args[0] = Tensor.FromFloats(new float[FloatKernel.Length(xs)], xs);
            for (int k = 1; k < _node.Inputs.Count; k++)
            {
                if (!_node.HasInput(k)) continue;
                if (Activation(k) is not null)
                    return Refuse(out reason, $"{_node.OpType} input {k} (roi, scales or sizes) is computed at run time; the generated runtime needs it at build time");
                args[k] = Constant(k);
            }
            var context = new KernelContext(opset, k => k < args.Length && k > 0 ? args[k] : null, new ParallelOptions { MaxDegreeOfParallelism = 1 });
            var kernel = (ResizeKernel)OpRegistry.Create(_node, context);
            var outShape = kernel.OutputShape(args, xs);
            if (!outShape.SequenceEqual(y.Shape)) return Refuse(out reason, "Resize output shape does not match the plan");
            var passes = kernel.Tables(args, xs);
            bool anyOutside = passes.Any(p => p.Outside is not null);
            var outside = anyOutside
                ? passes.SelectMany(p => p.Outside ?? new bool[p.OutSize]).ToArray()
                : [];
            return
            [
                Call<ResizeFloat>(
                [
                    xs, outShape, passes.Select(p => p.Axis).ToArray(), passes.Select(p => p.Taps).ToArray(),
                    passes.SelectMany(p => p.Index).ToArray(), kernel.IsNearest ? Array.Empty<float>() : passes.SelectMany(p => p.Weight).ToArray(),
                    outside, kernel.IsNearest, kernel.ExtrapolationValue,
                ], y, Operand(0)),
            ];
        }

        /// <summary>A node whose inputs are all build-time values (a Cast of a shape to float): its outputs are copied from constants.</summary>
        private List<FloatKernelCall>? ConstantOutputs(out string reason)
        {
            reason = "";
            var args = _node.Inputs.Select((_, k) => Constant(k)).ToArray();
            var context = new KernelContext(opset, k => k < args.Length ? args[k] : null, new ParallelOptions { MaxDegreeOfParallelism = 1 });
            var results = OpRegistry.Create(_node, context).Forward(args);
            var calls = new List<FloatKernelCall>();
            for (int o = 0; o < results.Length; o++)
                if (Output(o) is { } output)
                    calls.Add(Call<ElementwiseFloat>([ElementwiseFunction.Identity, 0f, 0f], output, FloatOperand.Of(results[o].ToFloatArray())));
            return calls;
        }

        // ---------------------------------------------------------------- data movement

        /// <summary>
        /// Data movement as <see cref="SeparableGatherFloat"/> calls: per-axis offset tables (Σ of the
        /// dimensions, never one entry per element) derived from the node's attributes and shapes with the
        /// engine's own planning code where it has one (Slice, Pad, Tile, Split sizes,
        /// DepthToSpace), so the semantics are the engine's. Ops without such a form (Where with a constant
        /// condition, ranks above 8) fall back to the element-number probe, with a bounded table.
        /// </summary>
        public List<FloatKernelCall>? BindMovement(out string reason)
        {
            reason = "";
            var calls = _node.OpType switch
            {
                "Transpose" => Transpose(),
                "Expand" => Expand(),
                "Concat" => Concat(),
                "Split" => Split(),
                "Gather" => Gather(out reason),
                "DepthToSpace" or "SpaceToDepth" => DepthToSpace(),
                "Slice" or "Pad" or "Tile" => Separable(out reason),
                _ => null,
            };
            if (calls is not null || reason.Length > 0) return calls;
            return BindByProbe(MaxProbeTableEntries, out reason);
        }

        /// <summary>Builds the engine kernel of this node with its constant inputs, for its planning code.</summary>
        private (OpKernel Kernel, Tensor?[] Args) EngineKernel()
        {
            var args = new Tensor?[_node.Inputs.Count];
            for (int k = 1; k < args.Length; k++) args[k] = Constant(k);
            var context = new KernelContext(opset, k => k > 0 && k < args.Length ? args[k] : null, new ParallelOptions { MaxDegreeOfParallelism = 1 });
            return (OpRegistry.Create(_node, context), args);
        }

        /// <summary>Offsets start, start + stride, ... (size entries).</summary>
        private static int[] Linear(int size, int stride, int start = 0)
        {
            var t = new int[size];
            for (int i = 0; i < size; i++) t[i] = checked(start + i * stride);
            return t;
        }

        /// <summary>
        /// One <see cref="SeparableGatherFloat"/> call, or null (probe fallback) beyond its rank limit.
        /// <paramref name="destinationStrides"/> null: the output is written whole and contiguously.
        /// </summary>
        private static FloatKernelCall? Copy(int[] shape, int[][] tables, PlanTensor output, FloatOperand? input,
            int[]? destinationStrides = null, int destinationOffset = 0, float fill = 0f)
        {
            if (shape.Length > SeparableGatherFloat.MaxRank) return null;
            if (destinationStrides is null && FloatKernel.Length(shape) != output.Length)
                throw new QuantBuildException(DiagnosticCodes.InternalError, $"movement of {FloatKernel.Length(shape)} elements into '{output.Name}' of {output.Length}");
            var flat = tables.SelectMany(t => t).Select(o => o == ShapeOpHelpers.Outside ? SeparableGatherFloat.Outside : o).ToArray();
            return Call<SeparableGatherFloat>([shape, flat, destinationStrides ?? [], destinationOffset, fill], output, input);
        }

        private static List<FloatKernelCall>? One(FloatKernelCall? call) => call is null ? null : [call];

        private List<FloatKernelCall>? Transpose()
        {
            var xs = ShapeOf(0)!;
            var y = Output()!;
            var perm = _node.GetInts("perm")?.Select(v => (int)v).ToArray() ?? Enumerable.Range(0, xs.Length).Reverse().ToArray();
            var strides = ShapeOpHelpers.Strides(xs);
            return One(Copy(y.Shape, y.Shape.Select((d, k) => Linear(d, strides[perm[k]])).ToArray(), y, Operand(0)));
        }

        /// <summary>Expand: the input read with stride 0 along broadcast axes.</summary>
        private List<FloatKernelCall>? Expand()
        {
            var y = Output()!;
            var strides = FloatKernel.BroadcastStrides(ShapeOf(0)!, y.Shape);
            return One(Copy(y.Shape, y.Shape.Select((d, k) => Linear(d, strides[k])).ToArray(), y, Operand(0)));
        }

        /// <summary>Concat: one contiguous-source copy per input into its slab of the output.</summary>
        private List<FloatKernelCall>? Concat()
        {
            var y = Output()!;
            int axis = (int)_node.GetInt("axis");
            if (axis < 0) axis += y.Shape.Length;
            var outStrides = ShapeOpHelpers.Strides(y.Shape);
            var calls = new List<FloatKernelCall>();
            int offset = 0;
            for (int k = 0; k < _node.Inputs.Count; k++)
            {
                if (Operand(k) is not { } x) continue;
                var shape = ShapeOf(k)!;
                var strides = ShapeOpHelpers.Strides(shape);
                if (Copy(shape, shape.Select((d, a) => Linear(d, strides[a])).ToArray(), y, x, outStrides, checked(offset * outStrides[axis])) is not { } call) return null;
                calls.Add(call);
                offset += shape[axis];
            }
            return calls;
        }

        /// <summary>Split: each used output copies its slab, placed by the engine's own part sizes.</summary>
        private List<FloatKernelCall>? Split()
        {
            var xs = ShapeOf(0)!;
            var (kernel, args) = EngineKernel();
            int axis = ShapeOpHelpers.NormalizeAxis(_node, _node.GetInt("axis", 0), xs.Length);
            var sizes = ((Engine.Ops.SplitKernel)kernel).PartSizes(args, xs[axis]);
            var strides = ShapeOpHelpers.Strides(xs);
            var calls = new List<FloatKernelCall>();
            int start = 0;
            for (int o = 0; o < sizes.Length; o++)
            {
                if (Output(o) is { } y)
                {
                    var shape = (int[])xs.Clone();
                    shape[axis] = sizes[o];
                    var tables = shape.Select((d, a) => Linear(d, strides[a], a == axis ? start * strides[axis] : 0)).ToArray();
                    if (Copy(shape, tables, y, Operand(0)) is not { } call) return null;
                    calls.Add(call);
                }
                start += sizes[o];
            }
            return calls;
        }

        /// <summary>Gather with constant indices: the output viewed as data[:axis] + [n] + data[axis+1:], one table entry per index.</summary>
        private List<FloatKernelCall>? Gather(out string reason)
        {
            reason = "";
            if (Constant(1) is not { } indices) { reason = "Gather indices are not constant"; return null; }
            var xs = ShapeOf(0)!;
            int axis = ShapeOpHelpers.NormalizeAxis(_node, _node.GetInt("axis", 0), xs.Length);
            var strides = ShapeOpHelpers.Strides(xs);
            var raw = indices.ToInt64Array();
            var picks = new int[raw.Length];
            for (int i = 0; i < raw.Length; i++)
            {
                long v = raw[i] < 0 ? raw[i] + xs[axis] : raw[i];
                if (v < 0 || v >= xs[axis]) throw _node.Error(DiagnosticCodes.InvalidInputValue, $"index {raw[i]} is out of range for axis {axis} of size {xs[axis]}");
                picks[i] = checked((int)v * strides[axis]);
            }
            var shape = xs.Take(axis).Append(picks.Length).Concat(xs.Skip(axis + 1)).ToArray();
            var tables = shape.Select((d, a) => a == axis ? picks : Linear(d, strides[a])).ToArray();
            return One(Copy(shape, tables, Output()!, Operand(0)));
        }

        /// <summary>DepthToSpace/SpaceToDepth: the engine's 6-D view of the input, read in its transposed order.</summary>
        private List<FloatKernelCall>? DepthToSpace()
        {
            var (kernel, _) = EngineKernel();
            var (shape6, perm, _) = ((Engine.Ops.DepthToSpaceKernel)kernel).Plan(ShapeOf(0)!);
            var strides = ShapeOpHelpers.Strides(shape6);
            var shape = perm.Select(p => shape6[p]).ToArray();
            return One(Copy(shape, shape.Select((d, k) => Linear(d, strides[perm[k]])).ToArray(), Output()!, Operand(0)));
        }

        /// <summary>Slice, Pad, Tile: the tables the engine computes them with.</summary>
        private List<FloatKernelCall>? Separable(out string reason)
        {
            reason = "";
            var (kernel, args) = EngineKernel();
            var movement = ((ISeparableMovementKernel)kernel).Separable(args, ShapeOf(0)!);
            if (movement is null) { reason = $"{_node.OpType} has no separable form"; return null; }
            return One(Copy(movement.Shape, movement.Offsets, Output()!, Operand(0), fill: movement.Fill));
        }

        /// <summary>
        /// Runs the engine's kernel for this node on inputs whose values are their own (1-based, offset per
        /// source) element numbers; every output element then names the source element it copies, and any
        /// other value is the op's fill (Pad's constant). The result is one <see cref="GatherFloat"/> table
        /// entry per output element, so it is refused above <paramref name="tableLimit"/> entries.
        /// </summary>
        public List<FloatKernelCall>? BindByProbe(int tableLimit, out string reason)
        {
            reason = "";
            var dataInputs = new List<int>();
            for (int k = 0; k < _node.Inputs.Count; k++)
            {
                if (!_node.HasInput(k)) continue;
                bool isFloat = Activation(k) is not null || Constant(k) is { Type: DataType.Float };
                if (isFloat && IsMovementData(k)) dataInputs.Add(k);
            }
            if (dataInputs.Count == 0) { reason = "no float data input"; return null; }
            long outputElements = step.Outputs.Sum(o => (long)o.Length);
            if (outputElements > tableLimit)
            {
                reason = $"{_node.OpType} has no parametric float kernel here, and its per-element index table would take {outputElements:N0} entries (limit {tableLimit:N0})";
                return null;
            }
            var bases = new int[dataInputs.Count + 1];
            for (int i = 0; i < dataInputs.Count; i++) bases[i + 1] = checked(bases[i] + FloatKernel.Length(ShapeOf(dataInputs[i])!));
            if (bases[^1] >= 1 << 23) { reason = "too many elements for an index table"; return null; }

            float fill = 0f;
            var args = new Tensor?[_node.Inputs.Count];
            for (int k = 0; k < _node.Inputs.Count; k++)
            {
                if (!_node.HasInput(k)) continue;
                int di = dataInputs.IndexOf(k);
                if (di >= 0)
                {
                    var shape = ShapeOf(k)!;
                    var values = new float[FloatKernel.Length(shape)];
                    for (int i = 0; i < values.Length; i++) values[i] = bases[di] + i + 1;
                    args[k] = Tensor.FromFloats(values, shape);
                }
                else args[k] = Constant(k) ?? throw _node.Error(DiagnosticCodes.InternalError, $"input '{_node.Inputs[k]}' has no build-time value");
            }
            if (_node.OpType == "Pad")
            {
                if (_node.GetString("mode", "constant") == "constant")
                {
                    fill = opset < 11 ? _node.GetFloat("value", 0f) : Constant(2) is { Length: > 0 } c ? c.ToFloatArray()[0] : 0f;
                    // The probe pads with 0, which no element number takes.
                    if (opset >= 11 && _node.HasInput(2)) args[2] = Tensor.FromFloats([0f]);
                }
            }
            var probeNode = _node;
            if (_node.OpType == "Pad" && opset < 11 && fill != 0f)
            {
                // Before opset 11 the fill is the 'value' attribute: probe a copy of the node that pads with 0.
                probeNode = new Node(_node.Name, _node.OpType, _node.Inputs, _node.Outputs, _node.Domain);
                foreach (var (name, attribute) in _node.Attributes) probeNode.Attributes[name] = attribute;
                probeNode.SetFloat("value", 0f);
            }
            var context = new KernelContext(opset, k => k < args.Length && _node.HasInput(k) && dataInputs.IndexOf(k) < 0 ? args[k] : null, new ParallelOptions { MaxDegreeOfParallelism = 1 });
            var results = OpRegistry.Create(probeNode, context).Forward(args);

            var calls = new List<FloatKernelCall>();
            for (int o = 0; o < _node.Outputs.Count && o < results.Length; o++)
            {
                var output = Output(o);
                if (output is null) continue;
                var probe = results[o].ToFloatArray();
                if (probe.Length != output.Length) { reason = "probe output size does not match the plan"; return null; }
                var sources = new List<int>[dataInputs.Count];
                var destinations = new List<int>[dataInputs.Count];
                for (int s = 0; s < dataInputs.Count; s++) { sources[s] = []; destinations[s] = []; }
                var fills = new List<int>();
                for (int i = 0; i < probe.Length; i++)
                {
                    float v = probe[i];
                    if (v == 0f) { fills.Add(i); continue; }
                    if (v != MathF.Floor(v) || v < 1 || v > bases[^1])
                    {
                        reason = $"{_node.OpType} is not a pure rearrangement";
                        return null;
                    }
                    int e = (int)v - 1;
                    int src = Array.FindLastIndex(bases, b => b <= e);
                    sources[src].Add(e - bases[src]);
                    destinations[src].Add(i);
                }
                if (fills.Count > 0 && _node.OpType != "Pad") { reason = $"{_node.OpType} is not a pure rearrangement"; return null; }
                bool first = true;
                for (int s = 0; s < dataInputs.Count; s++)
                {
                    if (sources[s].Count == 0 && !(first && s == dataInputs.Count - 1)) continue;
                    var src = sources[s];
                    var dst = destinations[s];
                    if (first && fills.Count > 0)
                    {
                        src = [.. src, .. Enumerable.Repeat(-1, fills.Count)];
                        dst = [.. dst, .. fills];
                    }
                    bool identity = dst.Count == output.Length && dst.Select((d, i) => d == i).All(b => b);
                    calls.Add(Call<GatherFloat>([src.ToArray(), identity ? Array.Empty<int>() : dst.ToArray(), fill], output, Operand(dataInputs[s])));
                    first = false;
                }
            }
            return calls;
        }

        private bool IsMovementData(int k) => _node.OpType switch
        {
            "Concat" => true,
            "Where" => k > 0,
            _ => k == 0,
        };
    }
}
