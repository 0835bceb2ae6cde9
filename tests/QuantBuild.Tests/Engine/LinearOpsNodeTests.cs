using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Tests.Engine;

/// <summary>
/// ONNX backend node tests (Debian libonnx-testdata) for the linear and pooling operators:
/// every test directory whose name starts with one of the prefixes must match its reference outputs.
/// </summary>
[TestClass]
public sealed class LinearOpsNodeTests
{
    private const string Root = "/usr/share/libonnx-testdata/data/node";

    /// <summary>Runs one backend test; returns null when it passes, else the reason.</summary>
    internal static string? RunNodeTest(string dir, double rtol = 1e-3, double atol = 1e-5, int minimumOpset = 0)
    {
        try
        {
            ModelGraph graph;
            if (minimumOpset == 0) graph = OnnxImporter.Load(Path.Combine(dir, "model.onnx"));
            else
            {
                // Models stamped with an opset older than the engine's floor, for ops whose
                // semantics have not changed since: lift the stamp, keep everything else.
                var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(dir, "model.onnx")));
                foreach (var o in proto.OpsetImport)
                    if (o.Domain is "" or "ai.onnx" && o.Version < minimumOpset) o.Version = minimumOpset;
                graph = OnnxImporter.Import(proto, dir, Path.Combine(dir, "model.onnx"));
            }
            var data = Path.Combine(dir, "test_data_set_0");
            var feeds = new Dictionary<string, Tensor>();
            var inputNames = graph.Inputs.Select(i => i.Name).ToList();
            for (int i = 0; i < inputNames.Count; i++)
                feeds[inputNames[i]] = Load(Path.Combine(data, $"input_{i}.pb"));
            var engine = new InferenceEngine(graph);
            var result = engine.Run(feeds);
            for (int o = 0; o < graph.Outputs.Count; o++)
            {
                var expected = Load(Path.Combine(data, $"output_{o}.pb"));
                var actual = result[graph.Outputs[o].Name];
                if (!actual.Shape.SequenceEqual(expected.Shape)) return $"output {o} shape {actual.ShapeString} expected {expected.ShapeString}";
                if (actual.Type != expected.Type) return $"output {o} type {actual.Type} expected {expected.Type}";
                var a = actual.Type == DataType.Int64 ? actual.Int64s.Select(v => (double)v).ToArray() : actual.ToFloatArray().Select(v => (double)v).ToArray();
                var e = expected.Type == DataType.Int64 ? expected.Int64s.Select(v => (double)v).ToArray() : expected.ToFloatArray().Select(v => (double)v).ToArray();
                for (int i = 0; i < a.Length; i++)
                    if (!(Math.Abs(a[i] - e[i]) <= atol + rtol * Math.Abs(e[i])))
                        return $"output {o}[{i}] = {a[i]} expected {e[i]}";
            }
            return null;
        }
        catch (Exception ex)
        {
            return ex.GetType().Name + ": " + ex.Message;
        }
    }

    private static Tensor Load(string path) => TensorProtoConverter.ToTensor(TensorProto.Parser.ParseFrom(File.ReadAllBytes(path)));

    private static void RunFamily(params string[] prefixes) => RunFamily(0, prefixes);

    private static void RunFamily(int minimumOpset, params string[] prefixes)
    {
        if (!Directory.Exists(Root)) Assert.Inconclusive("libonnx-testdata is not installed");
        var dirs = Directory.GetDirectories(Root)
            .Where(d => prefixes.Any(p => Path.GetFileName(d).StartsWith(p, StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal).ToList();
        Assert.IsNotEmpty(dirs);
        var failures = new List<string>();
        foreach (var d in dirs)
            if (RunNodeTest(d, minimumOpset: minimumOpset) is { } why) failures.Add($"{Path.GetFileName(d)}: {why}");
        Console.WriteLine($"{string.Join("/", prefixes)}: {dirs.Count - failures.Count}/{dirs.Count} passed");
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }

    [TestMethod] public void Gemm() => RunFamily("test_gemm_");
    [TestMethod] public void MatMul() => RunFamily("test_matmul_");
    [TestMethod] public void Conv() => RunFamily("test_conv_", "test_basic_conv_");
    [TestMethod] public void ConvTranspose() => RunFamily("test_convtranspose");
    [TestMethod] public void MaxPool() => RunFamily("test_maxpool_");
    [TestMethod] public void AveragePool() => RunFamily("test_averagepool_");
    [TestMethod] public void GlobalPools() => RunFamily(7, "test_globalaveragepool", "test_globalmaxpool"); // stamped opset 1, unchanged since
}
