using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Onnx.IO;

/// <summary>Reads and writes <c>.onnx</c> files.</summary>
public static class OnnxModelFile
{
    public const long MinIrVersion = 3;
    public const long MaxIrVersion = 10;

    /// <summary>
    /// Reads a model. External tensors stay references to files beside the model (resolved later
    /// against <see cref="ModelDirectory"/>) unless <paramref name="inlineExternalData"/> is set, in which
    /// case their bytes are read now and the returned message is self-contained.
    /// </summary>
    public static ModelProto Load(string path, bool inlineExternalData = false)
    {
        var bytes = InputFile.ReadAllBytes(path, "model file");
        var model = Parse(bytes, path);
        return inlineExternalData ? ExternalData.Inline(model, ModelDirectory(path), path) : model;
    }

    /// <summary>The folder external-data locations of the model at <paramref name="path"/> are relative to.</summary>
    public static string ModelDirectory(string path) => Path.GetDirectoryName(Path.GetFullPath(path))!;

    public static bool HasExternalData(ModelProto model) => ExternalData.MovableTensors(model.Graph).Any(ExternalData.IsExternal);

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
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException)
        {
            // Google.Protobuf's decoder throws these instead of InvalidProtocolBufferException for some corrupt
            // inputs (a nested length near int.MaxValue corrupts its limit bookkeeping: upstream issue 26856).
            // Only the decoder runs inside this try, so the bytes are what is wrong.
            throw new QuantBuildException(DiagnosticCodes.InvalidModel, "not a valid ONNX model: the protobuf data is corrupt or truncated", path, inner: e);
        }
        if (model.Graph is null)
            throw new QuantBuildException(DiagnosticCodes.InvalidModel, "the file holds no graph (is it an ONNX model?)", path);
        if (model.IrVersion < MinIrVersion || model.IrVersion > MaxIrVersion)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedIrVersion, $"IR version {model.IrVersion} is outside the supported range {MinIrVersion}..{MaxIrVersion}", path);
        return model;
    }

    /// <summary>Writes atomically: a temporary file beside the target, then a rename, so a crash never leaves a truncated model.</summary>
    public static void Save(ModelProto model, string path) => Save(model, path, null, null);

    /// <summary>
    /// Writes the model atomically, optionally with large initializers moved to a data file beside it.
    /// </summary>
    /// <param name="externalData">null: tensors are written as they are in <paramref name="model"/>; otherwise every
    /// initializer of at least the threshold goes to the data file (written first, so the model never points at a missing file)</param>
    /// <param name="sourceDirectory">folder the model's existing external-data locations are relative to (where it was loaded
    /// from). When given and the target is another folder, existing external tensors are copied inline or into the new data file, so the
    /// saved model does not refer to files that are not beside it.</param>
    public static void Save(ModelProto model, string path, ExternalDataOptions? externalData, string? sourceDirectory = null)
    {
        var target = model;
        if (externalData is not null)
        {
            target = ExternalData.MoveToFile(model, path, externalData, sourceDirectory).Model;
        }
        else if (sourceDirectory is not null && HasExternalData(model)
                 && !string.Equals(Path.GetFullPath(sourceDirectory).TrimEnd(Path.DirectorySeparatorChar), ModelDirectory(path), StringComparison.Ordinal))
        {
            target = ExternalData.Inline(model, sourceDirectory, path);
        }
        AtomicFile.WriteAllBytes(path, target.ToByteArray());
    }
}
