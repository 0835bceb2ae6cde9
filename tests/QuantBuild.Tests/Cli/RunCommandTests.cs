using System.CommandLine;
using QuantBuild.Cli;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Cli;

/// <summary>The <c>quantbuild</c> CLI run in-process through its real entry point (with captured writers).</summary>
[TestClass]
public sealed class RunCommandTests
{
    private sealed record CliResult(int ExitCode, string Output, string Error);

    private static CliResult Cli(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = QuantBuildCli.Run(args, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    /// <summary>Failure contract: non-zero exit, the QB code in canonical form on stderr, never a stack trace.</summary>
    private static void AssertFails(CliResult r, string code)
    {
        Assert.AreNotEqual(0, r.ExitCode, $"must fail; stderr: {r.Error}");
        StringAssert.Contains(r.Error, $"error {code}: ", $"stderr: {r.Error}");
        Assert.IsFalse(r.Error.Contains("   at ", StringComparison.Ordinal), $"stack trace leaked: {r.Error}");
        Assert.IsFalse(r.Error.Contains("Exception", StringComparison.Ordinal) && code != DiagnosticCodes.InternalError, $"exception text leaked: {r.Error}");
    }

    private static ValueInfoProto Value(string name, DataType type, params long[] dims) =>
        OnnxExporter.ToProto(new ValueInfo(name, type, dims.Select(d => (long?)d).ToArray()));

    private static NodeProto NodeOf(string op, string name, string[] inputs, string[] outputs, string domain = "")
    {
        var n = new NodeProto { OpType = op, Name = name, Domain = domain };
        n.Input.Add(inputs);
        n.Output.Add(outputs);
        return n;
    }

    /// <summary>
    /// x[2,3] -> Identity -> "logits:0/a", and y[4] (int64) -> Dropout -> "y out" plus its bool mask.
    /// Output names with ':' and '/' exercise file-name sanitizing.
    /// </summary>
    private static string TinyModel(TempFolder folder, string? extraOp = null)
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "tiny" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        var g = model.Graph;
        g.Input.Add(Value("x", DataType.Float, 2, 3));
        g.Input.Add(Value("y", DataType.Int64, 4));
        g.Node.Add(NodeOf("Identity", "id", ["x"], ["logits:0/a"]));
        g.Node.Add(NodeOf("Dropout", "drop", ["y"], ["y out", "mask"]));
        g.Output.Add(Value("logits:0/a", DataType.Float, 2, 3));
        g.Output.Add(Value("y out", DataType.Int64, 4));
        g.Output.Add(Value("mask", DataType.Bool, 4));
        if (extraOp is not null)
        {
            g.Node.Add(NodeOf(extraOp, "mystery", ["x"], ["z"], extraOp.Contains('.') ? "com.example" : ""));
            g.Output.Add(Value("z", DataType.Float, 2, 3));
        }
        var path = folder.File("tiny.onnx");
        OnnxModelFile.Save(model, path);
        return path;
    }

    private static readonly float[] XValues = [1.5f, -2f, 0f, 3.25f, float.MaxValue, -7f];
    private static readonly long[] YValues = [1, -2, 3, long.MinValue];

    private static (string X, string Y) Inputs(TempFolder folder)
    {
        var x = folder.File("x.npy");
        var y = folder.File("y.npy");
        NpyFile.Write(x, Tensor.FromFloats(XValues, 2, 3));
        NpyFile.Write(y, Tensor.FromInt64(YValues, 4));
        return (x, y);
    }

    [TestMethod]
    public void RunWritesOneNpyPerOutputNamedAfterTheOutput()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        var (x, y) = Inputs(folder);
        var outDir = folder.File("out");

        var r = Cli("run", model, "--input", $"x={x}", "--input", $"y={y}", "--out", outDir, "--threads", "1");
        Assert.AreEqual(0, r.ExitCode, r.Error);
        Assert.AreEqual("", r.Error);

        var logits = NpyFile.Read(Path.Combine(outDir, "logits_0_a.npy"));
        CollectionAssert.AreEqual(new[] { 2, 3 }, logits.Shape);
        CollectionAssert.AreEqual(XValues, logits.Floats);
        CollectionAssert.AreEqual(YValues, NpyFile.Read(Path.Combine(outDir, "y out.npy")).Int64s);
        CollectionAssert.AreEqual(new[] { true, true, true, true }, NpyFile.Read(Path.Combine(outDir, "mask.npy")).Bools);
        CollectionAssert.AreEquivalent(new[] { "logits_0_a.npy", "y out.npy", "mask.npy" }, Directory.GetFiles(outDir).Select(Path.GetFileName).ToArray());

        var lines = r.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.AreEqual(3, lines.Length, r.Output);
        StringAssert.StartsWith(lines[0], "logits:0/a: float[2,3] -> ");
        StringAssert.Contains(lines[0], "logits_0_a.npy");
        StringAssert.Contains(lines[0], "min -7");
        StringAssert.StartsWith(lines[1], "y out: int64[4] -> ");
        StringAssert.StartsWith(lines[2], "mask: bool[4] -> ");
    }

    [TestMethod]
    public void InputsMayShareOneOptionAndSingleInputModelsNeedNoName()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        var (x, y) = Inputs(folder);
        var r = Cli("run", model, "-i", $"y={y}", $"x={x}", "-o", folder.File("out"));
        Assert.AreEqual(0, r.ExitCode, r.Error);

        var single = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "one" } };
        single.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        single.Graph.Input.Add(Value("x", DataType.Float, 2, 3));
        single.Graph.Node.Add(NodeOf("Identity", "id", ["x"], ["y"]));
        single.Graph.Output.Add(Value("y", DataType.Float, 2, 3));
        var singlePath = folder.File("single.onnx");
        OnnxModelFile.Save(single, singlePath);
        r = Cli("run", singlePath, "--input", x, "--out", folder.File("out2"));
        Assert.AreEqual(0, r.ExitCode, r.Error);
        CollectionAssert.AreEqual(XValues, NpyFile.Read(folder.File("out2", "y.npy")).Floats);
    }

    [TestMethod]
    public void MissingInputFileIsFileNotFound()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        var (x, _) = Inputs(folder);
        var r = Cli("run", model, "--input", $"x={x}", "--input", $"y={folder.File("nope.npy")}", "--out", folder.File("out"));
        AssertFails(r, DiagnosticCodes.FileNotFound);
        StringAssert.Contains(r.Error, "nope.npy");
        Assert.IsFalse(Directory.Exists(folder.File("out")), "nothing is written when an input is missing");
    }

    [TestMethod]
    public void UnsupportedOperatorIsReportedBeforeAnythingRuns()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder, extraOp: "FrobnicateNotAnOp");
        // The inputs do not even exist: QB2001 must come from building the engine, before inputs are read.
        var r = Cli("run", model, "--input", $"x={folder.File("missing-x.npy")}", "--input", $"y={folder.File("missing-y.npy")}", "--out", folder.File("out"));
        AssertFails(r, DiagnosticCodes.UnsupportedOperator);
        StringAssert.Contains(r.Error, "FrobnicateNotAnOp");
        StringAssert.Contains(r.Error, "tiny.onnx");
        Assert.AreEqual(ExitCodes.Failed, r.ExitCode);
        Assert.IsFalse(Directory.Exists(folder.File("out")));
    }

    [TestMethod]
    public void CustomDomainOperatorIsUnsupported()
    {
        using var folder = new TempFolder();
        var r = Cli("run", TinyModel(folder, extraOp: "com.example.Identity"), "--out", folder.File("out"));
        AssertFails(r, DiagnosticCodes.UnsupportedOperator);
    }

    [TestMethod]
    public void MissingModelIsFileNotFound()
    {
        using var folder = new TempFolder();
        AssertFails(Cli("run", folder.File("absent.onnx"), "--out", folder.File("out")), DiagnosticCodes.FileNotFound);
    }

    [TestMethod]
    public void CorruptModelIsInvalidModel()
    {
        using var folder = new TempFolder();
        var path = folder.File("bad.onnx");
        File.WriteAllBytes(path, [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]);
        AssertFails(Cli("run", path, "--out", folder.File("out")), DiagnosticCodes.InvalidModel);
    }

    [TestMethod]
    public void InvalidNpyInputIsReported()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        var (_, y) = Inputs(folder);
        var bad = folder.File("bad.npy");
        File.WriteAllText(bad, "this is not numpy");
        var r = Cli("run", model, "--input", $"x={bad}", "--input", $"y={y}", "--out", folder.File("out"));
        AssertFails(r, DiagnosticCodes.InvalidNpy);
        StringAssert.Contains(r.Error, "bad.npy");
    }

    [TestMethod]
    public void InputProblemsAreReportedWithTheirCodes()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        var (x, y) = Inputs(folder);
        var outDir = folder.File("out");

        var missing = Cli("run", model, "--input", $"x={x}", "--out", outDir);
        AssertFails(missing, DiagnosticCodes.MissingInput);
        StringAssert.Contains(missing.Error, "'y'");

        AssertFails(Cli("run", model, "--input", $"x={x}", "--input", $"y={y}", "--input", $"w={y}", "--out", outDir), DiagnosticCodes.InvalidArguments);
        AssertFails(Cli("run", model, "--input", $"x={x}", "--input", $"x={x}", "--input", $"y={y}", "--out", outDir), DiagnosticCodes.InvalidArguments);
        AssertFails(Cli("run", model, "--input", x, "--input", $"y={y}", "--out", outDir), DiagnosticCodes.InvalidArguments);

        // Wrong dtype for an input: the engine's own check.
        var wrongType = Cli("run", model, "--input", $"x={y}", "--input", $"y={y}", "--out", outDir);
        AssertFails(wrongType, DiagnosticCodes.InvalidInputValue);
    }

    [TestMethod]
    public void CommandLineErrorsAreQb3001WithExitCode2()
    {
        using var folder = new TempFolder();
        var model = TinyModel(folder);
        foreach (var args in new[]
                 {
                     Array.Empty<string>(),
                     new[] { "run" },
                     new[] { "run", model },
                     new[] { "run", model, "--out", "o", "--threads", "many" },
                     new[] { "run", model, "--out", "o", "--threads", "0" },
                     new[] { "frobnicate" },
                 })
        {
            var r = Cli(args);
            AssertFails(r, DiagnosticCodes.InvalidArguments);
            Assert.AreEqual(ExitCodes.InvalidArguments, r.ExitCode, string.Join(" ", args));
        }
    }

    [TestMethod]
    public void HelpWorksForTheRootAndTheRunVerb()
    {
        var root = Cli("--help");
        Assert.AreEqual(0, root.ExitCode, root.Error);
        StringAssert.Contains(root.Output, "run");
        StringAssert.Contains(root.Output, "Usage:");

        var run = Cli("run", "--help");
        Assert.AreEqual(0, run.ExitCode, run.Error);
        foreach (var option in new[] { "--input", "--out", "--threads", "NAME=FILE.npy" })
            StringAssert.Contains(run.Output, option);
        Assert.AreEqual("", run.Error);
    }

    [TestMethod]
    public void UnexpectedExceptionsBecomeQb3999WithoutAStackTrace()
    {
        RootCommand Broken(TextWriter _)
        {
            var root = new RootCommand("test");
            var verb = new Command("explode");
            verb.SetAction((Func<ParseResult, int>)(_ => throw new InvalidOperationException("the flux capacitor is empty")));
            root.Subcommands.Add(verb);
            return root;
        }
        var output = new StringWriter();
        var error = new StringWriter();
        int code = QuantBuildCli.Run(["explode"], output, error, Broken);
        var r = new CliResult(code, output.ToString(), error.ToString());
        AssertFails(r, DiagnosticCodes.InternalError);
        StringAssert.Contains(r.Error, "the flux capacitor is empty");
        Assert.AreEqual(ExitCodes.InternalError, r.ExitCode);
    }

    [TestMethod]
    public void OutputFileNamesAreSafeAndDistinct()
    {
        Assert.AreEqual("logits_0", OutputFileNames.Sanitize("logits:0"));
        Assert.AreEqual("a_b_c_d_e_f_g_h_i_", OutputFileNames.Sanitize("a/b\\c<d>e|f?g*h\"i\t"));
        Assert.AreEqual("output", OutputFileNames.Sanitize(""));
        Assert.AreEqual("output", OutputFileNames.Sanitize(".."));
        Assert.AreEqual("name", OutputFileNames.Sanitize("name. "));
        Assert.AreEqual("_CON", OutputFileNames.Sanitize("CON"));
        Assert.AreEqual("_nul.txt", OutputFileNames.Sanitize("nul.txt"));
        Assert.AreEqual("CONSOLE", OutputFileNames.Sanitize("CONSOLE"));

        var names = OutputFileNames.Assign(["a:b", "a/b", "A_B", "c"]);
        Assert.AreEqual("a_b.npy", names["a:b"]);
        Assert.AreEqual("a_b_2.npy", names["a/b"]);
        Assert.AreEqual("A_B_3.npy", names["A_B"], "collisions are case-insensitive, as on Windows and macOS");
        Assert.AreEqual("c.npy", names["c"]);
    }
}
