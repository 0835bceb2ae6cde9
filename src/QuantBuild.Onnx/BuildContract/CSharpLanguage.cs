using System;
using System.Globalization;

namespace QuantBuild.BuildContract
{
    /// <summary>
    /// Which C# the generated files may use, decided once from the consuming project's language version.
    /// The MSBuild tasks resolve the version (<see cref="Effective"/>) and pass it to the tool and into each
    /// model's stamp; the tool asks <see cref="AllowsNullableDirective"/>. A netstandard2.0 or .NET Framework
    /// project compiles C# 7.3 by default, where <c>#nullable enable</c> is an error (CS8370), so those get
    /// files without it; the code itself uses only C# 7.3 outside <c>#if NET8_0_OR_GREATER</c> blocks.
    /// Shared source: compiled into QuantBuild.Onnx and linked into QuantBuild.Tasks.
    /// </summary>
    public static class CSharpLanguage
    {
        /// <summary>What a file generated without knowing the project assumes: a current compiler.</summary>
        public const string Latest = "latest";

        /// <summary>
        /// What the MSBuild targets ask for: files that compile under every C# version, because one
        /// quantization serves every target framework of a project (netstandard2.0 compiles C# 7.3, net10.0
        /// C# 14). Model classes then carry no <c>#nullable</c> directive (they have no nullable annotations),
        /// and the runtime's is wrapped in <c>#if</c> <see cref="NullableDirectiveSymbol"/>.
        /// </summary>
        public const string Any = "any";

        /// <summary>
        /// Defined by the targets in each build whose C# is 8 or later (<see cref="AllowsNullableDirective"/> of
        /// <see cref="Effective"/>); a C# 7.3 compiler skips a <c>#nullable</c> directive inside an inactive
        /// <c>#if</c> block (it rejects an active one with CS8370).
        /// </summary>
        public const string NullableDirectiveSymbol = "QUANTBUILD_NULLABLE_DIRECTIVE";

        /// <summary>
        /// Defined by the MSBuild targets when the app references the package's precompiled QuantBuild.Runtime.dll
        /// (QuantBuildRuntime = Assembly): generated classes then import QuantBuild.Runtime instead of the
        /// project's internal runtime namespace.
        /// </summary>
        public const string RuntimeAssemblySymbol = "QUANTBUILD_RUNTIME_ASSEMBLY";

        /// <summary>True for <see cref="Any"/>.</summary>
        public static bool IsAny(string? version) => string.Equals((version ?? "").Trim(), Any, StringComparison.OrdinalIgnoreCase);

        /// <summary>
        /// The version the compiler will use: <paramref name="langVersion"/> as the project sets it (the SDK
        /// fills it in from the target framework when the project does not), "default" or empty meaning
        /// <paramref name="maxSupportedLangVersion"/>, and "latest"/"latestMajor"/"preview" meaning a
        /// current compiler. Unknown or empty input gives <see cref="Latest"/>.
        /// </summary>
        public static string Effective(string? langVersion, string? maxSupportedLangVersion)
        {
            var v = (langVersion ?? "").Trim();
            if (v.Length == 0 || v.Equals("default", StringComparison.OrdinalIgnoreCase))
                v = (maxSupportedLangVersion ?? "").Trim();
            if (v.Length == 0 || v.Equals("latest", StringComparison.OrdinalIgnoreCase) || v.Equals("latestMajor", StringComparison.OrdinalIgnoreCase)
                || v.Equals("preview", StringComparison.OrdinalIgnoreCase) || v.Equals("default", StringComparison.OrdinalIgnoreCase))
                return Latest;
            return Major(v).HasValue ? v : Latest;
        }

        /// <summary>True when <c>#nullable</c> directives compile: C# 8 or later.</summary>
        public static bool AllowsNullableDirective(string? effectiveVersion)
        {
            var v = (effectiveVersion ?? "").Trim();
            if (IsAny(v)) return false;
            if (v.Length == 0 || v.Equals(Latest, StringComparison.OrdinalIgnoreCase)) return true;
            return !(Major(v) is int major) || major >= 8;
        }

        /// <summary>The major number of "7.3", "8.0", "12" or "ISO-2"; null when it is not a version.</summary>
        private static int? Major(string v)
        {
            if (v.StartsWith("ISO-", StringComparison.OrdinalIgnoreCase)) return 2;
            int dot = v.IndexOf('.');
            var head = dot >= 0 ? v.Substring(0, dot) : v;
            return int.TryParse(head, NumberStyles.None, CultureInfo.InvariantCulture, out var major) ? major : (int?)null;
        }
    }
}
