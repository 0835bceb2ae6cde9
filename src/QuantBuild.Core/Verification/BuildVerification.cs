using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Tensors;

namespace QuantBuild.Verification;

/// <summary>
/// How one quantized artifact agrees with the float model on one output over the verify samples.
/// </summary>
/// <param name="Top1Rows">rows compared by arg-max over the last axis (0 when the output has no class axis: last axis of 1)</param>
/// <param name="Top1Agree">rows whose arg-max matches the float model's</param>
/// <param name="SqnrDb">10·log10(Σ ref² / Σ (ref − ours)²) over every element of every sample; +∞ when identical</param>
/// <param name="MaxAbsError">largest |ref − ours| over every element of every sample</param>
public sealed record OutputAgreement(string Output, int Top1Rows, int Top1Agree, double SqnrDb, double MaxAbsError)
{
    public double? Top1Agreement => Top1Rows == 0 ? null : (double)Top1Agree / Top1Rows;
}

/// <summary>One quantized artifact the build emits, measured against the float model.</summary>
/// <param name="Artifact">"qdq-onnx" (the .quant.onnx in ONNX Runtime) or "integer-plan" (the generated C#'s plan, run in process)</param>
public sealed record ArtifactAgreement(string Artifact, IReadOnlyList<OutputAgreement> Outputs);

/// <summary>What build-time verification measured (docs/verify.md), and which thresholds it missed.</summary>
public sealed record VerifyResult(int Samples, string OnnxRuntimeVersion, VerifySettings Settings, IReadOnlyList<ArtifactAgreement> Artifacts, IReadOnlyList<string> Failures)
{
    /// <summary>One line per artifact and output, for the build log.</summary>
    public IEnumerable<string> LogLines() => LogLines(Samples, Artifacts);

    /// <summary>
    /// <see cref="LogLines()"/> again from a report's "verify" section (a build restored from the result cache prints what
    /// its quantization printed); none when the report has no verify section. The report holds the figures rounded
    /// (SQNR to 0.01 dB, errors to 4 significant digits), which the lines' own formats reproduce.
    /// </summary>
    public static IEnumerable<string> LogLinesOfReport(byte[] reportJson) =>
        Emit.VerifyReportSection.Read(reportJson) is { } section ? LogLines(section.Samples, section.Artifacts) : [];

    private static IEnumerable<string> LogLines(int samples, IReadOnlyList<ArtifactAgreement> artifacts) =>
        artifacts.SelectMany(a => a.Outputs.Select(o => $"{LogPrefix(a.Artifact)}output '{o.Output}' vs fp32 ONNX Runtime on {samples} sample{(samples == 1 ? "" : "s")}: {Describe(o)}"));

    /// <summary>Whether a progress line is one of <see cref="LogLines"/> (MSBuild shows those at normal verbosity).</summary>
    public static bool IsLogLine(string line) =>
        line.StartsWith(LogPrefix(BuildVerification.QdqArtifact), StringComparison.Ordinal) || line.StartsWith(LogPrefix(BuildVerification.IntegerArtifact), StringComparison.Ordinal);

    private static string LogPrefix(string artifact) => $"verify: {artifact} ";

    internal static string Describe(OutputAgreement o) =>
        (o.Top1Agreement is double t ? $"top-1 {Format(100 * t, "0.0")}% ({o.Top1Agree}/{o.Top1Rows}), " : "") +
        // SQNR from its 0.01 dB rounding, as the report stores it: a line restored from the report reads the same.
        $"SQNR {(double.IsPositiveInfinity(o.SqnrDb) ? "+inf" : Format(Math.Round(o.SqnrDb, 2), "0.0"))} dB, max |error| {Format(o.MaxAbsError, "G4")}";

    private static string Format(double x, string format) => x.ToString(format, CultureInfo.InvariantCulture);
}

/// <summary>
/// Build-time verification (the sidecar's <c>verify</c>, docs/verify.md): runs the original fp32 model and the QDQ file
/// in ONNX Runtime (in the tool process, one thread, graph optimizations off so the QDQ file computes what it means on
/// every CPU) and the integer plan of the generated C# on the held-out samples, and compares both with the fp32 model per
/// output. Samples are read by the calibration code (<see cref="CalibrationPlan"/>), in its fixed order, and sums are
/// accumulated in that order, so the figures are the same on every run.
/// </summary>
public static class BuildVerification
{
    public const string QdqArtifact = "qdq-onnx", IntegerArtifact = "integer-plan";

    /// <param name="qdqModel">the .quant.onnx bytes (null when the sidecar turns the ONNX output off)</param>
    /// <param name="plan">the generated C#'s plan (null when the sidecar turns C# off)</param>
    public static VerifyResult Run(string modelPath, PipelineResult pipeline, byte[]? qdqModel, KernelPlan? plan, IProgress<string>? progress = null)
    {
        var settings = pipeline.Settings;
        var verify = settings.Verify ?? throw new InvalidOperationException("the sidecar has no verify object");
        var samplesPlan = pipeline.VerifyPlan ?? throw new InvalidOperationException("the pipeline resolved no verify samples");
        var sidecar = settings.SourcePath;
        string version = OnnxRuntimeLibrary.Require(sidecar, verify.Line, verify.Column);

        using var options = new SessionOptions
        {
            IntraOpNumThreads = 1,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL,
            LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR,
        };
        using var fp32 = OpenSession(() => new InferenceSession(modelPath, options), "the fp32 model", modelPath);
        using var qdq = qdqModel is null ? null : OpenSession(() => new InferenceSession(qdqModel, options), "the QDQ model", modelPath);
        var runner = plan is null ? null : new IntegerModelRunner(plan);
        var outputs = fp32.OutputNames.ToArray();

        var sums = new Dictionary<string, Sums[]>(StringComparer.Ordinal);
        if (qdq is not null) sums[QdqArtifact] = outputs.Select(_ => new Sums()).ToArray();
        if (runner is not null) sums[IntegerArtifact] = outputs.Select(_ => new Sums()).ToArray();

        int samples = 0;
        var graph = pipeline.Model.Graph;
        foreach (var sample in CalibrationRunner.EnumerateSamples(graph, samplesPlan, verify.Samples.MaxSamples, sidecar, progress: progress))
        {
            var where = string.Join(", ", sample.Files);
            var reference = RunSession(fp32, sample.Feeds, outputs, modelPath, where);
            if (qdq is not null)
            {
                var got = RunSession(qdq, sample.Feeds, outputs, modelPath, where);
                for (int o = 0; o < outputs.Length; o++) Fold(sums[QdqArtifact][o], reference[o], got[o].ToFloatArray(), QdqArtifact, outputs[o], where, modelPath);
            }
            if (runner is not null)
            {
                Dictionary<string, Tensor> got;
                try { got = runner.Run(sample.Feeds); }
                catch (QuantBuildException e)
                {
                    throw new QuantBuildException(e.Code, $"verify sample {samples + 1} ({where}): the integer plan cannot run it: {e.Message}", sidecar, verify.Line, verify.Column, inner: e);
                }
                for (int o = 0; o < outputs.Length; o++)
                    Fold(sums[IntegerArtifact][o], reference[o], got.TryGetValue(outputs[o], out var t) ? t.ToFloatArray() : [], IntegerArtifact, outputs[o], where, modelPath);
            }
            samples++;
        }
        var artifacts = sums.Select(kv => new ArtifactAgreement(kv.Key, outputs.Select((name, o) => kv.Value[o].Result(name)).ToList())).ToList();
        return new VerifyResult(samples, version, verify, artifacts, Failures(verify, artifacts, sidecar).ToList());
    }

    /// <summary>
    /// Fails the build (QB4107 at the first missed threshold's line) when a threshold is missed; the message holds every
    /// miss with its figures. A minTop1Agreement with no output that has a class axis is QB3101: it could never be checked.
    /// </summary>
    public static void ThrowIfFailed(VerifyResult result, string? sidecar)
    {
        if (result.Failures.Count == 0) return;
        var (key, _) = FirstMiss(result);
        var (line, column) = result.Settings.KeyPositions.TryGetValue(key, out var at) ? at : (result.Settings.Line, result.Settings.Column);
        throw new QuantBuildException(DiagnosticCodes.VerificationFailed,
            $"verification on {result.Samples} held-out sample{(result.Samples == 1 ? "" : "s")} missed {(result.Failures.Count == 1 ? "a threshold" : $"{result.Failures.Count} thresholds")}: " +
            string.Join("; ", result.Failures) + ". Nothing was written", sidecar, line, column);
    }

    private static (string Key, string Message) FirstMiss(VerifyResult result)
    {
        var first = result.Failures[0];
        foreach (var key in new[] { "minTop1Agreement", "minSqnrDb", "maxAbsError" })
            if (first.Contains("verify." + key, StringComparison.Ordinal)) return (key, first);
        return ("", first);
    }

    private static IEnumerable<string> Failures(VerifySettings verify, IReadOnlyList<ArtifactAgreement> artifacts, string? sidecar)
    {
        if (verify.MinTop1Agreement is not null && artifacts.Count > 0 && artifacts[0].Outputs.All(o => o.Top1Rows == 0))
        {
            var (line, column) = verify.KeyPositions.TryGetValue("minTop1Agreement", out var at) ? at : (verify.Line, verify.Column);
            throw new QuantBuildException(DiagnosticCodes.InvalidConfiguration,
                "verify.minTop1Agreement needs an output with a class axis (last axis longer than 1), but every model output has a last axis of 1; use minSqnrDb or maxAbsError",
                sidecar, line, column);
        }
        foreach (var a in artifacts)
        {
            foreach (var o in a.Outputs)
            {
                string what = $"{a.Artifact} output '{o.Output}'";
                if (verify.MinTop1Agreement is double minTop1 && o.Top1Agreement is double top1 && top1 < minTop1)
                    yield return $"{what} agrees on top-1 for {Percent(top1)} ({o.Top1Agree}/{o.Top1Rows}), below verify.minTop1Agreement {Percent(minTop1)}";
                if (verify.MinSqnrDb is double minSqnr && o.SqnrDb < minSqnr)
                    yield return $"{what} has an SQNR of {o.SqnrDb.ToString("0.0", CultureInfo.InvariantCulture)} dB, below verify.minSqnrDb {minSqnr.ToString("0.0##", CultureInfo.InvariantCulture)} dB";
                if (verify.MaxAbsError is double maxError && o.MaxAbsError > maxError)
                    yield return $"{what} differs by up to {o.MaxAbsError.ToString("G4", CultureInfo.InvariantCulture)}, above verify.maxAbsError {maxError.ToString("G4", CultureInfo.InvariantCulture)}";
            }
        }
    }

    private static string Percent(double share) => (100 * share).ToString("0.0##", CultureInfo.InvariantCulture) + "%";

    private static InferenceSession OpenSession(Func<InferenceSession> open, string what, string modelPath)
    {
        try { return open(); }
        catch (OnnxRuntimeException e)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidQdqModel, $"verify: ONNX Runtime cannot load {what}: {e.Message}", modelPath, inner: e);
        }
    }

    private static void Fold(Sums sums, Tensor reference, float[] ours, string artifact, string output, string where, string modelPath)
    {
        if (!sums.Add(reference, ours))
            throw new QuantBuildException(DiagnosticCodes.VerificationFailed,
                $"verify: the {artifact} gives {ours.Length} values for output '{output}' on the sample from {where}, the fp32 model {reference.Length} ({reference.ShapeString})", modelPath);
    }

    private static Tensor[] RunSession(InferenceSession session, IReadOnlyDictionary<string, Tensor> feeds, string[] outputs, string modelPath, string where)
    {
        var names = feeds.Keys.ToArray();
        var values = new List<OrtValue>();
        try
        {
            foreach (var n in names) values.Add(OrtTensors.ToOrtValue(feeds[n]));
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, names, values, outputs);
            return outputs.Select((name, i) => OrtTensors.FromOrtValue(results[i], name)).ToArray();
        }
        catch (Exception e) when (e is OnnxRuntimeException or NotSupportedException)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidQdqModel, $"verify: ONNX Runtime failed on the sample from {where}: {e.Message}", modelPath, inner: e);
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    /// <summary>Running sums of one output of one artifact, in sample order (double precision: deterministic, no loss over many samples).</summary>
    private sealed class Sums
    {
        private double _signal, _error, _maxAbs;
        private int _rows, _agree;

        /// <summary>Folds one sample in; false when <paramref name="ours"/> does not have the reference's element count.</summary>
        public bool Add(Tensor reference, float[] ours)
        {
            var r = reference.ToFloatArray();
            if (ours.Length != r.Length) return false;
            for (int i = 0; i < r.Length; i++)
            {
                double e = (double)r[i] - ours[i];
                _signal += (double)r[i] * r[i];
                _error += e * e;
                _maxAbs = Math.Max(_maxAbs, Math.Abs(e));
            }
            // Top-1 over the last axis, row by row (a row-major [.., classes] output); an output whose last axis is 1 has no classes.
            int classes = reference.Rank == 0 ? 1 : reference.Shape[^1];
            if (classes > 1)
            {
                for (int start = 0; start + classes <= r.Length; start += classes)
                {
                    _rows++;
                    if (ArgMax(r.AsSpan(start, classes)) == ArgMax(ours.AsSpan(start, classes))) _agree++;
                }
            }
            return true;
        }

        /// <summary>First index of the largest value (NaN never wins), so ties resolve the same way for both models.</summary>
        private static int ArgMax(ReadOnlySpan<float> row)
        {
            int best = 0;
            for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
            return best;
        }

        public OutputAgreement Result(string name)
        {
            double sqnr = _error == 0 ? double.PositiveInfinity : _signal == 0 ? double.NegativeInfinity : 10 * Math.Log10(_signal / _error);
            return new OutputAgreement(name, _rows, _agree, sqnr, _maxAbs);
        }
    }
}
