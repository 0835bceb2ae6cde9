using System.CommandLine;
using System.Globalization;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Cli.Commands;

/// <summary>
/// <c>quantbuild inspect MODEL.onnx</c>: what a sidecar and a caller need to know about a model before
/// quantizing it — input and output names, element types and shapes (symbolic dimensions by name), the
/// opset, the node count per operator, and how each operator would run in the generated code. Support
/// comes from the checks the other verbs fail on: the float engine's registry (QB2001 in run and
/// quantize), the generated runtime's float kernels (QB2001 when C# output is on) and the op types with
/// an integer kernel. Unsupported operators are reported, not raised: inspecting such a model succeeds.
/// </summary>
public static class InspectCommand
{
    /// <summary>How the generated code runs an operator (the "support" column).</summary>
    public const string Integer = "integer";
    public const string FloatKernel = "float kernel";
    public const string NoCSharpKernel = "no C# kernel (QB2001 unless outputs.csharp is false)";
    public const string ShapesOnly = "shape computation only";
    public const string Folded = "folded at build time";
    public const string Inlined = "If: inlined at build time (docs/control-flow.md)";
    public const string Unsupported = "unsupported (QB2001)";

    public static Command Create(TextWriter output)
    {
        var model = new Argument<string>("model") { Description = "The ONNX model to describe.", HelpName = "MODEL.onnx" };
        var maxTensor = CommonOptions.MaxTensorBytes();
        var maxMemory = CommonOptions.MaxMemoryBytes();
        var command = new Command("inspect",
            "Print a model's inputs and outputs (names, element types, shapes with symbolic dimensions), opset, node count per operator, " +
            "and which operators have no integer kernel (they run as float kernels) or cannot be quantized at all.");
        command.Arguments.Add(model);
        command.Options.Add(maxTensor);
        command.Options.Add(maxMemory);
        command.SetAction(parse =>
        {
            using var limits = TensorLimits.Use(CommonOptions.Limits(parse, maxTensor, maxMemory));
            return Execute(parse.GetRequiredValue(model), output);
        });
        return command;
    }

    public static int Execute(string modelPath, TextWriter output)
    {
        var graph = OnnxImporter.Load(modelPath);
        var source = graph.SourceModel!;
        var producer = string.Join(" ", new[] { source.ProducerName, source.ProducerVersion }.Where(s => s.Length > 0));
        output.WriteLine($"model: {modelPath}");
        output.WriteLine($"  ir_version {graph.IrVersion}, opset {graph.OpsetVersion}" +
            string.Concat(source.OpsetImport.Where(o => o.Domain is not ("" or "ai.onnx")).Select(o => $", {o.Domain} {o.Version}")) +
            (producer.Length > 0 ? $", producer {producer}" : ""));
        output.WriteLine($"inputs ({graph.Inputs.Count}):");
        foreach (var i in graph.Inputs) output.WriteLine($"  {Describe(i)}");
        output.WriteLine($"outputs ({graph.Outputs.Count}):");
        foreach (var o in graph.Outputs) output.WriteLine($"  {Describe(o)}");

        // As the file has them: Constant nodes too (the importer turns them into constants), and the nodes of If branches.
        var inFile = Count(NodesWithBranches(source.Graph).Select(n => OpName(n.Domain == "ai.onnx" ? "" : n.Domain, n.OpType)));
        var unsupported = InferenceEngine.UnsupportedNodes(graph).Select(n => OpName(n.Domain, n.OpType)).ToHashSet(StringComparer.Ordinal);

        // What a build runs: the graph after constant and BatchNormalization folding. Folding runs the
        // engine, so a model with an unsupported operator is described as it is in the file.
        Dictionary<string, int>? built = null;
        var support = new Dictionary<string, string>(StringComparer.Ordinal);
        string? note = null;
        if (unsupported.Count == 0)
        {
            GraphPreparation.Prepare(graph, inferShapes: false);
            note = InferShapes(graph);
            built = Count(graph.Nodes.Select(n => OpName(n.Domain, n.OpType)));
            var noCSharp = FloatKernelBinding.UnsupportedNodes(graph).Select(n => OpName(n.Domain, n.OpType)).ToHashSet(StringComparer.Ordinal);
            foreach (var n in graph.Nodes)
            {
                var op = OpName(n.Domain, n.OpType);
                // Without value types the node-level check cannot tell data from shape computations.
                support[op] = note is not null ? Support(op)
                    : noCSharp.Contains(op) ? NoCSharpKernel
                    : IntegerLowering.HasIntegerKernel(n.Domain, n.OpType) ? Integer
                    : FloatKernelBinding.IsSupportedOp(n.OpType) && n.Domain.Length == 0 ? FloatKernel
                    : ShapesOnly;
            }
        }
        foreach (var op in inFile.Keys)
            if (!support.ContainsKey(op))
                support[op] = unsupported.Contains(op) ? Unsupported
                    : op == "If" ? Inlined
                    : built is null ? (op == "Constant" ? Folded : Support(op)) : Folded;

        int fileNodes = inFile.Values.Sum();
        output.WriteLine(built is null
            ? $"nodes: {fileNodes} (not folded: the model has operators QuantBuild cannot run)"
            : $"nodes: {fileNodes} in the file, {built.Values.Sum()} after folding constants and BatchNormalization (as a build does)");
        var ops = inFile.Keys.Concat(built is null ? [] : built.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        int width = Math.Max("operator".Length, ops.Count == 0 ? 0 : ops.Max(o => o.Length));
        output.WriteLine($"  {"operator".PadRight(width)}  {"file",5}  {"built",5}  support");
        foreach (var op in ops)
        {
            var builtCount = built is null ? "-" : built.GetValueOrDefault(op).ToString(CultureInfo.InvariantCulture);
            output.WriteLine($"  {op.PadRight(width)}  {inFile.GetValueOrDefault(op),5}  {builtCount,5}  {support[op]}");
        }
        if (note is not null) output.WriteLine(note);

        string List(string kind) => string.Join(", ", ops.Where(o => support[o] == kind));
        if (inFile.ContainsKey("QuantizeLinear") || inFile.ContainsKey("DequantizeLinear"))
            output.WriteLine("quantized (QDQ) model: `quantbuild run MODEL --int` runs it in the integer runtime; quantize and the build take the float model");
        if (unsupported.Count > 0)
            output.WriteLine($"not supported: {List(Unsupported)} — QuantBuild's engine cannot run these, so run and quantize fail with QB2001");
        else
        {
            var floats = List(FloatKernel);
            output.WriteLine(floats.Length == 0
                ? "integer runtime: every operator that computes on the data has an integer kernel"
                : $"no integer kernel (these run as float kernels in the generated C#): {floats}");
            var noCSharp = List(NoCSharpKernel);
            if (noCSharp.Length > 0)
                output.WriteLine($"no kernel in the generated C# runtime: {noCSharp} — quantize with \"outputs\": {{\"csharp\": false}} for the QDQ ONNX file only");
        }
        return ExitCodes.Success;
    }

    /// <summary>The support of an op type when the graph could not be prepared (no node-level checks possible).</summary>
    private static string Support(string op) =>
        IntegerLowering.HasIntegerKernel("", op) ? Integer : FloatKernelBinding.IsSupportedOp(op) ? FloatKernel : NoCSharpKernel;

    /// <summary>
    /// Types and shapes of the values, which the C# kernel check reads. Symbolic input dimensions get the
    /// engine's defaults; if the model does not run with those, every named dimension is bound to 1.
    /// </summary>
    private static string? InferShapes(ModelGraph graph)
    {
        try
        {
            ShapeInference.Apply(graph);
            return null;
        }
        catch (QuantBuildException first)
        {
            var ones = graph.Inputs.SelectMany(i => i.DimParams ?? []).OfType<string>().Distinct(StringComparer.Ordinal).ToDictionary(p => p, _ => 1, StringComparer.Ordinal);
            try
            {
                if (ones.Count == 0) throw;
                ShapeInference.Apply(graph, ones);
                return null;
            }
            catch (QuantBuildException)
            {
                return $"note: the model did not run on zero inputs of its declared shapes ({first.Code}: {first.Message}); the support column is by operator type only";
            }
        }
    }

    private static string Describe(ValueInfo v) => $"{v.Name}: {(v.Type == DataType.Undefined ? "?" : DataTypes.Name(v.Type))}{v.ShapeString}";

    private static string OpName(string domain, string opType) => domain.Length == 0 ? opType : $"{domain}.{opType}";

    /// <summary>The graph's nodes and, depth first, those of its subgraphs (If branches): every node a build may run.</summary>
    private static IEnumerable<NodeProto> NodesWithBranches(GraphProto graph)
    {
        foreach (var n in graph.Node)
        {
            yield return n;
            foreach (var a in n.Attribute)
                foreach (var g in a.G is not null ? [a.G] : a.Graphs.ToArray())
                    foreach (var inner in NodesWithBranches(g))
                        yield return inner;
        }
    }

    private static Dictionary<string, int> Count(IEnumerable<string> ops)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var op in ops) counts[op] = counts.GetValueOrDefault(op) + 1;
        return counts;
    }
}
