using QuantBuild.Cli;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Cli;

[TestClass]
public sealed class QuantizeCliTests
{
    private static (int Exit, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int exit = QuantBuildCli.Run(args, o, e);
        return (exit, o.ToString(), e.ToString());
    }

    private static string MnistCopy(TempFolder temp, int samples = 10)
    {
        var model = temp.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        QuantizeTestData.WriteMnistCalibration(temp.Path, samples);
        return model;
    }

    [TestMethod]
    public void QuantizeFindsTheSidecarBesideTheModelAndIsByteIdenticalAcrossThreadCounts()
    {
        using var temp = new TempFolder();
        var model = MnistCopy(temp);
        File.WriteAllText(temp.File("mnist.quant.json"), """{ "calibration": { "inputs": { "input": "calib/*.npy" } } }""");
        var one = Cli("quantize", model, "--out", temp.File("a"), "--threads", "1");
        Assert.AreEqual(0, one.Exit, one.Err);
        var two = Cli("quantize", model, "--out", temp.File("b"), "--threads", "2", "--name", "Digits");
        Assert.AreEqual(0, two.Exit, two.Err);
        CollectionAssert.AreEqual(File.ReadAllBytes(temp.File("a", "mnist.quant.onnx")), File.ReadAllBytes(temp.File("b", "Digits.quant.onnx")));
        CollectionAssert.AreEqual(File.ReadAllBytes(temp.File("a", "mnist.report.json")), File.ReadAllBytes(temp.File("b", "Digits.report.json")));
        var report = File.ReadAllText(temp.File("a", "mnist.report.json"));
        StringAssert.Contains(report, "\"sqnrDb\"");
        Assert.IsFalse(report.Contains(temp.Path), "no absolute paths in a build output");
        // The peak memory goes to the log, as a plain message; the report stays free of it (it varies per run).
        StringAssert.Matches(one.Out, new System.Text.RegularExpressions.Regex(@"^mnist: peak memory \d+ MiB \(process working set\)\r?$", System.Text.RegularExpressions.RegexOptions.Multiline));
        Assert.IsFalse(report.Contains("peak", StringComparison.OrdinalIgnoreCase), "no memory figure in the report");
    }

    [TestMethod]
    public void WithoutCalibrationDataQuantizeFailsWithQB3103AndWritesNothing()
    {
        using var temp = new TempFolder();
        var model = MnistCopy(temp, 1);
        var r = Cli("quantize", model, "--out", temp.File("out"));
        Assert.AreEqual(ExitCodes.Failed, r.Exit);
        StringAssert.Contains(r.Err, "error QB3103");
        StringAssert.Contains(r.Err, "mnist.quant.json");
        Assert.IsFalse(Directory.Exists(temp.File("out")));
    }

    [TestMethod]
    public void SidecarErrorsPointIntoTheSidecar()
    {
        using var temp = new TempFolder();
        var model = MnistCopy(temp, 1);
        File.WriteAllText(temp.File("s.json"), "{\n  \"calibration\": { \"inputs\": { \"input\": \"nothing/*.npy\" } }\n}");
        var r = Cli("quantize", model, "--config", temp.File("s.json"), "--out", temp.File("out"));
        Assert.AreEqual(ExitCodes.Failed, r.Exit);
        StringAssert.StartsWith(r.Err, $"{temp.File("s.json")}(2,41): error QB3102:");
    }

    [TestMethod]
    public void BuildManifestQuantizesStaleModelsWritesDependencyFilesAndIsolatesFailures()
    {
        using var temp = new TempFolder();
        var model = MnistCopy(temp, 5);
        File.WriteAllText(temp.File("good.json"), """{ "calibration": { "inputs": { "input": "calib/*.npy" } } }""");
        File.WriteAllText(temp.File("bad.json"), "{ \"weights\": { \"bits\": 12 } }");
        var manifest = temp.File("models.txt");
        File.WriteAllLines(manifest,
        [
            "# model\tsidecar\tout\tname\tclass\tnamespace\taccess\tdeps",
            "mnist.onnx\tgood.json\tobj/qb\tGood\tGoodModel\tApp.Models\tinternal\tobj/qb/Good.deps",
            "mnist.onnx\tbad.json\tobj/qb\tBad\tBadModel\tApp.Models\tpublic\tobj/qb/Bad.deps",
        ]);
        // A stale output of the failing model from an earlier build must not survive.
        Directory.CreateDirectory(temp.File("obj", "qb"));
        File.WriteAllText(temp.File("obj", "qb", "Bad.quant.onnx"), "old");

        var r = Cli("build", "--manifest", manifest, "--threads", "2");
        Assert.AreEqual(ExitCodes.Failed, r.Exit, r.Out + r.Err);
        StringAssert.StartsWith(r.Err, $"{temp.File("bad.json")}(1,24): error QB3101:");
        Assert.IsTrue(File.Exists(temp.File("obj", "qb", "Good.quant.onnx")));
        Assert.IsTrue(File.Exists(temp.File("obj", "qb", "Good.report.json")));
        Assert.IsFalse(File.Exists(temp.File("obj", "qb", "Bad.quant.onnx")));
        Assert.IsFalse(File.Exists(temp.File("obj", "qb", "Bad.deps")));

        var deps = File.ReadAllLines(temp.File("obj", "qb", "Good.deps"));
        var expected = new[] { model, temp.File("good.json") }.Concat(Enumerable.Range(0, 5).Select(k => temp.File("calib", $"d{k:D3}.npy"))).Order(StringComparer.Ordinal).ToArray();
        CollectionAssert.AreEqual(expected, deps);
        Assert.IsTrue(File.Exists(temp.File("obj", "qb", "Good.generation")), "the generation marker, written last");
        Assert.IsFalse(File.Exists(temp.File("obj", "qb", "Bad.generation")));

        // What killed runs leave: a staging folder and atomic-write temporaries of dead processes, and
        // one of a tool that recorded no process.
        Directory.CreateDirectory(temp.File("obj", "qb", ".qb-tmp-2147483647-deadbeef"));
        File.WriteAllText(temp.File("obj", "qb", ".qb-tmp-2147483647-deadbeef", "0-Good.g.cs"), "half");
        File.WriteAllText(temp.File("obj", "qb", ".Good.g.cs.2147483647-1a2b3c4d.tmp"), "half");
        File.WriteAllText(temp.File("obj", "qb", ".Good.g.cs.1a2b3c4d.tmp"), "half");

        // Second build, only the good model, new class name (a keyword), namespace and access: the tool
        // regenerates what it is given (MSBuild decided it is stale) and every value reaches the code.
        File.WriteAllLines(manifest, ["mnist.onnx\tgood.json\tobj/qb\tGood\tclass\tApp.namespace\tpublic\tobj/qb/Good.deps"]);
        var again = Cli("build", "--manifest", manifest);
        Assert.AreEqual(0, again.Exit, again.Err);
        StringAssert.Contains(again.Out, "quantbuild build: 1 model" + Environment.NewLine);
        // Without --cache-dir every model is quantized, and the task is told so per model.
        StringAssert.Contains(again.Out, QuantBuild.BuildContract.ToolProgress.Format(QuantBuild.BuildContract.ModelAction.Quantizing, model) + Environment.NewLine);
        var code = File.ReadAllText(temp.File("obj", "qb", "Good.g.cs"));
        StringAssert.Contains(code, "namespace App.@namespace");
        StringAssert.Contains(code, "public sealed class @class");
        StringAssert.Contains(code, "public @class()");
        CollectionAssert.AreEquivalent(new[] { "Good.deps", "Good.g.cs", "Good.generation", "Good.quant.onnx", "Good.report.json", "Good.report.html" },
            Directory.GetFileSystemEntries(temp.File("obj", "qb")).Select(Path.GetFileName).ToArray(), "the leftovers are gone");
    }

    [TestMethod]
    [DataRow("../../x")]
    [DataRow("/tmp/x")]
    [DataRow("a:b")]
    public void ManifestNamesThatEscapeTheOutputFolderAreQB3106AndWriteNothing(string name)
    {
        using var temp = new TempFolder();
        MnistCopy(temp, 1);
        var manifest = temp.File("deep", "m.txt");
        Directory.CreateDirectory(temp.File("deep"));
        File.WriteAllText(manifest, $"../mnist.onnx\t\tobj/qb\t{name}\t\tApp\tinternal\tobj/qb/x.deps\n");

        var r = Cli("build", "--manifest", manifest);

        Assert.AreEqual(ExitCodes.Failed, r.Exit);
        StringAssert.StartsWith(r.Err, $"{manifest}(1,1): error QB3106: name '{name}' must be a plain file name");
        Assert.IsFalse(Directory.Exists(temp.File("deep", "obj")));
        Assert.IsFalse(File.Exists(temp.File("x.quant.onnx")));
    }

    [TestMethod]
    public void MalformedManifestLineIsQB3106WithItsLine()
    {
        using var temp = new TempFolder();
        File.WriteAllText(temp.File("m.txt"), "\na.onnx\tb.json\n");
        var r = Cli("build", "--manifest", temp.File("m.txt"));
        Assert.AreEqual(ExitCodes.Failed, r.Exit);
        StringAssert.StartsWith(r.Err, $"{temp.File("m.txt")}(2,1): error QB3106:");
    }

    /// <summary>A relative --out, as a user types it, is where the outputs land (it once became out/out/).</summary>
    [TestMethod]
    public void RelativeOutFolderGetsTheOutputs()
    {
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 4, """{ "calibration": { "inputs": { "input": "calib/*.npy" } } }""");
        // Relative to the working directory (the test's bin folder), which tests running in parallel share: a folder of its own.
        var relative = Path.Combine("relative-out-" + Guid.NewGuid().ToString("N")[..8], "out");
        try
        {
            var run = Cli("quantize", model, "--out", relative);
            Assert.AreEqual(0, run.Exit, run.Err);
            CollectionAssert.AreEquivalent(new[] { "mnist.quant.onnx", "mnist.g.cs", "mnist.report.json", "mnist.report.html", "QuantBuild.Runtime.g.cs" },
                Directory.GetFileSystemEntries(relative).Select(Path.GetFileName).ToArray());
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(relative)!, recursive: true);
        }
    }
}
