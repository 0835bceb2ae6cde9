using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Onnx.IO;

/// <summary>Reads and writes <c>.onnx</c> files.</summary>
public static class OnnxModelFile
{
    public const long MinIrVersion = 3;
    public const long MaxIrVersion = 10;

    public static ModelProto Load(string path)
    {
        if (!File.Exists(path))
            throw new QuantBuildException(DiagnosticCodes.FileNotFound, $"model file '{path}' not found", path);
        var bytes = File.ReadAllBytes(path);
        return Parse(bytes, path);
    }

    public static ModelProto Parse(byte[] bytes, string? path = null)
    {
        ModelProto model;
        try
        {
            // ONNX models are deep for large graphs with subgraphs: lift protobuf's default limit.
            var input = new CodedInputStream(bytes);
            model = new ModelProto();
            model.MergeFrom(input);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidModel, $"not a valid ONNX model: {e.Message}", path, inner: e);
        }
        if (model.Graph is null)
            throw new QuantBuildException(DiagnosticCodes.InvalidModel, "the file holds no graph (is it an ONNX model?)", path);
        if (model.IrVersion < MinIrVersion || model.IrVersion > MaxIrVersion)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedIrVersion, $"IR version {model.IrVersion} is outside the supported range {MinIrVersion}..{MaxIrVersion}", path);
        return model;
    }

    /// <summary>Writes atomically: a temporary file beside the target, then a rename, so a crash never leaves a truncated model.</summary>
    public static void Save(ModelProto model, string path) => AtomicFile.WriteAllBytes(path, model.ToByteArray());
}
