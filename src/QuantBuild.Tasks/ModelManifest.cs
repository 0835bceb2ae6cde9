using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;

namespace QuantBuild.Tasks
{
    /// <summary>
    /// The file that tells one tool process which models to quantize. One model per line, fields
    /// separated by a tab, in this order:
    /// model path, sidecar path (empty when there is none), output directory, name, class name,
    /// namespace, access (internal|public), dependency file path.
    /// UTF-8 without BOM, '\n' line endings. Paths are absolute.
    /// </summary>
    internal static class ModelManifest
    {
        public const int FieldCount = 8;

        /// <summary>The manifest text for the models, or an error message when a field cannot be written.</summary>
        public static string Format(IEnumerable<ITaskItem> models, out string? error)
        {
            error = null;
            var text = new StringBuilder();
            foreach (var model in models)
            {
                var sidecar = model.GetMetadata("SidecarExists") == "true" ? model.GetMetadata("Sidecar") : "";
                var fields = new[]
                {
                    model.GetMetadata("Source") is { Length: > 0 } source ? source : model.GetMetadata("FullPath"),
                    sidecar,
                    model.GetMetadata("OutputDir"),
                    model.GetMetadata("Name"),
                    model.GetMetadata("ClassName"),
                    model.GetMetadata("Namespace"),
                    model.GetMetadata("Access"),
                    model.GetMetadata("DependencyFile"),
                };
                foreach (var field in fields)
                {
                    if (field.IndexOfAny(new[] { '\t', '\n', '\r' }) >= 0)
                    {
                        error = $"'{field}' contains a tab or line break, which the model manifest cannot carry.";
                        return "";
                    }
                }
                text.Append(string.Join("\t", fields)).Append('\n');
            }
            return text.ToString();
        }

        /// <summary>Writes the manifest (creating its folder). UTF-8 without BOM so any reader sees plain paths.</summary>
        public static void Write(string path, string content)
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(directory))
                Directory.CreateDirectory(directory);
            File.WriteAllText(path, content, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        }
    }
}
