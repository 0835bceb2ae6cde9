using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using QuantBuild.BuildContract;
using QuantBuild.Cli.Commands;
using QuantBuild.Configuration;
using QuantBuild.Onnx.IO;

namespace QuantBuild.Cli.Caching;

/// <summary>
/// What decides a model's outputs, as text, and its SHA-256 (the name of the result cache entry). The text names
/// no absolute path, so two checkouts of the same inputs share entries: it holds the digest of every file the
/// quantizer reads (model, external data, sidecar, each calibration file), the tool's identity and every value
/// the generated files carry (docs/msbuild.md, "Result cache"). <see cref="InputFiles"/> are those files' paths
/// in this checkout, in key order (the order of their lines in the text, so the same for every checkout of the
/// same key): an entry records which of them the quantization read by index, and a restored model lists them
/// as its dependencies.
/// </summary>
public sealed record ResultCacheKey(string Digest, string Text, IReadOnlyList<string> InputFiles)
{
    /// <summary>The first line of the key text; a new layout of the key or of the entries is a new version.</summary>
    public const string Header = "quantbuild-result-key 1";

    public static ResultCacheKey Compute(QuantizeRequest request, QuantizationSettings settings)
    {
        var text = new StringBuilder(Header).Append('\n');
        var inputs = new List<string>();
        void Line(string name, string value) => text.Append(name).Append('\t').Append(value).Append('\n');

        Line("tool", ToolIdentity.Digest);
        // The determinism promise covers thread counts and CPUs; a new .NET runtime is a new key all the same.
        Line("dotnet", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);

        var modelPath = Path.GetFullPath(request.ModelPath);
        var modelBytes = InputFile.ReadAllBytes(modelPath, "model file");
        inputs.Add(modelPath);
        // The report names the model file.
        Line("model", Path.GetFileName(modelPath) + "\t" + Sha256(modelBytes));
        var modelFolder = OnnxModelFile.ModelDirectory(modelPath);
        foreach (var dataFile in ExternalData.DataFiles(OnnxModelFile.Parse(modelBytes, modelPath), modelFolder, modelPath))
        {
            Line("external-data", Path.GetRelativePath(modelFolder, dataFile).Replace('\\', '/') + "\t" + FileDigest(dataFile, "external data file"));
            inputs.Add(dataFile);
        }

        if (settings.SourcePath is string sidecar)
        {
            Line("sidecar", FileDigest(sidecar, "sidecar"));
            inputs.Add(sidecar);
        }
        else
        {
            Line("sidecar", "none");
        }
        // Every file each pattern matches, in the order the calibration pairs them (FileGlob's), by content:
        // a changed, added or removed sample is a new key; where the checkout lies is not.
        // The verify samples likewise (their figures are in the report, and a miss fails the build).
        var sampleSets = settings.Verify is { } verify ? new[] { settings.Calibration, verify.Samples } : new[] { settings.Calibration };
        foreach (var set in sampleSets)
        {
            foreach (var input in set.Inputs)
            {
                var files = FileGlob.Expand(input.Pattern, set.BaseDirectory);
                Line(set.Section, input.Name + "\t" + files.Count.ToString(CultureInfo.InvariantCulture));
                foreach (var file in files)
                {
                    Line("sample", FileDigest(file, set.Section + " file"));
                    inputs.Add(file);
                }
            }
        }

        // Every value the generated files carry besides what the files above decide.
        var csharp = QuantizeJob.CSharpOptions(request);
        Line("name", request.Name);
        Line("class", csharp.ClassName);
        Line("namespace", csharp.Namespace);
        Line("access", csharp.Access);
        Line("runtime-namespace", csharp.RuntimeNamespace ?? "");
        Line("tool-version", csharp.ToolVersion);
        Line("nullable-directive", csharp.NullableDirective ? "true" : "false");
        Line("empty-files-for-disabled-outputs", request.EmptyFilesForDisabledOutputs ? "true" : "false");

        var keyText = text.ToString();
        return new ResultCacheKey(Sha256(Encoding.UTF8.GetBytes(keyText)), keyText, inputs);
    }

    internal static string Sha256(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>SHA-256 of a file read as a stream (any size), after the regular-file check every input gets.</summary>
    private static string FileDigest(string path, string what)
    {
        InputFile.CheckedLength(path, what, long.MaxValue);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            return Convert.ToHexStringLower(SHA256.HashData(stream));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new Diagnostics.QuantBuildException(Diagnostics.DiagnosticCodes.FileNotFound, $"could not read {what} '{path}': {e.Message}", path, inner: e);
        }
    }
}

/// <summary>
/// The tool's identity for the result cache: its informational version and the SHA-256 of every assembly and
/// configuration file in its folder (the tool, QuantBuild.Core/Onnx/Runtime, their dependencies), so a rebuilt
/// tool with the same version number still gets keys of its own.
/// </summary>
internal static class ToolIdentity
{
    private static readonly Lazy<string> s_digest = new(Compute);

    public static string Digest => s_digest.Value;

    private static string Compute()
    {
        var listing = new StringBuilder(QuantizeJob.ToolVersion).Append('\n');
        var folder = AppContext.BaseDirectory;
        var files = Directory.EnumerateFiles(folder)
            .Where(f => f.EndsWith(".dll", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".deps.json", StringComparison.OrdinalIgnoreCase)
                        || f.EndsWith(".runtimeconfig.json", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal);
        foreach (var file in files)
        {
            using var stream = File.OpenRead(file);
            listing.Append(Path.GetFileName(file)).Append('\t').Append(Convert.ToHexStringLower(SHA256.HashData(stream))).Append('\n');
        }
        return ResultCacheKey.Sha256(Encoding.UTF8.GetBytes(listing.ToString()));
    }
}
