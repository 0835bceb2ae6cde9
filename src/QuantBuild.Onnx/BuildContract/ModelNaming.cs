using System;
using System.Collections.Generic;
using System.IO;
using System.Security.Cryptography;
using System.Text;

namespace QuantBuild.BuildContract
{
    /// <summary>
    /// The one set of naming rules for generated code and files: class names from file stems, what a
    /// valid class name or namespace is, how C# keywords are written, folder names and plain file names.
    /// Shared source: compiled into QuantBuild.Onnx (the CLI and the C# emitter use it from there) and
    /// linked into QuantBuild.Tasks and the test fake tool, which may not reference our assemblies, so
    /// MSBuild's predictions and the tool's output can never disagree. netstandard2.0 C# only.
    /// Pure functions: the targets predict outputs with these before the tool runs, so they never
    /// depend on a model's content.
    /// </summary>
    public static class ModelNaming
    {
        // Reserved and contextual keywords. A name in this set is legal only with an '@' prefix
        // (reserved ones), or breaks or warns as a type name (record, required, file, scoped, var...),
        // so the generated code always writes these with '@': the C# identifier is then exactly the
        // name the user asked for, as '@class' is the identifier 'class'.
        private static readonly HashSet<string> Keywords = new HashSet<string>(StringComparer.Ordinal)
        {
            "abstract", "as", "base", "bool", "break", "byte", "case", "catch", "char", "checked", "class", "const",
            "continue", "decimal", "default", "delegate", "do", "double", "else", "enum", "event", "explicit",
            "extern", "false", "finally", "fixed", "float", "for", "foreach", "goto", "if", "implicit", "in", "int",
            "interface", "internal", "is", "lock", "long", "namespace", "new", "null", "object", "operator", "out",
            "override", "params", "private", "protected", "public", "readonly", "ref", "return", "sbyte", "sealed",
            "short", "sizeof", "stackalloc", "static", "string", "struct", "switch", "this", "throw", "true", "try",
            "typeof", "uint", "ulong", "unchecked", "unsafe", "ushort", "using", "virtual", "void", "volatile", "while",
            // contextual
            "add", "alias", "allows", "and", "ascending", "args", "async", "await", "by", "descending", "dynamic",
            "equals", "extension", "field", "file", "from", "get", "global", "group", "init", "into", "join", "let",
            "managed", "nameof", "nint", "not", "notnull", "nuint", "on", "or", "orderby", "partial", "record",
            "remove", "required", "scoped", "select", "set", "unmanaged", "value", "var", "when", "where", "with", "yield",
        };

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

        /// <summary>
        /// True when <paramref name="name"/> is a C# identifier we can emit as a class name (letters,
        /// digits, '_'; not starting with a digit). Keywords are valid: <see cref="ToCSharp"/> escapes them.
        /// </summary>
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

        /// <summary>True for a C# keyword, reserved or contextual.</summary>
        public static bool IsKeyword(string name) => Keywords.Contains(name);

        /// <summary>
        /// How a valid identifier or dotted namespace is written in C# source: every keyword part gets
        /// '@' ("class" -> "@class", "App.event" -> "App.@event"), everything else is unchanged.
        /// </summary>
        public static string ToCSharp(string identifierOrNamespace)
        {
            if (identifierOrNamespace.IndexOf('.') < 0)
                return IsKeyword(identifierOrNamespace) ? "@" + identifierOrNamespace : identifierOrNamespace;
            var parts = identifierOrNamespace.Split('.');
            for (int i = 0; i < parts.Length; i++)
                parts[i] = ToCSharp(parts[i]);
            return string.Join(".", parts);
        }

        /// <summary>
        /// True when <paramref name="name"/> can be a file name on every OS we build on, so that
        /// '&lt;name&gt;.g.cs' stays inside its folder: not empty, not '.' or '..', no path separator,
        /// drive or wildcard character (<c>&lt; &gt; : " / \ | ? *</c>), no control character, no trailing
        /// dot or space (Windows drops them).
        /// </summary>
        public static bool IsPlainFileName(string name)
        {
            if (name.Length == 0 || name == "." || name == ".." || name.EndsWith(".", StringComparison.Ordinal) || name.EndsWith(" ", StringComparison.Ordinal))
                return false;
            foreach (char c in name)
            {
                if (c < 32 || c == '<' || c == '>' || c == ':' || c == '"' || c == '/' || c == '\\' || c == '|' || c == '?' || c == '*')
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

    /// <summary>
    /// The file names of everything generated for one model, from its name (the model file's stem)
    /// alone. MSBuild predicts these, the tool and the test fake write them.
    /// </summary>
    public static class ModelOutputs
    {
        public static string CSharp(string name) => name + ".g.cs";

        public static string QuantizedOnnx(string name) => name + ".quant.onnx";

        public static string Report(string name) => name + ".report.json";

        /// <summary>The inputs the tool read (one absolute path per line); MSBuild makes them inputs of the next build.</summary>
        public static string Dependencies(string name) => name + ".deps";

        /// <summary>What MSBuild last asked for (item metadata, tool identity); written by the task, an input.</summary>
        public static string Stamp(string name) => name + ".stamp";

        /// <summary>Written last by the tool, naming the complete set of one generation (see ModelGeneration).</summary>
        public static string Generation(string name) => name + ".generation";

        /// <summary>The three model outputs, in the order the tool writes them.</summary>
        public static string[] Files(string name) => new[] { QuantizedOnnx(name), CSharp(name), Report(name) };
    }
}
