using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using QuantBuild.BuildContract;
using QuantBuild.Tasks;

namespace QuantBuild.Build.Tests;

[TestClass]
public sealed class QuantizeModelsTests
{
    private static TaskItem Stale(string model, string sidecar, string name)
    {
        var item = new TaskItem(model);
        item.SetMetadata("Source", model);
        item.SetMetadata("Sidecar", sidecar);
        item.SetMetadata("SidecarExists", sidecar.Length == 0 ? "false" : "true");
        item.SetMetadata("OutputDir", "/obj/qb/abc/");
        item.SetMetadata("Name", name);
        item.SetMetadata("ClassName", "Kws");
        item.SetMetadata("Namespace", "App.Models");
        item.SetMetadata("Access", "internal");
        item.SetMetadata("DependencyFile", "/obj/qb/abc/" + name + ".deps");
        return item;
    }

    [TestMethod]
    public void ManifestHasOneTabSeparatedLinePerModelInContractOrder()
    {
        var text = ModelManifest.Format(new[] { Stale("/p/kws.onnx", "/p/kws.quant.json", "kws"), Stale("/p/b.onnx", "", "b") }.Select(ModelItems.ToManifestEntry), out var error);

        Assert.IsNull(error);
        Assert.AreEqual(
            "/p/kws.onnx\t/p/kws.quant.json\t/obj/qb/abc/\tkws\tKws\tApp.Models\tinternal\t/obj/qb/abc/kws.deps\n" +
            "/p/b.onnx\t\t/obj/qb/abc/\tb\tKws\tApp.Models\tinternal\t/obj/qb/abc/b.deps\n",
            text);
    }

    [TestMethod]
    public void ManifestRejectsFieldsWithTabs()
    {
        ModelManifest.Format([ModelItems.ToManifestEntry(Stale("/p/a\tb.onnx", "", "a"))], out var error);
        Assert.IsNotNull(error);
    }

    [TestMethod]
    public void CommandLineFollowsTheToolContract()
    {
        var line = QuantizeModels.BuildCommandLine("/pkg/tools/net10.0/quantbuild.dll", "/obj/my models/models.manifest", "/obj/QuantBuild.Runtime.g.cs", "App.QuantBuild", "7.3");
        Assert.AreEqual("/pkg/tools/net10.0/quantbuild.dll build --manifest \"/obj/my models/models.manifest\" --runtime-out /obj/QuantBuild.Runtime.g.cs --namespace-for-runtime App.QuantBuild --csharp-version 7.3", line);
    }

    /// <summary>What the targets run: files for every C# version (one quantization for all frameworks) and the runtime users list.</summary>
    [TestMethod]
    public void TheTargetsAskForFilesForEveryLanguageVersionAndAPrunedRuntime()
    {
        var line = QuantizeModels.BuildCommandLine("/t/quantbuild.dll", "/obj/models.manifest", "/obj/QuantBuild.Runtime.g.cs", "App.QuantBuild", runtimeUsersFile: "/obj/QuantBuild.Runtime.users");
        Assert.AreEqual("/t/quantbuild.dll build --manifest /obj/models.manifest --runtime-out /obj/QuantBuild.Runtime.g.cs --runtime-users /obj/QuantBuild.Runtime.users --namespace-for-runtime App.QuantBuild --csharp-version any", line);
    }

    /// <summary>The result cache folder goes to the tool when the cache is on (docs/msbuild.md, "Result cache").</summary>
    [TestMethod]
    public void TheCacheFolderIsPassedToTheTool()
    {
        var line = QuantizeModels.BuildCommandLine("/t/quantbuild.dll", "/obj/models.manifest", "/obj/QuantBuild.Runtime.g.cs", "", cacheDirectory: "/home/u/.cache/quantbuild");
        Assert.AreEqual("/t/quantbuild.dll build --manifest /obj/models.manifest --runtime-out /obj/QuantBuild.Runtime.g.cs --csharp-version any --cache-dir /home/u/.cache/quantbuild", line);
    }

    /// <summary>The tool's per-model line is the only source of "quantizing" and "restoring" in the build log.</summary>
    [TestMethod]
    public void TheToolsProgressLinesSayPerModelWhetherTheQuantizerRuns()
    {
        var engine = new RecordingBuildEngine();
        var task = new QuantizeModels { BuildEngine = engine };

        task.LogToolOutputLine(ToolProgress.Format(ModelAction.Quantizing, "/p/Models/kws.onnx"), MessageImportance.Normal);
        task.LogToolOutputLine(ToolProgress.Format(ModelAction.Restoring, "/p/Models/b.onnx", "/c/v1/ab/abc"), MessageImportance.Normal);
        task.LogToolOutputLine("quantbuild-model\tnonsense\t/p/x.onnx\t", MessageImportance.Normal);
        // A figure line (build-time verify) keeps its text, tabs flattened so the line stays one record.
        task.LogToolOutputLine(ToolProgress.Format(ModelAction.Reporting, "/p/Models/kws.onnx", "verify: integer-plan output 'y'\tSQNR 31.0 dB"), MessageImportance.Normal);

        CollectionAssert.AreEqual(new[]
        {
            "QuantBuild: quantizing /p/Models/kws.onnx",
            "QuantBuild: restoring /p/Models/b.onnx from the result cache (/c/v1/ab/abc); not quantized",
            "quantbuild-model\tnonsense\t/p/x.onnx\t",
            "QuantBuild: /p/Models/kws.onnx: verify: integer-plan output 'y' SQNR 31.0 dB",
        }, engine.Messages.Select(m => m.Message).ToArray());
        CollectionAssert.AreEqual(new[] { MessageImportance.High, MessageImportance.High, MessageImportance.Normal, MessageImportance.High }, engine.Messages.Select(m => m.Importance).ToArray());
    }

    /// <summary>A set QuantBuildCacheDir wins over the environment and loses its trailing separator (which would escape a closing quote on Windows).</summary>
    [TestMethod]
    public void ASetCacheFolderIsUsedWithoutItsTrailingSeparator()
    {
        var folder = Path.Combine(Path.GetTempPath(), "qb cache");
        Assert.AreEqual(folder, ResultCacheLocation.Resolve(folder + Path.DirectorySeparatorChar, _ => "/elsewhere"));
    }

    [TestMethod]
    [DataRow(true, "/local", "/xdg", "/home/u", "/local/QuantBuild/cache")]
    [DataRow(true, "", "/xdg", "/home/u", "")]
    [DataRow(false, "", "/xdg", "/home/u", "/xdg/quantbuild")]
    [DataRow(false, "", "", "/home/u", "/home/u/.cache/quantbuild")]
    [DataRow(false, "", "relative/xdg", "/home/u", "/home/u/.cache/quantbuild")]
    [DataRow(false, "", "", "", "")]
    public void TheDefaultCacheFolderIsTheUsersCacheFolder(bool windows, string localAppData, string xdg, string home, string expected)
    {
        var environment = new Dictionary<string, string> { ["LOCALAPPDATA"] = localAppData, ["XDG_CACHE_HOME"] = xdg, ["HOME"] = home };
        var folder = ResultCacheLocation.Default(name => environment[name], windows);
        // Path.Combine joins with this OS's separator.
        Assert.AreEqual(expected.Replace('/', Path.DirectorySeparatorChar), folder.Replace('/', Path.DirectorySeparatorChar));
    }

    [TestMethod]
    public void ToolOutputBecomesErrorsWarningsAndMessages()
    {
        var engine = new RecordingBuildEngine();
        var task = new QuantizeModels { BuildEngine = engine };

        task.LogToolOutputLine("/p/kws.quant.json(4,9): error QB3002: unknown key 'bitz'", MessageImportance.High);
        task.LogToolOutputLine("/p/kws.onnx: warning QB4001: layer conv_3 kept in float", MessageImportance.High);
        task.LogToolOutputLine("error QB3999: unexpected failure", MessageImportance.High);
        task.LogToolOutputLine("quantized kws {not a format string}", MessageImportance.Normal);

        Assert.AreEqual(2, engine.Errors.Count);
        var located = engine.Errors[0];
        Assert.AreEqual(("QB3002", "/p/kws.quant.json", 4, 9, "unknown key 'bitz'"), (located.Code, located.File, located.LineNumber, located.ColumnNumber, located.Message));
        Assert.AreEqual("QB3999", engine.Errors[1].Code);
        var warning = engine.Warnings.Single();
        Assert.AreEqual(("QB4001", "/p/kws.onnx", 0), (warning.Code, warning.File, warning.LineNumber));
        Assert.AreEqual("quantized kws {not a format string}", engine.Messages.Single().Message);
    }

    [TestMethod]
    public void MissingToolAssemblyIsQB5004AndNothingRuns()
    {
        var engine = new RecordingBuildEngine();
        var manifest = Path.Combine(Path.GetTempPath(), "qb-" + Guid.NewGuid().ToString("N"), "models.manifest");
        var task = new QuantizeModels
        {
            BuildEngine = engine,
            Models = [Stale("/p/kws.onnx", "", "kws")],
            ManifestFile = manifest,
            ToolAssembly = "/nonexistent/quantbuild.dll",
            RuntimeOutputFile = "/obj/QuantBuild.Runtime.g.cs",
        };

        Assert.IsFalse(task.Execute());
        Assert.AreEqual("QB5004", engine.Errors.Single().Code);
        Directory.Delete(Path.GetDirectoryName(manifest)!, recursive: true);
    }
}
