using QuantBuild.Diagnostics;

namespace QuantBuild.Onnx.IO;

/// <summary>
/// Reads a whole input file (model, sidecar, .npy), refusing before it is opened anything that is not a
/// regular file with content, or that is larger than the limit for its kind. A missing or unreadable
/// file is QB1001 naming it.
/// </summary>
public static class InputFile
{
    /// <summary>What one byte array can hold: the ceiling for any file read whole.</summary>
    public static long MaxBytes => Array.MaxLength;

    /// <param name="maxBytes">largest size accepted for this kind of file (checked before reading)</param>
    public static byte[] ReadAllBytes(string path, string what = "file", long? maxBytes = null)
    {
        long limit = Math.Min(maxBytes ?? MaxBytes, MaxBytes);
        long length = CheckedLength(path, what, limit);
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan);
            // Exactly the size checked above: a file that grows while we read cannot take more memory.
            var bytes = new byte[length];
            stream.ReadExactly(bytes);
            return bytes;
        }
        catch (EndOfStreamException e)
        {
            throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"could not read {what} '{path}': it became shorter while it was read", path, inner: e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"could not read {what} '{path}': {e.Message}", path, inner: e);
        }
    }

    /// <summary>
    /// The size of <paramref name="path"/> after checking it is a regular, non-empty file within
    /// <paramref name="maxBytes"/>. .NET does not expose the file type on Unix, but every special file
    /// (a character device such as /dev/zero, a FIFO, a socket, a /proc entry) reports size 0: refusing
    /// a zero length before opening keeps a FIFO from blocking forever and /dev/zero from being read until
    /// memory runs out. An empty regular file is no valid model, sidecar or array either.
    /// </summary>
    public static long CheckedLength(string path, string what, long maxBytes)
    {
        if (Directory.Exists(path))
            throw new QuantBuildException(DiagnosticCodes.NotARegularFile, $"{what} '{path}' is a folder, not a file", path);
        if (!File.Exists(path))
            throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"{what} '{path}' not found", path);
        long length;
        try
        {
            // A symbolic link has a size of its own (its target's path): judge what it points to.
            var info = new FileInfo(path);
            if (info.LinkTarget is not null && File.ResolveLinkTarget(path, returnFinalTarget: true) is FileInfo target)
                info = target;
            length = info.Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"could not read {what} '{path}': {e.Message}", path, inner: e);
        }
        if (length == 0)
            throw new QuantBuildException(DiagnosticCodes.NotARegularFile,
                $"{what} '{path}' is empty or not a regular file (a device, pipe or socket); give a regular file", path);
        if (length > maxBytes)
            throw new QuantBuildException(DiagnosticCodes.FileTooLarge,
                $"{what} '{path}' has {length} bytes, more than the {maxBytes} accepted for it", path);
        return length;
    }
}
