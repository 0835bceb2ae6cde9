using System.CommandLine;
using QuantBuild.BuildContract;
using QuantBuild.Diagnostics;

namespace QuantBuild.Cli.Commands;

/// <summary>
/// <c>quantbuild build --manifest FILE [--threads N] [--runtime-out PATH] [--runtime-users FILE] [--namespace-for-runtime NS] [--csharp-version V] [--cache-dir DIR]</c>: the
/// batch verb the MSBuild task runs. The manifest (<see cref="ModelManifest"/>) has one model per line,
/// tab-separated: <c>model path, sidecar path (may be empty), output dir, name, class name, namespace,
/// access (internal|public), dependency file</c>; relative paths are relative to the manifest's folder,
/// empty lines and lines starting with '#' are ignored.
/// Every listed model is regenerated: deciding what is stale is MSBuild's job (its Inputs/Outputs with
/// a per-model stamp, see QuantBuild.targets), and a second opinion here once kept metadata and tool
/// changes from ever reaching the output. Models run in parallel; each publishes its outputs and
/// dependency file (one absolute input path per line, sorted) as one generation, marker last
/// (<see cref="ModelGeneration"/>). Errors go to stderr as <c>file(line,col): error QB####: message</c>;
/// a failed model's outputs, dependency file and marker are deleted; the exit code is non-zero if any
/// model failed. The runtime source is written after the models: with <c>--runtime-users</c> it holds only
/// the runtime files the listed generated classes need (<see cref="Emit.RuntimeSourceGraph"/>). With
/// <c>--cache-dir</c>, a model already in the result cache is restored instead of quantized
/// (<see cref="Caching.ResultCache"/>); each model's <see cref="ToolProgress"/> line says which.
/// </summary>
public static class BuildCommand
{
    public static Command Create(TextWriter output, TextWriter error)
    {
        var manifest = new Option<string>("--manifest", "-m") { Description = "Tab-separated list of models (see the documentation of the build verb).", HelpName = "FILE", Required = true };
        var threads = new Option<int?>("--threads", "-t") { Description = "Threads per model engine. Default: all processors.", HelpName = "N" };
        var runtimeOut = new Option<string?>("--runtime-out") { Description = "Where to write the runtime source every generated class compiles against.", HelpName = "PATH" };
        var runtimeNamespace = new Option<string?>("--namespace-for-runtime") { Description = "Namespace of the runtime source (internal types). Default: QuantBuild.Generated.Runtime.", HelpName = "NS" };
        var runtimeUsers = new Option<string?>("--runtime-users") { Description = "File listing (one path per line) every generated C# file of the project, up-to-date ones included: the runtime holds only the runtime files they need. Default: the whole runtime.", HelpName = "FILE" };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "Result cache folder: a model whose inputs, settings and tool were seen before is restored from it (verified by SHA-256) instead of quantized; a new one is stored. Default: no cache.", HelpName = "DIR" };
        var csharpVersion = new Option<string?>("--csharp-version") { Description = "C# version of the consuming project (7.3, 8.0, ..., latest); below 8 the files carry no #nullable directive. 'any': files for every version (the runtime's directive under #if " + CSharpLanguage.NullableDirectiveSymbol + "). Default: latest.", HelpName = "VERSION" };
        var command = new Command("build", "Quantize every model of a manifest (the MSBuild task's entry point; MSBuild decides which models are stale).");
        command.Options.Add(manifest);
        command.Options.Add(threads);
        command.Options.Add(runtimeOut);
        command.Options.Add(runtimeUsers);
        command.Options.Add(runtimeNamespace);
        command.Options.Add(csharpVersion);
        command.Options.Add(cacheDir);
        command.SetAction(parse => Execute(parse.GetRequiredValue(manifest), parse.GetValue(threads) ?? Environment.ProcessorCount, output, error,
            parse.GetValue(runtimeOut), parse.GetValue(runtimeNamespace), parse.GetValue(csharpVersion), parse.GetValue(runtimeUsers), parse.GetValue(cacheDir)));
        return command;
    }

    public const string DefaultRuntimeNamespace = QuantizeJob.DefaultNamespace + ".Runtime";

    /// <summary>The manifest's models as requests; a bad line is QB3106 at that line.</summary>
    public static List<QuantizeRequest> ReadManifest(string path, string? runtimeNamespace = null, bool nullableDirective = true)
    {
        if (!File.Exists(path)) throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"manifest '{path}' not found", path);
        var entries = ModelManifest.Parse(File.ReadAllText(path), Path.GetDirectoryName(Path.GetFullPath(path))!, out var problem);
        if (problem is not null)
            throw new QuantBuildException(DiagnosticCodes.InvalidManifest, problem.Message, path, problem.Line, 1);
        static string? OrNull(string value) => value.Length == 0 ? null : value;
        return entries.Select(e => new QuantizeRequest(e.ModelPath, OrNull(e.SidecarPath), e.OutputDirectory, e.Name,
            OrNull(e.ClassName), OrNull(e.Namespace), e.Access, e.DependencyFile,
            runtimeNamespace ?? DefaultRuntimeNamespace, EmptyFilesForDisabledOutputs: true, NullableDirective: nullableDirective)).ToList();
    }

    public static int Execute(string manifestPath, int threads, TextWriter output, TextWriter error,
        string? runtimeOut = null, string? runtimeNamespace = null, string? csharpVersion = null, string? runtimeUsers = null, string? cacheDir = null)
    {
        if (threads < 1) throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--threads must be at least 1, got {threads}");
        bool anyVersion = CSharpLanguage.IsAny(csharpVersion);
        bool nullable = CSharpLanguage.AllowsNullableDirective(csharpVersion);
        var requests = ReadManifest(manifestPath, runtimeNamespace, nullable);
        if (runtimeUsers is not null && !File.Exists(runtimeUsers))
            throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"runtime users file '{runtimeUsers}' not found", runtimeUsers);
        var cache = string.IsNullOrEmpty(cacheDir) ? null : new Caching.ResultCache(cacheDir);
        output.WriteLine($"quantbuild build: {requests.Count} model{(requests.Count == 1 ? "" : "s")}{(cache is null ? "" : $", result cache {cache.Root}")}");
        var failures = new string?[requests.Count];
        var logs = new StringWriter[requests.Count];
        // Models run side by side; each model's engine gets a share of the threads. Outputs do not
        // depend on thread counts, so the files are the same whatever the schedule.
        int perModel = Math.Max(1, threads / Math.Max(1, Math.Min(requests.Count, threads)));
        Parallel.For(0, requests.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, i =>
        {
            var request = requests[i];
            logs[i] = new StringWriter();
            try
            {
                // The progress line goes out at once (the task reports it per model); the rest of the log after all models.
                QuantizeJob.RunCached(request, perModel, logs[i], cache, line => { lock (output) output.WriteLine(line); });
            }
            catch (Exception e)
            {
                failures[i] = e is QuantBuildException q
                    ? (q.File is null ? new QuantBuildException(q.Code, q.Message, request.ModelPath, q.Line, q.Column, q.NodeName) : q).ToCanonicalString()
                    : new QuantBuildException(DiagnosticCodes.InternalError, $"unexpected {e.GetType().Name}: {e.Message}", request.ModelPath).ToCanonicalString();
                // Nothing of a failed model may look up to date.
                // The marker first: without it, whatever else remains is not a current generation.
                if (QuantizeJob.GenerationMarker(request) is string marker) QuantizeJob.TryDelete(marker);
                foreach (var file in QuantizeJob.PredictOutputs(request, new Configuration.OutputSettings()))
                    QuantizeJob.TryDelete(Path.Combine(request.OutputDirectory, file));
                if (request.DependencyFile is not null) QuantizeJob.TryDelete(request.DependencyFile);
            }
        });
        // Logs and errors in manifest order, whatever order the models finished in.
        for (int i = 0; i < requests.Count; i++)
        {
            output.Write(logs[i].ToString());
            if (failures[i] is string f) error.WriteLine(f);
        }
        // After the models: which runtime files the project needs depends on the code just generated.
        if (runtimeOut is not null)
        {
            var roots = runtimeUsers is null ? null : RuntimeRoots(ReadRuntimeUsers(runtimeUsers)
                .Concat(requests.Select(r => Path.Combine(r.OutputDirectory, ModelOutputs.CSharp(r.Name)))));
            ModelGeneration.WriteRuntime(runtimeOut, Emit.CSharpEmitter.EmitRuntime(runtimeNamespace ?? DefaultRuntimeNamespace, QuantizeJob.ToolVersion,
                nullableDirective: nullable || anyVersion, rootTypes: roots, nullableDirectiveSymbol: anyVersion ? CSharpLanguage.NullableDirectiveSymbol : null));
        }
        int failed = failures.Count(f => f is not null);
        output.WriteLine($"quantbuild build: {requests.Count - failed} succeeded, {failed} failed");
        return failed == 0 ? ExitCodes.Success : ExitCodes.Failed;
    }

    /// <summary>The generated C# files a runtime users file lists: one path per line, relative to the file's folder; empty lines ignored.</summary>
    public static IEnumerable<string> ReadRuntimeUsers(string path)
    {
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        foreach (var line in File.ReadAllLines(path))
            if (line.Trim().Length != 0) yield return Path.GetFullPath(Path.Combine(folder, line.Trim()));
    }

    /// <summary>
    /// The runtime types the given generated files mention, the up-to-date models' files read from disk: the
    /// runtime is one file per project, so it must serve every model, not only those regenerated now. A file
    /// that does not exist (a model that failed, or whose C# output is off) needs nothing.
    /// </summary>
    public static SortedSet<string> RuntimeRoots(IEnumerable<string> generatedFiles)
    {
        var graph = Emit.CSharpEmitter.RuntimeGraph;
        var roots = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var file in generatedFiles.Distinct(StringComparer.Ordinal))
            if (File.Exists(file)) roots.UnionWith(graph.TypesMentionedIn(File.ReadAllText(file)));
        return roots;
    }
}
