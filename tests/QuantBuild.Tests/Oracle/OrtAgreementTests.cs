using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Oracle;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Oracle;

/// <summary>
/// Our float engine against ONNX Runtime on the real models tests/fetch-assets.sh pins, fed the real inputs
/// made by tests/oracle/make-inputs.py: every output must agree to max|ours - ORT| / max|ORT| &lt;= 1e-4.
/// One documented exception: ONNX Runtime's Sigmoid is an approximation whose relative error reaches
/// 1e-3 for large negative logits (alexa's negative case: output 5.57e-5, ORT 1.1e-3 off a float64
/// evaluation, ours 4.5e-6). For an output produced by Sigmoid the logits themselves must agree to
/// 1e-4, and where ORT's sigmoid is what disagrees, our output must match a float64 sigmoid of ORT's
/// logits to 1e-4 instead — a stricter reference than ORT's own output.
/// </summary>
[TestClass]
public sealed class OrtAgreementTests
{
    private const double Tolerance = 1e-4;

    [TestMethod]
    [DynamicData(nameof(TestAssets.RealModelIds), typeof(TestAssets))]
    public void RealModelMatchesOnnxRuntime(string modelId)
    {
        var oracle = TestAssets.RequireOracle();
        var model = TestAssets.RealModel(modelId);
        Assert.IsNotEmpty(model.Cases, $"{modelId} has no input cases");
        var graph = OnnxImporter.Load(model.ModelPath);
        var outputNames = graph.Outputs.Select(o => o.Name).ToList();
        // Logits behind each Sigmoid output, exposed as extra outputs of a copy of the model.
        var sigmoidLogits = graph.Nodes.Where(n => n.OpType == "Sigmoid" && outputNames.Contains(n.Outputs[0]))
            .ToDictionary(n => n.Outputs[0], n => n.Inputs[0]);
        var modelPath = sigmoidLogits.Count == 0 ? model.ModelPath : WithExtraOutputs(model.ModelPath, sigmoidLogits.Values);
        var engine = new InferenceEngine(graph);
        var compared = outputNames.Concat(sigmoidLogits.Values).ToList();

        var failures = new List<string>();
        foreach (var input in model.Cases)
        {
            var ours = engine.Run(input.LoadInputs(), sigmoidLogits.Values);
            var reference = oracle.Run(modelPath, input.InputFiles, compared);
            foreach (var name in compared)
            {
                var agreement = Agreement.Compare(ours[name], reference[name]);
                if (agreement.Relative <= Tolerance) continue;
                if (sigmoidLogits.TryGetValue(name, out var logitName))
                {
                    var exact = Tensor.FromFloats(reference[logitName].Floats.Select(z => (float)(1 / (1 + Math.Exp(-(double)z)))).ToArray(), reference[logitName].Shape);
                    var againstExact = Agreement.Compare(ours[name], exact);
                    if (againstExact.Relative <= Tolerance) continue;
                    failures.Add($"{input.Name}/{name}: also off a float64 sigmoid of ORT's logits, ratio {againstExact.Relative:G3}");
                }
                failures.Add($"{input.Name}/{name}: max|diff| {agreement.MaxAbsDiff:G4}, max|ORT| {agreement.MaxAbsRef:G4}, ratio {agreement.Relative:G3}");
            }
        }
        Assert.IsEmpty(failures, $"{modelId} disagrees with ONNX Runtime beyond {Tolerance}:\n" + string.Join("\n", failures));
    }

    private static string WithExtraOutputs(string path, IEnumerable<string> names)
    {
        var proto = OnnxModelFile.Load(path);
        foreach (var name in names)
            proto.Graph.Output.Add(new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1 } } });
        var copy = Path.Combine(Path.GetTempPath(), $"qb-agreement-{Guid.NewGuid():N}.onnx");
        OnnxModelFile.Save(proto, copy);
        return copy;
    }
}
