using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Oracle;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Oracle;

/// <summary>
/// Our float engine against ONNX Runtime on the real models of shared MODELS.md, fed the real inputs
/// made by tests/oracle/make-inputs.py: every output must agree to max|ours - ORT| / max|ORT| &lt;= 1e-4.
/// </summary>
[TestClass]
public sealed class OrtAgreementTests
{
    private const double Tolerance = 1e-4;

    [TestMethod]
    [DataRow("ppocr-cls")]
    [DataRow("oww-melspectrogram")]
    [DataRow("oww-embedding")]
    [DataRow("oww-alexa")]
    [DataRow("blazeface-front-128")]
    public void RealModelMatchesOnnxRuntime(string modelId)
    {
        var oracle = TestAssets.RequireOracle();
        var model = TestAssets.RealModel(modelId);
        Assert.IsNotEmpty(model.Cases, $"{modelId} has no input cases");
        var engine = new InferenceEngine(OnnxImporter.Load(model.ModelPath));
        var outputNames = engine.Graph.Outputs.Select(o => o.Name).ToList();

        var failures = new List<string>();
        foreach (var input in model.Cases)
        {
            var ours = engine.Run(input.LoadInputs());
            var reference = oracle.Run(model.ModelPath, input.InputFiles, outputNames);
            foreach (var name in outputNames)
            {
                var agreement = Agreement.Compare(ours[name], reference[name]);
                if (!(agreement.Relative <= Tolerance))
                    failures.Add($"{input.Name}/{name}: max|diff| {agreement.MaxAbsDiff:G4}, max|ORT| {agreement.MaxAbsRef:G4}, ratio {agreement.Relative:G3}");
            }
        }
        Assert.IsEmpty(failures, $"{modelId} disagrees with ONNX Runtime beyond {Tolerance}:\n" + string.Join("\n", failures));
    }
}
