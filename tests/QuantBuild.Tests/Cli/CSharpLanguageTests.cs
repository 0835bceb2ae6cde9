using QuantBuild.BuildContract;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Cli;

/// <summary>Which C# the generated files may use, from the project's LangVersion and MaxSupportedLangVersion.</summary>
[TestClass]
public sealed class CSharpLanguageTests
{
    [TestMethod]
    [DataRow("7.3", "7.3", "7.3", false)]     // netstandard2.0 / .NET Framework: the SDK fills in 7.3
    [DataRow("", "7.3", "7.3", false)]
    [DataRow("default", "7.3", "7.3", false)]
    [DataRow("8.0", "7.3", "8.0", true)]      // a netstandard2.0 project that opts into C# 8
    [DataRow("14.0", "14.0", "14.0", true)]   // net10.0
    [DataRow("latest", "7.3", CSharpLanguage.Latest, true)]
    [DataRow("preview", "", CSharpLanguage.Latest, true)]
    [DataRow("7", "", "7", false)]
    [DataRow("ISO-2", "", "ISO-2", false)]
    [DataRow("", "", CSharpLanguage.Latest, true)]  // not an SDK project: assume a current compiler
    public void TheProjectsLanguageVersionDecidesTheNullableDirective(string langVersion, string maxSupported, string effective, bool nullable)
    {
        Assert.AreEqual(effective, CSharpLanguage.Effective(langVersion, maxSupported));
        Assert.AreEqual(nullable, CSharpLanguage.AllowsNullableDirective(CSharpLanguage.Effective(langVersion, maxSupported)));
    }

    [TestMethod]
    public void TheBuildVerbWritesFilesWithoutTheDirectiveForCSharp73()
    {
        using var temp = new Infrastructure.TempFolder();
        var runtime = temp.File("QuantBuild.Runtime.g.cs");
        var manifest = temp.File("models.manifest");
        Quantization.QuantizeTestData.WriteMnistCalibration(temp.Path, 4);
        File.WriteAllText(temp.File("mnist.quant.json"), """{ "calibration": { "inputs": { "input": "calib/*.npy" } } }""");
        File.WriteAllText(manifest, ModelManifest.Format([new ManifestEntry(Quantization.QuantizeTestData.MnistModel, temp.File("mnist.quant.json"),
            temp.File("out"), "mnist", "Mnist", "Lib", "public", temp.File("mnist.deps"))], out var error));
        Assert.IsNull(error);
        var (exit, _, err) = CliHarness.Cli("build", "--manifest", manifest, "--runtime-out", runtime, "--csharp-version", "7.3");
        Assert.AreEqual(0, exit, err);
        Assert.IsFalse(File.ReadAllText(runtime).Contains("#nullable", StringComparison.Ordinal));
        Assert.IsFalse(File.ReadAllText(temp.File("out", "mnist.g.cs")).Contains("#nullable", StringComparison.Ordinal));
    }
}
