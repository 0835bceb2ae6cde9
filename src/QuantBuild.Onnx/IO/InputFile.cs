using QuantBuild.Diagnostics;

namespace QuantBuild.Onnx.IO;

/// <summary>Reads a whole input file, turning a missing or unreadable file into QB1001 naming it.</summary>
public static class InputFile
{
    public static byte[] ReadAllBytes(string path, string what = "file")
    {
        if (!File.Exists(path))
            throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"{what} '{path}' not found", path);
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"could not read {what} '{path}': {e.Message}", path, inner: e);
        }
    }
}
