using System.Diagnostics;
using System.Text;

namespace QuantBuild.Build.Tests;

/// <summary>
/// End-to-end: a consumer project references the PACKED QuantBuild package (props, targets, task
/// assembly exactly as shipped) and is built with real out-of-process 'dotnet build'. The tool is a
/// fake (Assets/FakeQuantBuild) selected through QuantBuildToolPath, so these tests check the MSBuild
/// plumbing, not quantization. The package is packed and the fake built once per run; every test
/// gets its own consumer folder but all share one NuGet packages folder, so only the first restore
/// extracts the package.
/// </summary>
[TestClass]
[TestCategory("Integration")]
public sealed partial class PackagedBuildTests
{
    private static string s_root = "";
    private static string s_fakeTool = "";
    private static string s_version = "";
    private static string s_package = "";
    private static string s_packOutput = "";

    [ClassInitialize]
    public static void PackAndBuildFakeTool(TestContext _)
    {
        var repo = FindRepositoryRoot();
        s_root = Path.Combine(Path.GetTempPath(), "qb-build-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(s_root);
        var feed = Path.Combine(s_root, "feed");

        // Release: the configuration CI builds, so packing finds the CLI already compiled.
        var pack = Run(repo, "dotnet", "pack", Path.Combine(repo, "src/QuantBuild.Package/QuantBuild.Package.csproj"), "-c", "Release", "-o", feed, "--nologo");
        pack.AssertSucceeded("pack");
        s_packOutput = pack.Output;
        s_package = Directory.GetFiles(feed, "QuantBuild.*.nupkg").Single();
        s_version = Path.GetFileNameWithoutExtension(s_package)["QuantBuild.".Length..];
        // What the samples and scripts read instead of a pinned version.
        Assert.AreEqual(s_version, File.ReadAllText(Path.Combine(feed, "QuantBuild.version")).Trim());

        var fakeArtifacts = Path.Combine(s_root, "fake-tool");
        Run(repo, "dotnet", "build", Path.Combine(repo, "tests/QuantBuild.Build.Tests/Assets/FakeQuantBuild/FakeQuantBuild.csproj"),
            "--artifacts-path", fakeArtifacts, "--nologo").AssertSucceeded("fake tool build");
        s_fakeTool = Directory.GetFiles(fakeArtifacts, "fakequantbuild.dll", SearchOption.AllDirectories).Single(p => p.Contains("bin", StringComparison.Ordinal));

        // Keep the repository's Directory.Build.* and any machine NuGet sources out of the consumers, and the
        // user's result cache: each test folder gets a cache of its own beside it (a test that quantizes expects
        // the quantizer to run, whatever ran before on this machine).
        File.WriteAllText(Path.Combine(s_root, "Directory.Build.props"), """
            <Project>
              <PropertyGroup>
                <QuantBuildCacheDir Condition="'$(QuantBuildCacheDir)' == ''">$(MSBuildThisFileDirectory)caches/$([System.IO.Path]::GetFileName($(MSBuildProjectDirectory)))/</QuantBuildCacheDir>
              </PropertyGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(s_root, "Directory.Build.targets"), "<Project />\n");
        File.WriteAllText(Path.Combine(s_root, "NuGet.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{feed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local"><package pattern="QuantBuild" /></packageSource>
                <packageSource key="nuget.org"><package pattern="*" /></packageSource>
              </packageSourceMapping>
            </configuration>
            """);
    }

    [ClassCleanup]
    public static void DeleteTempRoot()
    {
        try
        {
            if (s_root.Length != 0)
                Directory.Delete(s_root, recursive: true);
        }
        catch (IOException)
        {
            // A straggling build server may still hold a file; the OS temp cleaner gets it later.
        }
    }

    /// <summary>
    /// The shipped tool, not the fake: the package's own tools/ quantbuild quantizes the real MNIST
    /// model at build time, the app calls the generated integer class, and a second build skips it.
    /// </summary>
    [TestMethod]
    public void PackagedToolQuantizesARealModelAndTheAppRunsTheGeneratedClass()
    {
        var directory = Path.Combine(s_root, nameof(PackagedToolQuantizesARealModelAndTheAppRunsTheGeneratedClass));
        WriteMnistModel(directory);
        WriteAppProject(directory, """    <QuantizedModel Include="Models/mnist.onnx" />""");
        File.WriteAllText(Path.Combine(directory, "Program.cs"), """
            var model = new App.Mnist();
            var logits = new float[10];
            model.Run(new float[784], logits);
            System.Console.WriteLine($"weights={App.Mnist.WeightBytes} fp32={App.Mnist.FloatWeightBytes} finite={System.Array.TrueForAll(logits, float.IsFinite)}");
            """);

        var first = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n");
        first.AssertSucceeded("first build with the packaged tool");
        StringAssert.Contains(first.Output, "QuantBuild: quantizing Models/mnist.onnx");
        // One line with the HTML report's address (docs/html-report.md), and the page beside the report.
        var pageLine = first.Output.Split('\n').Single(l => l.Contains("QuantBuild: report file://", StringComparison.Ordinal));
        var page = new Uri(pageLine[(pageLine.IndexOf("file://", StringComparison.Ordinal))..].Trim()).LocalPath;
        StringAssert.EndsWith(page, "mnist.report.html");
        Assert.IsTrue(File.Exists(page) && File.Exists(Path.ChangeExtension(page, ".json")), page);
        var app = Run(directory, "dotnet", Path.Combine(directory, "bin/Debug/net10.0/App.dll"));
        app.AssertSucceeded("running the app");
        StringAssert.Contains(app.Output, "weights=105744 fp32=422976 finite=True");
        Assert.IsTrue(File.Exists(Path.Combine(directory, "bin/Debug/net10.0/Models/mnist.quant.onnx")), "the QDQ model is copied to the output folder");

        var second = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "--no-restore");
        second.AssertSucceeded("no-op build");
        StringAssert.Contains(second.Output, "up to date; skipped.");

        // The probe's case with the real tool: a metadata change regenerates the class (the tool's own
        // up-to-date check once kept it internal), and the build after that does nothing.
        var code = Path.Combine(directory, "obj/quantbuild", QuantBuild.BuildContract.ModelNaming.StableFolderName("Models/mnist.onnx"), "mnist.g.cs");
        StringAssert.Contains(File.ReadAllText(code), "internal sealed class Mnist");
        WriteAppProject(directory, """    <QuantizedModel Include="Models/mnist.onnx" Access="public" />""");
        var changed = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "--no-restore");
        changed.AssertSucceeded("build after Access=\"public\"");
        StringAssert.Contains(changed.Output, "QuantBuild: quantizing Models/mnist.onnx");
        StringAssert.Contains(File.ReadAllText(code), "public sealed class Mnist");
        var third = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "--no-restore");
        third.AssertSucceeded("no-op build after the change");
        Assert.IsFalse(third.Output.Contains("QuantBuild: quantizing", StringComparison.Ordinal), third.Output);
        StringAssert.Contains(third.Output, "up to date; skipped.");
    }

    /// <summary>
    /// QuantBuildRuntime (docs/msbuild.md): a net10.0 app references the package's precompiled, optimized
    /// QuantBuild.Runtime.dll by default — so a Debug build runs optimized kernels and an edit does not
    /// recompile the runtime — and with QuantBuildRuntime=Source compiles the runtime in as internal types.
    /// Switching uses the same generated class (no second quantization) and gives the same output bits.
    /// </summary>
    [TestMethod]
    public void ANet10AppUsesThePrecompiledRuntimeAndTheSourceRuntimeGivesTheSameBits()
    {
        var directory = Path.Combine(s_root, nameof(ANet10AppUsesThePrecompiledRuntimeAndTheSourceRuntimeGivesTheSameBits));
        WriteMnistModel(directory);
        WriteAppProject(directory, """    <QuantizedModel Include="Models/mnist.onnx" />""");
        File.WriteAllText(Path.Combine(directory, "Program.cs"), """
            var model = new App.Mnist();
            var input = new float[App.Mnist.InputLength];
            for (int i = 0; i < input.Length; i++) input[i] = (i % 29) / 28f;
            var logits = new float[App.Mnist.LogitsLength];
            model.Run(input, logits);
            bool runtimeInApp = System.Array.Exists(typeof(App.Mnist).Assembly.GetTypes(), t => t.Name == "Conv2DInt8");
            System.Console.WriteLine($"runtimeInApp={runtimeInApp} bits={string.Join(",", System.Array.ConvertAll(logits, System.BitConverter.SingleToInt32Bits))}");
            """);

        var assembly = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "-o", "out-assembly");
        assembly.AssertSucceeded("Debug build, default runtime");
        Assert.IsTrue(File.Exists(Path.Combine(directory, "out-assembly", "QuantBuild.Runtime.dll")), "the precompiled runtime is copied to the output");
        var withAssembly = Run(directory, "dotnet", Path.Combine(directory, "out-assembly", "App.dll"));
        withAssembly.AssertSucceeded("running the app with the precompiled runtime");
        StringAssert.Contains(withAssembly.Output, "runtimeInApp=False");

        var source = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "--no-restore", "-p:QuantBuildRuntime=Source", "-o", "out-source");
        source.AssertSucceeded("Debug build, QuantBuildRuntime=Source");
        Assert.IsFalse(source.Output.Contains("QuantBuild: quantizing", StringComparison.Ordinal), "switching the runtime must not quantize again:\n" + source.Output);
        Assert.IsFalse(File.Exists(Path.Combine(directory, "out-source", "QuantBuild.Runtime.dll")), "the source runtime needs no assembly");
        var withSource = Run(directory, "dotnet", Path.Combine(directory, "out-source", "App.dll"));
        withSource.AssertSucceeded("running the app with the runtime as source");
        StringAssert.Contains(withSource.Output, "runtimeInApp=True");
        Assert.AreEqual(withAssembly.Output.Split("bits=")[1].Trim(), withSource.Output.Split("bits=")[1].Trim(), "both runtimes compute the same bits");
    }

    /// <summary>
    /// The most common library shape, netstandard2.0 + net10.0 without a LangVersion of its own: the
    /// netstandard2.0 build compiles C# 7.3, where an active #nullable directive is error CS8370. The model
    /// is quantized ONCE for the project (the outer build runs the tool before the inner builds start; both
    /// inner builds compile the same files from obj/quantbuild/), and the runtime's directive is active
    /// only where the targets define QUANTBUILD_NULLABLE_DIRECTIVE (C# 8 and later).
    /// </summary>
    [TestMethod]
    public void AMultiTargetedNetStandardLibraryBuildsWithTheRealTool()
    {
        var directory = Path.Combine(s_root, nameof(AMultiTargetedNetStandardLibraryBuildsWithTheRealTool));
        WriteMnistModel(directory);
        WriteLibrary(directory, "<TargetFrameworks>netstandard2.0;net10.0</TargetFrameworks>");

        var build = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n");
        build.AssertSucceeded("netstandard2.0;net10.0 library build");
        Assert.AreEqual(1, Occurrences(build.Output, "QuantBuild: quantizing Models/mnist.onnx"), "quantized once for both frameworks:\n" + build.Output);
        Assert.AreEqual(1, Occurrences(build.Output, "mnist: peak memory"), "one quantization in the tool's log:\n" + build.Output);
        // The first framework's inner build is the instance that quantized (MSBuild runs a target once per
        // instance); the other one found the model up to date.
        Assert.AreEqual(1, Occurrences(build.Output, "quantized model(s) are up to date; skipped."), "the second inner build found the model up to date:\n" + build.Output);
        foreach (var framework in new[] { "netstandard2.0", "net10.0" })
        {
            Assert.IsTrue(File.Exists(Path.Combine(directory, "bin/Debug", framework, "Lib.dll")), framework);
            Assert.IsFalse(System.IO.Directory.Exists(Path.Combine(directory, "obj/Debug", framework, "quantbuild")), framework + ": no per-framework output folder");
        }
        var folder = Path.Combine(directory, "obj/quantbuild");
        var code = File.ReadAllText(Path.Combine(folder, QuantBuild.BuildContract.ModelNaming.StableFolderName("Models/mnist.onnx"), "mnist.g.cs"));
        Assert.IsFalse(code.Contains("#nullable", StringComparison.Ordinal), "the model class compiles under C# 7.3");
        StringAssert.Contains(File.ReadAllText(Path.Combine(folder, "QuantBuild.Runtime.g.cs")), "#if QUANTBUILD_NULLABLE_DIRECTIVE\n#nullable enable\n#endif\n");

        var again = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "--no-restore");
        again.AssertSucceeded("no-op library build");
        Assert.IsFalse(again.Output.Contains("QuantBuild: quantizing", StringComparison.Ordinal), again.Output);
    }

    /// <summary>
    /// A netstandard2.0 library that sets <c>LangVersion</c> 7.3 itself (as Unity compiles): the generated files,
    /// the same whatever the language version, compile with the directive inactive. (net10.0 with C# 7.3 is not
    /// supported: the runtime's .NET paths use C# 9 native integers.)
    /// </summary>
    [TestMethod]
    public void ANetStandardLibraryPinnedToCSharp73BuildsWithTheRealTool()
    {
        var directory = Path.Combine(s_root, nameof(ANetStandardLibraryPinnedToCSharp73BuildsWithTheRealTool));
        WriteMnistModel(directory);
        WriteLibrary(directory, "<TargetFramework>netstandard2.0</TargetFramework><LangVersion>7.3</LangVersion>");

        var build = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n");
        build.AssertSucceeded("LangVersion 7.3 library build");
        Assert.AreEqual(1, Occurrences(build.Output, "QuantBuild: quantizing Models/mnist.onnx"), build.Output);
        Assert.IsTrue(File.Exists(Path.Combine(directory, "bin/Debug/netstandard2.0/Lib.dll")));
    }

    private static int Occurrences(string text, string value)
    {
        int count = 0;
        for (int i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + value.Length, StringComparison.Ordinal))
            count++;
        return count;
    }

    /// <summary>Lib.csproj (the given framework properties, warnings as errors) with the MNIST model and a class calling it.</summary>
    private static void WriteLibrary(string directory, string frameworkProperties)
    {
        File.WriteAllText(Path.Combine(directory, "Lib.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                {frameworkProperties}
                <RootNamespace>Lib</RootNamespace>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="QuantBuild" Version="[{s_version}]" />
                <QuantizedModel Include="Models/mnist.onnx" Access="public" />
              </ItemGroup>
              <ItemGroup Condition="'$(TargetFramework)' == 'netstandard2.0'">
                <PackageReference Include="System.Memory" Version="4.5.5" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(directory, "Digits.cs"), """
            namespace Lib
            {
                public static class Digits
                {
                    public static int Classify(float[] image)
                    {
                        var logits = new float[10];
                        new Mnist().Run(image, logits);
                        int best = 0;
                        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
                        return best;
                    }
                }
            }
            """);
    }

    /// <summary>
    /// The runtime holds only what the project's models use, and always the union over ALL of them: a linear
    /// MNIST model and a codebook (WEQ) one. Regenerating only the linear model keeps the codebook kernels
    /// (read from the up-to-date model's generated class); removing the codebook model re-emits the runtime
    /// without them and without quantizing anything; the app runs both ways.
    /// </summary>
    [TestMethod]
    public void TheRuntimeHoldsWhatAllModelsOfTheProjectUseAndFollowsTheSetOfModels()
    {
        var directory = Path.Combine(s_root, nameof(TheRuntimeHoldsWhatAllModelsOfTheProjectUseAndFollowsTheSetOfModels));
        WriteMnistModel(directory);
        var weq = Path.Combine(directory, "Models", "weq");
        System.IO.Directory.CreateDirectory(weq);
        File.Copy(Path.Combine(directory, "Models", "mnist.onnx"), Path.Combine(weq, "mnist.onnx"));
        File.WriteAllText(Path.Combine(weq, "mnist.quant.json"),
            "{\n  \"calibration\": { \"inputs\": { \"input\": \"../calibration/*.npy\" } },\n  \"weights\": { \"method\": \"weq\", \"bits\": 3 }\n}\n");
        const string linearItem = """    <QuantizedModel Include="Models/mnist.onnx" />""";
        const string weqItem = """    <QuantizedModel Include="Models/weq/mnist.onnx" ClassName="MnistWeq" />""";
        WriteAppProject(directory, linearItem + "\n" + weqItem);
        const string callBoth = """
            var logits = new float[10];
            new App.Mnist().Run(new float[784], logits);
            System.Console.WriteLine($"linear finite={System.Array.TrueForAll(logits, float.IsFinite)}");
            new App.MnistWeq().Run(new float[784], logits);
            System.Console.WriteLine($"weq finite={System.Array.TrueForAll(logits, float.IsFinite)}");
            """;
        File.WriteAllText(Path.Combine(directory, "Program.cs"), callBoth);
        var runtime = Path.Combine(directory, "obj/quantbuild/QuantBuild.Runtime.g.cs");

        Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n").AssertSucceeded("first build, two models");
        var both = File.ReadAllText(runtime);
        foreach (var file in new[] { "Kernels/Conv2DInt8.cs", "Kernels/FullyConnectedInt8.cs", "Kernels/Conv2DCodebook.cs", "Kernels/FullyConnectedCodebook.cs" })
            StringAssert.Contains(both, "// ---- " + file + "\n", "both models' kernels");
        foreach (var file in new[] { "Kernels/Conv2DMultipoint.cs", "Kernels/LogLevelConv.cs", "FloatKernels/ConvFloat.cs" })
            Assert.IsFalse(both.Contains("// ---- " + file + "\n", StringComparison.Ordinal), file + " is used by neither model");
        var app = Run(directory, "dotnet", Path.Combine(directory, "bin/Debug/net10.0/App.dll"));
        app.AssertSucceeded("running both models");
        StringAssert.Contains(app.Output, "linear finite=True");
        StringAssert.Contains(app.Output, "weq finite=True");

        // Only the linear model is stale; the codebook model's kernels stay because its class still uses them.
        // (The sidecar is touched, not changed: the linear model's outputs come back from the result cache.)
        File.SetLastWriteTimeUtc(Path.Combine(directory, "Models", "mnist.quant.json"), DateTime.UtcNow);
        var one = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "--no-restore");
        one.AssertSucceeded("build regenerating the linear model only");
        StringAssert.Contains(one.Output, "QuantBuild: restoring Models/mnist.onnx from the result cache");
        Assert.IsFalse(System.Text.RegularExpressions.Regex.IsMatch(one.Output, @"QuantBuild: (quantizing|restoring) Models/weq/mnist\.onnx"), one.Output);
        Assert.AreEqual(both, File.ReadAllText(runtime), "the runtime still serves the up-to-date codebook model");

        // The codebook model leaves the project: nothing is quantized, the runtime loses its kernels.
        WriteAppProject(directory, linearItem);
        File.WriteAllText(Path.Combine(directory, "Program.cs"), callBoth[..callBoth.IndexOf("new App.MnistWeq", StringComparison.Ordinal)]);
        var removed = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "--no-restore");
        removed.AssertSucceeded("build after removing the codebook model");
        Assert.IsFalse(removed.Output.Contains("QuantBuild: quantizing", StringComparison.Ordinal), removed.Output);
        StringAssert.Contains(removed.Output, "rewriting the runtime only");
        var linearOnly = File.ReadAllText(runtime);
        StringAssert.Contains(linearOnly, "// ---- Kernels/Conv2DInt8.cs\n");
        Assert.IsFalse(linearOnly.Contains("// ---- Kernels/Conv2DCodebook.cs\n", StringComparison.Ordinal), "the removed model's kernels left the runtime");
        Run(directory, "dotnet", Path.Combine(directory, "bin/Debug/net10.0/App.dll")).AssertSucceeded("running the linear model alone");
        var noOp = Run(directory, "dotnet", "build", "-nr:false", "--nologo", "-v:n", "--no-restore");
        noOp.AssertSucceeded("no-op build");
        Assert.IsFalse(noOp.Output.Contains("rewriting the runtime", StringComparison.Ordinal) || noOp.Output.Contains("QuantBuild: quantizing", StringComparison.Ordinal), noOp.Output);
    }

    /// <summary>The real MNIST model with a sidecar and 8 random calibration digits under <paramref name="directory"/>/Models.</summary>
    private static void WriteMnistModel(string directory)
    {
        System.IO.Directory.CreateDirectory(Path.Combine(directory, "Models", "calibration"));
        File.Copy(Path.Combine(FindRepositoryRoot(), "samples", "MnistDigits", "Models", "mnist.onnx"), Path.Combine(directory, "Models", "mnist.onnx"));
        File.WriteAllText(Path.Combine(directory, "Models", "mnist.quant.json"),
            "{\n  \"calibration\": { \"inputs\": { \"input\": \"calibration/*.npy\" } }\n}\n");
        var rng = new Random(5);
        for (int k = 0; k < 8; k++)
        {
            var pixels = new float[784];
            for (int i = 0; i < pixels.Length; i++) pixels[i] = rng.Next(4) == 0 ? (float)rng.NextDouble() : 0f;
            WriteFloatNpy(Path.Combine(directory, "Models", "calibration", $"d{k}.npy"), pixels, "(1, 1, 28, 28)");
        }
    }

    /// <summary>
    /// App.csproj of a console app that consumes the packed package; <paramref name="items"/> are the
    /// extra item lines (QuantizedModel and Compile items) in its ItemGroup.
    /// </summary>
    private static void WriteAppProject(string directory, string items) =>
        File.WriteAllText(Path.Combine(directory, "App.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <RootNamespace>App</RootNamespace>
                <Nullable>enable</Nullable>
                <ImplicitUsings>enable</ImplicitUsings>
                <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="QuantBuild" Version="[{s_version}]" />
            {items}
              </ItemGroup>
            </Project>
            """);

    /// <summary>A float32 C-order .npy (format 1.0), written by hand: this project references no QuantBuild assembly.</summary>
    private static void WriteFloatNpy(string path, float[] values, string shape)
    {
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}";
        int total = 10 + header.Length + 1;
        header = header.PadRight(header.Length + (64 - total % 64) % 64) + "\n";
        using var stream = File.Create(path);
        stream.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0]);
        stream.Write(BitConverter.GetBytes((ushort)header.Length));
        stream.Write(Encoding.ASCII.GetBytes(header));
        foreach (var v in values) stream.Write(BitConverter.GetBytes(v));
    }

    [TestMethod]
    public void FirstBuildCompilesGeneratedClassesAndSecondBuildRunsNoTool()
    {
        var consumer = Consumer.Create(nameof(FirstBuildCompilesGeneratedClassesAndSecondBuildRunsNoTool));

        var first = consumer.Build();
        first.AssertSucceeded("first build");
        StringAssert.Contains(first.Output, "QuantBuild: quantizing Models/kws.onnx");
        StringAssert.Contains(first.Output, "QuantBuild: quantizing Models/vision/kws.onnx");
        Assert.AreEqual(1, consumer.ToolRuns, "one tool process for all stale models");

        // The app calls both generated classes, which call the generated runtime.
        var app = Run(consumer.Directory, "dotnet", Path.Combine(consumer.Directory, "bin/Debug/net10.0/Consumer.dll"));
        app.AssertSucceeded("running the consumer");
        StringAssert.Contains(app.Output, "Consumer.Kws=kws:fake-1");
        StringAssert.Contains(app.Output, "Consumer.Vision.Kws=kws:fake-1");
        // Same file name in two folders: both quantized models reach the output folder.
        Assert.IsTrue(File.Exists(Path.Combine(consumer.Directory, "bin/Debug/net10.0/Models/kws.quant.onnx")));
        Assert.IsTrue(File.Exists(Path.Combine(consumer.Directory, "bin/Debug/net10.0/Models/vision/kws.quant.onnx")));

        consumer.AssertNoOpBuild("second build");
        Assert.AreEqual(1, consumer.ToolRuns, "the tool did not run again");
    }

    [TestMethod]
    public void TouchingOneSidecarRegeneratesOnlyThatModel()
    {
        var consumer = Consumer.Create(nameof(TouchingOneSidecarRegeneratesOnlyThatModel));
        consumer.Build().AssertSucceeded("first build");

        // Now, not later: a timestamp in the future would keep the model stale until that time comes.
        File.SetLastWriteTimeUtc(Path.Combine(consumer.Directory, "Models/vision/kws.quant.json"), DateTime.UtcNow);
        var rebuild = consumer.Build();

        rebuild.AssertSucceeded("rebuild");
        StringAssert.Contains(rebuild.Output, "QuantBuild: quantizing Models/vision/kws.onnx");
        Assert.IsFalse(rebuild.Output.Contains("QuantBuild: quantizing Models/kws.onnx", StringComparison.Ordinal), rebuild.Output);
        Assert.AreEqual(2, consumer.ToolRuns);
        Assert.AreEqual(1, consumer.LastRunModels.Count);
        // The shared runtime file, unchanged in content, once stayed older than the touched sidecar and
        // kept the model stale (and the log saying "quantizing") on every later build.
        consumer.AssertNoOpBuild("build after the regeneration");
    }

    [TestMethod]
    public void CalibrationFileFromTheDependencyFileIsAnInput()
    {
        var consumer = Consumer.Create(nameof(CalibrationFileFromTheDependencyFileIsAnInput));
        consumer.Build().AssertSucceeded("first build");

        // Listed by the tool in kws.deps on the first run; not known to MSBuild any other way.
        File.SetLastWriteTimeUtc(Path.Combine(consumer.Directory, "Models/calib.npy"), DateTime.UtcNow.AddSeconds(5));
        var rebuild = consumer.Build();

        rebuild.AssertSucceeded("rebuild");
        StringAssert.Contains(rebuild.Output, "QuantBuild: quantizing Models/kws.onnx");
        Assert.AreEqual(1, consumer.LastRunModels.Count);
    }

    /// <summary>
    /// Each item metadata value and the tool version reach the generated code (the tool once kept its own
    /// up-to-date check and left the class as it was), and the build after each change is a no-op.
    /// Keywords as names (ClassName="event", a "namespace" namespace part) compile: the code writes them with '@'.
    /// </summary>
    [TestMethod]
    public void EveryMetadataValueAndTheToolVersionReachTheGeneratedCodeAndTheNextBuildIsANoOp()
    {
        var consumer = Consumer.Create(nameof(EveryMetadataValueAndTheToolVersionReachTheGeneratedCodeAndTheNextBuildIsANoOp), ownTool: true);
        consumer.Build().AssertSucceeded("first build");
        var kws = consumer.GeneratedCode("Models/kws.onnx");
        var vision = consumer.GeneratedCode("Models/vision/kws.onnx");
        StringAssert.Contains(kws, "internal static partial class Kws");
        StringAssert.Contains(vision, "namespace Consumer.Vision");

        // ClassName and Access on one model, Namespace and Settings on the other.
        File.WriteAllText(Path.Combine(consumer.Directory, "Models/vision/other.json"), "{\n  \"weights\": { \"bits\": 4 }\n}\n");
        consumer.EditProject("<QuantizedModel Include=\"Models/kws.onnx\" />",
            "<QuantizedModel Include=\"Models/kws.onnx\" ClassName=\"event\" Access=\"public\" />");
        consumer.EditProject("<QuantizedModel Include=\"Models/vision/kws.onnx\" Namespace=\"Consumer.Vision\" />",
            "<QuantizedModel Include=\"Models/vision/kws.onnx\" Namespace=\"Consumer.namespace\" Settings=\"Models/vision/other.json\" />");
        File.WriteAllText(Path.Combine(consumer.Directory, "Program.cs"),
            "System.Console.WriteLine(\"event=\" + Consumer.@event.Describe());\n" +
            "System.Console.WriteLine(\"namespace=\" + Consumer.@namespace.Kws.Describe());\n");
        var changed = consumer.Build();

        changed.AssertSucceeded("build after the metadata changes");
        StringAssert.Contains(changed.Output, "QuantBuild: quantizing Models/kws.onnx");
        StringAssert.Contains(changed.Output, "QuantBuild: quantizing Models/vision/kws.onnx");
        StringAssert.Contains(consumer.GeneratedCode("Models/kws.onnx"), "public static partial class @event");
        var visionChanged = consumer.GeneratedCode("Models/vision/kws.onnx");
        StringAssert.Contains(visionChanged, "namespace Consumer.@namespace");
        Assert.AreNotEqual(SettingsHash(vision), SettingsHash(visionChanged), "the other sidecar's settings reached the code");
        var app = Run(consumer.Directory, "dotnet", Path.Combine(consumer.Directory, "bin/Debug/net10.0/Consumer.dll"));
        app.AssertSucceeded("running the consumer with keyword names");
        StringAssert.Contains(app.Output, "event=kws:fake-1");
        StringAssert.Contains(app.Output, "namespace=kws:fake-1");
        consumer.AssertNoOpBuild("build after the metadata changes were generated");

        // A new tool version (same path, another build of the tool) regenerates every model.
        consumer.ReplaceTool(informationalVersion: "2.0.0-changed");
        var newTool = consumer.Build();

        newTool.AssertSucceeded("build with the new tool");
        StringAssert.Contains(newTool.Output, "QuantBuild: quantizing Models/kws.onnx");
        StringAssert.Contains(newTool.Output, "QuantBuild: quantizing Models/vision/kws.onnx");
        StringAssert.Contains(consumer.GeneratedCode("Models/kws.onnx"), "// tool 2.0.0-changed");
        StringAssert.Contains(consumer.GeneratedCode("Models/vision/kws.onnx"), "// tool 2.0.0-changed");
        consumer.AssertNoOpBuild("build after the new tool's generation");
    }

    private static string SettingsHash(string generatedCode) =>
        System.Text.RegularExpressions.Regex.Match(generatedCode, "settings ([0-9a-f]+|none)").Groups[1].Value;

    /// <summary>
    /// A tool killed between renaming one output and the next (the fake ends its process there): the
    /// generation marker is gone, so the half-published set is not current; the next build regenerates
    /// the model, removes the killed run's staging folder and an old-style temporary, and publishes a
    /// set whose marker names exactly the files on disk.
    /// </summary>
    [TestMethod]
    public void AToolKilledWhilePublishingLeavesNoCurrentGenerationAndTheNextBuildCompletesAndCleansUp()
    {
        var consumer = Consumer.Create(nameof(AToolKilledWhilePublishingLeavesNoCurrentGenerationAndTheNextBuildCompletesAndCleansUp));
        consumer.Build().AssertSucceeded("first build");
        var folder = consumer.OutputFolder("Models/kws.onnx");
        var marker = Path.Combine(folder, "kws.generation");
        Assert.IsTrue(File.Exists(marker));

        consumer.EditProject("<QuantizedModel Include=\"Models/kws.onnx\" />", "<QuantizedModel Include=\"Models/kws.onnx\" Access=\"public\" />");
        var killed = consumer.Build(new Dictionary<string, string> { ["FAKE_QUANTBUILD_EXIT_AFTER_FIRST_MOVE"] = "1" });

        Assert.AreNotEqual(0, killed.ExitCode, killed.Output);
        Assert.IsFalse(File.Exists(marker), "no marker: what is on disk is not a current generation");
        Assert.AreEqual(1, System.IO.Directory.GetDirectories(folder, ".qb-tmp-*").Length, "the killed run's staging folder is left behind");
        StringAssert.Contains(File.ReadAllText(Path.Combine(folder, "kws.g.cs")), "internal static partial class Kws", "the set on disk is mixed: .quant.onnx new, .g.cs old");
        var legacyTemporary = Path.Combine(folder, ".kws.g.cs.1a2b3c4d.tmp");
        File.WriteAllText(legacyTemporary, "left by a tool killed inside an atomic write");

        var next = consumer.Build();

        next.AssertSucceeded("build after the killed one");
        StringAssert.Contains(next.Output, "QuantBuild: quantizing Models/kws.onnx");
        Assert.IsFalse(next.Output.Contains("QuantBuild: quantizing Models/vision/kws.onnx", StringComparison.Ordinal), next.Output);
        Assert.AreEqual(0, System.IO.Directory.GetDirectories(folder, ".qb-tmp-*").Length, "staging folder removed");
        Assert.IsFalse(File.Exists(legacyTemporary), "old-style temporary removed");
        StringAssert.Contains(File.ReadAllText(Path.Combine(folder, "kws.g.cs")), "public static partial class Kws");
        var listing = File.ReadAllLines(marker);
        Assert.AreEqual("quantbuild-generation 1", listing[0]);
        CollectionAssert.AreEquivalent(new[] { "kws.quant.onnx", "kws.g.cs", "kws.report.json", "kws.deps" }, listing.Skip(1).Select(l => l.Split(' ')[2]).ToArray());
        foreach (var line in listing.Skip(1))
        {
            var (hash, size, name) = (line.Split(' ')[0], line.Split(' ')[1], line.Split(' ')[2]);
            var bytes = File.ReadAllBytes(Path.Combine(folder, name));
            Assert.AreEqual(hash, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes)), name);
            Assert.AreEqual(size, bytes.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), name);
        }
        consumer.AssertNoOpBuild("build after the recovery");
    }

    [TestMethod]
    public void CleanRemovesGeneratedFiles()
    {
        var consumer = Consumer.Create(nameof(CleanRemovesGeneratedFiles));
        consumer.Build().AssertSucceeded("build");
        var generated = consumer.GeneratedFiles();
        Assert.IsTrue(generated.Length >= 10, "two models x (g.cs, quant.onnx, report, deps, inputs) + runtime: " + string.Join(", ", generated));

        Run(consumer.Directory, "dotnet", "clean", "-nr:false", "--nologo", "-v:n").AssertSucceeded("clean");

        var left = consumer.GeneratedFiles().Where(f => !f.EndsWith("fake-tool.log", StringComparison.Ordinal)).ToArray();
        Assert.AreEqual(0, left.Length, "left after clean: " + string.Join(", ", left));
        Assert.IsFalse(File.Exists(Path.Combine(consumer.Directory, "bin/Debug/net10.0/Models/kws.quant.onnx")));
    }

    [TestMethod]
    public void BrokenSidecarFailsWithCodeFileAndLine()
    {
        var consumer = Consumer.Create(nameof(BrokenSidecarFailsWithCodeFileAndLine));
        var sidecar = Path.Combine(consumer.Directory, "Models/vision/kws.quant.json");
        File.WriteAllText(sidecar, "{\n  \"weights\": { \"bits\": 8 },\n    \"broken\": true\n}\n");

        var build = consumer.Build();

        Assert.AreNotEqual(0, build.ExitCode, build.Output);
        StringAssert.Contains(build.Output, $"{sidecar}(3,6): error QB3002: unknown key 'broken'");
    }

    [TestMethod]
    public void DisabledQuantBuildIgnoresTheItems()
    {
        var consumer = Consumer.Create(nameof(DisabledQuantBuildIgnoresTheItems), program: "System.Console.WriteLine(\"no models\");\n");

        var build = consumer.Build("-p:QuantBuildEnabled=false");

        build.AssertSucceeded("build with QuantBuildEnabled=false");
        Assert.AreEqual(0, consumer.ToolRuns);
        Assert.AreEqual(0, consumer.GeneratedFiles().Length);
    }

    [TestMethod]
    public void PackageHasBuildTasksAndToolButNoLib()
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(s_package);
        var entries = zip.Entries.Select(e => e.FullName).ToList();

        foreach (var expected in new[] { "README.md", "build/QuantBuild.props", "build/QuantBuild.targets", "tasks/netstandard2.0/QuantBuild.Tasks.dll",
                     "tools/net10.0/quantbuild.dll", "tools/net10.0/quantbuild.runtimeconfig.json", "tools/net10.0/quantbuild.deps.json",
                     "tools/net10.0/QuantBuild.Core.dll", "tools/net10.0/Google.Protobuf.dll",
                     // Calibration images are decoded by the tool (docs/calibration-data.md).
                     "tools/net10.0/StbImageSharp.dll" })
            CollectionAssert.Contains(entries, expected);
        Assert.IsFalse(entries.Any(e => e.StartsWith("lib/", StringComparison.Ordinal)), "no lib/: " + string.Join(", ", entries));
        // The in-process task must not bring the tool's dependencies into MSBuild.
        Assert.IsFalse(entries.Any(e => e.StartsWith("tasks/", StringComparison.Ordinal) && !e.EndsWith("QuantBuild.Tasks.dll", StringComparison.Ordinal)));

        using var nuspec = new StreamReader(zip.GetEntry("QuantBuild.nuspec")!.Open());
        var text = nuspec.ReadToEnd();
        StringAssert.Contains(text, "<developmentDependency>true</developmentDependency>");
        StringAssert.Contains(text, "<readme>README.md</readme>");
        Assert.IsFalse(text.Contains("<dependency ", StringComparison.Ordinal), text);
    }

    /// <summary>The package explains itself: license, icon, readme, URLs and release notes, and packing warns about none of them.</summary>
    [TestMethod]
    public void PackageCarriesLicenseIconReadmeAndReleaseNotesAndPacksWithoutWarnings()
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(s_package);
        var entries = zip.Entries.Select(e => e.FullName).ToList();
        foreach (var expected in new[] { "README.md", "LICENSE", "icon.png" })
            CollectionAssert.Contains(entries, expected);
        using (var icon = zip.GetEntry("icon.png")!.Open())
        {
            var header = new byte[24];
            icon.ReadExactly(header);
            CollectionAssert.AreEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, header[..8], "PNG signature");
            Assert.AreEqual(128, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(16)), "icon width");
            Assert.AreEqual(128, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(20)), "icon height");
        }
        using (var license = new StreamReader(zip.GetEntry("LICENSE")!.Open()))
            StringAssert.Contains(license.ReadToEnd(), "QuantBuild contributors");

        using var nuspec = new StreamReader(zip.GetEntry("QuantBuild.nuspec")!.Open());
        var text = nuspec.ReadToEnd();
        foreach (var expected in new[] { "<license type=\"expression\">MIT</license>", "<icon>icon.png</icon>", "<readme>README.md</readme>",
                     "<projectUrl>https://", "<repository type=\"git\" url=\"https://", "<releaseNotes>", "## 0.1.x" })
            StringAssert.Contains(text, expected);

        var warnings = s_packOutput.Split('\n').Where(l => l.Contains("warning", StringComparison.OrdinalIgnoreCase) || l.Contains("missing a readme", StringComparison.OrdinalIgnoreCase)).ToList();
        Assert.AreEqual(0, warnings.Count, "pack printed:\n" + string.Join("\n", warnings));
    }

    /// <summary>
    /// docs/msbuild.md, "Package version": a pack from a development tree is the release version plus
    /// -dev-&lt;12 hex&gt;, the start of the SHA-256 of the inputs list, and that list holds every file of the
    /// package with the SHA-256 of exactly the bytes the package holds. So a package whose contents differ
    /// has another version, and a NuGet cache cannot serve an older pack under the new one's version.
    /// </summary>
    [TestMethod]
    public void PackageVersionIsAHashOverEveryPackagedFile()
    {
        var repo = FindRepositoryRoot();
        var release = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(Path.Combine(repo, "Directory.Build.props")),
            "<QuantBuildVersion>([^<]+)</QuantBuildVersion>").Groups[1].Value;
        var match = System.Text.RegularExpressions.Regex.Match(s_version, "^" + System.Text.RegularExpressions.Regex.Escape(release) + "-dev-([0-9a-f]{12})$");
        Assert.IsTrue(match.Success, $"version {s_version} is not {release}-dev-<12 hex>");

        var inputsFile = Path.Combine(repo, "src/QuantBuild.Package/obj/Release/QuantBuild.package-inputs.txt");
        var inputs = File.ReadAllBytes(inputsFile);
        Assert.AreEqual(match.Groups[1].Value, Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(inputs))[..12]);

        var lines = Encoding.UTF8.GetString(inputs).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r'))
            .Select(l => l.TrimStart('/')).ToHashSet(StringComparer.Ordinal);
        using var zip = System.IO.Compression.ZipFile.OpenRead(s_package);
        var contents = zip.Entries.Where(e => !e.FullName.EndsWith(".nuspec", StringComparison.Ordinal) && !e.FullName.StartsWith("_rels/", StringComparison.Ordinal)
            && !e.FullName.StartsWith("package/", StringComparison.Ordinal) && e.FullName != "[Content_Types].xml").ToList();
        Assert.IsTrue(contents.Count > 10, string.Join(", ", contents.Select(e => e.FullName)));
        foreach (var entry in contents)
        {
            using var stream = entry.Open();
            var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(stream));
            Assert.IsTrue(lines.Contains($"{entry.FullName} {hash}"), $"{entry.FullName} ({hash}) is not in {inputsFile}");
        }
    }

    /// <summary>
    /// README, "The quantbuild command as a .NET tool": the build package is not a tool package, QuantBuild.Tool
    /// is; installed into a tool folder, `quantbuild --help` lists every verb and `inspect` reads a real model.
    /// </summary>
    [TestMethod]
    public void ToolPackageInstallsAsADotnetToolThatDescribesAModel()
    {
        var repo = FindRepositoryRoot();
        var feed = Path.Combine(s_root, "tool-feed");
        Run(repo, "dotnet", "pack", Path.Combine(repo, "src/QuantBuild.Cli/QuantBuild.Cli.csproj"), "-c", "Release", "-o", feed, "--nologo").AssertSucceeded("tool pack");
        var version = File.ReadAllText(Path.Combine(feed, "QuantBuild.Tool.version")).Trim();
        Assert.IsTrue(File.Exists(Path.Combine(feed, $"QuantBuild.Tool.{version}.nupkg")), version);

        // `dotnet tool install --add-source` is refused under package source mapping, which the consumers'
        // NuGet.config in s_root (and a user's machine config) may use: install from a folder outside
        // s_root whose config has only the local feeds and no mapping.
        var installRoot = Path.Combine(Path.GetTempPath(), "qb-tool-tests-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(installRoot);
        try
        {
            File.WriteAllText(Path.Combine(installRoot, "NuGet.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources><clear /><add key="tool-feed" value="{feed}" /></packageSources>
                  <packageSourceMapping><clear /></packageSourceMapping>
                </configuration>
                """);
            var tools = Path.Combine(installRoot, "tools");
            // The build package, under the name one would guess, is refused as a tool.
            var buildPackage = Run(installRoot, "dotnet", "tool", "install", "--tool-path", tools, "--add-source", Path.GetDirectoryName(s_package)!, "quantbuild", "--version", s_version);
            Assert.AreNotEqual(0, buildPackage.ExitCode, buildPackage.Output);
            StringAssert.Contains(buildPackage.Output, "not a .NET tool");

            Run(installRoot, "dotnet", "tool", "install", "--tool-path", tools, "--add-source", feed, "QuantBuild.Tool", "--version", version).AssertSucceeded("tool install");
            var quantbuild = Path.Combine(tools, OperatingSystem.IsWindows() ? "quantbuild.exe" : "quantbuild");
            var help = Run(installRoot, quantbuild, "--help");
            help.AssertSucceeded("quantbuild --help");
            foreach (var verb in new[] { "inspect <MODEL.onnx>", "quantize <MODEL.onnx>", "run <MODEL.onnx>", "build " })
                StringAssert.Contains(help.Output, verb);
            var inspect = Run(installRoot, quantbuild, "inspect", Path.Combine(repo, "samples", "MnistDigits", "Models", "mnist.onnx"));
            inspect.AssertSucceeded("quantbuild inspect");
            StringAssert.Contains(inspect.Output, "input: float[N,1,28,28]");
            StringAssert.Contains(inspect.Output, "logits: float[N,10]");
        }
        finally
        {
            try { Directory.Delete(installRoot, recursive: true); } catch (IOException) { }
        }
    }

    [TestMethod]
    public void DesignTimeBuildSucceedsWithAMissingModelWhileARealBuildReportsIt()
    {
        var consumer = Consumer.Create(nameof(DesignTimeBuildSucceedsWithAMissingModelWhileARealBuildReportsIt));
        File.Delete(Path.Combine(consumer.Directory, "Models/vision/kws.onnx"));

        var real = consumer.Build();
        Assert.AreNotEqual(0, real.ExitCode, real.Output);
        StringAssert.Contains(real.Output, "error QB5002");

        // What Visual Studio runs: Compile without Build, the compiler not executed.
        var designTime = Run(consumer.Directory, "dotnet", "msbuild", "-t:Compile", "-nr:false", "--nologo", "-v:n",
            "-p:DesignTimeBuild=true", "-p:SkipCompilerExecution=true", "-p:ProvideCommandLineArgs=true");
        designTime.AssertSucceeded("design-time build");
        Assert.IsFalse(designTime.Output.Contains("error", StringComparison.OrdinalIgnoreCase) && designTime.Output.Contains("QB5002", StringComparison.Ordinal), designTime.Output);
        // The model that exists was still quantized, so IntelliSense sees its class.
        StringAssert.Contains(designTime.Output, "QuantBuild: quantizing Models/kws.onnx");
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QuantBuild.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("QuantBuild.sln not found above " + AppContext.BaseDirectory);
    }

    internal sealed record ProcessResult(int ExitCode, string Output)
    {
        public void AssertSucceeded(string what)
        {
            if (ExitCode != 0)
                Assert.Fail($"{what} failed with exit code {ExitCode}:\n{Tail(Output)}");
        }

        private static string Tail(string text) => text.Length <= 12000 ? text : "...\n" + text[^12000..];
    }

    internal static ProcessResult Run(string workingDirectory, string fileName, params string[] arguments) =>
        Run(workingDirectory, null, fileName, arguments);

    internal static ProcessResult Run(string workingDirectory, IReadOnlyDictionary<string, string>? environment, string fileName, params string[] arguments)
    {
        var start = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        // The test host runs under an MSBuild-started process; its MSBuild variables must not leak
        // into the child builds.
        foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("MSBUILD", StringComparison.OrdinalIgnoreCase) || k.StartsWith("MSBuild", StringComparison.Ordinal)).ToList())
            start.Environment.Remove(name);
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
            start.Environment[name] = value;
        // Only the consumer builds get the private packages folder (so each run extracts the package
        // it just packed). Packing builds the repository's own projects in place, and restoring them
        // against a temporary folder would rewrite their obj/project.assets.json to point at packages
        // that vanish with this class, breaking whatever builds those projects next.
        if (s_root.Length != 0 && Path.GetFullPath(workingDirectory).StartsWith(s_root, StringComparison.Ordinal))
            start.Environment["NUGET_PACKAGES"] = Path.Combine(s_root, "packages");

        var output = new StringBuilder();
        using var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"'{fileName} {string.Join(' ', arguments)}' did not finish in 5 minutes:\n{output}");
        }
        process.WaitForExit();
        lock (output)
            return new ProcessResult(process.ExitCode, output.ToString());
    }

    /// <summary>A consumer project: two models with the same file name in different folders.</summary>
    private sealed class Consumer
    {
        public string Directory { get; }

        private Consumer(string directory) => Directory = directory;

        private string ProjectFile => Path.Combine(Directory, "Consumer.csproj");

        private string ToolLog => Path.Combine(Directory, "obj/quantbuild/fake-tool.log");

        private string ToolFolder => Path.Combine(Directory, "tool");

        /// <param name="ownTool">a copy of the fake tool in the consumer's folder, which the test may replace</param>
        public static Consumer Create(string name, string? program = null, bool ownTool = false)
        {
            var directory = Path.Combine(s_root, name);
            System.IO.Directory.CreateDirectory(Path.Combine(directory, "Models/vision"));
            var tool = s_fakeTool;
            if (ownTool)
            {
                var toolFolder = Path.Combine(directory, "tool");
                System.IO.Directory.CreateDirectory(toolFolder);
                foreach (var file in System.IO.Directory.GetFiles(Path.GetDirectoryName(s_fakeTool)!))
                    File.Copy(file, Path.Combine(toolFolder, Path.GetFileName(file)));
                tool = Path.Combine(toolFolder, Path.GetFileName(s_fakeTool));
            }
            File.WriteAllText(Path.Combine(directory, "Consumer.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <RootNamespace>Consumer</RootNamespace>
                    <Nullable>enable</Nullable>
                    <QuantBuildToolPath>{tool}</QuantBuildToolPath>
                    <!-- The fake tool's classes call its fake runtime source; the precompiled runtime is tested with the real tool. -->
                    <QuantBuildRuntime>Source</QuantBuildRuntime>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="QuantBuild" Version="[{s_version}]" />
                  </ItemGroup>
                  <ItemGroup>
                    <QuantizedModel Include="Models/kws.onnx" />
                    <QuantizedModel Include="Models/vision/kws.onnx" Namespace="Consumer.Vision" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(directory, "Program.cs"), program ??
                "System.Console.WriteLine(\"Consumer.Kws=\" + Consumer.Kws.Describe());\n" +
                "System.Console.WriteLine(\"Consumer.Vision.Kws=\" + Consumer.Vision.Kws.Describe());\n");
            File.WriteAllText(Path.Combine(directory, "Models/kws.onnx"), "fake model one");
            File.WriteAllText(Path.Combine(directory, "Models/kws.quant.json"), "{\n  \"calibrationFile\": \"calib.npy\"\n}\n");
            File.WriteAllText(Path.Combine(directory, "Models/calib.npy"), "fake samples");
            File.WriteAllText(Path.Combine(directory, "Models/vision/kws.onnx"), "fake model two");
            File.WriteAllText(Path.Combine(directory, "Models/vision/kws.quant.json"), "{\n  \"weights\": { \"bits\": 8 }\n}\n");
            return new Consumer(directory);
        }

        private bool _restored;

        /// <summary>dotnet build; only the first one restores (the package reference never changes).</summary>
        public ProcessResult Build(params string[] extra) => Build(null, extra);

        public ProcessResult Build(IReadOnlyDictionary<string, string>? environment, params string[] extra)
        {
            string[] restore = _restored ? ["--no-restore"] : [];
            _restored = true;
            return Run(Directory, environment, "dotnet", ["build", "-nr:false", "--nologo", "-v:n", .. restore, .. extra]);
        }

        /// <summary>
        /// A build that must do nothing: no "quantizing" line, the skip message, no tool run and every
        /// generated file untouched.
        /// </summary>
        public void AssertNoOpBuild(string what)
        {
            var stamps = GeneratedFileStamps();
            int runs = ToolRuns;
            var build = Build();
            build.AssertSucceeded(what);
            Assert.IsFalse(build.Output.Contains("QuantBuild: quantizing", StringComparison.Ordinal), what + ":\n" + build.Output);
            StringAssert.Contains(build.Output, "quantized model(s) are up to date; skipped.", what);
            Assert.AreEqual(runs, ToolRuns, what + ": the tool did not run");
            CollectionAssert.AreEqual(stamps, GeneratedFileStamps(), what + ": no generated file was rewritten");
        }

        /// <summary>The folder of a model's outputs (see PredictQuantizedOutputs).</summary>
        public string OutputFolder(string model) =>
            Path.Combine(Directory, "obj/quantbuild", QuantBuild.BuildContract.ModelNaming.StableFolderName(model));

        public string GeneratedCode(string model) =>
            File.ReadAllText(Path.Combine(OutputFolder(model), Path.GetFileNameWithoutExtension(model) + ".g.cs"));

        /// <summary>Rebuilds the fake tool with another informational version over this consumer's copy (same path).</summary>
        public void ReplaceTool(string informationalVersion)
        {
            // Outside the consumer's folder, whose *.cs files are all compiled.
            var artifacts = Directory + "-tool-build";
            Run(FindRepositoryRoot(), "dotnet", "build", Path.Combine(FindRepositoryRoot(), "tests/QuantBuild.Build.Tests/Assets/FakeQuantBuild/FakeQuantBuild.csproj"),
                "--artifacts-path", artifacts, "--nologo", "-p:InformationalVersion=" + informationalVersion).AssertSucceeded("fake tool rebuild");
            var dll = System.IO.Directory.GetFiles(artifacts, "fakequantbuild.dll", SearchOption.AllDirectories).Single(p => p.Contains("bin", StringComparison.Ordinal));
            File.Copy(dll, Path.Combine(ToolFolder, "fakequantbuild.dll"), overwrite: true);
        }

        public void EditProject(string oldText, string newText)
        {
            var text = File.ReadAllText(ProjectFile);
            Assert.IsTrue(text.Contains(oldText, StringComparison.Ordinal));
            File.WriteAllText(ProjectFile, text.Replace(oldText, newText, StringComparison.Ordinal));
        }

        /// <summary>How many times the (fake) tool process ran.</summary>
        public int ToolRuns => File.Exists(ToolLog) ? File.ReadAllLines(ToolLog).Count(l => l.StartsWith("run ", StringComparison.Ordinal)) : 0;

        /// <summary>The "model NAME CLASS NAMESPACE ACCESS" lines of the last tool run.</summary>
        public List<string> LastRunModels
        {
            get
            {
                var lines = File.ReadAllLines(ToolLog);
                int lastRun = Array.FindLastIndex(lines, l => l.StartsWith("run ", StringComparison.Ordinal));
                return lines.Skip(lastRun + 1).TakeWhile(l => l.StartsWith("model ", StringComparison.Ordinal)).ToList();
            }
        }

        public string[] GeneratedFiles()
        {
            var folder = Path.Combine(Directory, "obj/quantbuild");
            return System.IO.Directory.Exists(folder) ? System.IO.Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray() : [];
        }

        public string[] GeneratedFileStamps() =>
            GeneratedFiles().Where(f => !f.EndsWith("fake-tool.log", StringComparison.Ordinal))
                .Select(f => f + "@" + File.GetLastWriteTimeUtc(f).Ticks).ToArray();
    }
}
