using QuantBuild.Cli;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Lowering;
using ProductNpy = QuantBuild.Onnx.IO.NpyFile;

namespace QuantBuild.Tests.Cli;

/// <summary>
/// `quantbuild run MODEL --int`: option plumbing through <see cref="QuantizedModelLoader"/>. The QDQ
/// importer is not on this branch, so the test registers a loader that serves a fixture-quantized MNIST
/// for one file name and otherwise reports the missing importer.
/// </summary>
[TestClass]
public sealed class RunIntegerCommandTests
{
    private const string FixtureName = "mnist-fixture.quant.onnx";

    [TestMethod]
    public void RunIntWritesTheIntegerRunnersOutputs()
    {
        var data = IntegerRunnerTests.LoadMnist();
        var model = IntegerRunnerTests.QuantizeMnist(data, 8);
        QuantizedModelLoader.Register(path => Path.GetFileName(path) == FixtureName ? model
            : throw new QuantBuild.Diagnostics.QuantBuildException(QuantBuild.Diagnostics.DiagnosticCodes.UnsupportedOperator, "QDQ import not available", path));
        using var folder = new TempFolder();
        var image = Tensor.FromFloats(data.Image(data.HeldOutIndices[0]).ToArray(), 1, 1, 28, 28);
        var inputFile = folder.File("digit.npy");
        ProductNpy.Write(inputFile, image);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = QuantBuildCli.Run(["run", folder.File(FixtureName), "--int", "--input", $"input={inputFile}", "--out", folder.File("out")], stdout, stderr);
        Assert.AreEqual(0, code, stderr.ToString());
        var written = ProductNpy.Read(folder.File("out", "logits.npy"));
        var expected = new IntegerModelRunner(IntegerLowering.Lower(model)).Run(new Dictionary<string, Tensor> { ["input"] = image })["logits"];
        CollectionAssert.AreEqual(expected.Floats, written.Floats);

        int failed = QuantBuildCli.Run(["run", folder.File("other.quant.onnx"), "--int", "--input", $"input={inputFile}", "--out", folder.File("out2")], stdout, stderr);
        Assert.AreNotEqual(0, failed);
        StringAssert.Contains(stderr.ToString(), "error QB2001");
    }
}
