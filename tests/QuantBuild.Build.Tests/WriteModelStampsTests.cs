using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using QuantBuild.Tasks;

namespace QuantBuild.Build.Tests;

/// <summary>The per-model stamp: rewritten exactly when something the tool receives changes.</summary>
[TestClass]
public sealed class WriteModelStampsTests
{
    private string _folder = "";

    [TestInitialize]
    public void CreateFolder()
    {
        _folder = Path.Combine(Path.GetTempPath(), "qb-stamp-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_folder);
    }

    [TestCleanup]
    public void DeleteFolder() => Directory.Delete(_folder, recursive: true);

    private string Stamp => Path.Combine(_folder, "out", "kws.stamp");

    private ITaskItem Model(string className = "Kws", string ns = "App", string access = "internal", string sidecar = "")
    {
        var item = new TaskItem(Path.Combine(_folder, "kws.onnx"));
        item.SetMetadata("Source", item.ItemSpec);
        item.SetMetadata("Sidecar", sidecar);
        item.SetMetadata("SidecarExists", sidecar.Length == 0 ? "false" : "true");
        item.SetMetadata("OutputDir", Path.Combine(_folder, "out") + Path.DirectorySeparatorChar);
        item.SetMetadata("Name", "kws");
        item.SetMetadata("ClassName", className);
        item.SetMetadata("Namespace", ns);
        item.SetMetadata("Access", access);
        item.SetMetadata("DependencyFile", Path.Combine(_folder, "out", "kws.deps"));
        item.SetMetadata("StampFile", Stamp);
        return item;
    }

    private string Write(ITaskItem model, string tool = "", string runtimeNamespace = "App.QuantBuild")
    {
        var engine = new RecordingBuildEngine();
        var task = new WriteModelStamps { BuildEngine = engine, Models = [model], ToolAssembly = tool, RuntimeNamespace = runtimeNamespace, RuntimeFile = "/obj/rt.g.cs" };
        Assert.IsTrue(task.Execute(), string.Join("\n", engine.Errors.Select(e => e.Message)));
        return File.ReadAllText(Stamp);
    }

    [TestMethod]
    public void EveryValueTheToolReceivesChangesTheStampAndNothingElseRewritesIt()
    {
        var tool = Path.Combine(_folder, "quantbuild.dll");
        File.WriteAllText(tool, "tool one");
        var sidecar = Path.Combine(_folder, "kws.quant.json");
        File.WriteAllText(sidecar, "{}");
        var first = Write(Model(), tool);
        var old = DateTime.UtcNow.AddHours(-1);
        File.SetLastWriteTimeUtc(Stamp, old);

        Assert.AreEqual(first, Write(Model(), tool));
        Assert.AreEqual(old, File.GetLastWriteTimeUtc(Stamp), "same values: the stamp is left alone, so the model stays up to date");

        var variants = new[]
        {
            Write(Model(className: "Other"), tool),
            Write(Model(ns: "App.Other"), tool),
            Write(Model(access: "public"), tool),
            Write(Model(sidecar: sidecar), tool),
            Write(Model(), tool, runtimeNamespace: "Other.QuantBuild"),
        };
        File.WriteAllText(tool, "tool two, another build");
        var newTool = Write(Model(), tool);

        var all = variants.Append(newTool).Prepend(first).ToList();
        Assert.AreEqual(all.Count, all.Distinct().Count(), string.Join("\n---\n", all));
        StringAssert.Contains(newTool, tool);
    }

    /// <summary>The runtime users file lists every model's generated class, sorted, and changes exactly with the set of models.</summary>
    [TestMethod]
    public void TheRuntimeUsersFileFollowsTheSetOfModels()
    {
        var users = Path.Combine(_folder, "QuantBuild.Runtime.users");
        ITaskItem WithCode(string code)
        {
            var model = Model();
            model.SetMetadata("GeneratedCode", code);
            return model;
        }
        bool Write(params ITaskItem[] models)
        {
            if (File.Exists(users)) File.SetLastWriteTimeUtc(users, DateTime.UtcNow.AddHours(-1));
            var task = new WriteModelStamps { BuildEngine = new RecordingBuildEngine(), Models = models, RuntimeUsersFile = users, ToolAssembly = Path.Combine(_folder, "quantbuild.dll") };
            Assert.IsTrue(task.Execute());
            return File.GetLastWriteTimeUtc(users) > DateTime.UtcNow.AddMinutes(-1);
        }
        Assert.IsTrue(Write(WithCode("/o/b/b.g.cs"), WithCode("/o/a/a.g.cs")));
        Assert.AreEqual("/o/a/a.g.cs\n/o/b/b.g.cs\n", File.ReadAllText(users));
        Assert.IsFalse(Write(WithCode("/o/a/a.g.cs"), WithCode("/o/b/b.g.cs")), "same set in another order: left alone");
        Assert.IsTrue(Write(WithCode("/o/a/a.g.cs")), "a model removed");
        Assert.AreEqual("/o/a/a.g.cs\n", File.ReadAllText(users));
    }
}
