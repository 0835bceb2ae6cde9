using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace QuantBuild.BuildContract;

/// <summary>One file of a generation: where it goes and its complete content.</summary>
public sealed record GeneratedFile(string Path, byte[] Content);

/// <summary>
/// Publishes the files of one model as one generation. Renaming files one by one cannot be atomic as a
/// set, so the set is made current by a marker instead:
/// <list type="number">
/// <item>every file, and the marker naming them all (size and SHA-256), is written and flushed into a
///   private folder <c>.qb-tmp-PID-xxxxxxxx</c> inside the output folder;</item>
/// <item>the old marker is deleted: from here on the folder holds no current generation;</item>
/// <item>each file is renamed into place, then the marker, last.</item>
/// </list>
/// A run killed anywhere leaves either the old set with its marker (step 1) or no marker at all, never a
/// marker beside a mixed set. MSBuild lists the marker among each model's outputs, so a missing one makes
/// the model stale and the next build regenerates it. The next run also removes what a killed run left
/// behind (<see cref="RemoveStaleTemporaries"/>).
/// Shared source: compiled into QuantBuild.Onnx (used by the CLI) and linked into the test fake tool.
/// </summary>
public static class ModelGeneration
{
    public const string MarkerHeader = "quantbuild-generation 1";

    private const string TemporaryPrefix = ".qb-tmp-";

    // A killed run's leftovers: our generation folders, and AtomicFile temporaries (".NAME.PID-xxxxxxxx.tmp",
    // or ".NAME.xxxxxxxx.tmp" from tools that did not record the owning process).
    private static readonly Regex TemporaryFolder = new(@"^\.qb-tmp-(?<pid>\d+)-[0-9a-f]{8}$", RegexOptions.CultureInvariant);
    private static readonly Regex TemporaryFile = new(@"^\..+\.(?:(?<pid>\d+)-)?[0-9a-f]{8}\.tmp$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Test hook, called after each file (not the marker) is renamed into place: the fake tool ends the
    /// process there to reproduce a build killed half-way through publishing.
    /// </summary>
    internal static Action<string>? AfterFileMoved { get; set; }

    /// <summary>
    /// The temporary folder name for this process (the process id lets other runs tell live folders from leftovers);
    /// the result cache stages its entries under such names too, and clears them with <see cref="RemoveStaleTemporaries"/>.
    /// </summary>
    public static string TemporaryName() => TemporaryPrefix + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>
    /// Writes <paramref name="files"/> as one generation (see the class summary) and returns their full
    /// paths, the marker last. <paramref name="marker"/> null: no marker (the standalone <c>quantize</c>
    /// verb); the files are still staged first, so a failure while computing or writing leaves the old ones.
    /// I/O errors propagate; the staging folder is removed on every path but a killed process.
    /// </summary>
    public static List<string> Publish(string outputDirectory, string? marker, IReadOnlyList<GeneratedFile> files)
    {
        var directory = Path.GetFullPath(outputDirectory);
        Directory.CreateDirectory(directory);
        RemoveStaleTemporaries(directory);
        var staging = Path.Combine(directory, TemporaryName());
        Directory.CreateDirectory(staging);
        try
        {
            var staged = new List<(string Temp, string Final)>();
            var listing = new StringBuilder(MarkerHeader).Append('\n');
            for (int i = 0; i < files.Count; i++)
            {
                var final = Path.GetFullPath(files[i].Path, directory);
                var temp = Path.Combine(staging, i.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Path.GetFileName(final));
                WriteFlushed(temp, files[i].Content);
                staged.Add((temp, final));
                listing.Append(Convert.ToHexStringLower(SHA256.HashData(files[i].Content))).Append(' ')
                    .Append(files[i].Content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append(' ')
                    .Append(ModelNaming.RelativePathUnder(directory, final) ?? final).Append('\n');
            }
            string? stagedMarker = null;
            if (marker is not null)
            {
                stagedMarker = Path.Combine(staging, "marker");
                WriteFlushed(stagedMarker, Encoding.UTF8.GetBytes(listing.ToString()));
                File.Delete(Path.GetFullPath(marker, directory));
            }

            var published = new List<string>();
            foreach (var (temp, final) in staged)
            {
                Directory.CreateDirectory(Path.GetDirectoryName(final)!);
                File.Move(temp, final, overwrite: true);
                published.Add(final);
                AfterFileMoved?.Invoke(final);
            }
            if (stagedMarker is not null)
            {
                var final = Path.GetFullPath(marker!, directory);
                File.Move(stagedMarker, final, overwrite: true);
                published.Add(final);
            }
            return published;
        }
        finally
        {
            TryDeleteFolder(staging);
        }
    }

    /// <summary>
    /// Writes the runtime source shared by a project's models (atomically, and only when its text
    /// changes), or else moves its timestamp on. It is one of every model's outputs for MSBuild, so it
    /// must never stay older than a model's inputs: an old one once kept a touched model stale forever.
    /// Removes a killed run's temporaries beside it first.
    /// </summary>
    public static void WriteRuntime(string path, string text)
    {
        var full = Path.GetFullPath(path);
        RemoveStaleTemporaries(Path.GetDirectoryName(full)!);
        if (File.Exists(full) && File.ReadAllText(full) == text)
            File.SetLastWriteTimeUtc(full, DateTime.UtcNow);
        else
            Onnx.IO.AtomicFile.WriteAllText(full, text);
    }

    /// <summary>
    /// Removes what killed runs left in <paramref name="directory"/>: generation folders and AtomicFile
    /// temporaries whose process is no longer running (a live one may be a concurrent build, say a
    /// design-time build beside a real one), and temporaries that recorded no process. Best effort.
    /// </summary>
    public static void RemoveStaleTemporaries(string directory)
    {
        if (!Directory.Exists(directory))
            return;
        foreach (var folder in Directory.EnumerateDirectories(directory, TemporaryPrefix + "*"))
        {
            var match = TemporaryFolder.Match(Path.GetFileName(folder));
            if (match.Success && !IsRunning(match.Groups["pid"].Value))
                TryDeleteFolder(folder);
        }
        foreach (var file in Directory.EnumerateFiles(directory, ".*.tmp"))
        {
            var match = TemporaryFile.Match(Path.GetFileName(file));
            if (match.Success && !(match.Groups["pid"].Success && IsRunning(match.Groups["pid"].Value)))
                TryDelete(file);
        }
    }

    private static bool IsRunning(string pidText)
    {
        if (!int.TryParse(pidText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var pid))
            return false;
        if (pid == Environment.ProcessId)
            return true;
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Writes a new file and flushes it to disk before it is renamed anywhere.</summary>
    public static void WriteFlushed(string path, byte[] content)
    {
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        stream.Write(content);
        stream.Flush(flushToDisk: true);
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    public static void TryDeleteFolder(string path)
    {
        try { Directory.Delete(path, recursive: true); } catch (DirectoryNotFoundException) { } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
