using System.Text;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Tests.Engine;

/// <summary>
/// Runs the ONNX backend node tests for the elementwise, activation, normalization, reduction and
/// cast operators through the engine and compares with the expected outputs (rtol 1e-3, atol 1e-5).
/// Tests whose graph needs an operator this engine does not have yet are skipped, not failed; the
/// per-operator table is written to the test log.
/// </summary>
[TestClass]
public sealed class ElementwiseNodeTests
{
    private const string Root = "/usr/share/libonnx-testdata/data/node";

    public TestContext TestContext { get; set; } = null!;

    private static readonly string[] Prefixes =
    {
        "add", "sub", "mul", "div", "pow", "max", "min", "sum", "mean",
        "relu", "leakyrelu", "prelu", "clip", "sigmoid", "tanh", "hardsigmoid", "hardswish", "sqrt", "exp", "log", "erf",
        "neg", "abs", "reciprocal", "floor", "ceil",
        "softmax", "logsoftmax", "layer_normalization", "batchnorm", "reduce", "cast", "castlike",
    };

    private static string OpOf(string test)
    {
        var name = test["test_".Length..];
        foreach (var p in Prefixes.OrderByDescending(p => p.Length))
            if (name == p || name.StartsWith(p + "_", StringComparison.Ordinal))
                return p == "reduce" ? "reduce_" + name.Split('_')[1] : p;
        return "";
    }

    /// <summary>
    /// Tests that need something the engine deliberately does not do (bfloat16 and string tensors,
    /// models older than opset 7, BatchNormalization in training mode). They are listed in the
    /// report as out of scope instead of being counted against the operators.
    /// </summary>
    private static string? OutOfScope(string test) =>
        test.Contains("BFLOAT16", StringComparison.Ordinal) ? "bfloat16 tensors are not supported"
        : test.Contains("STRING", StringComparison.Ordinal) ? "string tensors are not supported"
        : test.EndsWith("_training_mode", StringComparison.Ordinal) ? "training mode is not supported"
        : null;

    public static (bool Ok, string Detail) RunOne(string dir)
    {
        ModelGraph graph;
        try { graph = OnnxImporter.Load(Path.Combine(dir, "model.onnx")); }
        catch (QuantBuild.Diagnostics.QuantBuildException e) when (e.Code == QuantBuild.Diagnostics.DiagnosticCodes.UnsupportedOpset) { return (false, "SCOPE " + e.Message); }
        catch (Exception e) { return (false, "load: " + e.Message); }
        var missing = graph.Nodes.Where(n => !OpRegistry.IsSupported(n)).Select(n => n.OpType).Distinct().ToList();
        if (missing.Count > 0) return (false, "SKIP needs " + string.Join(",", missing));
        var data = Path.Combine(dir, "test_data_set_0");
        try
        {
            var engine = new InferenceEngine(graph);
            var feeds = new Dictionary<string, Tensor>();
            for (int i = 0; i < graph.Inputs.Count; i++)
                feeds[graph.Inputs[i].Name] = Load(Path.Combine(data, $"input_{i}.pb"));
            var result = engine.Run(feeds);
            for (int i = 0; i < graph.Outputs.Count; i++)
            {
                var expected = Load(Path.Combine(data, $"output_{i}.pb"));
                var actual = result[graph.Outputs[i].Name];
                var why = Compare(expected, actual);
                if (why is not null) return (false, $"output {i}: {why}");
            }
            return (true, "");
        }
        catch (Exception e) { return (false, e.GetType().Name + ": " + e.Message); }
    }

    private static Tensor Load(string path) => TensorProtoConverter.ToTensor(TensorProto.Parser.ParseFrom(File.ReadAllBytes(path)));

    private static string? Compare(Tensor expected, Tensor actual)
    {
        if (expected.Type != actual.Type) return $"type {actual.Type} != expected {expected.Type}";
        if (!Tensor.SameShape(expected.Shape, actual.Shape)) return $"shape {actual.ShapeString} != expected {expected.ShapeString}";
        if (DataTypes.IsFloatingPoint(expected.Type))
        {
            var e = expected.Data is double[] ed ? ed : Array.ConvertAll(expected.ToFloatArray(), v => (double)v);
            var a = actual.Data is double[] ad ? ad : Array.ConvertAll(actual.ToFloatArray(), v => (double)v);
            for (int i = 0; i < e.Length; i++)
            {
                if (double.IsNaN(e[i]) && double.IsNaN(a[i])) continue;
                if (e[i] == a[i]) continue;
                if (!(Math.Abs(e[i] - a[i]) <= 1e-5 + 1e-3 * Math.Abs(e[i]))) return $"[{i}] {a[i]} != expected {e[i]}";
            }
            return null;
        }
        var el = expected.ToInt64Array();
        var al = actual.ToInt64Array();
        for (int i = 0; i < el.Length; i++)
            if (el[i] != al[i]) return $"[{i}] {al[i]} != expected {el[i]}";
        return null;
    }

    [TestMethod]
    public void BackendNodeTests_PassForElementwiseOperators()
    {
        if (!Directory.Exists(Root)) Assert.Inconclusive("ONNX backend node tests are not installed");
        var tests = Directory.GetDirectories(Root).Select(Path.GetFileName).Where(n => OpOf(n!) != "").Order(StringComparer.Ordinal).ToList();
        var perOp = new SortedDictionary<string, (int Pass, int Fail, int Skip, int Scope)>(StringComparer.Ordinal);
        var log = new StringBuilder();
        int pass = 0, fail = 0;
        foreach (var t in tests)
        {
            var op = OpOf(t!);
            var scope = OutOfScope(t!);
            var (ok, detail) = scope is null ? RunOne(Path.Combine(Root, t!)) : (false, "SCOPE " + scope);
            var c = perOp.TryGetValue(op, out var v) ? v : (Pass: 0, Fail: 0, Skip: 0, Scope: 0);
            if (ok) { c.Pass++; pass++; }
            else if (detail.StartsWith("SKIP", StringComparison.Ordinal)) { c.Skip++; log.AppendLine($"  skip {t}: {detail}"); }
            else if (detail.StartsWith("SCOPE", StringComparison.Ordinal)) { c.Scope++; log.AppendLine($"  out of scope {t}: {detail[6..]}"); }
            else { c.Fail++; fail++; log.AppendLine($"  FAIL {t}: {detail}"); }
            perOp[op] = c;
        }
        var table = new StringBuilder("op | pass | fail | skipped (needs other ops) | out of scope\n");
        foreach (var (op, c) in perOp) table.AppendLine($"{op} | {c.Pass} | {c.Fail} | {c.Skip} | {c.Scope}");
        table.AppendLine($"TOTAL | {pass} | {fail} | {perOp.Values.Sum(c => c.Skip)} | {perOp.Values.Sum(c => c.Scope)}");
        var report = table + log.ToString();
        TestContext.WriteLine(report);
        File.WriteAllText(Path.Combine(Path.GetTempPath(), "quantbuild-elementwise-node-tests.txt"), report);
        Assert.IsTrue(pass >= 0.95 * (pass + fail), $"only {pass} of {pass + fail} node tests pass\n{report}");
    }
}
