using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Quantization;
using QuantBuild.Tensors;

namespace QuantBuild.Conformance;

/// <summary>What happened to one backend test in the generated runtime's float kernels.</summary>
public enum RuntimeOutcome
{
    /// <summary>Not attempted: the engine did not pass the test, so there is no behaviour to reproduce.</summary>
    NotRun,
    Passed,
    Failed,
    /// <summary>Outside the generated runtime's contract: a model input or output that is not float32.</summary>
    NotApplicable,
}

/// <summary>
/// Runs one backend test the way generated code would: every node kept in float, the plan lowered and
/// bound to QuantBuild.Runtime's float kernels (<see cref="FloatStepExecution.Prepare"/>), and run by
/// <see cref="IntegerModelRunner"/>, the same kernel calls the emitted C# makes. A step with no binding
/// fails the test (the runner would otherwise fall back to the engine). Outputs are compared with the
/// reference under the same tolerance as the engine run.
/// <para>
/// The generated runtime is static: values a deployed model fixes at build time (non-float inputs such
/// as indices, axes, shapes, and the weights and parameters listed in <see cref="ParameterInputs"/>)
/// become initializers holding the data set's values, as they are in a real model. Float data inputs stay
/// model inputs.
/// </para>
/// </summary>
public static class GeneratedRuntimeCheck
{
    /// <summary>
    /// Float inputs that a deployable model supplies as initializers (weights, normalization statistics,
    /// Resize's roi and scales, Range's bounds), by op: the backend tests feed them as graph inputs.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, int[]> ParameterInputs = new Dictionary<string, int[]>(StringComparer.Ordinal)
    {
        ["Conv"] = [1, 2],
        ["ConvTranspose"] = [1, 2],
        ["BatchNormalization"] = [1, 2, 3, 4],
        ["LayerNormalization"] = [1, 2],
        ["Resize"] = [1, 2, 3],
        ["Upsample"] = [1],
        ["Pad"] = [2],
        ["Range"] = [0, 1, 2],
    };

    /// <returns>the outcome and a one-line reason (empty when passed)</returns>
    public static (RuntimeOutcome Outcome, string Reason) Run(ModelProto model, string testDirectory, string modelPath, IReadOnlyList<string> dataSets, ConformanceOptions options)
    {
        foreach (var dataSet in dataSets)
        {
            var (outcome, reason) = RunDataSet(model, testDirectory, modelPath, dataSet, options);
            if (outcome != RuntimeOutcome.Passed)
                return (outcome, dataSets.Count > 1 ? $"{Path.GetFileName(dataSet)}: {reason}" : reason);
        }
        return (RuntimeOutcome.Passed, "");
    }

    private static (RuntimeOutcome, string) RunDataSet(ModelProto model, string testDirectory, string modelPath, string dataSet, ConformanceOptions options)
    {
        var graph = OnnxImporter.Import(model, testDirectory, modelPath);
        var files = Directory.GetFiles(dataSet, "*.pb");
        var inputs = ConformanceRunner.ReadNumbered(files, "input_");
        var expected = ConformanceRunner.ReadNumbered(files, "output_");
        foreach (var (o, k) in graph.Outputs.Select((o, k) => (o, k)))
            if (k < expected.Count && expected[k].Type != DataType.Float)
                return (RuntimeOutcome.NotApplicable, $"output '{o.Name}' is {DataTypes.Name(expected[k].Type)}; the generated runtime returns float32");

        var parameters = ParameterNames(graph);
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var declared = graph.Inputs.ToList();
        for (int i = 0; i < declared.Count && i < inputs.Count; i++)
        {
            var (vi, value) = (declared[i], inputs[i]);
            if (value.Type == DataType.Float && !parameters.Contains(vi.Name))
            {
                feeds[vi.Name] = value;
                continue;
            }
            if (DataTypes.IsFloatingPoint(value.Type) && value.Type != DataType.Float)
                return (RuntimeOutcome.NotApplicable, $"input '{vi.Name}' is {DataTypes.Name(value.Type)}; the generated runtime takes float32");
            graph.Inputs.Remove(vi);
            graph.Initializers[vi.Name] = value;
        }
        var shapes = feeds.ToDictionary(f => f.Key, f => f.Value.Shape, StringComparer.Ordinal);

        // Ifs are removed at preparation, as the pipeline does (their conditions may just have become constants).
        if (graph.Nodes.Any(IfInlining.IsIf)) GraphPreparation.Prepare(graph, inferShapes: false);
        // What the pipeline checks before calibrating (QB2001): a refused model never reaches the runtime.
        ShapeInference.Apply(graph);
        var refused = FloatKernelBinding.UnsupportedNodes(graph);
        if (refused.Count > 0)
            return (RuntimeOutcome.Failed, "the pipeline refuses (QB2001): " + string.Join(", ", refused.Select(n => $"{n.OpType} '{n.Name}'")));

        var quantized = new QuantizedModel(graph);
        foreach (var node in graph.Nodes) quantized.FloatNodes.Add(node.Name);
        IntegerPlan plan;
        try
        {
            plan = IntegerLowering.Lower(quantized, shapes);
        }
        catch (QuantBuildException e) when (e.Code == DiagnosticCodes.UnsupportedDataType)
        {
            return (RuntimeOutcome.NotApplicable, e.Message);
        }
        FloatStepExecution.Prepare(plan, out _, out var unbound);
        if (unbound.Count > 0)
            return (RuntimeOutcome.Failed, "no float kernel binding: " + string.Join("; ", unbound.Select(u => $"{u.Step.OpType} '{u.Step.NodeName}': {u.Reason}")));

        var actual = new IntegerModelRunner(plan).Run(feeds);
        for (int k = 0; k < expected.Count; k++)
        {
            var name = graph.Outputs[k].Name;
            if (!actual.TryGetValue(name, out var value))
                return (RuntimeOutcome.Failed, $"output '{name}' was not produced");
            if (TensorComparison.Compare(value, expected[k], options.RelativeTolerance, options.AbsoluteTolerance) is { } difference)
                return (RuntimeOutcome.Failed, $"output {k} '{name}': {difference}");
        }
        return (RuntimeOutcome.Passed, "");
    }

    /// <summary>Graph inputs some node reads at a parameter position (<see cref="ParameterInputs"/>).</summary>
    private static HashSet<string> ParameterNames(ModelGraph graph)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in graph.Nodes)
        {
            if (!ParameterInputs.TryGetValue(node.OpType, out var positions)) continue;
            foreach (var k in positions)
                if (node.HasInput(k)) names.Add(node.Inputs[k]);
        }
        return names;
    }
}
