using System;
using System.Collections.Generic;
using System.Linq;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using QuantBuild.BuildContract;

namespace QuantBuild.Tasks
{
    /// <summary>
    /// Writes each model's stamp file: everything that decides the tool's output for the model but is not
    /// a file timestamp MSBuild can compare. It holds the model's manifest line (so every metadata value the
    /// tool receives: sidecar path or none, output folder, name, class name, namespace, access), the runtime
    /// file and namespace, and the tool's identity (path, version, size, timestamp: any other tool binary,
    /// older or newer, counts as a change). The file is rewritten only when its text changes, which makes it
    /// newer than the model's outputs exactly then; the generation target lists it among its Inputs beside the
    /// model, the sidecar and the files the last run read. So MSBuild's Inputs/Outputs comparison is the one
    /// place that decides what is stale, and the tool regenerates every model it is given.
    /// The C# version is not part of a stamp: the tool writes files that compile under every version
    /// (<see cref="CSharpLanguage.Any"/>), so the stamps, and with them the quantization, are shared by all
    /// target frameworks of a project. It also writes the runtime users file: the sorted list of every
    /// model's generated C# file, from which the tool decides which runtime files to emit; a model added or
    /// removed changes it, and the runtime is re-emitted without quantizing any model.
    /// </summary>
    public sealed class WriteModelStamps : Task
    {
        /// <summary>The predicted models (<see cref="PredictQuantizedOutputs"/>), with StampFile metadata.</summary>
        [Required]
        public ITaskItem[] Models { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>The runtime source file the generated classes compile against.</summary>
        public string RuntimeFile { get; set; } = "";

        /// <summary>Namespace of the runtime; the generated code refers to it.</summary>
        public string RuntimeNamespace { get; set; } = "";

        /// <summary>The tool's entry assembly (quantbuild.dll).</summary>
        public string ToolAssembly { get; set; } = "";

        /// <summary>Where to write the runtime users file (every model's GeneratedCode, one full path per line); empty: none.</summary>
        public string RuntimeUsersFile { get; set; } = "";

        public override bool Execute()
        {
            var tool = ToolIdentity(ToolAssembly);
            foreach (var model in Models)
            {
                // A field the manifest cannot carry is reported by QuantizeModels when it writes the
                // manifest; without a stamp the model is stale, so that always happens.
                var line = ModelManifest.FormatLine(ModelItems.ToManifestEntry(model), out _);
                if (line == null)
                    continue;
                var path = model.GetMetadata("StampFile");
                try
                {
                    if (WriteIfDifferent(path, Text(line, RuntimeFile, RuntimeNamespace, tool)))
                        Log.LogMessage(MessageImportance.Low, "QuantBuild: {0} changed; {1} is stale.", path, model.ItemSpec);
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ToolFailed, null, path, 0, 0, 0, 0, "Cannot write the stamp file: {0}", e.Message);
                }
            }
            if (RuntimeUsersFile.Length != 0)
            {
                try
                {
                    if (WriteIfDifferent(RuntimeUsersFile, RuntimeUsersText(Models)))
                        Log.LogMessage(MessageImportance.Low, "QuantBuild: the set of models changed; the runtime is stale.");
                }
                catch (Exception e) when (e is IOException || e is UnauthorizedAccessException)
                {
                    Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ToolFailed, null, RuntimeUsersFile, 0, 0, 0, 0, "Cannot write the runtime users file: {0}", e.Message);
                }
            }
            return !Log.HasLoggedErrors;
        }

        /// <summary>The stamp text of one model.</summary>
        internal static string Text(string manifestLine, string runtimeFile, string runtimeNamespace, string toolIdentity) =>
            "quantbuild-stamp 2\n" +
            "manifest\t" + manifestLine + "\n" +
            "runtime-file\t" + runtimeFile + "\n" +
            "runtime-namespace\t" + runtimeNamespace + "\n" +
            "tool\t" + toolIdentity + "\n";

        /// <summary>Every model's generated C# file, one per line, ordinal order (the item order does not matter).</summary>
        internal static string RuntimeUsersText(IEnumerable<ITaskItem> models)
        {
            var files = models.Select(m => m.GetMetadata("GeneratedCode")).Where(f => f.Length != 0).Distinct(StringComparer.Ordinal).ToList();
            files.Sort(StringComparer.Ordinal);
            var text = new StringBuilder();
            foreach (var file in files)
                text.Append(file).Append('\n');
            return text.ToString();
        }

        /// <summary>
        /// Path, informational version (the one the tool writes into generated code), size and last write
        /// time of the tool assembly; "missing" when it does not exist (QuantizeModels reports that).
        /// </summary>
        internal static string ToolIdentity(string toolAssembly)
        {
            var file = new FileInfo(toolAssembly);
            if (!file.Exists)
                return toolAssembly + "\tmissing";
            string version;
            try
            {
                version = FileVersionInfo.GetVersionInfo(file.FullName).ProductVersion ?? "";
            }
            catch (IOException)
            {
                version = "";
            }
            return string.Join("\t", file.FullName, version,
                file.Length.ToString(CultureInfo.InvariantCulture),
                file.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture));
        }

        /// <summary>Writes <paramref name="text"/> unless the file already holds it; true when it wrote.</summary>
        internal static bool WriteIfDifferent(string path, string text)
        {
            if (File.Exists(path) && File.ReadAllText(path) == text)
                return false;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            File.WriteAllText(path, text, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            return true;
        }
    }

    /// <summary>The predicted model items as the tool contract sees them.</summary>
    internal static class ModelItems
    {
        /// <summary>The manifest entry of a predicted model (metadata from <see cref="PredictQuantizedOutputs"/>).</summary>
        public static ManifestEntry ToManifestEntry(ITaskItem model) => new ManifestEntry(
            model.GetMetadata("Source") is { Length: > 0 } source ? source : model.GetMetadata("FullPath"),
            model.GetMetadata("SidecarExists") == "true" ? model.GetMetadata("Sidecar") : "",
            model.GetMetadata("OutputDir"),
            model.GetMetadata("Name"),
            model.GetMetadata("ClassName"),
            model.GetMetadata("Namespace"),
            model.GetMetadata("Access"),
            model.GetMetadata("DependencyFile"));
    }
}
