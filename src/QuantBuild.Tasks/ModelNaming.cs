using System;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace QuantBuild.Tasks
{
    /// <summary>
    /// Pure functions that turn a model path into the names of everything generated for it. The
    /// targets predict outputs with these before the tool runs, so they must never depend on the
    /// model's content.
    /// </summary>
    internal static class ModelNaming
    {
        /// <summary>
        /// A PascalCase C# identifier from a file stem: "kws_small-v2" becomes "KwsSmallV2". A stem that
        /// starts with a digit gets a "Model" prefix ("1x1conv" -> "Model1x1conv"); one with no letters
        /// or digits at all becomes "Model".
        /// </summary>
        public static string ToClassName(string stem)
        {
            var builder = new StringBuilder(stem.Length);
            bool startOfWord = true;
            foreach (char c in stem)
            {
                if (char.IsLetterOrDigit(c) && c < 128)
                {
                    builder.Append(startOfWord ? char.ToUpperInvariant(c) : c);
                    startOfWord = false;
                }
                else if (char.IsLetterOrDigit(c))
                {
                    // Non-ASCII letters are legal in C# identifiers but make generated names hard to type; keep them verbatim.
                    builder.Append(c);
                    startOfWord = false;
                }
                else
                {
                    startOfWord = true;
                }
            }
            if (builder.Length == 0)
                return "Model";
            if (char.IsDigit(builder[0]))
                builder.Insert(0, "Model");
            return builder.ToString();
        }

        /// <summary>True when <paramref name="name"/> is a plain C# identifier we can emit as a class name.</summary>
        public static bool IsValidIdentifier(string name)
        {
            if (name.Length == 0 || !(char.IsLetter(name[0]) || name[0] == '_'))
                return false;
            foreach (char c in name)
            {
                if (!(char.IsLetterOrDigit(c) || c == '_'))
                    return false;
            }
            return true;
        }

        /// <summary>True when <paramref name="ns"/> is empty (global namespace) or dotted identifiers.</summary>
        public static bool IsValidNamespace(string ns)
        {
            if (ns.Length == 0)
                return true;
            foreach (var part in ns.Split('.'))
            {
                if (!IsValidIdentifier(part))
                    return false;
            }
            return true;
        }

        /// <summary>
        /// A short, stable folder name for a model: hex of SHA-256 over its project-relative path with
        /// '/' separators. Stable across machines and checkouts (no absolute path goes in), distinct for
        /// a/m.onnx and b/m.onnx.
        /// </summary>
        public static string StableFolderName(string projectRelativePath)
        {
            var normalized = projectRelativePath.Replace('\\', '/');
            using (var sha = SHA256.Create())
            {
                var hash = sha.ComputeHash(Encoding.UTF8.GetBytes(normalized));
                var hex = new StringBuilder(12);
                for (int i = 0; i < 6; i++)
                    hex.Append(hash[i].ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                return hex.ToString();
            }
        }

        /// <summary>
        /// The path of <paramref name="fullPath"/> relative to <paramref name="directory"/> with '/'
        /// separators, or null when the file is not under that directory.
        /// </summary>
        public static string? RelativePathUnder(string directory, string fullPath)
        {
            var root = Path.GetFullPath(directory);
            if (!root.EndsWith(Path.DirectorySeparatorChar.ToString(), StringComparison.Ordinal))
                root += Path.DirectorySeparatorChar;
            var comparison = Path.DirectorySeparatorChar == '\\' ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
            if (!fullPath.StartsWith(root, comparison))
                return null;
            return fullPath.Substring(root.Length).Replace('\\', '/');
        }
    }
}
