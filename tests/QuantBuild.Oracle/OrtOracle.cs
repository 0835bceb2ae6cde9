using QuantBuild.Onnx.IO;
using System.Diagnostics;
using System.Text.Json;
using QuantBuild.Tensors;

namespace QuantBuild.Oracle;

/// <summary>Timing of <c>session.run</c> measured by ort-run.js bench (one thread).</summary>
public sealed record OrtTiming(double MedianMs, double MeanMs, double MinMs, int Iters);

public sealed class OracleException(string message) : Exception(message);

/// <summary>ONNX Runtime's graph optimization level (ort-run.js <c>--optimization</c>).</summary>
public enum OrtOptimization
{
    /// <summary>The graph as written: a QDQ file runs DequantizeLinear → float op → QuantizeLinear, its meaning on every CPU.</summary>
    Disabled,
    Basic,
    Extended,
    /// <summary>ORT's default: QDQ groups fuse into integer kernels whose results depend on the CPU (see docs/qdq-encoding.md).</summary>
    All,
}

/// <summary>
/// Drives ONNX Runtime (onnxruntime-node, through tests/oracle/ort-run.js) as a separate process:
/// the accuracy oracle and the speed anchor for our engine. An oracle runs at one graph optimization
/// level (<see cref="All"/>, ORT's default, unless made with <see cref="WithOptimization"/>).
/// </summary>
public sealed class OrtOracle
{
    private readonly string _script;
    private readonly string _node;

    public OrtOracle(string repoRoot, string nodeExecutable = "node", OrtOptimization optimization = OrtOptimization.All)
    {
        _script = Path.Combine(repoRoot, "tests", "oracle", "ort-run.js");
        if (!File.Exists(_script)) throw new OracleException($"the ONNX Runtime oracle script is missing: {_script}");
        _node = nodeExecutable;
        Optimization = optimization;
    }

    private OrtOracle(OrtOracle other, OrtOptimization optimization)
    {
        _script = other._script;
        _node = other._node;
        Optimization = optimization;
    }

    public OrtOptimization Optimization { get; }

    /// <summary>The same runtime at another graph optimization level.</summary>
    public OrtOracle WithOptimization(OrtOptimization optimization) => new(this, optimization);

    /// <summary>
    /// ONNX Runtime with graph optimizations disabled: what a QDQ file means (plain DequantizeLinear →
    /// float op → QuantizeLinear), the same on every CPU. Tests compare our integer runtime with this;
    /// ORT's fused integer kernels (<see cref="OrtOptimization.All"/>) are measured by the benchmarks.
    /// </summary>
    public OrtOracle QdqMeaning() => WithOptimization(OrtOptimization.Disabled);

    /// <summary>Same rule as ort-run.js and `quantbuild run`: characters invalid in file names on common OSes become '_'.</summary>
    public static string SafeFileName(string valueName) =>
        string.Concat(valueName.Select(c => c < ' ' || "<>:\"/\\|?*".Contains(c) ? '_' : c));

    /// <summary>Runs the model in ONNX Runtime and returns the requested outputs by name.</summary>
    public Dictionary<string, Tensor> Run(string modelPath, IReadOnlyDictionary<string, string> inputFiles, IEnumerable<string> outputNames) =>
        RunChunked(modelPath, inputFiles, outputNames, chunk: 0);

    /// <summary>
    /// Like <see cref="Run"/> for many samples in one process: each input file is a stack along axis 0,
    /// run <paramref name="chunk"/> rows at a time (1 for fixed-batch models), outputs stacked along axis 0.
    /// A chunk of 0 runs the inputs as they are, in one session.run.
    /// </summary>
    public Dictionary<string, Tensor> RunChunked(string modelPath, IReadOnlyDictionary<string, string> inputFiles, IEnumerable<string> outputNames, int chunk)
    {
        var outDir = Directory.CreateTempSubdirectory("qb-ort-").FullName;
        try
        {
            Invoke(["run", modelPath, .. InputArgs(inputFiles), "--out", outDir, .. chunk > 0 ? new[] { "--chunk", chunk.ToString() } : []]);
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var name in outputNames)
            {
                var file = Path.Combine(outDir, SafeFileName(name) + ".npy");
                if (!File.Exists(file)) throw new OracleException($"ONNX Runtime produced no output '{name}' for {modelPath}");
                result[name] = NpyFile.Read(file);
            }
            return result;
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    /// <summary>Times session.run in ONNX Runtime with one intra-op and one inter-op thread.</summary>
    public OrtTiming Bench(string modelPath, IReadOnlyDictionary<string, string> inputFiles, int warmup, int iters)
    {
        var json = Invoke(["bench", modelPath, .. InputArgs(inputFiles), "--warmup", warmup.ToString(), "--iters", iters.ToString()]);
        using var doc = JsonDocument.Parse(json);
        var r = doc.RootElement;
        return new OrtTiming(r.GetProperty("median_ms").GetDouble(), r.GetProperty("mean_ms").GetDouble(),
            r.GetProperty("min_ms").GetDouble(), r.GetProperty("iters").GetInt32());
    }

    private static IEnumerable<string> InputArgs(IReadOnlyDictionary<string, string> inputFiles) =>
        inputFiles.SelectMany(kv => new[] { "--input", $"{kv.Key}={kv.Value}" });

    private string Invoke(IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(_node)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(_script);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.ArgumentList.Add("--optimization");
        start.ArgumentList.Add(Optimization.ToString().ToLowerInvariant());
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new OracleException($"could not start '{_node}'");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new OracleException($"could not start Node.js ('{_node}'): {e.Message}; Node 20 is needed for the ONNX Runtime oracle");
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
            {
                process.Kill(entireProcessTree: true);
                throw new OracleException("ort-run.js did not finish within 10 minutes");
            }
            if (process.ExitCode != 0)
                throw new OracleException($"ort-run.js {string.Join(' ', start.ArgumentList.Skip(1).Take(2))} failed (exit {process.ExitCode}): {stderr.Result.Trim()}");
            return stdout.Result;
        }
    }
}
