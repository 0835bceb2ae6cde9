using System.Diagnostics;
using System.Numerics.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Engine;

public sealed class EngineOptions
{
    /// <summary>Threads the kernels may use; results are bit-identical whatever the value.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>Collect per-node forward times into <see cref="InferenceEngine.Profile"/> (a timestamp pair per node).</summary>
    public bool Profile { get; init; }

    /// <summary>
    /// Let <see cref="InferenceEngine.Run"/> execute chains of float elementwise nodes as one pass
    /// (bit-identical to running them one by one; see <see cref="FusedChain"/>). Off is for comparisons.
    /// </summary>
    public bool FuseElementwise { get; init; } = true;
}

/// <summary>
/// Receives a value the moment <see cref="InferenceEngine.Run(IReadOnlyDictionary{string, Tensor}, IEnumerable{string}?, ValueObserver)"/>
/// computed it (initializers and model inputs: before the first node runs). The tensor is valid only during the call: once
/// its last reader has run, the engine drops it and may hand its array to a later node, so copy what you keep.
/// </summary>
public delegate void ValueObserver(string name, Tensor value);

/// <summary>Every value computed by one forward pass, kept for a backward pass.</summary>
public sealed class ForwardTrace
{
    internal ForwardTrace(Dictionary<string, Tensor> values) => Values = values;

    public IReadOnlyDictionary<string, Tensor> Values { get; }

    public Tensor this[string name] => Values.TryGetValue(name, out var t) ? t
        : throw new QuantBuildException(DiagnosticCodes.MissingInput, $"value '{name}' was not computed");
}

/// <summary>
/// The float reference engine: runs a <see cref="ModelGraph"/> forward, and backward as a chain of
/// vector–Jacobian products. All kernels are created up front, so an unsupported operator or a bad
/// attribute is reported before any computation starts.
/// </summary>
public sealed class InferenceEngine
{
    private readonly OpKernel[] _kernels;

    // The value table: every name the graph mentions gets a slot, and each node's inputs and
    // outputs are resolved to slot numbers once, so a run indexes arrays instead of hashing names.
    private readonly Dictionary<string, int> _slotOf = new(StringComparer.Ordinal);
    private readonly List<string> _slotNames = new();
    private readonly int[][] _inputSlots;
    private readonly int[][] _outputSlots;
    // Slots whose last reader is node i (never initializers or graph outputs): freed after it runs.
    private readonly int[][] _releaseAfter;
    private readonly int[] _graphInputSlots;
    // Recycled output arrays, lent to one Run at a time (a concurrent Run makes its own).
    private BufferArena? _idleArena;
    // Chains of elementwise nodes Run may execute as one pass, indexed by their first node (null: none).
    private readonly FusedChain?[]? _chains;

    public InferenceEngine(ModelGraph graph, EngineOptions? options = null)
    {
        Graph = graph;
        Options = options ?? new EngineOptions();
        Parallel = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Options.MaxDegreeOfParallelism) };

        ValidateOperators(graph);

        foreach (var name in graph.Initializers.Keys) SlotOf(name);
        _graphInputSlots = graph.Inputs.Select(vi => SlotOf(vi.Name)).ToArray();

        int count = graph.Nodes.Count;
        _kernels = new OpKernel[count];
        _inputSlots = new int[count][];
        _outputSlots = new int[count][];
        var lastUse = new Dictionary<int, int>();
        for (int i = 0; i < count; i++)
        {
            var node = graph.Nodes[i];
            var ctx = new KernelContext(graph.OpsetVersion,
                k => node.HasInput(k) && graph.Initializers.TryGetValue(node.Inputs[k], out var t) ? t : null, Parallel);
            try
            {
                _kernels[i] = OpRegistry.Create(node, ctx);
            }
            catch (QuantBuildException e) when (e.File is null && graph.SourcePath is not null)
            {
                throw new QuantBuildException(e.Code, e.Message, graph.SourcePath, node: e.NodeName ?? node.Name, inner: e);
            }
            _inputSlots[i] = node.Inputs.Select(x => x.Length == 0 ? -1 : SlotOf(x)).ToArray();
            _outputSlots[i] = node.Outputs.Select(x => x.Length == 0 ? -1 : SlotOf(x)).ToArray();
            foreach (var slot in _inputSlots[i])
                if (slot >= 0) lastUse[slot] = i;
        }
        var release = Enumerable.Range(0, count).Select(_ => new List<int>()).ToArray();
        var graphOutputs = new HashSet<string>(graph.Outputs.Select(o => o.Name), StringComparer.Ordinal);
        foreach (var (slot, node) in lastUse)
        {
            var name = _slotNames[slot];
            if (!graph.Initializers.ContainsKey(name) && !graphOutputs.Contains(name)) release[node].Add(slot);
        }
        // Outputs nobody reads (e.g. an unused MaxPool Indices) are dropped right after their producer.
        for (int i = 0; i < count; i++)
            foreach (int slot in _outputSlots[i])
                if (slot >= 0 && !lastUse.ContainsKey(slot) && !graphOutputs.Contains(_slotNames[slot]) && !graph.Initializers.ContainsKey(_slotNames[slot]))
                    release[i].Add(slot);
        _releaseAfter = release.Select(l => l.ToArray()).ToArray();
        if (Options.FuseElementwise)
        {
            var outputSlots = new HashSet<int>(graph.Outputs.Where(o => _slotOf.ContainsKey(o.Name)).Select(o => _slotOf[o.Name]));
            _chains = FusedChain.Find(graph.Nodes, graph.OpsetVersion, _inputSlots, _outputSlots, outputSlots);
        }
        if (Options.Profile) Profile = new EngineProfile(graph.Nodes);
    }

    private int SlotOf(string name)
    {
        if (_slotOf.TryGetValue(name, out int slot)) return slot;
        _slotOf[name] = slot = _slotNames.Count;
        _slotNames.Add(name);
        return slot;
    }

    /// <summary>
    /// Reports every operator the engine cannot run as QB2001 (naming the first node and listing all
    /// unsupported op types), then a node lacking a required input as QB2004 — called before any
    /// computation, including graph preparation.
    /// </summary>
    public static void ValidateOperators(ModelGraph graph)
    {
        var unsupported = UnsupportedNodes(graph);
        if (unsupported.Count == 0)
        {
            OperatorArity.Validate(graph);
            return;
        }
        var first = unsupported[0];
        var all = string.Join(", ", unsupported.Select(n => n.OpType).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
        throw new QuantBuildException(DiagnosticCodes.UnsupportedOperator,
            $"operator '{first.OpType}' (node '{first.Name}') is not supported by QuantBuild's engine" +
            (unsupported.Count > 1 ? $"; {unsupported.Count} nodes use unsupported operators: {all}" : ""),
            graph.SourcePath, node: first.Name);
    }

    /// <summary>The nodes the engine cannot run, including those inside If branches (an If itself is supported: see <see cref="CollectUnsupported"/>).</summary>
    public static List<Node> UnsupportedNodes(ModelGraph graph)
    {
        var unsupported = new List<Node>();
        CollectUnsupported(graph, graph.Nodes, unsupported);
        return unsupported;
    }

    /// <summary>
    /// Adds the nodes the engine cannot run, looking inside If branches: an If itself is accepted, as graph
    /// preparation replaces it by its branches (<see cref="QuantBuild.Graph.Transforms.IfInlining"/>).
    /// </summary>
    private static void CollectUnsupported(ModelGraph graph, IEnumerable<Node> nodes, List<Node> unsupported)
    {
        foreach (var node in nodes)
        {
            if (!QuantBuild.Graph.Transforms.IfInlining.IsIf(node))
            {
                if (!OpRegistry.IsSupported(node)) unsupported.Add(node);
                continue;
            }
            foreach (var branch in node.Attributes.Values.Where(a => a.G is not null).Select(a => a.G))
                CollectUnsupported(graph, branch.Node
                    .Where(np => !(np.OpType == "Constant" && np.Domain is "" or "ai.onnx"))
                    .Select(np =>
                    {
                        var inner = new Node(np.Name.Length > 0 ? np.Name : np.OpType, np.OpType, np.Input, np.Output, np.Domain == "ai.onnx" ? "" : np.Domain);
                        foreach (var a in np.Attribute) inner.Attributes[a.Name] = a;
                        return inner;
                    }), unsupported);
        }
    }

    public ModelGraph Graph { get; }
    public EngineOptions Options { get; }
    public ParallelOptions Parallel { get; }

    /// <summary>Time spent per node, when <see cref="EngineOptions.Profile"/> is set; null otherwise.</summary>
    public EngineProfile? Profile { get; }

    /// <summary>Runs the model and returns its outputs (plus any <paramref name="extraOutputs"/>).</summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string>? extraOutputs = null)
    {
        var keep = new List<string>(Graph.Outputs.Count);
        foreach (var o in Graph.Outputs) keep.Add(o.Name);
        HashSet<int>? keepSlots = null;
        if (extraOutputs is not null)
            foreach (var name in extraOutputs)
            {
                keep.Add(name);
                if (_slotOf.TryGetValue(name, out int slot)) (keepSlots ??= new()).Add(slot);
            }
        return Collect(Execute(inputs, keepAll: false, keepSlots, null), keep);
    }

    private Dictionary<string, Tensor> Collect(Tensor?[] values, IEnumerable<string> names)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in names)
            result[name] = _slotOf.TryGetValue(name, out int slot) && values[slot] is Tensor t ? t
                : throw NotProduced(name);
        return result;
    }

    private QuantBuildException NotProduced(string name) =>
        new(DiagnosticCodes.MissingInput, $"value '{name}' is not produced by the graph", Graph.SourcePath);

    /// <summary>
    /// Runs the model, handing each value of <paramref name="observe"/> (null: every initializer, model input and
    /// computed value) to <paramref name="onValue"/> as soon as it exists, and returns the model outputs. Unlike
    /// <see cref="Forward"/> or extra outputs of <see cref="Run(IReadOnlyDictionary{string, Tensor}, IEnumerable{string}?)"/>,
    /// an observed value is still released after its last reader, so memory stays at the largest set of values
    /// alive at one time instead of growing with every value observed. Values are reported in execution order.
    /// </summary>
    public Dictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string>? observe, ValueObserver onValue)
    {
        var watch = new Observation(new bool[_slotNames.Count], onValue);
        if (observe is null) Array.Fill(watch.Slots, true);
        else
            foreach (var name in observe)
                if (_slotOf.TryGetValue(name, out int slot)) watch.Slots[slot] = true;
                else throw NotProduced(name);
        return Collect(Execute(inputs, keepAll: false, null, watch), Graph.Outputs.Select(o => o.Name));
    }

    /// <summary>What an observing run reports, by slot, and to whom.</summary>
    private sealed record Observation(bool[] Slots, ValueObserver OnValue)
    {
        public void Report(InferenceEngine engine, int slot, Tensor value)
        {
            if (Slots[slot]) OnValue(engine._slotNames[slot], value);
        }
    }

    /// <summary>Runs the model keeping every intermediate value (for backward passes).</summary>
    public ForwardTrace Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var values = Execute(inputs, keepAll: true, null, null);
        var trace = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        // Initializers the nodes do not read are part of a trace too.
        foreach (var (name, t) in Graph.Initializers) trace[name] = t;
        for (int slot = 0; slot < values.Length; slot++)
            if (values[slot] is Tensor t) trace[_slotNames[slot]] = t;
        return new ForwardTrace(trace);
    }

    private Tensor?[] Execute(IReadOnlyDictionary<string, Tensor> inputs, bool keepAll, HashSet<int>? keepSlots, Observation? watch)
    {
        var values = new Tensor?[_slotNames.Count];
        // Bytes of the inputs and computed values alive at once, checked by every allocation against
        // TensorLimits.MaxTotalBytes (initializers are not counted: the model file already bounds them).
        var live = new LiveTensorMemory();
        // Read on every run: training and EPTQ replace initializer tensors between runs.
        foreach (var (name, t) in Graph.Initializers)
            if (_slotOf.TryGetValue(name, out int slot))
            {
                values[slot] = t;
                watch?.Report(this, slot, t);
            }
        for (int i = 0; i < _graphInputSlots.Length; i++)
        {
            var vi = Graph.Inputs[i];
            if (!inputs.TryGetValue(vi.Name, out var t))
                throw new QuantBuildException(DiagnosticCodes.MissingInput, $"model input '{vi.Name}' {vi.ShapeString} was not given", Graph.SourcePath);
            CheckInput(vi, t);
            values[_graphInputSlots[i]] = t;
            live.Hold(t);
            watch?.Report(this, _graphInputSlots[i], t);
        }
        // A trace keeps every value, so only Run (which releases values) recycles arrays.
        var arena = keepAll ? null : Interlocked.Exchange(ref _idleArena, null) ?? new BufferArena();
        var previousArena = OutputBuffers.Install(arena);
        var tracking = TensorLimits.Track(live);
        try
        {
            ExecuteNodes(values, keepAll, keepSlots, watch, arena, live);
        }
        finally
        {
            tracking.Dispose();
            OutputBuffers.Install(previousArena);
            if (arena is not null)
            {
                arena.EndRun();
                _idleArena = arena;
            }
        }
        return values;
    }

    private void ExecuteNodes(Tensor?[] values, bool keepAll, HashSet<int>? keepSlots, Observation? watch, BufferArena? arena, LiveTensorMemory live)
    {
        // A trace needs every intermediate, so only Run fuses.
        var chains = keepAll ? null : _chains;
        for (int i = 0; i < _kernels.Length; i++)
        {
            if (chains?[i] is { } chain && !AnyRequested(chain, keepSlots, watch) && TryRunChain(chain, values, keepSlots, watch, arena, live))
            {
                i = chain.Last;
                continue;
            }
            RunNode(i, values, keepAll, keepSlots, watch, arena, live);
        }
    }

    /// <summary>Whether a value the fused pass would never materialize is wanted by the caller.</summary>
    private static bool AnyRequested(FusedChain chain, HashSet<int>? keepSlots, Observation? watch)
    {
        foreach (int slot in chain.IntermediateSlots)
            if (keepSlots?.Contains(slot) == true || watch?.Slots[slot] == true) return true;
        return false;
    }

    private bool TryRunChain(FusedChain chain, Tensor?[] values, HashSet<int>? keepSlots, Observation? watch, BufferArena? arena, LiveTensorMemory live)
    {
        var profile = Profile;
        long start = profile is null ? 0 : Stopwatch.GetTimestamp();
        Tensor? fused;
        try
        {
            fused = chain.TryExecute(values, Parallel);
        }
        catch (QuantBuildException e) when (e.NodeName is null)
        {
            var last = _kernels[chain.Last].Node;
            throw new QuantBuildException(e.Code, e.Message, e.File ?? Graph.SourcePath, e.Line, e.Column, last.Name, e);
        }
        if (fused is not Tensor result) return false;
        if (profile is not null)
        {
            // The whole pass is booked on the chain's last node; the others show no time.
            profile.Add(chain.Last, Stopwatch.GetTimestamp() - start);
            // Overwrites the node's own shapes when an unfused pass (Forward) was profiled first.
            if (!chain.ProfileLabelled)
            {
                chain.ProfileLabelled = true;
                profile.SetShapes(chain.Last, "fused " + string.Join("+", Enumerable.Range(chain.First, chain.Last - chain.First + 1).Select(k => Graph.Nodes[k].OpType)) + " -> " + result.ShapeString);
            }
        }
        values[chain.OutputSlot] = result;
        arena?.Retain(result.Data);
        live.Hold(result);
        watch?.Report(this, chain.OutputSlot, result);
        for (int k = chain.First; k <= chain.Last; k++)
            Release(k, values, keepSlots, arena, live);
        return true;
    }

    private void Release(int node, Tensor?[] values, HashSet<int>? keepSlots, BufferArena? arena, LiveTensorMemory live)
    {
        foreach (int slot in _releaseAfter[node])
            if ((keepSlots is null || !keepSlots.Contains(slot)) && values[slot] is Tensor dead)
            {
                values[slot] = null;
                arena?.Release(dead.Data);
                live.Release(dead);
            }
    }

    private void RunNode(int i, Tensor?[] values, bool keepAll, HashSet<int>? keepSlots, Observation? watch, BufferArena? arena, LiveTensorMemory live)
    {
        var profile = Profile;
        var kernel = _kernels[i];
        var inputSlots = _inputSlots[i];
        var args = new Tensor?[inputSlots.Length];
        for (int k = 0; k < args.Length; k++)
        {
            int slot = inputSlots[k];
            if (slot < 0) continue;
            args[k] = values[slot] ?? throw MissingValue(kernel.Node, k);
        }
        Tensor[] outputs;
        long start = profile is null ? 0 : Stopwatch.GetTimestamp();
        try
        {
            outputs = kernel.Forward(args);
        }
        catch (QuantBuildException e) when (e.NodeName is null || e.File is null)
        {
            throw new QuantBuildException(e.Code, e.Message, e.File ?? Graph.SourcePath, e.Line, e.Column, e.NodeName ?? kernel.Node.Name, e);
        }
        if (profile is not null)
        {
            profile.Add(i, Stopwatch.GetTimestamp() - start);
            if (!profile.HasShapes(i))
                profile.SetShapes(i, string.Join(" ", args.Select(a => a?.ShapeString ?? "-")) + " -> " + string.Join(" ", outputs.Select(o => o?.ShapeString ?? "-")));
        }
        var outputSlots = _outputSlots[i];
        for (int k = 0; k < outputSlots.Length && k < outputs.Length; k++)
            if (outputSlots[k] >= 0)
            {
                values[outputSlots[k]] = outputs[k];
                arena?.Retain(outputs[k].Data);
                live.Hold(outputs[k]);
                // Before Release: an output nobody reads is dropped right after its producer.
                watch?.Report(this, outputSlots[k], outputs[k]);
            }
        if (!keepAll) Release(i, values, keepSlots, arena, live);
    }

    private QuantBuildException MissingValue(Node node, int input) =>
        new(DiagnosticCodes.MissingInput, $"{node.OpType} node '{node.Name}' reads '{node.Inputs[input]}', which has not been computed", Graph.SourcePath, node: node.Name);

    private void CheckInput(ValueInfo vi, Tensor t)
    {
        if (vi.Type != DataType.Undefined && vi.Type != t.Type)
            throw new QuantBuildException(DiagnosticCodes.InvalidInputValue, $"model input '{vi.Name}' must be {DataTypes.Name(vi.Type)}, got {DataTypes.Name(t.Type)}", Graph.SourcePath);
        if (vi.Shape is null) return;
        bool ok = vi.Shape.Length == t.Rank;
        for (int d = 0; ok && d < t.Rank; d++)
            if (vi.Shape[d] is long v && v != t.Shape[d]) ok = false;
        if (!ok)
            throw new QuantBuildException(DiagnosticCodes.InvalidInputValue, $"model input '{vi.Name}' must have shape {vi.ShapeString}, got {t.ShapeString}", Graph.SourcePath);
    }

    /// <summary>
    /// Reverse-mode differentiation through a recorded forward pass.
    /// </summary>
    /// <param name="trace">values of a <see cref="Forward"/> call</param>
    /// <param name="seeds">dL/dValue for the values the loss reads (usually model outputs)</param>
    /// <param name="wrt">names whose gradients to return: inputs, initializers or intermediate values</param>
    public Dictionary<string, Tensor> Backward(ForwardTrace trace, IReadOnlyDictionary<string, Tensor> seeds, IEnumerable<string> wrt)
    {
        var wanted = new HashSet<string>(wrt, StringComparer.Ordinal);
        // Values whose gradient is needed: the wanted ones and everything computed from them.
        var needs = new HashSet<string>(wanted, StringComparer.Ordinal);
        foreach (var k in _kernels)
            if (k.IsDifferentiable && k.Node.Inputs.Any(x => x.Length > 0 && needs.Contains(x)))
                foreach (var o in k.Node.Outputs) needs.Add(o);

        var grads = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, g) in seeds)
        {
            var value = trace[name];
            if (!Tensor.SameShape(value.Shape, g.Shape))
                throw new QuantBuildException(DiagnosticCodes.ShapeMismatch, $"gradient seed for '{name}' has shape {g.ShapeString}, the value has {value.ShapeString}");
            grads[name] = g;
        }

        for (int i = _kernels.Length - 1; i >= 0; i--)
        {
            var kernel = _kernels[i];
            var node = kernel.Node;
            var outGrads = new Tensor?[node.Outputs.Count];
            bool any = false;
            for (int k = 0; k < outGrads.Length; k++)
                if (node.Outputs[k].Length > 0 && grads.TryGetValue(node.Outputs[k], out var g)) { outGrads[k] = g; any = true; }
            if (!any) continue;
            var needInput = new bool[node.Inputs.Count];
            bool needAny = false;
            for (int k = 0; k < needInput.Length; k++)
                needAny |= needInput[k] = node.Inputs[k].Length > 0 && needs.Contains(node.Inputs[k]);
            if (!needAny || !kernel.IsDifferentiable) continue;

            var inputs = new Tensor?[node.Inputs.Count];
            for (int k = 0; k < inputs.Length; k++)
                if (node.Inputs[k].Length > 0) inputs[k] = trace[node.Inputs[k]];
            var outputs = new Tensor[node.Outputs.Count];
            for (int k = 0; k < outputs.Length; k++)
                outputs[k] = node.Outputs[k].Length > 0 ? trace[node.Outputs[k]] : null!;

            Tensor?[] inGrads;
            try
            {
                inGrads = kernel.Backward(new BackwardArgs(inputs, outputs, outGrads, needInput));
            }
            catch (QuantBuildException e) when (e.NodeName is null)
            {
                throw new QuantBuildException(e.Code, e.Message, Graph.SourcePath, node: node.Name, inner: e);
            }
            for (int k = 0; k < inGrads.Length && k < needInput.Length; k++)
            {
                if (!needInput[k] || inGrads[k] is not Tensor g) continue;
                var name = node.Inputs[k];
                grads[name] = grads.TryGetValue(name, out var existing) ? Accumulate(existing, g) : g;
            }
        }

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in wanted)
        {
            // A value that does not reach the loss has a zero gradient.
            result[name] = grads.TryGetValue(name, out var g) ? g : Tensor.Create(DataType.Float, trace[name].Shape);
        }
        return result;
    }

    private static Tensor Accumulate(Tensor a, Tensor b)
    {
        if (!Tensor.SameShape(a.Shape, b.Shape))
            throw new QuantBuildException(DiagnosticCodes.ShapeMismatch, $"gradient shapes differ: {a.ShapeString} vs {b.ShapeString}");
        var sum = new float[a.Length];
        TensorPrimitives.Add(a.Floats, b.Floats, sum);
        return Tensor.FromFloats(sum, a.Shape);
    }
}
