using QuantBuild.Cli;
using QuantBuild.Emit;
using QuantBuild.Lowering;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;
using ProductNpy = QuantBuild.Onnx.IO.NpyFile;

namespace QuantBuild.Tests.Cli;

/// <summary>
/// The user's command-line path end to end: `quantbuild quantize` MNIST from a sidecar, then
/// `quantbuild run MODEL.quant.onnx --int` on the 2,000 held-out digits. The integer runtime must stay
/// within 0.3 pt of fp32 and give exactly the in-process runner's outputs for the imported QDQ file.
/// </summary>
[TestClass]
public sealed class RunIntegerCommandTests
{
    private const double Fp32Accuracy = 0.9890;

    [TestMethod]
    public void QuantizeThenRunIntMatchesTheIntegerRunnerAndKeepsAccuracy()
    {
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 100, """{ "calibration": { "inputs": { "input": "calib/*.npy" } } }""");

        var quantize = CliHarness.Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(0, quantize.Exit, quantize.Err);
        foreach (var file in new[] { "mnist.quant.onnx", "mnist.g.cs", "mnist.report.json", "QuantBuild.Runtime.g.cs" })
            Assert.IsTrue(File.Exists(temp.File("out", file)), $"{file} was not written");
        StringAssert.Contains(File.ReadAllText(temp.File("out", "mnist.g.cs")), "internal sealed class Mnist");

        var (heldOut, labels) = QuantizeTestData.WriteHeldOut(temp.Path);
        var run = CliHarness.Cli("run", temp.File("out", "mnist.quant.onnx"), "--int", "--input", $"input={heldOut}", "--out", temp.File("res"));
        Assert.AreEqual(0, run.Exit, run.Err);
        var logits = ProductNpy.Read(temp.File("res", "logits.npy"));
        double accuracy = QuantizeTestData.Accuracy(logits, labels);
        Assert.IsTrue(accuracy >= Fp32Accuracy - 0.003, $"W8A8 integer accuracy {accuracy:P2} vs fp32 {Fp32Accuracy:P2}");

        // The plan is lowered for one digit; the CLI runs a stack sample by sample. Check the first 50.
        var imported = QdqOnnxImporter.Load(temp.File("out", "mnist.quant.onnx"));
        var runner = new IntegerModelRunner(IntegerLowering.Lower(imported));
        var images = ProductNpy.Read(heldOut).Floats;
        for (int b = 0; b < 50; b++)
        {
            var digit = Tensor.FromFloats(images.AsSpan(b * 784, 784).ToArray(), 1, 1, 28, 28);
            var expected = runner.Run(new Dictionary<string, Tensor> { ["input"] = digit })["logits"].Floats;
            CollectionAssert.AreEqual(expected, logits.Floats.AsSpan(b * 10, 10).ToArray(), $"digit {b}: run --int must execute exactly the integer runner's kernels");
        }
    }

    /// <summary>
    /// The PaddleOCR classifier's width is symbolic ([N,3,48,W]): `run --int` lowers for the sizes of the
    /// inputs it is given. Its QDQ file must not quantize what the integer plan computes inside one fused
    /// step (a Conv output going straight into its Relu), or ONNX Runtime would run a coarser model than
    /// the app does.
    /// </summary>
    [TestMethod]
    public void RunIntOnASymbolicWidthModelAndNoQdqPairInsideAFusedStep()
    {
        var real = TestAssets.RealModel("ppocr-cls");
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("calib"));
        int k = 0;
        string inputName = "";
        foreach (var c in real.Cases)
            foreach (var (name, tensor) in c.LoadInputs())
            {
                inputName = name;
                ProductNpy.Write(temp.File("calib", $"c{k++}.npy"), tensor);
            }
        File.Copy(real.ModelPath, temp.File("ppocr.onnx"));
        File.WriteAllText(temp.File("ppocr.quant.json"), $$"""{ "calibration": { "inputs": { "{{inputName}}": "calib/*.npy" } } }""");

        var quantize = CliHarness.Cli("quantize", temp.File("ppocr.onnx"), "--out", temp.File("out"));
        Assert.AreEqual(0, quantize.Exit, quantize.Err);
        var run = CliHarness.Cli("run", temp.File("out", "ppocr.quant.onnx"), "--int", "--input", $"{inputName}={temp.File("calib", "c0.npy")}", "--out", temp.File("res"));
        Assert.AreEqual(0, run.Exit, run.Err);

        var qdq = global::QuantBuild.Graph.OnnxImporter.Load(temp.File("out", "ppocr.quant.onnx"));
        var producers = qdq.Producers();
        var relus = qdq.Nodes.Where(n => n.OpType == "Relu").ToList();
        Assert.IsTrue(relus.Count > 0);
        foreach (var relu in relus)
            Assert.AreEqual("Conv", producers[relu.Inputs[0]].OpType, $"Relu '{relu.Name}' should read its Conv directly, without a Q/DQ pair in between");
    }

    [TestMethod]
    public void RunIntOnAPlainFloatModelIsAClearError()
    {
        using var temp = new TempFolder();
        var image = Tensor.Zeros(1, 1, 28, 28);
        ProductNpy.Write(temp.File("x.npy"), image);
        var r = CliHarness.Cli("run", QuantizeTestData.MnistModel, "--int", "--input", $"input={temp.File("x.npy")}", "--out", temp.File("o"));
        Assert.AreNotEqual(0, r.Exit);
        StringAssert.Contains(r.Err, "error QB");
        Assert.IsFalse(r.Err.Contains("   at ", StringComparison.Ordinal), r.Err);
    }
}
