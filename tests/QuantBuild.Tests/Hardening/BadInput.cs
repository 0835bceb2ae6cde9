using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Hardening;

/// <summary>What every bad-input test checks, and the small models they feed the CLI.</summary>
internal static class BadInput
{
    /// <summary>
    /// The failure contract: a non-zero exit, exactly the expected QB code in canonical form on stderr,
    /// no internal error (QB3999) and no stack trace or exception name.
    /// </summary>
    public static string AssertFails((int Exit, string Out, string Err) r, string code)
    {
        Assert.AreNotEqual(0, r.Exit, $"must fail; stdout: {r.Out} stderr: {r.Err}");
        StringAssert.Contains(r.Err, $"error {code}: ", $"stderr: {r.Err}");
        Assert.IsFalse(r.Err.Contains(DiagnosticCodes.InternalError, StringComparison.Ordinal), $"internal error: {r.Err}");
        Assert.IsFalse(r.Err.Contains("   at ", StringComparison.Ordinal), $"stack trace leaked: {r.Err}");
        Assert.IsFalse(r.Err.Contains("Exception", StringComparison.Ordinal), $"exception text leaked: {r.Err}");
        return r.Err;
    }

    /// <summary>Saves a graph built in code (e.g. by <see cref="OpTester.SingleNodeGraph"/>) as an .onnx file.</summary>
    public static string Save(TempFolder folder, ModelGraph graph, string name = "model.onnx")
    {
        var path = folder.File(name);
        OnnxModelFile.Save(OnnxExporter.Export(graph), path);
        return path;
    }

    /// <summary>The real MNIST model with <paramref name="edit"/> applied to its protobuf, saved in <paramref name="folder"/>.</summary>
    public static string MutatedMnist(TempFolder folder, Action<ModelProto> edit, string name = "mnist.onnx")
    {
        var model = OnnxModelFile.Load(Quantization.QuantizeTestData.MnistModel);
        edit(model);
        var path = folder.File(name);
        OnnxModelFile.Save(model, path);
        return path;
    }

    /// <summary>One MNIST digit-shaped input of zeros.</summary>
    public static string MnistInput(TempFolder folder)
    {
        var path = folder.File("digit.npy");
        NpyFile.Write(path, Tensor.Create(DataType.Float, [1, 1, 28, 28]));
        return path;
    }
}
