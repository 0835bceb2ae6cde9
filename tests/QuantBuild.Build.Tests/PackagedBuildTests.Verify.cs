namespace QuantBuild.Build.Tests;

/// <summary>The sidecar's verify (docs/verify.md) through a real `dotnet build` of a project on the packed package.</summary>
public sealed partial class PackagedBuildTests
{
    /// <summary>
    /// The packaged tool loads the ONNX Runtime it ships (tools/net10.0/runtimes/&lt;rid&gt;/native), verifies on held-out
    /// samples and prints the agreement at normal verbosity; the report has the figures and the app's output folder no
    /// ONNX Runtime. A threshold the model cannot meet fails the same build with QB4107 at the sidecar line and leaves
    /// no generated class.
    /// </summary>
    [TestMethod]
    public void PackagedToolVerifiesOnHeldOutSamplesAndAMissFailsTheBuild()
    {
        var directory = Path.Combine(s_root, nameof(PackagedToolVerifiesOnHeldOutSamplesAndAMissFailsTheBuild));
        WriteMnistModel(directory);
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "Models", "verify"));
        var rng = new Random(17);
        for (int k = 0; k < 6; k++)
        {
            var pixels = new float[784];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = rng.Next(4) == 0 ? (float)rng.NextDouble() : 0f;
            WriteFloatNpy(Path.Combine(directory, "Models", "verify", $"v{k}.npy"), pixels, "(1, 1, 28, 28)");
        }
        void Sidecar(double minSqnrDb) => File.WriteAllText(Path.Combine(directory, "Models", "mnist.quant.json"),
            "{\n  \"calibration\": { \"inputs\": { \"input\": \"calibration/*.npy\" } },\n" +
            $"  \"verify\": {{ \"inputs\": {{ \"input\": \"verify/*.npy\" }},\n    \"minSqnrDb\": {minSqnrDb} }}\n}}\n");
        Sidecar(10);
        WriteAppProject(directory, """    <QuantizedModel Include="Models/mnist.onnx" />""");
        File.WriteAllText(Path.Combine(directory, "Program.cs"), "System.Console.WriteLine(App.Mnist.WeightBytes);\n");

        var build = Run(directory, "dotnet", "build", "-nr:false", "--nologo");
        build.AssertSucceeded("build with verify");
        StringAssert.Contains(build.Output, "QuantBuild: Models/mnist.onnx: verify: qdq-onnx output 'logits' vs fp32 ONNX Runtime on 6 samples: top-1 ");
        StringAssert.Contains(build.Output, "QuantBuild: Models/mnist.onnx: verify: integer-plan output 'logits' vs fp32 ONNX Runtime on 6 samples: top-1 ");
        var output = Path.Combine(directory, "obj/quantbuild", QuantBuild.BuildContract.ModelNaming.StableFolderName("Models/mnist.onnx"));
        StringAssert.Contains(File.ReadAllText(Path.Combine(output, "mnist.report.json")), "\"artifact\": \"integer-plan\"");
        Assert.IsFalse(System.IO.Directory.EnumerateFiles(Path.Combine(directory, "bin"), "*onnxruntime*", SearchOption.AllDirectories).Any(),
            "ONNX Runtime stays in the tool, out of the app");

        Sidecar(200);
        var failed = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "--no-restore");
        Assert.AreNotEqual(0, failed.ExitCode, failed.Output);
        StringAssert.Contains(failed.Output, "Models/mnist.quant.json(4,18): error QB4107: verification on 6 held-out samples missed 2 thresholds");
        Assert.IsFalse(File.Exists(Path.Combine(output, "mnist.g.cs")), "a failed verification leaves no generated class");
    }
}
