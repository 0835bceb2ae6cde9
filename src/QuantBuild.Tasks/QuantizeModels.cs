using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using QuantBuild.BuildContract;

namespace QuantBuild.Tasks
{
    /// <summary>
    /// Runs one quantbuild tool process for all stale models of a project:
    /// <c>dotnet quantbuild.dll build --manifest FILE --runtime-out PATH [--namespace-for-runtime NS] [--cache-dir DIR]</c>.
    /// The manifest (see <see cref="ModelManifest"/>) lists the models; the tool regenerates every one of
    /// them (MSBuild already decided they are stale) and writes, per model, <c>Name.quant.onnx</c>,
    /// <c>Name.g.cs</c>, <c>Name.report.json</c>, the dependency file and, last, <c>Name.generation</c> into
    /// the model's output directory, plus the shared runtime source at the --runtime-out path. QB
    /// diagnostics the tool prints become MSBuild errors and warnings with code, file, line and column; its per-model
    /// <see cref="ToolProgress"/> lines become "QuantBuild: quantizing MODEL" or "QuantBuild: restoring MODEL from the
    /// result cache" (docs/msbuild.md, "Result cache").
    /// Cancellation is ToolTask's: the process is asked to stop, then killed.
    /// </summary>
    public sealed class QuantizeModels : ToolTask
    {
        private bool _cancelled;

        /// <summary>Model path as the manifest gives it → the name the build log uses (project-relative).</summary>
        private Dictionary<string, string>? _displayNames;

        /// <summary>Stale models, as predicted by <see cref="PredictQuantizedOutputs"/> (its metadata is the manifest).</summary>
        [Required]
        public ITaskItem[] Models { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>Where to write the manifest.</summary>
        [Required]
        public string ManifestFile { get; set; } = "";

        /// <summary>The tool's entry assembly (quantbuild.dll), run with the dotnet host.</summary>
        [Required]
        public string ToolAssembly { get; set; } = "";

        /// <summary>Where the tool writes the runtime source shared by all generated models.</summary>
        [Required]
        public string RuntimeOutputFile { get; set; } = "";

        /// <summary>Namespace of the emitted runtime; empty lets the tool choose.</summary>
        public string RuntimeNamespace { get; set; } = "";

        /// <summary>
        /// Every model's generated C# file, one per line (<see cref="WriteModelStamps"/> writes it): the tool
        /// emits only the runtime files those need. Empty: the whole runtime.
        /// </summary>
        public string RuntimeUsersFile { get; set; } = "";

        /// <summary>The runtime must be re-emitted (the set of models changed) even when no model is stale.</summary>
        public bool RuntimeStale { get; set; }

        /// <summary>Use the result cache ($(QuantBuildCache): anything but "false").</summary>
        public bool UseResultCache { get; set; } = true;

        /// <summary>The result cache folder ($(QuantBuildCacheDir)); empty: <see cref="ResultCacheLocation.Default"/>.</summary>
        public string CacheDirectory { get; set; } = "";

        /// <summary>The dotnet host to run the tool with ($(DOTNET_HOST_PATH) under the .NET SDK); PATH is searched when empty.</summary>
        public string DotNetHostPath { get; set; } = "";

        /// <summary>The predicted output files of the models, for FileWrites.</summary>
        [Output]
        public ITaskItem[] GeneratedFiles { get; private set; } = Array.Empty<ITaskItem>();

        protected override string ToolName => RuntimeInformation.IsOSPlatform(OSPlatform.Windows) ? "dotnet.exe" : "dotnet";

        // Tool chatter that is not a diagnostic stays visible at normal verbosity when it comes on
        // stderr (it usually explains a failure); stdout progress lines only in detailed logs.
        protected override MessageImportance StandardErrorLoggingImportance => MessageImportance.High;

        protected override MessageImportance StandardOutputLoggingImportance => MessageImportance.Normal;

        public override bool Execute()
        {
            if (Models.Length == 0 && !RuntimeStale)
                return true;

            var manifest = ModelManifest.Format(Models.Select(ModelItems.ToManifestEntry), out var manifestError);
            if (manifestError != null)
            {
                Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.InvalidItemMetadata, null, null, 0, 0, 0, 0, "{0}", manifestError);
                return false;
            }
            // The outputs are shared by every target framework of the project. The outer build of a
            // multi-targeted project quantizes before its inner builds start, but builds that bypass it
            // (Visual Studio's design-time builds run each framework in parallel) must not write the
            // manifest, the outputs or the runtime at the same time: one tool at a time per folder.
            using (var folderLock = FolderLock.Acquire(ManifestFile + ".lock", () => _cancelled, TimeSpan.FromMinutes(30), out var lockError))
            {
                if (folderLock == null)
                {
                    if (!_cancelled)
                        Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ToolFailed, null, ManifestFile + ".lock", 0, 0, 0, 0, "Cannot lock the QuantBuild output folder: {0}", lockError);
                    return false;
                }
                try
                {
                    ModelManifest.Write(ManifestFile, manifest);
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ToolFailed, null, ManifestFile, 0, 0, 0, 0, "Cannot write the model manifest: {0}", e.Message);
                    return false;
                }

                // Which models the quantizer runs for is said per model by the tool (only it knows the cache key).
                _displayNames = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var model in Models)
                    _displayNames[ModelItems.ToManifestEntry(model).ModelPath] = model.GetMetadata("ProjectRelativePath") is { Length: > 0 } relative ? relative : model.ItemSpec;
                if (Models.Length == 0)
                    Log.LogMessage(MessageImportance.Normal, "QuantBuild: the set of models changed; rewriting the runtime only.");

                bool succeeded = base.Execute();
                GeneratedFiles = ExistingOutputs();
                return succeeded && !Log.HasLoggedErrors && !_cancelled;
            }
        }

        public override void Cancel()
        {
            _cancelled = true;
            base.Cancel();
        }

        protected override bool ValidateParameters()
        {
            if (!File.Exists(ToolAssembly))
            {
                Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ToolNotFound, null, null, 0, 0, 0, 0,
                    "The quantbuild tool '{0}' does not exist. Set QuantBuildToolPath to the tool's quantbuild.dll.", ToolAssembly);
                return false;
            }
            return base.ValidateParameters();
        }

        protected override string GenerateFullPathToTool()
        {
            if (!string.IsNullOrEmpty(DotNetHostPath) && File.Exists(DotNetHostPath))
                return DotNetHostPath;
            var path = Environment.GetEnvironmentVariable("PATH") ?? "";
            foreach (var directory in path.Split(Path.PathSeparator))
            {
                if (directory.Length == 0)
                    continue;
                try
                {
                    var candidate = Path.Combine(directory.Trim('"'), ToolName);
                    if (File.Exists(candidate))
                        return candidate;
                }
                catch (ArgumentException)
                {
                    // A malformed PATH entry is not ours to report.
                }
            }
            Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ToolNotFound, null, null, 0, 0, 0, 0,
                "Cannot find the dotnet host to run quantbuild: DOTNET_HOST_PATH is not set and '{0}' is not on PATH.", ToolName);
            return ToolName;
        }

        protected override string GenerateCommandLineCommands() =>
            BuildCommandLine(ToolAssembly, ManifestFile, RuntimeOutputFile, RuntimeNamespace, CSharpLanguage.Any, RuntimeUsersFile,
                UseResultCache ? ResultCacheLocation.Resolve(CacheDirectory, Environment.GetEnvironmentVariable) : "");

        /// <summary>
        /// The arguments after the dotnet host, quoted so the logged command can be pasted into a shell. The
        /// targets pass <see cref="CSharpLanguage.Any"/>: one set of files serves every target framework.
        /// </summary>
        internal static string BuildCommandLine(string toolAssembly, string manifestFile, string runtimeOutputFile, string runtimeNamespace,
            string csharpVersion = CSharpLanguage.Any, string runtimeUsersFile = "", string cacheDirectory = "")
        {
            var builder = new CommandLineBuilder();
            builder.AppendFileNameIfNotNull(toolAssembly);
            builder.AppendSwitch("build");
            builder.AppendSwitchIfNotNull("--manifest ", manifestFile);
            builder.AppendSwitchIfNotNull("--runtime-out ", runtimeOutputFile);
            if (!string.IsNullOrEmpty(runtimeUsersFile))
                builder.AppendSwitchIfNotNull("--runtime-users ", runtimeUsersFile);
            if (!string.IsNullOrEmpty(runtimeNamespace))
                builder.AppendSwitchIfNotNull("--namespace-for-runtime ", runtimeNamespace);
            builder.AppendSwitchIfNotNull("--csharp-version ", csharpVersion);
            if (!string.IsNullOrEmpty(cacheDirectory))
                builder.AppendSwitchIfNotNull("--cache-dir ", cacheDirectory);
            return builder.ToString();
        }

        protected override void LogEventsFromTextOutput(string singleLine, MessageImportance messageImportance) =>
            LogToolOutputLine(singleLine, messageImportance);

        /// <summary>
        /// Turns one line of tool output into an MSBuild error, warning or plain message. No subcategory:
        /// MSBuild would print it before "error" and break the canonical "file(l,c): error QB####:" shape.
        /// </summary>
        internal void LogToolOutputLine(string singleLine, MessageImportance messageImportance)
        {
            if (ToolProgress.TryParse(singleLine, out var action, out var modelPath, out var detail))
            {
                var name = _displayNames != null && _displayNames.TryGetValue(modelPath, out var display) ? display : modelPath;
                if (action == ModelAction.Quantizing)
                    Log.LogMessage(MessageImportance.High, "QuantBuild: quantizing {0}", name);
                else if (action == ModelAction.Reporting)
                    Log.LogMessage(MessageImportance.High, "QuantBuild: {0}: {1}", name, detail);
                else
                    Log.LogMessage(MessageImportance.High, "QuantBuild: restoring {0} from the result cache ({1}); not quantized", name, detail);
                return;
            }
            if (ReportPageLine.Matches(singleLine))
            {
                // Where the model's HTML report is: worth one line at the default verbosity.
                Log.LogMessage(MessageImportance.High, "{0}", singleLine);
                return;
            }
            var diagnostic = ToolDiagnostic.TryParse(singleLine);
            if (diagnostic == null)
            {
                Log.LogMessage(messageImportance, "{0}", singleLine);
                return;
            }
            if (diagnostic.IsError)
                Log.LogError(null, diagnostic.Code, null, diagnostic.File, diagnostic.Line, diagnostic.Column, diagnostic.EndLine, diagnostic.EndColumn, "{0}", diagnostic.Message);
            else
                Log.LogWarning(null, diagnostic.Code, null, diagnostic.File, diagnostic.Line, diagnostic.Column, diagnostic.EndLine, diagnostic.EndColumn, "{0}", diagnostic.Message);
        }

        protected override bool HandleTaskExecutionErrors()
        {
            // The tool's own QB lines already explain the failure; only a silent failure needs words.
            if (!Log.HasLoggedErrors && !_cancelled)
            {
                Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ToolFailed, null, null, 0, 0, 0, 0,
                    "quantbuild exited with code {0} without reporting an error. Run the logged command by hand to see its output.", ExitCode);
            }
            return false;
        }

        private ITaskItem[] ExistingOutputs()
        {
            var files = new List<ITaskItem>();
            foreach (var model in Models)
            {
                foreach (var name in PredictQuantizedOutputs.GeneratedFileMetadata)
                {
                    var path = model.GetMetadata(name);
                    if (path.Length != 0 && File.Exists(path))
                        files.Add(new TaskItem(path));
                }
            }
            if (File.Exists(RuntimeOutputFile))
                files.Add(new TaskItem(RuntimeOutputFile));
            return files.ToArray();
        }
    }
}
