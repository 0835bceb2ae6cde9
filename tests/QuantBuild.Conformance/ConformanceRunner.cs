using System.Diagnostics;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Conformance;

public sealed class ConformanceOptions
{
    public const string DefaultDataDirectory = "/usr/share/libonnx-testdata/data";

    /// <summary>The suites with runnable data (real/ holds only download stubs; simple/ is mostly sequences and gradients).</summary>
    public static readonly IReadOnlyList<string> DefaultSuites = ["node", "pytorch-converted", "pytorch-operator"];

    public string DataDirectory { get; init; } = DefaultDataDirectory;
    public IReadOnlyList<string> Suites { get; init; } = DefaultSuites;

    /// <summary>Case-insensitive substring of the test id ("suite/name"); null runs everything.</summary>
    public string? Filter { get; init; }

    public double RelativeTolerance { get; init; } = 1e-3;
    public double AbsoluteTolerance { get; init; } = 1e-5;

    /// <summary>Engine threads per test. Tests themselves run one after another, so the output order and
    /// the kernels' own parallel paths are both exercised deterministically.</summary>
    public int EngineThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>Also run every test the engine passes through the generated runtime's float kernels (<see cref="GeneratedRuntimeCheck"/>).</summary>
    public bool CheckGeneratedRuntime { get; init; } = true;
}

/// <summary>
/// Runs ONNX backend tests (model.onnx + test_data_set_*/input_K.pb, output_K.pb) through the float
/// engine and classifies each one. Never throws for a test: every exception becomes that test's result.
/// </summary>
public static class ConformanceRunner
{
    /// <summary>
    /// The importer turns Constant nodes into initializers, and graph preparation replaces If by its branches
    /// (docs/control-flow.md), so they need no kernel.
    /// </summary>
    private static readonly string[] ImporterHandledOps = ["Constant", "If"];

    /// <summary>Operators a test may use and still count: the engine's kernels plus those the importer folds away.</summary>
    public static IReadOnlyCollection<string> SupportedOps() =>
        OpRegistry.SupportedOps.Concat(ImporterHandledOps).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    /// <summary>
    /// Tests whose expected output is a sample of numpy's random generator (ONNX does not define the
    /// stream, and ONNX Runtime excludes these tests too). Matched by id; a new entry needs the same
    /// justification, never "our kernel gets it wrong".
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> RandomReferenceTests = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["node/test_training_dropout"] = "training-mode Dropout (ratio 0.75) draws a random mask",
        ["node/test_training_dropout_default"] = "training-mode Dropout (ratio 0.5) draws a random mask",
        ["node/test_training_dropout_default_mask"] = "training-mode Dropout (ratio 0.5) draws a random mask",
        ["node/test_training_dropout_mask"] = "training-mode Dropout (ratio 0.75) draws a random mask",
        ["node/test_bernoulli"] = "Bernoulli samples a random stream",
        ["node/test_bernoulli_double"] = "Bernoulli samples a random stream",
        ["node/test_bernoulli_seed"] = "Bernoulli samples numpy's seeded stream",
        ["node/test_bernoulli_expanded"] = "RandomUniformLike samples a random stream",
        ["node/test_bernoulli_double_expanded"] = "RandomUniformLike samples a random stream",
        ["node/test_bernoulli_seed_expanded"] = "RandomUniformLike samples numpy's seeded stream",
    };

    public static bool DataAvailable(string dataDirectory) => Directory.Exists(Path.Combine(dataDirectory, "node"));

    public static string MissingDataMessage(string dataDirectory) =>
        $"ONNX backend test data not found under '{dataDirectory}' (expected node/*/model.onnx): run tests/fetch-assets.sh " +
        "(it installs the Debian package libonnx-testdata), or pass --data DIR";

    /// <summary>The test folders of the selected suites, sorted by id.</summary>
    public static IReadOnlyList<ConformanceTestCase> Discover(ConformanceOptions options)
    {
        var tests = new List<ConformanceTestCase>();
        foreach (var suite in options.Suites)
        {
            var suiteDir = Path.Combine(options.DataDirectory, suite);
            if (!Directory.Exists(suiteDir))
                throw new DirectoryNotFoundException($"suite folder '{suiteDir}' does not exist");
            foreach (var dir in Directory.EnumerateDirectories(suiteDir))
            {
                if (!File.Exists(Path.Combine(dir, "model.onnx"))) continue;
                var test = new ConformanceTestCase(suite, Path.GetFileName(dir), dir);
                if (options.Filter is { Length: > 0 } f && !test.Id.Contains(f, StringComparison.OrdinalIgnoreCase)) continue;
                tests.Add(test);
            }
        }
        tests.Sort((a, b) => StringComparer.Ordinal.Compare(a.Id, b.Id));
        return tests;
    }

    public static ConformanceRun Run(ConformanceOptions options, Action<ConformanceTestResult>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        var supported = SupportedOps();
        var results = new List<ConformanceTestResult>();
        foreach (var test in Discover(options))
        {
            var r = RunOne(test, options, supported);
            progress?.Invoke(r);
            results.Add(r);
        }
        return new ConformanceRun(options.DataDirectory, options.Suites, options.Filter, supported, results, clock.Elapsed);
    }

    public static ConformanceTestResult RunOne(ConformanceTestCase test, ConformanceOptions options, IReadOnlyCollection<string>? supportedOps = null)
    {
        var supported = new HashSet<string>(supportedOps ?? SupportedOps(), StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        IReadOnlyList<string> ops = [];
        ConformanceTestResult Result(TestOutcome outcome, string reason, string? detail = null) =>
            new(test, outcome, OneLine(reason), ops, detail, clock.Elapsed.TotalMilliseconds);

        try
        {
            var modelPath = Path.Combine(test.Directory, "model.onnx");
            var model = OnnxModelFile.Load(modelPath);
            ops = OpsOf(model.Graph);

            var missing = ops.Where(op => !supported.Contains(op)).ToList();
            if (missing.Count > 0)
                return Result(TestOutcome.UnsupportedOperator, "unsupported operator" + (missing.Count > 1 ? "s " : " ") + string.Join(", ", missing));
            if (UnrepresentableType(model.Graph) is { } typeProblem)
                return Result(TestOutcome.UnsupportedDataType, typeProblem);
            if (RandomReferenceTests.TryGetValue(test.Id, out var why))
                return Result(TestOutcome.RandomReference, why);

            var graph = OnnxImporter.Import(model, test.Directory, modelPath);
            // Only a graph with an If goes through preparation (as every command's does): the others keep testing the kernels unfolded.
            if (graph.Nodes.Any(QuantBuild.Graph.Transforms.IfInlining.IsIf)) QuantBuild.Graph.Transforms.GraphPreparation.Prepare(graph, inferShapes: false);
            var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = options.EngineThreads });

            var dataSets = NumberedEntries(Directory.GetDirectories(test.Directory), "test_data_set_");
            if (dataSets.Count == 0)
                return Result(TestOutcome.Failed, "no test_data_set_* folder");
            foreach (var dataSet in dataSets)
            {
                if (RunDataSet(engine, graph, dataSet, options) is { } problem)
                    return Result(TestOutcome.Failed, dataSets.Count > 1 ? $"{Path.GetFileName(dataSet)}: {problem}" : problem);
            }
            if (!options.CheckGeneratedRuntime) return Result(TestOutcome.Passed, "");
            var (runtime, runtimeReason) = RunGeneratedRuntime(model, test.Directory, modelPath, dataSets, options);
            return Result(TestOutcome.Passed, "") with { Runtime = runtime, RuntimeReason = OneLine(runtimeReason) };
        }
        catch (QuantBuildException e)
        {
            var outcome = e.Code switch
            {
                DiagnosticCodes.UnsupportedOpset => TestOutcome.UnsupportedOpset,
                DiagnosticCodes.UnsupportedOperator => TestOutcome.UnsupportedOperator,
                _ => TestOutcome.Failed,
            };
            var node = e.NodeName is null || e.Message.Contains($"'{e.NodeName}'", StringComparison.Ordinal) ? "" : $" [node '{e.NodeName}']";
            return Result(outcome, $"{e.Code}: {e.Message}{node}", outcome == TestOutcome.Failed ? e.ToString() : null);
        }
        catch (Exception e)
        {
            // A kernel bug (index out of range, null, cast...): name the throwing method so the
            // one-line reason already points at the kernel.
            var site = e.TargetSite is { } m ? $" in {m.DeclaringType?.Name}.{m.Name}" : "";
            return Result(TestOutcome.Failed, $"{e.GetType().Name}{site}: {e.Message}", e.ToString());
        }
    }

    /// <summary>The generated runtime's verdict on a test the engine passed; an exception is a failure with its site.</summary>
    private static (RuntimeOutcome, string) RunGeneratedRuntime(ModelProto model, string directory, string modelPath, IReadOnlyList<string> dataSets, ConformanceOptions options)
    {
        try
        {
            return GeneratedRuntimeCheck.Run(model, directory, modelPath, dataSets, options);
        }
        catch (QuantBuildException e)
        {
            return (RuntimeOutcome.Failed, $"{e.Code}: {e.Message}");
        }
        catch (Exception e)
        {
            var site = e.TargetSite is { } m ? $" in {m.DeclaringType?.Name}.{m.Name}" : "";
            return (RuntimeOutcome.Failed, $"{e.GetType().Name}{site}: {e.Message}");
        }
    }

    /// <summary>The tensors of files named prefix + number, in number order.</summary>
    internal static List<Tensor> ReadNumbered(IEnumerable<string> files, string prefix) => NumberedEntries(files, prefix).Select(ReadTensor).ToList();

    /// <summary>Runs one data set; null when every output matches, else a one-line reason.</summary>
    private static string? RunDataSet(InferenceEngine engine, ModelGraph graph, string dataSet, ConformanceOptions options)
    {
        var files = Directory.GetFiles(dataSet, "*.pb");
        var inputFiles = NumberedEntries(files, "input_");
        var outputFiles = NumberedEntries(files, "output_");
        // The data lists values for the model's real inputs (not those an initializer provides), in order.
        if (inputFiles.Count != graph.Inputs.Count)
            return $"the data set has {inputFiles.Count} inputs, the model {graph.Inputs.Count} ({string.Join(", ", graph.Inputs.Select(i => i.Name))})";
        if (outputFiles.Count != graph.Outputs.Count)
            return $"the data set has {outputFiles.Count} outputs, the model {graph.Outputs.Count}";

        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < inputFiles.Count; i++)
            feeds[graph.Inputs[i].Name] = ReadTensor(inputFiles[i]);

        var outputs = engine.Run(feeds);
        for (int k = 0; k < outputFiles.Count; k++)
        {
            var name = graph.Outputs[k].Name;
            var expected = ReadTensor(outputFiles[k]);
            if (!outputs.TryGetValue(name, out var actual))
                return $"output '{name}' was not produced";
            if (TensorComparison.Compare(actual, expected, options.RelativeTolerance, options.AbsoluteTolerance) is { } difference)
                return $"output {k} '{name}': {difference}";
        }
        return null;
    }

    private static Tensor ReadTensor(string path) =>
        TensorProtoConverter.ToTensor(TensorProto.Parser.ParseFrom(File.ReadAllBytes(path)), Path.GetDirectoryName(path), path);

    /// <summary>Entries named prefix + number (+ extension), sorted by the number (so 10 follows 9).</summary>
    private static List<string> NumberedEntries(IEnumerable<string> paths, string prefix)
    {
        var numbered = new List<(int Index, string Path)>();
        foreach (var p in paths)
        {
            var name = Path.GetFileNameWithoutExtension(p);
            if (name.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(name.AsSpan(prefix.Length), out var n))
                numbered.Add((n, p));
        }
        return numbered.OrderBy(x => x.Index).Select(x => x.Path).ToList();
    }

    /// <summary>Distinct operator types of a graph and its subgraphs, sorted; other domains are prefixed "domain:".</summary>
    public static IReadOnlyList<string> OpsOf(GraphProto graph)
    {
        var ops = new SortedSet<string>(StringComparer.Ordinal);
        void Walk(GraphProto g)
        {
            foreach (var n in g.Node)
            {
                ops.Add(n.Domain is "" or "ai.onnx" ? n.OpType : $"{n.Domain}:{n.OpType}");
                foreach (var a in n.Attribute)
                {
                    if (a.G is not null) Walk(a.G);
                    foreach (var sub in a.Graphs) Walk(sub);
                }
            }
        }
        Walk(graph);
        return ops.ToList();
    }

    /// <summary>The first graph input, output or initializer whose type QuantBuild's tensors cannot hold, described; null if none.</summary>
    public static string? UnrepresentableType(GraphProto graph)
    {
        foreach (var (kind, vi) in graph.Input.Select(v => ("input", v)).Concat(graph.Output.Select(v => ("output", v))))
        {
            var type = vi.Type;
            if (type is null) continue;
            switch (type.ValueCase)
            {
                case TypeProto.ValueOneofCase.None:
                    continue;
                case TypeProto.ValueOneofCase.TensorType:
                    if (!Representable(type.TensorType.ElemType, allowUndefined: true))
                        return $"{kind} '{vi.Name}' has element type {ElementTypeName(type.TensorType.ElemType)}";
                    continue;
                default:
                    return $"{kind} '{vi.Name}' is {type.ValueCase switch
                    {
                        TypeProto.ValueOneofCase.SequenceType => "a sequence",
                        TypeProto.ValueOneofCase.MapType => "a map",
                        TypeProto.ValueOneofCase.OptionalType => "an optional",
                        TypeProto.ValueOneofCase.SparseTensorType => "a sparse tensor",
                        _ => type.ValueCase.ToString(),
                    }}, not a tensor";
            }
        }
        foreach (var init in graph.Initializer)
            if (!Representable(init.DataType, allowUndefined: false))
                return $"initializer '{init.Name}' has element type {ElementTypeName(init.DataType)}";
        return null;
    }

    private static bool Representable(int elementType, bool allowUndefined) =>
        elementType == 0 ? allowUndefined : Enum.IsDefined((DataType)elementType) && (DataType)elementType != DataType.String;

    private static string ElementTypeName(int elementType) =>
        Enum.IsDefined((TensorProto.Types.DataType)elementType) ? ((TensorProto.Types.DataType)elementType).ToString().ToLowerInvariant() : $"#{elementType}";

    private static string OneLine(string s) => string.Join(' ', s.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}
