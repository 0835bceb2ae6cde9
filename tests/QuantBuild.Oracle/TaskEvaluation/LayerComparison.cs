using QuantBuild.Lowering;
using QuantBuild.Onnx.Proto;
using QuantBuild.Onnx.IO;
using QuantBuild.Runtime;
using QuantBuild.Tensors;

namespace QuantBuild.Oracle.TaskEvaluation;

/// <summary>One int8 value of the integer plan: our runtime's codes vs ONNX Runtime's DequantizeLinear output of the same name in the QDQ file.</summary>
/// <param name="CodeMismatches">elements whose codes differ (ORT's value re-quantized with the plan's scale and zero point)</param>
/// <param name="MaxCodeDiff">largest code difference</param>
/// <param name="SqnrIntegerVsFp32Db">our runtime vs the fp32 model's value of the same name in our engine (NaN when the prepared fp32 graph has no such value)</param>
public sealed record LayerDifference(int Step, string OpType, string NodeName, string Tensor, double SqnrDb, int CodeMismatches, int MaxCodeDiff, int Length,
    double SqnrIntegerVsFp32Db, double SqnrQdqVsFp32Db);

/// <summary>
/// Where our integer runtime and ONNX Runtime on our QDQ file part ways: runs one sample through the
/// integer plan capturing every int8 step output, and through ONNX Runtime with every activation of
/// the QDQ file made a graph output, then compares them step by step (the first large drop in SQNR
/// is the step whose integer arithmetic does not match the QDQ file's meaning).
/// </summary>
public static class LayerComparison
{
    public static List<LayerDifference> Compare(OrtOracle oracle, IntegerPlan plan, string qdqPath, Tensor sample, string? fp32ModelPath = null)
    {
        var runner = new IntegerModelRunner(plan);
        var input = plan.Inputs.Single();
        var capture = new Dictionary<string, sbyte[]>(StringComparer.Ordinal);
        runner.Run(new Dictionary<string, Tensor> { [input.Name] = sample.Reshape(input.Shape) }, capture);

        var int8Outputs = plan.Steps.SelectMany((s, i) => s.Outputs.Where(o => o.Type == PlanElementType.Int8 && capture.ContainsKey(o.Name)).Select(o => (Step: i, s, o))).ToList();
        var folder = Directory.CreateTempSubdirectory("qb-layers-").FullName;
        try
        {
            // The QDQ file with every compared activation as an extra graph output.
            var model = OnnxModelFile.Load(qdqPath);
            var existing = model.Graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
            foreach (var (_, _, o) in int8Outputs)
                if (existing.Add(o.Name))
                    model.Graph.Output.Add(new ValueInfoProto { Name = o.Name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)DataType.Float } } });
            var probe = Path.Combine(folder, "probe.onnx");
            OnnxModelFile.Save(model, probe);
            var sampleFile = Path.Combine(folder, "sample.npy");
            NpyFile.Write(sampleFile, sample.Reshape(input.Shape));
            var ort = oracle.Run(probe, new Dictionary<string, string> { [input.Name] = sampleFile }, int8Outputs.Select(t => t.o.Name).Distinct());

            // The fp32 values of the same names, when the prepared fp32 graph still has them: which side drifts from fp32.
            var fp32 = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            if (fp32ModelPath is not null)
            {
                var graph = Graph.OnnxImporter.Load(fp32ModelPath);
                Graph.Transforms.GraphPreparation.Prepare(graph, inferShapes: false);
                var produced = graph.Nodes.SelectMany(n => n.Outputs).ToHashSet(StringComparer.Ordinal);
                var engine = new Engine.InferenceEngine(graph, new Engine.EngineOptions { MaxDegreeOfParallelism = 1 });
                fp32 = engine.Run(new Dictionary<string, Tensor> { [input.Name] = sample.Reshape(input.Shape) },
                    int8Outputs.Select(t => t.o.Name).Where(produced.Contains).Distinct().ToList());
            }
            var result = new List<LayerDifference>();
            foreach (var (step, s, o) in int8Outputs)
            {
                var codes = capture[o.Name];
                var ours = new float[codes.Length];
                QuantParams.DequantizeLinear(codes, ours, o.Quant.Scale, o.Quant.ZeroPoint);
                var theirs = ort[o.Name].ToFloatArray();
                if (theirs.Length != ours.Length) continue;  // a layout the plan changed (none expected); not comparable
                var theirCodes = new sbyte[theirs.Length];
                QuantParams.QuantizeLinear(theirs, theirCodes, o.Quant.Scale, o.Quant.ZeroPoint);
                int mismatches = 0, maxDiff = 0;
                for (int i = 0; i < codes.Length; i++)
                {
                    int d = Math.Abs(codes[i] - theirCodes[i]);
                    if (d > 0) mismatches++;
                    maxDiff = Math.Max(maxDiff, d);
                }
                var reference = fp32.TryGetValue(o.Name, out var f) && f.Length == ours.Length ? f.ToFloatArray() : null;
                result.Add(new LayerDifference(step, s.OpType, s.NodeName, o.Name, TaskEvaluator.SqnrDb(theirs, ours), mismatches, maxDiff, codes.Length,
                    reference is null ? double.NaN : TaskEvaluator.SqnrDb(reference, ours), reference is null ? double.NaN : TaskEvaluator.SqnrDb(reference, theirs)));
            }
            return result;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
