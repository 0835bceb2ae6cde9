using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace QuantBuild.BuildContract
{
    /// <summary>One model of a manifest: what the tool is asked to generate, field by field.</summary>
    public sealed class ManifestEntry
    {
        public ManifestEntry(string modelPath, string sidecarPath, string outputDirectory, string name,
            string className, string ns, string access, string dependencyFile)
        {
            ModelPath = modelPath;
            SidecarPath = sidecarPath;
            OutputDirectory = outputDirectory;
            Name = name;
            ClassName = className;
            Namespace = ns;
            Access = access;
            DependencyFile = dependencyFile;
        }

        public string ModelPath { get; }

        /// <summary>Empty: no sidecar (default settings).</summary>
        public string SidecarPath { get; }

        public string OutputDirectory { get; }

        /// <summary>The file stem of every output (see <see cref="ModelOutputs"/>).</summary>
        public string Name { get; }

        /// <summary>Empty: <see cref="ModelNaming.ToClassName"/> of <see cref="Name"/>.</summary>
        public string ClassName { get; }

        /// <summary>Empty: the global namespace (MSBuild) or the tool's default.</summary>
        public string Namespace { get; }

        public string Access { get; }

        public string DependencyFile { get; }

        /// <summary>The fields in manifest order.</summary>
        public string[] Fields() => new[] { ModelPath, SidecarPath, OutputDirectory, Name, ClassName, Namespace, Access, DependencyFile };
    }

    /// <summary>A manifest line that cannot be used: its 1-based line number and why.</summary>
    public sealed class ManifestError
    {
        public ManifestError(int line, string message)
        {
            Line = line;
            Message = message;
        }

        public int Line { get; }
        public string Message { get; }
    }

    /// <summary>
    /// The file that tells one tool process which models to generate (the MSBuild task writes it,
    /// <c>quantbuild build</c> and the test fake read it). One model per line, fields separated by a
    /// tab, in this order: model path, sidecar path (empty when there is none), output directory,
    /// name, class name, namespace, access (internal|public), dependency file path. UTF-8 without BOM,
    /// '\n' line endings. The task writes absolute paths; a reader resolves relative ones against the
    /// manifest's folder and ignores empty lines and lines starting with '#'.
    /// Shared source (see <see cref="ModelNaming"/>): the writer and the readers cannot drift apart.
    /// </summary>
    public static class ModelManifest
    {
        public const int FieldCount = 8;

        private const string FieldNames = "model, sidecar, output dir, name, class name, namespace, access, dependency file";

        /// <summary>One manifest line (without its '\n'), or null with <paramref name="error"/> when a field cannot be written.</summary>
        public static string? FormatLine(ManifestEntry entry, out string? error)
        {
            error = null;
            foreach (var field in entry.Fields())
            {
                if (field.IndexOfAny(new[] { '\t', '\n', '\r' }) >= 0)
                {
                    error = $"'{field}' contains a tab or line break, which the model manifest cannot carry.";
                    return null;
                }
            }
            return string.Join("\t", entry.Fields());
        }

        /// <summary>The manifest text for the models, or an error message when a field cannot be written.</summary>
        public static string Format(IEnumerable<ManifestEntry> entries, out string? error)
        {
            var text = new StringBuilder();
            foreach (var entry in entries)
            {
                var line = FormatLine(entry, out error);
                if (line == null)
                    return "";
                text.Append(line).Append('\n');
            }
            error = null;
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

        /// <summary>
        /// Reads manifest text. Every entry comes back with full paths; the first unusable line ends the
        /// parse with an error naming it. Checked here, for every reader: the field count, required fields,
        /// access, that the name is a plain file name (so no output can land outside its folder: "../../x",
        /// "/abs/x" or "a:b" are refused), that class name and namespace are valid C#, and that no two
        /// models write the same files.
        /// </summary>
        public static List<ManifestEntry> Parse(string text, string baseDirectory, out ManifestError? error)
        {
            error = null;
            var entries = new List<ManifestEntry>();
            var lineOf = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            var lines = text.Split('\n');
            for (int i = 0; i < lines.Length; i++)
            {
                var line = lines[i].TrimEnd('\r');
                if (line.Trim().Length == 0 || line.StartsWith("#", StringComparison.Ordinal))
                    continue;
                var f = line.Split('\t');
                var problem = Check(f);
                if (problem != null)
                {
                    error = new ManifestError(i + 1, problem);
                    return entries;
                }
                string Full(string path) => path.Length == 0 ? "" : Path.GetFullPath(Path.Combine(baseDirectory, path));
                ManifestEntry entry;
                try
                {
                    entry = new ManifestEntry(Full(f[0]), Full(f[1]), Full(f[2]), f[3], f[4], f[5], f[6], Full(f[7]));
                }
                catch (Exception e) when (e is ArgumentException || e is NotSupportedException || e is PathTooLongException)
                {
                    error = new ManifestError(i + 1, $"a path on this line is not valid: {e.Message}");
                    return entries;
                }
                // Case-insensitive: on Windows and macOS the two would be one file.
                var outputs = Path.Combine(entry.OutputDirectory, entry.Name);
                if (lineOf.TryGetValue(outputs, out var first))
                {
                    error = new ManifestError(i + 1, $"this model writes the same outputs '{outputs}.*' as line {first}; give them different names or folders");
                    return entries;
                }
                lineOf.Add(outputs, i + 1);
                entries.Add(entry);
            }
            return entries;
        }

        private static string? Check(string[] f)
        {
            if (f.Length != FieldCount)
                return $"expected {FieldCount} tab-separated fields ({FieldNames}), found {f.Length}";
            if (f[0].Length == 0 || f[2].Length == 0 || f[3].Length == 0 || f[7].Length == 0)
                return "model path, output dir, name and dependency file must not be empty";
            if (!ModelNaming.IsPlainFileName(f[3]))
                return $"name '{f[3]}' must be a plain file name (no folder, drive, '..' or any of < > : \" / \\ | ? *): outputs are written as <output dir>/<name>.*";
            if (f[4].Length != 0 && !ModelNaming.IsValidIdentifier(f[4]))
                return $"class name '{f[4]}' is not a C# identifier (letters, digits and '_', not starting with a digit)";
            if (!ModelNaming.IsValidNamespace(f[5]))
                return $"namespace '{f[5]}' is not a dotted C# name";
            if (f[6] != "internal" && f[6] != "public")
                return $"access must be 'internal' or 'public', found '{f[6]}'";
            return null;
        }
    }
}
