using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using QuantBuild.BuildContract;
using QuantBuild.Tasks;

namespace QuantBuild.Build.Tests;

[TestClass]
public sealed class PredictQuantizedOutputsTests
{
    private string _project = "";

    [TestInitialize]
    public void CreateProject()
    {
        _project = Path.Combine(Path.GetTempPath(), "qb-predict-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_project);
    }

    [TestCleanup]
    public void DeleteProject() => Directory.Delete(_project, recursive: true);

    private string AddFile(string relative, string content = "x")
    {
        var path = Path.Combine(_project, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        return path;
    }

    private static TaskItem Model(string spec, params (string Name, string Value)[] metadata)
    {
        var item = new TaskItem(spec);
        item.SetMetadata("Access", "internal");
        item.SetMetadata("Namespace", "App");
        foreach (var (name, value) in metadata)
            item.SetMetadata(name, value);
        return item;
    }

    private (PredictQuantizedOutputs Task, RecordingBuildEngine Engine, bool Result) Run(bool missingIsError, params ITaskItem[] models)
    {
        var engine = new RecordingBuildEngine();
        var task = new PredictQuantizedOutputs
        {
            BuildEngine = engine,
            Models = models,
            ProjectDirectory = _project,
            IntermediateDirectory = "obj/quantbuild/",
            RuntimeFile = Path.Combine(_project, "obj/quantbuild/QuantBuild.Runtime.g.cs"),
            MissingModelIsError = missingIsError,
        };
        return (task, engine, task.Execute());
    }

    [TestMethod]
    public void PredictsEveryOutputFromTheItemAlone()
    {
        var model = AddFile("Models/kws_small.onnx");
        var sidecar = AddFile("Models/kws_small.quant.json");

        var (task, engine, result) = Run(true, Model("Models/kws_small.onnx"));

        Assert.IsTrue(result, string.Join("\n", engine.Errors.Select(e => e.Message)));
        var predicted = task.PredictedModels.Single();
        var outputDir = Path.Combine(_project, "obj/quantbuild", ModelNaming.StableFolderName("Models/kws_small.onnx")) + Path.DirectorySeparatorChar;
        Assert.AreEqual(model, predicted.ItemSpec);
        Assert.AreEqual(model, predicted.GetMetadata("Source"));
        Assert.AreEqual("kws_small", predicted.GetMetadata("Name"));
        Assert.AreEqual("KwsSmall", predicted.GetMetadata("ClassName"));
        Assert.AreEqual("App", predicted.GetMetadata("Namespace"));
        Assert.AreEqual(sidecar, predicted.GetMetadata("Sidecar"));
        Assert.AreEqual("true", predicted.GetMetadata("SidecarExists"));
        Assert.AreEqual(outputDir, predicted.GetMetadata("OutputDir"));
        Assert.AreEqual(outputDir + "kws_small.g.cs", predicted.GetMetadata("GeneratedCode"));
        Assert.AreEqual(outputDir + "kws_small.deps", predicted.GetMetadata("DependencyFile"));
        Assert.AreEqual(Path.Combine("Models", "kws_small.quant.onnx"), task.QuantizedOnnxFiles.Single().GetMetadata("Link"));

        CollectionAssert.AreEquivalent(
            new[] { "kws_small.g.cs", "kws_small.quant.onnx", "kws_small.report.json", "kws_small.deps", "kws_small.generation", "QuantBuild.Runtime.g.cs" },
            task.ExpectedOutputs.Select(o => Path.GetFileName(o.ItemSpec)).ToArray());
        Assert.IsTrue(task.ExpectedOutputs.All(o => o.GetMetadata("Source") == model), "every output is keyed by its model");
        CollectionAssert.AreEquivalent(new[] { sidecar, outputDir + "kws_small.stamp" }, task.Inputs.Select(i => i.ItemSpec).ToArray());
    }

    [TestMethod]
    public void MissingDefaultSidecarIsNotAnInputAndNotAnError()
    {
        AddFile("m.onnx");
        var (task, engine, result) = Run(true, Model("m.onnx"));
        Assert.IsTrue(result);
        Assert.AreEqual(0, engine.Errors.Count);
        Assert.AreEqual("false", task.PredictedModels.Single().GetMetadata("SidecarExists"));
        Assert.IsFalse(task.Inputs.Any(i => i.ItemSpec.EndsWith(".quant.json", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void DependencyFileOfTheLastRunBecomesInputs()
    {
        AddFile("m.onnx");
        var calibration = AddFile("calib/x.npy");
        var first = Run(true, Model("m.onnx"));
        var depFile = first.Task.PredictedModels.Single().GetMetadata("DependencyFile");
        Directory.CreateDirectory(Path.GetDirectoryName(depFile)!);
        File.WriteAllLines(depFile, [Path.Combine(_project, "m.onnx"), calibration, "", "relative/ignored.npy"]);

        var (task, _, _) = Run(true, Model("m.onnx"));

        var inputs = task.Inputs.Select(i => i.ItemSpec).ToList();
        CollectionAssert.Contains(inputs, calibration);
        Assert.IsFalse(inputs.Any(i => i.Contains("ignored", StringComparison.Ordinal)));
    }

    [TestMethod]
    public void SameStemInTwoFoldersGetsDistinctFoldersButCollidingClassesAreAnError()
    {
        AddFile("a/m.onnx");
        AddFile("b/m.onnx");

        var (_, engine, result) = Run(true, Model("a/m.onnx"), Model("b/m.onnx"));

        Assert.IsFalse(result);
        var error = engine.Errors.Single();
        Assert.AreEqual("QB5001", error.Code);
        Assert.AreEqual("b/m.onnx", error.File);
        StringAssert.Contains(error.Message, "App.M");
    }

    [TestMethod]
    public void SameStemWithDistinctClassNamesBuilds()
    {
        AddFile("a/m.onnx");
        AddFile("b/m.onnx");

        var (task, engine, result) = Run(true, Model("a/m.onnx"), Model("b/m.onnx", ("ClassName", "OtherM")));

        Assert.IsTrue(result, string.Join("\n", engine.Errors.Select(e => e.Message)));
        var dirs = task.PredictedModels.Select(m => m.GetMetadata("OutputDir")).ToArray();
        Assert.AreNotEqual(dirs[0], dirs[1]);
        CollectionAssert.AreEqual(new[] { Path.Combine("a", "m.quant.onnx"), Path.Combine("b", "m.quant.onnx") },
            task.QuantizedOnnxFiles.Select(f => f.GetMetadata("Link")).ToArray());
    }

    [TestMethod]
    public void MissingModelIsAnErrorOnlyInRealBuilds()
    {
        var real = Run(true, Model("missing.onnx"));
        Assert.IsFalse(real.Result);
        Assert.AreEqual("QB5002", real.Engine.Errors.Single().Code);

        var designTime = Run(false, Model("missing.onnx"));
        Assert.IsTrue(designTime.Result);
        Assert.AreEqual(0, designTime.Engine.Errors.Count);
        // Still predicted: IntelliSense keeps seeing the generated class while the file is missing.
        Assert.AreEqual("false", designTime.Task.PredictedModels.Single().GetMetadata("ModelExists"));
    }

    [TestMethod]
    public void InvalidMetadataIsReported()
    {
        AddFile("m.onnx");
        AddFile("n.onnx");
        AddFile("o.onnx");
        var (_, engine, result) = Run(true,
            Model("m.onnx", ("Access", "protected")),
            Model("n.onnx", ("ClassName", "not-valid")),
            Model("o.onnx", ("Namespace", "A..B")));
        Assert.IsFalse(result);
        Assert.AreEqual(3, engine.Errors.Count);
        Assert.IsTrue(engine.Errors.All(e => e.Code == "QB5003"));
    }

    [TestMethod]
    public void KeywordClassNameAndNamespaceAreAccepted()
    {
        AddFile("m.onnx");
        var (task, engine, result) = Run(true, Model("m.onnx", ("ClassName", "class"), ("Namespace", "App.namespace")));
        Assert.IsTrue(result, string.Join("\n", engine.Errors.Select(e => e.Message)));
        Assert.AreEqual("class", task.PredictedModels.Single().GetMetadata("ClassName"), "passed on as the name; the generated code writes @class");
    }

    [TestMethod]
    public void ExplicitSettingsAndCopyOptOut()
    {
        AddFile("m.onnx");
        var settings = AddFile("config/shared.json");

        var (task, _, result) = Run(true, Model("m.onnx", ("Settings", "config/shared.json"), ("CopyQuantizedModel", "false"), ("Access", "Public")));

        Assert.IsTrue(result);
        var predicted = task.PredictedModels.Single();
        Assert.AreEqual(settings, predicted.GetMetadata("Sidecar"));
        Assert.AreEqual("public", predicted.GetMetadata("Access"));
        Assert.AreEqual(0, task.QuantizedOnnxFiles.Length);
    }

    [TestMethod]
    public void ExplicitSettingsThatDoNotExistAreAnError()
    {
        AddFile("m.onnx");
        var (_, engine, result) = Run(true, Model("m.onnx", ("Settings", "nope.json")));
        Assert.IsFalse(result);
        Assert.AreEqual("QB5002", engine.Errors.Single().Code);
    }
}
