using System.Diagnostics;
using Microsoft.ML.OnnxRuntime;
using Tensor = QuantBuild.Tensors.Tensor;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;
using QuantBuild.Verification;

namespace QuantBuild.Oracle;

/// <summary>Timing of <c>InferenceSession.Run</c> (one intra-op and one inter-op thread).</summary>
public sealed record OrtTiming(double MedianMs, double MeanMs, double MinMs, int Iters);

public sealed class OracleException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>ONNX Runtime's graph optimization level.</summary>
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
/// ONNX Runtime (the <c>Microsoft.ML.OnnxRuntime</c> package, <see cref="Version"/>) in this process: the
/// accuracy oracle and the speed anchor for our engine. Every session runs sequentially on one intra-op
/// and one inter-op thread, so timings compare with our single-threaded runtime. An oracle runs at one
/// graph optimization level (<see cref="OrtOptimization.All"/>, ORT's default, unless made with
/// <see cref="WithOptimization"/>).
/// </summary>
public sealed class OrtOracle
{
    /// <summary>The ONNX Runtime package version every figure is measured with (Directory.Build.targets pins it).</summary>
    public static string Version => OrtEnv.Instance().GetVersionString();

    public OrtOracle(OrtOptimization optimization = OrtOptimization.All) => Optimization = optimization;

    public OrtOptimization Optimization { get; }

    /// <summary>The same runtime at another graph optimization level.</summary>
    public OrtOracle WithOptimization(OrtOptimization optimization) => new(optimization);

    /// <summary>
    /// ONNX Runtime with graph optimizations disabled: what a QDQ file means (plain DequantizeLinear →
    /// float op → QuantizeLinear), the same on every CPU. Tests compare our integer runtime with this;
    /// ORT's fused integer kernels (<see cref="OrtOptimization.All"/>) are measured by the benchmarks.
    /// </summary>
    public OrtOracle QdqMeaning() => WithOptimization(OrtOptimization.Disabled);

    /// <summary>Characters invalid in file names on common OSes become '_' (the rule of `quantbuild run` for output files).</summary>
    public static string SafeFileName(string valueName) =>
        string.Concat(valueName.Select(c => c < ' ' || "<>:\"/\\|?*".Contains(c) ? '_' : c));

    /// <summary>The model's output names in ONNX Runtime's order (the graph's).</summary>
    public IReadOnlyList<string> OutputNames(string modelPath)
    {
        using var session = Open(modelPath);
        return session.OutputNames.ToList();
    }

    /// <summary>Runs the model on inputs read from .npy files and returns the requested outputs by name.</summary>
    public Dictionary<string, Tensor> Run(string modelPath, IReadOnlyDictionary<string, string> inputFiles, IEnumerable<string> outputNames) =>
        Run(modelPath, ReadInputs(inputFiles), outputNames);

    /// <summary>Runs the model on in-memory inputs and returns the requested outputs by name.</summary>
    public Dictionary<string, Tensor> Run(string modelPath, IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string> outputNames) =>
        RunChunked(modelPath, inputs, outputNames, chunk: 0);

    /// <summary>
    /// Like <see cref="Run(string, IReadOnlyDictionary{string, string}, IEnumerable{string})"/> for many samples in one
    /// session: each input is a stack along axis 0, run <paramref name="chunk"/> rows at a time (1 for fixed-batch
    /// models), outputs stacked along axis 0. A chunk of 0 runs the inputs as they are, in one Run.
    /// </summary>
    public Dictionary<string, Tensor> RunChunked(string modelPath, IReadOnlyDictionary<string, string> inputFiles, IEnumerable<string> outputNames, int chunk) =>
        RunChunked(modelPath, ReadInputs(inputFiles), outputNames, chunk);

    public Dictionary<string, Tensor> RunChunked(string modelPath, IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string> outputNames, int chunk)
    {
        var names = outputNames.Distinct(StringComparer.Ordinal).ToArray();
        using var session = Open(modelPath);
        CheckFeeds(session, inputs);
        foreach (var n in names)
            if (!session.OutputNames.Contains(n)) throw new OracleException($"ONNX Runtime produced no output '{n}' for {modelPath} (outputs: {string.Join(", ", session.OutputNames)})");
        int rows = chunk > 0 ? SharedRowCount(inputs, chunk) : 1;
        var parts = names.ToDictionary(n => n, _ => new List<Tensor>(), StringComparer.Ordinal);
        for (int start = 0; start < rows; start += Math.Max(chunk, 1))
        {
            var feeds = chunk > 0 ? inputs.ToDictionary(kv => kv.Key, kv => SliceRows(kv.Value, start, chunk)) : inputs;
            foreach (var (name, value) in RunOnce(session, feeds, names, modelPath)) parts[name].Add(value);
        }
        return parts.ToDictionary(kv => kv.Key, kv => kv.Value.Count == 1 ? kv.Value[0] : StackRows(kv.Value), StringComparer.Ordinal);
    }

    /// <summary>
    /// An open session of a model with one float input and one float output, run many times on buffers of a fixed
    /// shape (a stream, chunk by chunk); the session stays open until the returned object is disposed.
    /// </summary>
    public OrtStreamingModel OpenStreaming(string modelPath, params long[] inputShape)
    {
        var session = Open(modelPath);
        if (session.InputNames.Count != 1 || session.OutputNames.Count != 1)
        {
            session.Dispose();
            throw new OracleException($"{modelPath}: a streaming model has one input and one output, not {session.InputNames.Count} and {session.OutputNames.Count}");
        }
        return new OrtStreamingModel(session, modelPath, inputShape);
    }

    /// <summary>Times session.Run (inputs bound once, outputs read back each run as a user's code would).</summary>
    public OrtTiming Bench(string modelPath, IReadOnlyDictionary<string, string> inputFiles, int warmup, int iters)
    {
        var inputs = ReadInputs(inputFiles);
        using var session = Open(modelPath);
        CheckFeeds(session, inputs);
        var outputs = session.OutputNames.ToArray();
        var values = new List<OrtValue>();
        try
        {
            foreach (var name in session.InputNames) values.Add(ToOrtValue(inputs[name]));
            var inputNames = session.InputNames.ToArray();
            using var runOptions = new RunOptions();
            for (int i = 0; i < warmup; i++) session.Run(runOptions, inputNames, values, outputs).Dispose();
            var times = new double[iters];
            for (int i = 0; i < iters; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                session.Run(runOptions, inputNames, values, outputs).Dispose();
                times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
            var sorted = times.Order().ToArray();
            double median = sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
            return new OrtTiming(median, times.Average(), sorted[0], iters);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OracleException($"ONNX Runtime failed on {modelPath}: {e.Message}", e);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private InferenceSession Open(string modelPath)
    {
        if (!File.Exists(modelPath)) throw new OracleException($"model not found: {modelPath}");
        var options = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = Optimization switch
            {
                OrtOptimization.Disabled => GraphOptimizationLevel.ORT_DISABLE_ALL,
                OrtOptimization.Basic => GraphOptimizationLevel.ORT_ENABLE_BASIC,
                OrtOptimization.Extended => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                _ => GraphOptimizationLevel.ORT_ENABLE_ALL,
            },
            // Errors only: tf2onnx models trigger harmless unused-initializer warnings.
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        try
        {
            return new InferenceSession(modelPath, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OracleException($"ONNX Runtime cannot load {modelPath}: {e.Message}", e);
        }
        finally
        {
            options.Dispose();
        }
    }

    private static Dictionary<string, Tensor> ReadInputs(IReadOnlyDictionary<string, string> inputFiles)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, file) in inputFiles)
        {
            if (!File.Exists(file)) throw new OracleException($"input file not found: {file}");
            result[name] = NpyFile.Read(file);
        }
        return result;
    }

    private static void CheckFeeds(InferenceSession session, IReadOnlyDictionary<string, Tensor> inputs)
    {
        foreach (var name in inputs.Keys)
            if (!session.InputNames.Contains(name)) throw new OracleException($"model has no input '{name}' (inputs: {string.Join(", ", session.InputNames)})");
        var missing = session.InputNames.Where(n => !inputs.ContainsKey(n)).ToList();
        if (missing.Count > 0) throw new OracleException($"missing input(s): {string.Join(", ", missing)}");
    }

    private static Dictionary<string, Tensor> RunOnce(InferenceSession session, IReadOnlyDictionary<string, Tensor> feeds, string[] outputNames, string modelPath)
    {
        var inputNames = feeds.Keys.ToArray();
        var values = inputNames.Select(n => ToOrtValue(feeds[n])).ToList();
        try
        {
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, inputNames, values, outputNames);
            var output = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            for (int i = 0; i < outputNames.Length; i++) output[outputNames[i]] = FromOrtValue(results[i], outputNames[i]);
            return output;
        }
        catch (OnnxRuntimeException e)
        {
            throw new OracleException($"ONNX Runtime failed on {modelPath}: {e.Message}", e);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    private static OrtValue ToOrtValue(Tensor t)
    {
        try { return OrtTensors.ToOrtValue(t); }
        catch (NotSupportedException e) { throw new OracleException($"the oracle cannot feed this input: {e.Message}", e); }
    }

    private static Tensor FromOrtValue(OrtValue value, string name)
    {
        try { return OrtTensors.FromOrtValue(value, name); }
        catch (NotSupportedException e) { throw new OracleException(e.Message, e); }
    }

    /// <summary>Rows along axis 0 that every input shares, checked to split into chunks of <paramref name="chunk"/>.</summary>
    private static int SharedRowCount(IReadOnlyDictionary<string, Tensor> inputs, int chunk)
    {
        var first = inputs.First();
        int rows = first.Value.Rank == 0 ? throw new OracleException($"chunked run: input '{first.Key}' is a scalar") : first.Value.Shape[0];
        foreach (var (name, t) in inputs)
            if (t.Rank == 0 || t.Shape[0] != rows)
                throw new OracleException($"chunked run: every input needs the same axis-0 length ({first.Key} has {rows}, {name} has {t.ShapeString})");
        if (rows % chunk != 0) throw new OracleException($"chunked run: {chunk} does not divide the {rows} rows of the inputs");
        return rows;
    }

    private static Tensor SliceRows(Tensor t, int start, int count)
    {
        int rowSize = t.Length / t.Shape[0];
        var data = Array.CreateInstance(t.Data.GetType().GetElementType()!, rowSize * count);
        Array.Copy(t.Data, (long)start * rowSize, data, 0, (long)rowSize * count);
        return new Tensor(t.Type, [count, .. t.Shape.ToArray().AsSpan(1)], data);
    }

    private static Tensor StackRows(List<Tensor> parts)
    {
        var first = parts[0];
        var data = Array.CreateInstance(first.Data.GetType().GetElementType()!, parts.Sum(p => p.Length));
        long at = 0;
        foreach (var p in parts) { Array.Copy(p.Data, 0, data, at, p.Length); at += p.Length; }
        int[] shape = first.Shape.ToArray();
        shape[0] = parts.Sum(p => p.Shape[0]);
        return new Tensor(first.Type, shape, data);
    }
}

/// <summary>See <see cref="OrtOracle.OpenStreaming"/>.</summary>
public sealed class OrtStreamingModel : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string _modelPath;
    private readonly long[] _inputShape;
    private readonly string[] _inputNames, _outputNames;

    internal OrtStreamingModel(InferenceSession session, string modelPath, long[] inputShape)
    {
        _session = session;
        _modelPath = modelPath;
        _inputShape = inputShape;
        _inputNames = [.. session.InputNames];
        _outputNames = [.. session.OutputNames];
    }

    /// <summary>Runs the model on <paramref name="input"/> (the shape given at open) and copies its output into <paramref name="output"/>, whose length must match.</summary>
    public void Run(ReadOnlySpan<float> input, Span<float> output)
    {
        using var value = OrtValue.CreateTensorValueFromMemory(input.ToArray(), _inputShape);
        try
        {
            using var runOptions = new RunOptions();
            using var results = _session.Run(runOptions, _inputNames, [value], _outputNames);
            var result = results[0].GetTensorDataAsSpan<float>();
            if (result.Length != output.Length) throw new OracleException($"{_modelPath}: output of {result.Length} values, expected {output.Length}");
            result.CopyTo(output);
        }
        catch (OnnxRuntimeException e)
        {
            throw new OracleException($"ONNX Runtime failed on {_modelPath}: {e.Message}", e);
        }
    }

    public void Dispose() => _session.Dispose();
}
