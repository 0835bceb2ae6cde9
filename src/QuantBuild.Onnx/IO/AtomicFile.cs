using QuantBuild.Diagnostics;

namespace QuantBuild.Onnx.IO;

/// <summary>
/// Writes files so that readers only ever see the old or the complete new content: data goes to a
/// temporary file in the same folder, then a rename replaces the target. A build cancelled half-way
/// therefore never leaves an output that looks up to date.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllBytes(string path, byte[] bytes) => WriteStream(path, stream => stream.Write(bytes));

    /// <summary>A span cannot enter the writer callback, so this overload copies once; prefer the array overload for large content.</summary>
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes) => WriteAllBytes(path, bytes.ToArray());

    /// <summary>Streams content into the file (for payloads too large to build in memory first), with the same all-or-nothing guarantee.</summary>
    public static void WriteStream(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        // The process id in the name lets a later run remove the file if this process is killed before the
        // rename (BuildContract.ModelGeneration.RemoveStaleTemporaries) without touching a live writer's.
        var temp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + "-" + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            Directory.CreateDirectory(dir);
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (IOException e)
        {
            TryDelete(temp);
            throw new QuantBuildException(DiagnosticCodes.WriteFailed, $"could not write '{path}': {e.Message}", path, inner: e);
        }
        catch (QuantBuildException)
        {
            TryDelete(temp);
            throw;
        }
        catch (UnauthorizedAccessException e)
        {
            TryDelete(temp);
            throw new QuantBuildException(DiagnosticCodes.WriteFailed, $"could not write '{path}': {e.Message}", path, inner: e);
        }
    }

    public static void WriteAllText(string path, string text) => WriteAllBytes(path, new System.Text.UTF8Encoding(false).GetBytes(text));

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
