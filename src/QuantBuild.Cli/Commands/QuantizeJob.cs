using QuantBuild.BuildContract;
using QuantBuild.Compilation;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Quantization;

namespace QuantBuild.Cli.Commands;

/// <summary>One model to quantize: what <c>quantize</c> takes from its options and <c>build</c> from a manifest line.</summary>
/// <param name="RuntimeNamespace">namespace of the runtime source the generated class calls (MSBuild passes one per project)</param>
/// <param name="EmptyFilesForDisabledOutputs">write an empty file for an output the sidecar turns off, so a build that
/// predicts every output never sees one missing (the MSBuild contract); the standalone verb writes only what is on</param>
public sealed record QuantizeRequest(string ModelPath, string? SidecarPath, string OutputDirectory, string Name,
    string? ClassName = null, string? Namespace = null, string Access = "internal", string? DependencyFile = null,
    string? RuntimeNamespace = null, bool EmptyFilesForDisabledOutputs = false, bool NullableDirective = true);

/// <summary>
/// Quantizes one model and writes its outputs as one generation: every output is computed in memory
/// first, then the set is published by <see cref="ModelGeneration"/> (staged in a temporary folder,
/// renamed into place, and for a manifest build a generation marker written last), so no half-published
/// set looks up to date.
/// </summary>
public static class QuantizeJob
{
    /// <summary>Sidecar used when none is given: MODEL's folder/&lt;stem&gt;.quant.json, if it exists.</summary>
    public static string? DefaultSidecar(string modelPath) => ModelCompiler.DefaultSidecar(modelPath);

    public static QuantizationSettings LoadSettings(string? sidecarPath, string modelPath) => ModelCompiler.LoadSettings(sidecarPath, modelPath);

    /// <summary>The output file names of a request, predictable from the request alone (MSBuild predicts them with the same <see cref="ModelOutputs"/>).</summary>
    public static IReadOnlyList<string> PredictOutputs(QuantizeRequest request, OutputSettings outputs)
    {
        var files = new List<string>();
        if (outputs.Onnx || request.EmptyFilesForDisabledOutputs) files.Add(ModelOutputs.QuantizedOnnx(request.Name));
        if (outputs.CSharp || request.EmptyFilesForDisabledOutputs) files.Add(ModelOutputs.CSharp(request.Name));
        if (outputs.Report || request.EmptyFilesForDisabledOutputs) files.Add(ModelOutputs.Report(request.Name));
        return files;
    }

    /// <summary>The generation marker of a manifest build (null for the standalone verb, which has no up-to-date notion).</summary>
    public static string? GenerationMarker(QuantizeRequest request) =>
        request.DependencyFile is null ? null : Path.Combine(request.OutputDirectory, ModelOutputs.Generation(request.Name));

    /// <param name="Outputs">the model outputs as published (file name and bytes)</param>
    /// <param name="Warnings">the QB4105/QB4106 warnings printed, as code and message</param>
    public sealed record JobResult(IReadOnlyList<string> Written, IReadOnlyList<string> Dependencies, CompiledModel Compiled,
        IReadOnlyList<OutputFile> Outputs, IReadOnlyList<(string Code, string Message)> Warnings)
    {
        public PipelineResult Pipeline => Compiled.Pipeline;
    }

    /// <param name="warnings">where QB4105 warnings go (stderr for the standalone verb); null: <paramref name="log"/></param>
    /// <param name="stages">where counts of long stages go (the terminal's progress bars); null: text lines only</param>
    public static JobResult Run(QuantizeRequest request, int threads, TextWriter log, TextWriter? warnings = null, IStageProgress? stages = null) =>
        Quantize(request, LoadSettings(request.SidecarPath, request.ModelPath), threads, log, warnings, stages);

    private static JobResult Quantize(QuantizeRequest request, QuantizationSettings settings, int threads, TextWriter log, TextWriter? warnings = null, IStageProgress? stages = null)
    {
        var compiled = ModelCompiler.Compile(request.ModelPath, settings, new EngineOptions { MaxDegreeOfParallelism = threads }, new Progress(log, request, stages));
        var outputs = compiled.Outputs(request.Name, CSharpOptions(request)).ToList();
        var diagnostics = compiled.Warnings.Select(w => (DiagnosticCodes.QuantizationWarning, w))
            .Concat(compiled.QualityWarnings.Select(w => (DiagnosticCodes.OutputBelowQualityFloor, w))).ToList();
        WriteWarnings(request, diagnostics, warnings ?? log);

        if (request.EmptyFilesForDisabledOutputs)
            foreach (var predicted in PredictOutputs(request, settings.Outputs))
                if (outputs.All(o => o.FileName != predicted)) outputs.Add(new(predicted, Array.Empty<byte>()));
        var dependencies = compiled.Dependencies;
        var written = Publish(request, outputs, dependencies);
        // What automatic precision choice did (docs/wide-activations.md): the build log says what was promoted.
        if (compiled.Precision is { } precision) log.WriteLine($"{request.Name}: {precision.Summary}");
        foreach (var (stage, elapsed) in compiled.Pipeline.Timings)
            log.WriteLine($"{request.Name}: {stage} {elapsed.TotalMilliseconds:F0} ms");
        WriteReportPage(request, outputs, log);
        // What a CI agent building models side by side must leave free (VmHWM on Linux). It is the whole
        // process's peak so far (with `build`, models quantized in parallel share it), and it varies from run
        // to run with the GC, so it is logged like the timings and kept out of the byte-identical report.
        using (var self = System.Diagnostics.Process.GetCurrentProcess())
            log.WriteLine($"{request.Name}: peak memory {self.PeakWorkingSet64 / (1024 * 1024)} MiB (process working set)");
        return new JobResult(written, dependencies, compiled, outputs, diagnostics);
    }

    /// <summary>
    /// The build verb's job. With a result cache, a key already stored is verified and its outputs published
    /// without quantizing (the warnings its quantization printed are printed again, and the dependency file lists
    /// the same files); a miss is quantized, then stored. <paramref name="announce"/> gets the
    /// <see cref="ToolProgress"/> line saying which, before the work starts.
    /// </summary>
    public static IReadOnlyList<string> RunCached(QuantizeRequest request, int threads, TextWriter log, Caching.ResultCache? cache, Action<string> announce)
    {
        var settings = LoadSettings(request.SidecarPath, request.ModelPath);
        if (cache is null)
        {
            announce(ToolProgress.Format(ModelAction.Quantizing, request.ModelPath));
            return Quantize(request, settings, threads, log).Written;
        }
        var key = Caching.ResultCacheKey.Compute(request, settings);
        var entry = key.Digest[..16];
        var cached = cache.TryRead(key, out var damage);
        if (damage is not null)
            log.WriteLine($"{request.Name}: result cache entry {entry} is damaged ({damage}); it is not used and is rebuilt");
        if (cached is not null)
        {
            announce(ToolProgress.Format(ModelAction.Restoring, request.ModelPath, cache.EntryFolder(key.Digest)));
            WriteWarnings(request, cached.Warnings, log);
            var dependencies = cached.Dependencies.Select(i => key.InputFiles[i]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            var restored = cached.Files.Select(f => new OutputFile(request.Name + "." + f.Role, f.Content)).ToList();
            var written = Publish(request, restored, dependencies);
            WriteReportPage(request, restored, log);
            // The verify figures its quantization printed (docs/verify.md), as they stand in the restored report.
            if (ReportFile(request, restored) is { } report)
            {
                var progress = new Progress(log, request, null);
                foreach (var line in Verification.VerifyResult.LogLinesOfReport(report.Content)) progress.Report(line);
            }
            log.WriteLine($"{request.Name}: restored from the result cache (entry {entry}), not quantized");
            return written;
        }

        announce(ToolProgress.Format(ModelAction.Quantizing, request.ModelPath));
        var result = Quantize(request, settings, threads, log);
        var inputs = key.InputFiles.ToList();
        var indices = result.Dependencies.Select(d => inputs.IndexOf(d)).ToList();
        var roles = result.Outputs.Select(o => o.FileName[(request.Name.Length + 1)..]).ToList();
        string? problem = indices.Contains(-1) ? "the quantization read a file the key does not cover"
            : !roles.Order(StringComparer.Ordinal).SequenceEqual(Caching.ResultCache.OutputRoles.Order(StringComparer.Ordinal)) ? "not every output was written"
            : cache.Store(key, new Caching.CachedResult(roles.Zip(result.Outputs, (r, o) => (r, o.Content)).ToList(), result.Warnings, indices));
        log.WriteLine(problem is null ? $"{request.Name}: stored in the result cache (entry {entry})" : $"{request.Name}: not stored in the result cache: {problem}");
        return result.Written;
    }

    /// <summary>
    /// The report's HTML page beside the published report.json (docs/html-report.md), and the one line that says where
    /// it is. A function of the report's bytes, so a restored model gets the page its quantization wrote. Written after
    /// the generation is published: the page is a view of the report, not part of the set the build depends on.
    /// </summary>
    private static void WriteReportPage(QuantizeRequest request, IReadOnlyList<OutputFile> outputs, TextWriter log)
    {
        if (ReportFile(request, outputs) is not { } report) return;
        var page = Reporting.ReportPage.Write(Path.Combine(request.OutputDirectory, report.FileName), report.Content);
        log.WriteLine(ReportPageLine.Format(Reporting.ReportPage.Uri(page)));
    }

    /// <summary>The model's report.json among its outputs, unless absent or written empty (the report turned off).</summary>
    private static OutputFile? ReportFile(QuantizeRequest request, IReadOnlyList<OutputFile> outputs) =>
        outputs.FirstOrDefault(o => o.FileName == ModelOutputs.Report(request.Name) && o.Content.Length > 0);

    /// <summary>QB4105/QB4106 in the canonical form the MSBuild task turns into build warnings.</summary>
    private static void WriteWarnings(QuantizeRequest request, IEnumerable<(string Code, string Message)> warnings, TextWriter writer)
    {
        foreach (var (code, message) in warnings)
            writer.WriteLine($"{request.ModelPath}: warning {code}: {message}");
    }

    /// <summary>Publishes the outputs and the dependency file (it tells MSBuild what this set was made from) as one generation.</summary>
    private static List<string> Publish(QuantizeRequest request, IReadOnlyList<OutputFile> outputs, IReadOnlyList<string> dependencies)
    {
        // Absolute: the publisher resolves relative file paths against the output folder, so a relative --out
        // ("out/") would otherwise land in out/out/.
        var directory = Path.GetFullPath(request.OutputDirectory);
        var files = outputs.Select(o => new GeneratedFile(Path.Combine(directory, o.FileName), o.Content)).ToList();
        if (request.DependencyFile is not null)
            files.Add(new GeneratedFile(request.DependencyFile, Utf8.GetBytes(string.Join('\n', dependencies) + "\n")));
        try
        {
            return ModelGeneration.Publish(request.OutputDirectory, GenerationMarker(request), files);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QuantBuildException(DiagnosticCodes.WriteFailed, $"could not write the outputs of '{request.Name}' to '{request.OutputDirectory}': {e.Message}", request.OutputDirectory, inner: e);
        }
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
        ClassName = request.ClassName ?? ModelNaming.ToClassName(request.Name),
        Namespace = request.Namespace ?? DefaultNamespace,
        Access = request.Access,
        ToolVersion = ToolVersion,
        RuntimeNamespace = request.RuntimeNamespace,
        NullableDirective = request.NullableDirective,
    };

    public static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>
    /// Progress lines as "NAME: text"; in a manifest build (MSBuild) the verify figures go out as <see cref="ToolProgress"/>
    /// reporting lines, which the task shows at normal verbosity.
    /// </summary>
    private sealed class Progress(TextWriter log, QuantizeRequest request, IStageProgress? stages) : IProgress<string>, IStageProgress
    {
        public void Advance(string stage, long done, long total) => stages?.Advance(stage, done, total);

        public void Report(string value)
        {
            bool figure = request.DependencyFile is not null && Verification.VerifyResult.IsLogLine(value);
            lock (log) log.WriteLine(figure ? ToolProgress.Format(ModelAction.Reporting, request.ModelPath, value) : $"{request.Name}: {value}");
        }
    }
}
