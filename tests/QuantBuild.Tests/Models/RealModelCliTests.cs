using QuantBuild.Cli;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Oracle;
using QuantBuild.Tests.Infrastructure;
using ProductNpy = QuantBuild.Onnx.IO.NpyFile;

namespace QuantBuild.Tests.Models;

/// <summary>
/// `quantbuild run` on every real model with its real inputs, exactly as a user calls it: the .npy
/// files it writes must match ONNX Runtime to max|diff|/max|ORT| ≤ 1e-4 per output.
/// </summary>
[TestClass]
public sealed class RealModelCliTests
{
    [TestMethod]
    [DynamicData(nameof(TestAssets.RealModelIds), typeof(TestAssets))]
    public void QuantbuildRunMatchesOnnxRuntime(string modelId)
    {
        var oracle = TestAssets.RequireOracle();
        var model = TestAssets.RealModel(modelId);
        var graph = OnnxImporter.Load(model.ModelPath);
        var outputs = graph.Outputs.Select(o => o.Name).ToList();
        var sigmoidOutputs = graph.Nodes.Where(n => n.OpType == "Sigmoid").Select(n => n.Outputs[0]).ToHashSet();
        GraphPreparation.Prepare(graph, inferShapes: false);
        var engine = new InferenceEngine(graph);
        using var folder = new TempFolder();
        var failures = new List<string>();
        foreach (var input in model.Cases)
        {
            var outDir = Path.Combine(folder.Path, input.Name);
            var args = new List<string> { "run", model.ModelPath, "--out", outDir };
            foreach (var (name, file) in input.InputFiles) { args.Add("--input"); args.Add($"{name}={file}"); }
            var stdout = new StringWriter();
            var stderr = new StringWriter();
            Assert.AreEqual(0, QuantBuildCli.Run(args.ToArray(), stdout, stderr), stderr.ToString());

            var reference = oracle.Run(model.ModelPath, input.InputFiles, outputs);
            var direct = engine.Run(input.LoadInputs());
            foreach (var name in outputs)
            {
                var written = ProductNpy.Read(Path.Combine(outDir, OrtOracle.SafeFileName(name) + ".npy"));
                var agreement = Agreement.Compare(written, reference[name]);
                if (agreement.Relative <= 1e-4) continue;
                // ORT's sigmoid approximation (see OrtAgreementTests): there the CLI must give exactly
                // the engine's output, which is checked against ORT's logits and a float64 sigmoid.
                if (sigmoidOutputs.Contains(name) && written.Floats.SequenceEqual(direct[name].Floats)) continue;
                failures.Add($"{input.Name}/{name}: ratio {agreement.Relative:G3}");
            }
        }
        Assert.IsEmpty(failures, string.Join("\n", failures));
    }
}
