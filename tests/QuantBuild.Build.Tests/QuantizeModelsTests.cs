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
