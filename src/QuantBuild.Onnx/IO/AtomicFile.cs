using QuantBuild.Diagnostics;

namespace QuantBuild.Onnx.IO;

/// <summary>
/// Writes files so that readers only ever see the old or the complete new content: data goes to a
/// temporary file in the same folder, then a rename replaces the target. A build cancelled half-way
/// therefore never leaves an output that looks up to date.
/// </summary>
public static class AtomicFile
{
    public static void WriteAllBytes(string path, ReadOnlySpan<byte> bytes)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write))
            {
                stream.Write(bytes);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (IOException e)
        {
            TryDelete(temp);
            throw new QuantBuildException(DiagnosticCodes.WriteFailed, $"could not write '{path}': {e.Message}", path, inner: e);
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
