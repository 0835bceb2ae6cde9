using QuantBuild.Onnx.IO;
using QuantBuild.Oracle;

/// <summary>
/// <c>ort-run MODEL.onnx --input NAME=FILE.npy ... --out DIR [--chunk K] [--optimization disabled|basic|extended|all]</c>:
/// runs a model in ONNX Runtime (in process, <see cref="OrtOracle"/>: one thread) and writes DIR/&lt;output&gt;.npy per
/// model output (file names by <see cref="OrtOracle.SafeFileName"/>). With <c>--chunk K</c> every input is a stack
/// along axis 0 run K rows at a time, and each output is the runs' outputs stacked. The asset scripts
/// (tests/oracle/make-inputs.py, make-task-data.py) chain models with it while generating inputs; it replaced a
/// Node script on onnxruntime-node, so generating assets needs no Node.
/// </summary>
static class OrtRunCommand
{
    public const string Usage = "usage: QuantBuild.Benchmarks ort-run MODEL.onnx --input NAME=FILE.npy ... --out DIR [--chunk K] [--optimization disabled|basic|extended|all]";

    public static int Run(string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException(Usage);
        var model = Path.GetFullPath(args[0]);
        var inputs = new Dictionary<string, string>(StringComparer.Ordinal);
        string? outDir = null;
        int chunk = 0;
        var optimization = OrtOptimization.All;
        for (int i = 1; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--input": AddInput(inputs, Value()); break;
                case "--out": outDir = Path.GetFullPath(Value()); break;
                case "--chunk":
                    chunk = int.TryParse(Value(), out var k) && k >= 1 ? k : throw new ArgumentException($"--chunk expects a positive integer, got '{args[i]}'");
                    break;
                case "--optimization":
                    optimization = Value() switch
                    {
                        "disabled" => OrtOptimization.Disabled,
                        "basic" => OrtOptimization.Basic,
                        "extended" => OrtOptimization.Extended,
                        "all" => OrtOptimization.All,
                        var other => throw new ArgumentException($"--optimization expects disabled|basic|extended|all, got '{other}'"),
                    };
                    break;
                default: throw new ArgumentException($"unknown option '{args[i]}'\n{Usage}");
            }
        }
        if (outDir is null) throw new ArgumentException("ort-run needs --out DIR");
        var oracle = new OrtOracle(optimization);
        var outputs = oracle.OutputNames(model);
        var results = oracle.RunChunked(model, inputs, outputs, chunk);
        Directory.CreateDirectory(outDir);
        foreach (var name in outputs) NpyFile.Write(Path.Combine(outDir, OrtOracle.SafeFileName(name) + ".npy"), results[name]);
        return 0;
    }

    /// <summary>One <c>--input NAME=FILE.npy</c> value (this command's and the benchmarks' ad-hoc model option).</summary>
    public static void AddInput(Dictionary<string, string> inputs, string value)
    {
        int eq = value.IndexOf('=');
        if (eq <= 0) throw new ArgumentException($"--input expects NAME=FILE.npy, got '{value}'");
        inputs[value[..eq]] = Path.GetFullPath(value[(eq + 1)..]);
    }
}
