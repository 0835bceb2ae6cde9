using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using QuantBuild.BuildContract;

namespace QuantBuild.Cli.Caching;

/// <summary>
/// The outputs of one model as the cache keeps them: each file by its role (the file name after "&lt;name&gt;."),
/// the warnings the quantization printed (code, message), and which of the key's input files it read
/// (indices into <see cref="ResultCacheKey.InputFiles"/>, which are in key order: the same for every checkout).
/// </summary>
public sealed record CachedResult(IReadOnlyList<(string Role, byte[] Content)> Files, IReadOnlyList<(string Code, string Message)> Warnings, IReadOnlyList<int> Dependencies);

/// <summary>
/// A content-addressed store of model outputs shared by every build on the machine (docs/msbuild.md, "Result
/// cache"). An entry is a folder <c>v1/&lt;2 hex&gt;/&lt;key digest&gt;/</c> holding the output files by role, the
/// key text, the warnings and dependencies (result.json), and last a manifest listing each of them with its size and SHA-256.
/// <list type="bullet">
/// <item>Written whole or not at all: an entry is staged in <c>v1/tmp/</c> and renamed into place as one
/// folder, so a reader never sees half an entry, and concurrent builds need no lock: two builds that miss the
/// same key both quantize (the bytes are the same) and the first rename wins.</item>
/// <item>Verified before use: every file must have the size and SHA-256 its manifest gives and the key text
/// must be the one looked up. Anything else (a flipped byte, a truncated or missing file, no manifest) is a
/// damaged entry: it is moved out of the way, reported, and rebuilt, never used.</item>
/// <item>Bounded: a manifest over <see cref="MaxManifestBytes"/>, a file over <see cref="MaxFileBytes"/> or an
/// entry over <see cref="MaxEntryBytes"/> is refused, before anything of that size is read.</item>
/// </list>
/// </summary>
public sealed class ResultCache
{
    public const string ManifestName = "manifest";
    public const string ManifestHeader = "quantbuild-cache-entry 1";
    private const string KeyFile = "key";
    private const string ResultFile = "result.json";

    public const long MaxManifestBytes = 64 * 1024;
    /// <summary>What one output may hold: the tool builds each in memory as one array.</summary>
    public static long MaxFileBytes => Onnx.IO.InputFile.MaxBytes;
    public const long MaxEntryBytes = 4L << 30;

    /// <summary>The roles of the model outputs (<see cref="ModelOutputs.Files"/> without the name).</summary>
    public static readonly IReadOnlyList<string> OutputRoles = ModelOutputs.Files("").Select(f => f[1..]).ToList();

    public ResultCache(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    private string Entries => Path.Combine(Root, "v1");

    private string Staging => Path.Combine(Entries, "tmp");

    public string EntryFolder(string digest) => Path.Combine(Entries, digest[..2], digest);

    /// <summary>
    /// The entry of <paramref name="key"/>, verified; null when there is none or it is damaged (then
    /// <paramref name="damage"/> says why and the entry has been moved out of the way).
    /// </summary>
    public CachedResult? TryRead(ResultCacheKey key, out string? damage)
    {
        damage = null;
        var folder = EntryFolder(key.Digest);
        if (!Directory.Exists(folder))
            return null;
        try
        {
            var result = ReadVerified(folder, key, out damage);
            if (result is not null)
                return result;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A concurrent build moving a damaged entry away, or a file system problem: not usable now.
            damage = e.Message;
        }
        Discard(folder);
        return null;
    }

    private static CachedResult? ReadVerified(string folder, ResultCacheKey key, out string? damage)
    {
        var manifestPath = Path.Combine(folder, ManifestName);
        if (!File.Exists(manifestPath))
        {
            damage = "it has no manifest";
            return null;
        }
        if (new FileInfo(manifestPath).Length > MaxManifestBytes)
        {
            damage = $"its manifest is larger than {MaxManifestBytes} bytes";
            return null;
        }
        var lines = File.ReadAllText(manifestPath, Encoding.UTF8).Split('\n');
        if (lines.Length < 2 || lines[0] != ManifestHeader || lines[^1].Length != 0)
        {
            damage = "its manifest is not a complete '" + ManifestHeader + "' listing";
            return null;
        }
        var contents = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var order = new List<string>();
        long total = 0;
        for (int i = 1; i < lines.Length - 1; i++)
        {
            // "<sha256> <size> <name>", names from a fixed set: the manifest cannot point outside the entry.
            var fields = lines[i].Split(' ');
            if (fields.Length != 3 || fields[0].Length != 64 || !IsEntryFileName(fields[2]) || contents.ContainsKey(fields[2])
                || !long.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out long size))
            {
                damage = $"manifest line {i + 1} is malformed";
                return null;
            }
            // Compared before adding: a manifest's numbers must not overflow the sum.
            if (size > MaxFileBytes || size > MaxEntryBytes - total)
            {
                damage = $"its manifest gives '{fields[2]}' {size} bytes, more than an entry may hold";
                return null;
            }
            var path = Path.Combine(folder, fields[2]);
            long actual = File.Exists(path) ? new FileInfo(path).Length : -1;
            if (actual != size)
            {
                damage = actual < 0 ? $"'{fields[2]}' is missing" : $"'{fields[2]}' has {actual} bytes, its manifest says {size}";
                return null;
            }
            var bytes = new byte[size];
            using (var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan))
                stream.ReadExactly(bytes);
            if (ResultCacheKey.Sha256(bytes) != fields[0])
            {
                damage = $"'{fields[2]}' does not match its SHA-256";
                return null;
            }
            contents.Add(fields[2], bytes);
            order.Add(fields[2]);
            total += size;
        }
        if (!contents.TryGetValue(KeyFile, out var keyText) || Encoding.UTF8.GetString(keyText) != key.Text
            || !contents.TryGetValue(ResultFile, out var resultJson) || OutputRoles.Any(r => !contents.ContainsKey(r)))
        {
            damage = "it does not hold this key's complete set of files";
            return null;
        }
        ResultInfo? info;
        try
        {
            info = JsonSerializer.Deserialize<ResultInfo>(resultJson);
        }
        catch (JsonException)
        {
            info = null;
        }
        if (info?.Warnings is null || info.Dependencies is null || info.Warnings.Any(w => w is not { Length: 2 } || w[0] is null || w[1] is null)
            || info.Dependencies.Any(d => d < 0 || d >= key.InputFiles.Count))
        {
            damage = "its result.json is not readable";
            return null;
        }
        damage = null;
        // In manifest order, which is the order the quantization produced them (the generation marker lists them so).
        return new CachedResult(order.Where(OutputRoles.Contains).Select(r => (r, contents[r])).ToList(),
            info.Warnings.Select(w => (w[0], w[1])).ToList(), info.Dependencies);
    }

    /// <summary>result.json: the warnings as [code, message] pairs and the dependency indices.</summary>
    private sealed record ResultInfo(string[][]? Warnings, int[]? Dependencies);

    private static bool IsEntryFileName(string name) => name == KeyFile || name == ResultFile || OutputRoles.Contains(name);

    /// <summary>
    /// Stores <paramref name="result"/> under <paramref name="key"/>: staged, flushed, manifest last, then one
    /// rename. An entry already there that verifies is kept (a concurrent build stored the same bytes); a
    /// damaged one is replaced. Returns null, or why nothing was stored (too large, an I/O error): the cache
    /// only saves time, so that is a message, never a failure of the build.
    /// </summary>
    public string? Store(ResultCacheKey key, CachedResult result)
    {
        var files = new List<(string Name, byte[] Content)>(result.Files.Select(f => (f.Role, f.Content)))
        {
            (KeyFile, Encoding.UTF8.GetBytes(key.Text)),
            (ResultFile, JsonSerializer.SerializeToUtf8Bytes(new ResultInfo(result.Warnings.Select(w => new[] { w.Code, w.Message }).ToArray(), result.Dependencies.ToArray()))),
        };
        if (files.Any(f => !IsEntryFileName(f.Name)))
            throw new ArgumentException("unknown output role", nameof(result));
        long total = files.Sum(f => (long)f.Content.Length);
        if (total > MaxEntryBytes)
            return $"the outputs hold {total} bytes, more than an entry may hold ({MaxEntryBytes})";

        string? staging = null;
        try
        {
            Directory.CreateDirectory(Staging);
            ModelGeneration.RemoveStaleTemporaries(Staging);
            var folder = Path.Combine(Staging, ModelGeneration.TemporaryName());
            staging = folder;
            Directory.CreateDirectory(folder);
            var manifest = new StringBuilder(ManifestHeader).Append('\n');
            foreach (var (name, content) in files)
            {
                ModelGeneration.WriteFlushed(Path.Combine(folder, name), content);
                manifest.Append(ResultCacheKey.Sha256(content)).Append(' ')
                    .Append(content.Length.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(name).Append('\n');
            }
            ModelGeneration.WriteFlushed(Path.Combine(folder, ManifestName), Encoding.UTF8.GetBytes(manifest.ToString()));

            var final = EntryFolder(key.Digest);
            Directory.CreateDirectory(Path.GetDirectoryName(final)!);
            for (int attempt = 0; ; attempt++)
            {
                try
                {
                    Directory.Move(folder, final);
                    staging = null;
                    return null;
                }
                catch (IOException) when (attempt == 0 && Directory.Exists(final))
                {
                    // Someone was first: keep theirs if it verifies, else move it away and try once more.
                    if (TryRead(key, out _) is not null)
                        return null;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return e.Message;
        }
        finally
        {
            if (staging is not null)
                ModelGeneration.TryDeleteFolder(staging);
        }
    }

    /// <summary>Moves a damaged entry into the staging folder (one rename: readers see it or not at all), then deletes it.</summary>
    private void Discard(string folder)
    {
        try
        {
            Directory.CreateDirectory(Staging);
            var trash = Path.Combine(Staging, ModelGeneration.TemporaryName());
            Directory.Move(folder, trash);
            ModelGeneration.TryDeleteFolder(trash);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone already (another build discarded it) or not ours to move: the next store replaces it.
        }
    }
}
