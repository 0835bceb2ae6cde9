using QuantBuild.Diagnostics;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Onnx.IO;

/// <summary>
/// Tensor payloads stored beside the model (ONNX "external data": location/offset/length keys,
/// the location relative to the model's folder). Needed for models over protobuf's 2 GB limit and
/// produced by many exporters for any large weight.
/// </summary>
public static class ExternalData
{
    public static byte[] Read(TensorProto proto, string? baseDirectory, string? sourceFile)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var kv in proto.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": offset = long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture); break;
                case "length": length = long.Parse(kv.Value, System.Globalization.CultureInfo.InvariantCulture); break;
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing, $"tensor '{proto.Name}' is marked external but has no location", sourceFile);
        if (Path.IsPathRooted(location) || location.Split('/', '\\').Contains(".."))
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing, $"tensor '{proto.Name}': external data location '{location}' must stay inside the model's folder", sourceFile);
        var path = Path.Combine(baseDirectory ?? ".", location);
        if (!File.Exists(path))
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing, $"tensor '{proto.Name}': external data file '{path}' not found", sourceFile);
        using var stream = File.OpenRead(path);
        if (length < 0) length = stream.Length - offset;
        if (offset < 0 || offset + length > stream.Length)
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing, $"tensor '{proto.Name}': bytes {offset}..{offset + length} lie outside '{path}' ({stream.Length} bytes)", sourceFile);
        var buffer = new byte[length];
        stream.Position = offset;
        stream.ReadExactly(buffer);
        return buffer;
    }
}
