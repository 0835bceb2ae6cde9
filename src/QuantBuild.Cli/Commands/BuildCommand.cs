using System.CommandLine;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;

namespace QuantBuild.Cli.Commands;

/// <summary>
/// <c>quantbuild build --manifest FILE [--force] [--threads N]</c>: the batch verb the MSBuild task runs.
/// The manifest has one model per line, tab-separated:
/// <c>model path, sidecar path (may be empty), output dir, name, class name, namespace, access (internal|public), dependency file</c>.
/// Relative paths are relative to the manifest's folder; empty lines and lines starting with '#' are ignored.
/// Stale models (an output or the dependency file missing, or any listed dependency newer than the oldest
/// output) are processed in parallel; each writes its outputs, then its dependency file (one absolute input
/// path per line, sorted). Errors go to stderr as <c>file(line,col): error QB####: message</c>; a failed
/// model's outputs and dependency file are deleted; the exit code is non-zero if any model failed.
/// </summary>
public static class BuildCommand
{
    public const int ColumnCount = 8;

    public static Command Create(TextWriter output, TextWriter error)
    {
        var manifest = new Option<string>("--manifest", "-m") { Description = "Tab-separated list of models (see the documentation of the build verb).", HelpName = "FILE", Required = true };
        var force = new Option<bool>("--force") { Description = "Process every model, stale or not." };
        var threads = new Option<int?>("--threads", "-t") { Description = "Threads per model engine. Default: all processors.", HelpName = "N" };
        var runtimeOut = new Option<string?>("--runtime-out") { Description = "Where to write the runtime source every generated class compiles against.", HelpName = "PATH" };
        var runtimeNamespace = new Option<string?>("--namespace-for-runtime") { Description = "Namespace of the runtime source (internal types). Default: QuantBuild.Generated.Runtime.", HelpName = "NS" };
        var command = new Command("build", "Quantize every stale model of a manifest (the MSBuild task's entry point).");
        command.Options.Add(manifest);
        command.Options.Add(force);
        command.Options.Add(threads);
        command.Options.Add(runtimeOut);
        command.Options.Add(runtimeNamespace);
        command.SetAction(parse => Execute(parse.GetRequiredValue(manifest), parse.GetValue(force), parse.GetValue(threads) ?? Environment.ProcessorCount, output, error,
            parse.GetValue(runtimeOut), parse.GetValue(runtimeNamespace)));
        return command;
    }

    public const string DefaultRuntimeNamespace = QuantizeJob.DefaultNamespace + ".Runtime";

    public static List<QuantizeRequest> ReadManifest(string path, string? runtimeNamespace = null)
    {
        if (!File.Exists(path)) throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"manifest '{path}' not found", path);
        var baseDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        string Full(string p) => Path.GetFullPath(Path.Combine(baseDir, p));
        var requests = new List<QuantizeRequest>();
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Trim().Length == 0 || line.StartsWith('#')) continue;
            var f = line.Split('\t');
            QuantBuildException Bad(string message) => new(DiagnosticCodes.InvalidManifest, message, path, i + 1, 1);
            if (f.Length != ColumnCount)
                throw Bad($"expected {ColumnCount} tab-separated fields (model, sidecar, output dir, name, class name, namespace, access, dependency file), found {f.Length}");
            if (f[0].Length == 0 || f[2].Length == 0 || f[3].Length == 0 || f[7].Length == 0)
                throw Bad("model path, output dir, name and dependency file must not be empty");
            if (f[6] is not ("internal" or "public")) throw Bad($"access must be 'internal' or 'public', found '{f[6]}'");
            requests.Add(new QuantizeRequest(Full(f[0]), f[1].Length == 0 ? null : Full(f[1]), Full(f[2]), f[3],
                f[4].Length == 0 ? null : f[4], f[5].Length == 0 ? null : f[5], f[6], Full(f[7]),
                runtimeNamespace ?? DefaultRuntimeNamespace, EmptyFilesForDisabledOutputs: true));
        }
        var duplicate = requests.GroupBy(r => Path.Combine(r.OutputDirectory, r.Name), StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new QuantBuildException(DiagnosticCodes.InvalidManifest, $"two models write the same outputs '{duplicate.Key}.*'; give them different names", path);
        return requests;
    }

    /// <summary>Up to date when the dependency file and every output exist and no dependency is newer than the oldest of them.</summary>
    public static bool IsUpToDate(QuantizeRequest request)
    {
        if (request.DependencyFile is null || !File.Exists(request.DependencyFile)) return false;
        var outputs = QuantizeJob.PredictOutputs(request, new Configuration.OutputSettings()).Select(f => Path.Combine(request.OutputDirectory, f))
            .Where(File.Exists).Append(request.DependencyFile).ToList();
        if (!File.Exists(Path.Combine(request.OutputDirectory, request.Name + ".quant.onnx")) && !File.Exists(Path.Combine(request.OutputDirectory, request.Name + ".report.json")))
            return false;
        var oldest = outputs.Min(File.GetLastWriteTimeUtc);
        var dependencies = File.ReadAllLines(request.DependencyFile).Where(l => l.Length > 0).ToList();
        if (!dependencies.Contains(request.ModelPath, StringComparer.Ordinal)) return false;
        if (request.SidecarPath is not null && !dependencies.Contains(request.SidecarPath, StringComparer.Ordinal)) return false;
        return dependencies.All(d => File.Exists(d) && File.GetLastWriteTimeUtc(d) <= oldest);
    }

    public static int Execute(string manifestPath, bool force, int threads, TextWriter output, TextWriter error,
        string? runtimeOut = null, string? runtimeNamespace = null)
    {
        if (threads < 1) throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--threads must be at least 1, got {threads}");
        var requests = ReadManifest(manifestPath, runtimeNamespace);
        // The runtime source is shared by all models of the project; rewritten only when it changes so
        // an up-to-date project keeps its timestamps (and its incremental compile).
        if (runtimeOut is not null)
            QuantizeCommand.AtomicFileIfChanged(runtimeOut, Emit.CSharpEmitter.EmitRuntime(runtimeNamespace ?? DefaultRuntimeNamespace, QuantizeJob.ToolVersion));
        var stale = requests.Where(r => force || !IsUpToDate(r)).ToList();
        output.WriteLine($"quantbuild build: {stale.Count} of {requests.Count} model{(requests.Count == 1 ? "" : "s")} to quantize");
        var failures = new string?[stale.Count];
        var logs = new StringWriter[stale.Count];
        // Models run side by side; each model's engine gets a share of the threads. Outputs do not
        // depend on thread counts, so the files are the same whatever the schedule.
        int perModel = Math.Max(1, threads / Math.Max(1, Math.Min(stale.Count, threads)));
        Parallel.For(0, stale.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads) }, i =>
        {
            var request = stale[i];
            logs[i] = new StringWriter();
            try
            {
                var result = QuantizeJob.Run(request, perModel, logs[i]);
                try
                {
                    AtomicFile.WriteAllText(request.DependencyFile!, string.Join('\n', result.Dependencies) + "\n");
                }
                catch
                {
                    foreach (var file in result.Written) QuantizeJob.TryDelete(file);
                    throw;
                }
            }
            catch (Exception e)
            {
                failures[i] = e is QuantBuildException q
                    ? (q.File is null ? new QuantBuildException(q.Code, q.Message, request.ModelPath, q.Line, q.Column, q.NodeName) : q).ToCanonicalString()
                    : new QuantBuildException(DiagnosticCodes.InternalError, $"unexpected {e.GetType().Name}: {e.Message}", request.ModelPath).ToCanonicalString();
                // Nothing of a failed model may look up to date.
                foreach (var file in QuantizeJob.PredictOutputs(request, new Configuration.OutputSettings()))
                    QuantizeJob.TryDelete(Path.Combine(request.OutputDirectory, file));
                if (request.DependencyFile is not null) QuantizeJob.TryDelete(request.DependencyFile);
            }
        });
        // Logs and errors in manifest order, whatever order the models finished in.
        for (int i = 0; i < stale.Count; i++)
        {
            output.Write(logs[i].ToString());
            if (failures[i] is string f) error.WriteLine(f);
        }
        int failed = failures.Count(f => f is not null);
        output.WriteLine($"quantbuild build: {stale.Count - failed} succeeded, {failed} failed, {requests.Count - stale.Count} up to date");
        return failed == 0 ? ExitCodes.Success : ExitCodes.Failed;
    }
}
