using Google.Protobuf;
using QuantBuild.BuildContract;
using QuantBuild.Configuration;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Lowering;
using QuantBuild.Quantization;

namespace QuantBuild.Compilation;

/// <summary>One output file of a model, produced in memory before anything is written.</summary>
public sealed record OutputFile(string FileName, byte[] Content);

/// <summary>
/// A compiled model: the quantized model, its compiled kernel plan (when C# is generated) and the
/// outputs computed from them. The plan is built once; the C# file, the report and every caller
/// that runs the model in-process read this one plan.
/// </summary>
public sealed class CompiledModel
{
    internal CompiledModel(string modelPath, PipelineResult pipeline, KernelPlan? plan, OutputQualityResult? quality, Onnx.Proto.ModelProto? qdq = null,
        Verification.VerifyResult? verify = null)
    {
        ModelPath = modelPath;
        Pipeline = pipeline;
        Plan = plan;
        Quality = quality;
        _qdq = qdq;
        Verify = verify;
    }

    /// <summary>The QDQ model, when it was emitted before <see cref="Outputs"/> (verification runs it).</summary>
    private readonly Onnx.Proto.ModelProto? _qdq;

    /// <summary>What build-time verification measured (the sidecar's verify); null without it.</summary>
    public Verification.VerifyResult? Verify { get; }

    /// <summary>What automatic precision choice did (docs/wide-activations.md); null when it did not run (every output clears the floor, or it is off).</summary>
    public PrecisionChoices? Precision { get; init; }

    /// <summary>The integer plan measured against the float model on calibration samples; null when C# is off or quality.samples is 0.</summary>
    public OutputQualityResult? Quality { get; }

    public string ModelPath { get; }
    public PipelineResult Pipeline { get; }
    public QuantizedModel Model => Pipeline.Model;
    public QuantizationSettings Settings => Pipeline.Settings;
    /// <summary>The compiled plan of the generated C#; null when the sidecar turns C# output off.</summary>
    public KernelPlan? Plan { get; }

    /// <summary>The plan, lowered even when the sidecar turns C# off (a caller that runs the integer runtime in-process).</summary>
    public KernelPlan RequirePlan() => Plan ?? KernelPlan.Build(IntegerLowering.Lower(Model, Pipeline.SampleShapes));

    /// <summary>Warnings of the lowering (QB4105), in the order found.</summary>
    public IReadOnlyList<string> Warnings => Plan?.Plan.Warnings ?? [];

    /// <summary>Model outputs below quality.outputSqnrFloorDb (QB4106), in output order.</summary>
    public IReadOnlyList<string> QualityWarnings => Quality?.Warnings().ToList() ?? [];

    /// <summary>Files the outputs depend on: the model, the sidecar and every calibration file read (sorted, absolute).</summary>
    public IReadOnlyList<string> Dependencies
    {
        get
        {
            var dependencies = new List<string> { Path.GetFullPath(ModelPath) };
            if (Settings.SourcePath is not null) dependencies.Add(Settings.SourcePath);
            dependencies.AddRange(Pipeline.CalibrationFilesRead);
            if (Pipeline.VerifyPlan is { } verify) dependencies.AddRange(verify.AllFiles);
            return dependencies.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        }
    }

    /// <summary>The generated model class.</summary>
    public string CSharp(CSharpEmitOptions options) => CSharpEmitter.Emit(Plan ?? throw new InvalidOperationException("C# output is off for this model"), options);

    /// <summary>
    /// Every output the sidecar turns on, named after <paramref name="name"/>: QDQ ONNX, C#, report (the report
    /// records the sizes of the others).
    /// </summary>
    public IReadOnlyList<OutputFile> Outputs(string name, CSharpEmitOptions csharp)
    {
        var outputs = new List<OutputFile>();
        // Emitted once: the file's bytes, and the report's count of what it stores.
        var qdq = Settings.Outputs.Onnx ? _qdq ?? QdqOnnxEmitter.Emit(Model, Settings.Outputs.QdqIntegerType) : null;
        if (qdq is not null) outputs.Add(new(ModelOutputs.QuantizedOnnx(name), qdq.ToByteArray()));
        if (Plan is not null) outputs.Add(new(ModelOutputs.CSharp(name), Utf8.GetBytes(CSharp(csharp))));
        if (Settings.Outputs.Report)
        {
            // Keyed by kind, not file name, so the report does not depend on the output name.
            var sizes = new Dictionary<string, long>(StringComparer.Ordinal) { ["modelFp32FileBytes"] = new FileInfo(ModelPath).Length };
            // The generated C# names its class after the model, so its size is left out: the report
            // stays byte-identical whatever name or class name a build uses.
            foreach (var o in outputs.Where(o => !o.FileName.EndsWith(".g.cs", StringComparison.Ordinal)))
                sizes[SizeKey(o.FileName, name)] = o.Content.Length;
            outputs.Add(new(ModelOutputs.Report(name), QuantizationReport.Write(Path.GetFileName(ModelPath), Pipeline, sizes, Plan, qdq, Quality, Verify, Precision)));
        }
        return outputs;
    }

    private static readonly System.Text.UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>"&lt;Name&gt;.quant.onnx" → "quantOnnxFileBytes".</summary>
    private static string SizeKey(string fileName, string name)
    {
        var parts = fileName[(name.Length + 1)..].Split('.');
        return string.Concat(parts.Select((p, i) => i == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..])) + "FileBytes";
    }
}

/// <summary>
/// The compiler as a library: sidecar → calibrated, quantized model → lowered, kernel-bound plan → outputs.
/// The CLI (and through it MSBuild), the tests and the benchmarks all compile through <see cref="Compile"/>.
/// </summary>
public static class ModelCompiler
{
    /// <summary>Sidecar used when none is given: MODEL's folder/&lt;stem&gt;.quant.json, if it exists.</summary>
    public static string? DefaultSidecar(string modelPath)
    {
        var candidate = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, Path.GetFileNameWithoutExtension(modelPath) + ".quant.json");
        return File.Exists(candidate) ? candidate : null;
    }

    /// <summary>The settings of a sidecar, or the defaults (calibration files relative to the model) without one.</summary>
    public static QuantizationSettings LoadSettings(string? sidecarPath, string modelPath) =>
        sidecarPath is null
            ? new QuantizationSettings { Calibration = new CalibrationSettings { BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(modelPath))! } }
            : SidecarParser.Load(sidecarPath);

    /// <summary>Compiles a model with the settings of <paramref name="sidecarPath"/> (null: the defaults).</summary>
    public static CompiledModel Compile(string modelPath, string? sidecarPath, EngineOptions? engineOptions = null, IProgress<string>? progress = null) =>
        Compile(modelPath, LoadSettings(sidecarPath, modelPath), engineOptions, progress);

    /// <summary>
    /// Quantizes <paramref name="modelPath"/> and, when the settings ask for C#, lowers and binds the plan
    /// once. Lowering runs on the calibration samples' shapes, so the plan is the one the build ships.
    /// </summary>
    public static CompiledModel Compile(string modelPath, QuantizationSettings settings, EngineOptions? engineOptions = null, IProgress<string>? progress = null)
    {
        var pipeline = QuantizationPipeline.Run(modelPath, settings, engineOptions, progress);
        KernelPlan? plan = null;
        if (settings.Outputs.CSharp)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            plan = KernelPlan.Build(IntegerLowering.Lower(pipeline.Model, pipeline.SampleShapes));
            pipeline = pipeline with { Timings = [.. pipeline.Timings, ("lower", clock.Elapsed)] };
        }
        OutputQualityResult? quality = null;
        PrecisionChoices? precision = null;
        if (plan is not null && settings.Quality.Samples > 0)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            quality = OutputQuality.Measure(modelPath, pipeline, plan, engineOptions)!;
            pipeline = pipeline with { Timings = [.. pipeline.Timings, ("measure", clock.Elapsed)] };
            // An output below the floor: widen the activations that measurably help to 16 bits (docs/wide-activations.md).
            clock.Restart();
            precision = PrecisionPromotion.Run(modelPath, pipeline, quality, engineOptions, progress);
            if (precision is not null)
            {
                if (precision.Promoted.Count > 0)
                {
                    plan = KernelPlan.Build(IntegerLowering.Lower(pipeline.Model, pipeline.SampleShapes));
                    quality = OutputQuality.Measure(modelPath, pipeline, plan, engineOptions)!;
                    precision = PrecisionPromotion.WithFinalSqnr(precision, quality);
                }
                quality = quality with { PromotionSummary = precision.Summary };
                pipeline = pipeline with { Timings = [.. pipeline.Timings, ("precision", clock.Elapsed)] };
            }
        }
        if (settings.Verify is null) return new CompiledModel(modelPath, pipeline, plan, quality) { Precision = precision };

        // Verification runs the files the build is about to write (the QDQ bytes, the generated code's plan), and a
        // missed threshold throws here, before any output exists (docs/verify.md).
        var verifyClock = System.Diagnostics.Stopwatch.StartNew();
        var qdq = settings.Outputs.Onnx ? QdqOnnxEmitter.Emit(pipeline.Model, settings.Outputs.QdqIntegerType) : null;
        var verify = Verification.BuildVerification.Run(modelPath, pipeline, qdq?.ToByteArray(), plan, progress);
        pipeline = pipeline with { Timings = [.. pipeline.Timings, ("verify", verifyClock.Elapsed)] };
        foreach (var line in verify.LogLines()) progress?.Report(line);
        Verification.BuildVerification.ThrowIfFailed(verify, settings.SourcePath);
        return new CompiledModel(modelPath, pipeline, plan, quality, qdq, verify) { Precision = precision };
    }
}
