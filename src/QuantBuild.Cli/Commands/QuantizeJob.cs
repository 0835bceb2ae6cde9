using QuantBuild.Lowering;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Onnx.IO;
using QuantBuild.Quantization;

namespace QuantBuild.Cli.Commands;

/// <summary>One model to quantize: what <c>quantize</c> takes from its options and <c>build</c> from a manifest line.</summary>
/// <param name="RuntimeNamespace">namespace of the runtime source the generated class calls (MSBuild passes one per project)</param>
/// <param name="EmptyFilesForDisabledOutputs">write an empty file for an output the sidecar turns off, so a build that
/// predicts every output never sees one missing (the MSBuild contract); the standalone verb writes only what is on</param>
public sealed record QuantizeRequest(string ModelPath, string? SidecarPath, string OutputDirectory, string Name,
    string? ClassName = null, string? Namespace = null, string Access = "internal", string? DependencyFile = null,
    string? RuntimeNamespace = null, bool EmptyFilesForDisabledOutputs = false);

/// <summary>One output file of a model, produced in memory before anything is written.</summary>
public sealed record OutputFile(string FileName, byte[] Content);

/// <summary>
/// Quantizes one model and writes its outputs all-or-nothing: every output is computed in memory first,
/// then each is written atomically (temporary file + rename); if any write fails, the outputs of this
/// model already written are deleted, so no half-updated set looks up to date.
/// </summary>
public static class QuantizeJob
{
    /// <summary>Sidecar used when none is given: MODEL's folder/&lt;stem&gt;.quant.json, if it exists.</summary>
    public static string? DefaultSidecar(string modelPath)
    {
        var candidate = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(modelPath))!, Path.GetFileNameWithoutExtension(modelPath) + ".quant.json");
        return File.Exists(candidate) ? candidate : null;
    }

    public static QuantizationSettings LoadSettings(string? sidecarPath, string modelPath) =>
        sidecarPath is null
            ? new QuantizationSettings { Calibration = new CalibrationSettings { BaseDirectory = Path.GetDirectoryName(Path.GetFullPath(modelPath))! } }
            : SidecarParser.Load(sidecarPath);

    /// <summary>The output file names of a request, predictable from the request alone (MSBuild predicts them too).</summary>
    public static IReadOnlyList<string> PredictOutputs(QuantizeRequest request, OutputSettings outputs)
    {
        var files = new List<string>();
        if (outputs.Onnx || request.EmptyFilesForDisabledOutputs) files.Add(request.Name + ".quant.onnx");
        if (outputs.CSharp || request.EmptyFilesForDisabledOutputs) files.Add(request.Name + ".g.cs");
        if (outputs.Report || request.EmptyFilesForDisabledOutputs) files.Add(request.Name + ".report.json");
        return files;
    }

    public sealed record JobResult(IReadOnlyList<string> Written, IReadOnlyList<string> Dependencies, PipelineResult Pipeline);

    /// <param name="warnings">where QB4105 warnings go (stderr for the standalone verb); null: <paramref name="log"/></param>
    public static JobResult Run(QuantizeRequest request, int threads, TextWriter log, TextWriter? warnings = null)
    {
        var settings = LoadSettings(request.SidecarPath, request.ModelPath);
        var progress = new Progress(log, request.Name);
        var result = QuantizationPipeline.Run(request.ModelPath, settings, new EngineOptions { MaxDegreeOfParallelism = threads }, progress);

        var outputs = new List<OutputFile>();
        if (settings.Outputs.Onnx) outputs.Add(new(request.Name + ".quant.onnx", QdqOnnxEmitter.EmitBytes(result.Model)));
        var plan = settings.Outputs.CSharp ? IntegerLowering.Lower(result.Model, result.SampleShapes) : null;
        if (plan is not null)
        {
            outputs.Add(new(request.Name + ".g.cs", Utf8.GetBytes(CSharpEmitter.Emit(plan, CSharpOptions(request)))));
            // In the canonical form the MSBuild task turns into build warnings.
            foreach (var warning in plan.Warnings)
                (warnings ?? log).WriteLine($"{request.ModelPath}: warning {DiagnosticCodes.QuantizationWarning}: {warning}");
        }
        if (settings.Outputs.Report)
        {
            // Keyed by kind, not file name, so the report does not depend on --name.
            var sizes = new Dictionary<string, long>(StringComparer.Ordinal) { ["modelFp32FileBytes"] = new FileInfo(request.ModelPath).Length };
            // The generated C# names its class after the model, so its size is left out: the report
            // stays byte-identical whatever --name or class name a build uses.
            foreach (var o in outputs.Where(o => !o.FileName.EndsWith(".g.cs", StringComparison.Ordinal)))
                sizes[SizeKey(o.FileName, request.Name)] = o.Content.Length;
            outputs.Add(new(request.Name + ".report.json", QuantizationReport.Write(Path.GetFileName(request.ModelPath), result, sizes, plan)));
        }

        if (request.EmptyFilesForDisabledOutputs)
            foreach (var predicted in PredictOutputs(request, settings.Outputs))
                if (outputs.All(o => o.FileName != predicted)) outputs.Add(new(predicted, Array.Empty<byte>()));
        var written = WriteAll(request.OutputDirectory, outputs);
        foreach (var (stage, elapsed) in result.Timings)
            log.WriteLine($"{request.Name}: {stage} {elapsed.TotalMilliseconds:F0} ms");

        var dependencies = new List<string> { Path.GetFullPath(request.ModelPath) };
        if (settings.SourcePath is not null) dependencies.Add(settings.SourcePath);
        dependencies.AddRange(result.CalibrationFilesRead);
        dependencies = dependencies.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return new JobResult(written, dependencies, result);
    }

    private static readonly System.Text.UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Version recorded in generated files: the tool's informational version (a new tool redoes every model).</summary>
    public static string ToolVersion { get; } =
        typeof(QuantizeJob).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    /// <summary>Namespace of generated classes when neither the manifest nor the command line names one.</summary>
    public const string DefaultNamespace = "QuantBuild.Generated";

    public static CSharpEmitOptions CSharpOptions(QuantizeRequest request) => new()
    {
        ClassName = request.ClassName ?? DefaultClassName(request.Name),
        Namespace = request.Namespace ?? DefaultNamespace,
        Access = request.Access,
        ToolVersion = ToolVersion,
        RuntimeNamespace = request.RuntimeNamespace,
    };

    /// <summary>A C# identifier from a file stem: "kws_v2-small" → "KwsV2Small"; a leading digit gets a '_' prefix.</summary>
    public static string DefaultClassName(string name)
    {
        var words = System.Text.RegularExpressions.Regex.Split(name, "[^A-Za-z0-9]+").Where(w => w.Length > 0);
        var pascal = string.Concat(words.Select(w => char.ToUpperInvariant(w[0]) + w[1..]));
        if (pascal.Length == 0) pascal = "Model";
        return char.IsDigit(pascal[0]) ? "_" + pascal : pascal;
    }

    /// <summary>"&lt;Name&gt;.quant.onnx" → "quantOnnxFileBytes", "&lt;Name&gt;.g.cs" → "gCsFileBytes".</summary>
    private static string SizeKey(string fileName, string name)
    {
        var parts = fileName[(name.Length + 1)..].Split('.');
        return string.Concat(parts.Select((p, i) => i == 0 ? p : char.ToUpperInvariant(p[0]) + p[1..])) + "FileBytes";
    }

    public static List<string> WriteAll(string directory, IReadOnlyList<OutputFile> outputs)
    {
        var written = new List<string>();
        try
        {
            foreach (var o in outputs)
            {
                var path = Path.GetFullPath(Path.Combine(directory, o.FileName));
                AtomicFile.WriteAllBytes(path, o.Content);
                written.Add(path);
            }
        }
        catch
        {
            foreach (var path in written) TryDelete(path);
            throw;
        }
        return written;
    }

    public static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private sealed class Progress(TextWriter log, string name) : IProgress<string>
    {
        public void Report(string value)
        {
            lock (log) log.WriteLine($"{name}: {value}");
        }
    }
}
