using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Text.RegularExpressions;
using QuantBuild.Diagnostics;
using QuantBuild.Tensors;

namespace QuantBuild.Cli;

/// <summary>
/// Options several verbs share, with parsers of our own: the library's default parse error names .NET
/// types ("as expected type 'System.Nullable`1[System.Int32]'"), which means nothing to a user.
/// </summary>
internal static partial class CommonOptions
{
    public static Option<int?> Threads(string description) => new("--threads", "-t")
    {
        Description = description,
        HelpName = "N",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= 1) return n;
            result.AddError($"--threads must be a whole number of at least 1, got '{text}'");
            return null;
        },
    };

    public static Option<long?> MaxTensorBytes() => ByteSize("--max-tensor-bytes",
        $"Largest tensor the model may create, in bytes (suffixes K, M, G: 512M, 2G). Checked before anything is allocated. Default: 2G.");

    public static Option<long?> MaxMemoryBytes() => ByteSize("--max-memory-bytes",
        $"Largest total of tensors alive at once (the float engine's values, the integer plan's arena), in bytes (K, M, G suffixes). Default: 8G.");

    /// <summary>The limits the options ask for (defaults where not given).</summary>
    public static TensorLimits Limits(ParseResult parse, Option<long?> maxTensor, Option<long?> maxMemory) => new()
    {
        MaxTensorBytes = parse.GetValue(maxTensor) ?? TensorLimits.DefaultMaxTensorBytes,
        MaxTotalBytes = parse.GetValue(maxMemory) ?? TensorLimits.DefaultMaxTotalBytes,
    };

    /// <summary>An empty --out would silently mean the current folder.</summary>
    public static void RequireFolder(string outDir)
    {
        if (string.IsNullOrWhiteSpace(outDir))
            throw new QuantBuildException(DiagnosticCodes.InvalidArguments, "--out must name a folder (use --out . for the current one)");
    }

    private static Option<long?> ByteSize(string name, string description) => new(name)
    {
        Description = description,
        HelpName = "BYTES",
        CustomParser = result =>
        {
            var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : "";
            if (ParseBytes(text) is long bytes) return bytes;
            result.AddError($"{name} must be a positive number of bytes, optionally with K, M or G (binary units: 2G = 2147483648), got '{text}'");
            return null;
        },
    };

    /// <summary>"2147483648", "512M", "2G", "2GiB" → bytes (binary units); null when not a positive size.</summary>
    internal static long? ParseBytes(string text)
    {
        var m = SizePattern().Match(text.Trim());
        if (!m.Success || !long.TryParse(m.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture, out long value)) return null;
        int shift = m.Groups[2].Value.ToUpperInvariant() switch { "" => 0, "K" => 10, "M" => 20, "G" => 30, _ => 40 };
        if (value < 1 || value > long.MaxValue >> shift) return null;
        return value << shift;
    }

    [GeneratedRegex(@"^(\d+)\s*(?:([KMGT])(?:i?B)?|B)?$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();
}
