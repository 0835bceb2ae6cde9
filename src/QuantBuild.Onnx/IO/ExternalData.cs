using System.Globalization;
using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Onnx.IO;

/// <summary>How <see cref="OnnxModelFile.Save(ModelProto, string, ExternalDataOptions?, string?)"/> moves large tensors out of the model file.</summary>
public sealed class ExternalDataOptions
{
    /// <summary>Data file name, relative to the model's folder. Null: the model file name plus ".data".</summary>
    public string? Location { get; init; }

    /// <summary>Initializers and Constant values whose payload has at least this many bytes go to the data file; smaller ones stay inline.</summary>
    public long ThresholdBytes { get; init; } = 1024;
}

/// <summary>
/// Tensor payloads stored beside the model (ONNX "external data": location/offset/length keys,
/// the location relative to the model's folder). Needed for models over protobuf's 2 GB limit and
/// produced by many exporters for any large weight.
/// </summary>
public static class ExternalData
{
    /// <summary>Payload offsets in the data file are multiples of this, so runtimes can memory-map each tensor page-aligned.</summary>
    public const int Alignment = 4096;

    public static bool IsExternal(TensorProto proto) => proto.DataLocation == TensorProto.Types.DataLocation.External;

    /// <summary>Reads the payload bytes of an external tensor.</summary>
    /// <param name="baseDirectory">the model's folder; locations are relative to it and may not leave it</param>
    public static byte[] Read(TensorProto proto, string? baseDirectory, string? sourceFile)
    {
        var (location, offset, length) = ParseKeys(proto, sourceFile);
        if (baseDirectory is null)
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing,
                $"tensor '{proto.Name}' keeps its data in '{location}' beside the model, but the model's folder is not known (load the model from its file)", sourceFile);
        var path = ResolveLocation(location, baseDirectory, proto.Name, sourceFile);
        if (!File.Exists(path))
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing, $"tensor '{proto.Name}': external data file '{path}' not found", sourceFile);
        if (LinkOnTheWay(path, baseDirectory) is string link)
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing,
                $"tensor '{proto.Name}': external data path '{link}' is a symbolic link; QuantBuild only reads regular files inside the model's folder", sourceFile);
        // A FIFO or device here would block or never end: only regular files with content are opened.
        if (length != 0) InputFile.CheckedLength(path, $"external data of tensor '{proto.Name}'", InputFile.MaxBytes);
        try
        {
            using var stream = File.OpenRead(path);
            if (length < 0) length = stream.Length - offset;
            if (offset > stream.Length || length > stream.Length - offset)
                throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing,
                    $"tensor '{proto.Name}': bytes {offset}..{offset + length} lie outside '{path}' ({stream.Length} bytes)", sourceFile);
            if (length > Array.MaxLength)
                throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"tensor '{proto.Name}': {length} bytes of external data are more than one tensor can hold", sourceFile);
            var buffer = new byte[length];
            stream.Position = offset;
            stream.ReadExactly(buffer);
            return buffer;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing, $"tensor '{proto.Name}': could not read '{path}': {e.Message}", sourceFile, inner: e);
        }
    }

    /// <summary>
    /// The data files the external tensors of <paramref name="model"/> read, resolved against the model's folder
    /// with the same checks as <see cref="Read"/>; distinct, sorted ordinally (what the result cache keys on).
    /// </summary>
    public static IReadOnlyList<string> DataFiles(ModelProto model, string baseDirectory, string? sourceFile)
    {
        var files = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var tensor in MovableTensors(model.Graph))
            if (IsExternal(tensor))
                files.Add(ResolveLocation(ParseKeys(tensor, sourceFile).Location, baseDirectory, tensor.Name, sourceFile));
        return files.ToList();
    }

    /// <summary>The first symbolic link among the file and the folders between it and the model's folder, if any (a link could point anywhere).</summary>
    private static string? LinkOnTheWay(string file, string baseDirectory)
    {
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(baseDirectory));
        for (var current = file; current is not null && current.Length > root.Length; current = Path.GetDirectoryName(current))
        {
            FileSystemInfo info = current == file ? new FileInfo(current) : new DirectoryInfo(current);
            if (info.LinkTarget is not null) return current;
        }
        return null;
    }

    private static (string Location, long Offset, long Length) ParseKeys(TensorProto proto, string? sourceFile)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var kv in proto.ExternalData)
        {
            switch (kv.Key)
            {
                case "location": location = kv.Value; break;
                case "offset": offset = ParseNumber(kv); break;
                case "length": length = ParseNumber(kv); break;
                // "checksum" and producer-specific keys carry nothing we need.
            }
        }
        if (string.IsNullOrEmpty(location))
            throw new QuantBuildException(DiagnosticCodes.ExternalDataMissing, $"tensor '{proto.Name}' is marked external but has no location", sourceFile);
        return (location, offset, length);

        long ParseNumber(StringStringEntryProto kv) =>
            long.TryParse(kv.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v
                : throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"tensor '{proto.Name}': external data {kv.Key} '{kv.Value}' is not a non-negative integer", sourceFile);
    }

    /// <summary>
    /// The full path of an external-data location, refusing anything that could reach outside the model's
    /// folder: absolute paths, drive or stream syntax (':'), '..' segments. A model is untrusted input,
    /// and a location such as "../../home/user/.ssh/id_rsa" must not turn loading it into reading that file.
    /// </summary>
    public static string ResolveLocation(string location, string baseDirectory, string tensorName, string? sourceFile)
    {
        QuantBuildException Escape() => new(DiagnosticCodes.ExternalDataMissing,
            $"tensor '{tensorName}': external data location '{location}' must be a relative path inside the model's folder", sourceFile);

        if (location.Length == 0 || Path.IsPathRooted(location) || location[0] is '/' or '\\' || location.Contains(':') || location.Contains('\0'))
            throw Escape();
        var segments = location.Split('/', '\\');
        if (segments.Any(s => s == ".."))
            throw Escape();
        var root = Path.GetFullPath(baseDirectory);
        var full = Path.GetFullPath(Path.Combine(root, location));
        var rootWithSeparator = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        if (!full.StartsWith(rootWithSeparator, StringComparison.Ordinal))
            throw Escape();
        return full;
    }

    /// <summary>
    /// A copy of <paramref name="model"/> whose external tensors carry their bytes inline (raw_data), so it
    /// can be saved anywhere or handed to code that does not know the model's folder.
    /// </summary>
    public static ModelProto Inline(ModelProto model, string baseDirectory, string? sourceFile)
    {
        var copy = model.Clone();
        foreach (var tensor in MovableTensors(copy.Graph))
            if (IsExternal(tensor))
                MakeInline(tensor, Read(tensor, baseDirectory, sourceFile));
        return copy;
    }

    private static void MakeInline(TensorProto tensor, byte[] payload)
    {
        tensor.ExternalData.Clear();
        tensor.DataLocation = TensorProto.Types.DataLocation.Default;
        tensor.RawData = ByteString.CopyFrom(payload);
    }

    /// <summary>
    /// Returns a copy of <paramref name="model"/> in which every initializer or Constant value of at least
    /// <see cref="ExternalDataOptions.ThresholdBytes"/> refers to <paramref name="dataPath"/>, and writes
    /// that data file (payloads at 4096-aligned offsets, zero padding between them). Tensors that
    /// were external in the source and stay below the threshold are brought inline, so the result never
    /// points at a file other than the one written here.
    /// </summary>
    /// <param name="sourceDirectory">folder the source model's existing external locations are relative to</param>
    /// <returns>the model to save, and whether any tensor went to the data file</returns>
    internal static (ModelProto Model, bool Written) MoveToFile(ModelProto model, string modelPath, ExternalDataOptions options, string? sourceDirectory)
    {
        var modelFolder = Path.GetDirectoryName(Path.GetFullPath(modelPath))!;
        string location = (options.Location ?? Path.GetFileName(modelPath) + ".data").Replace('\\', '/');
        string dataPath = ResolveLocation(location, modelFolder, "<external data>", modelPath);
        if (string.Equals(dataPath, Path.GetFullPath(modelPath), StringComparison.Ordinal))
            throw new QuantBuildException(DiagnosticCodes.WriteFailed, $"the external data file '{location}' cannot be the model file itself", modelPath);

        var copy = model.Clone();
        var moved = new List<(TensorProto Tensor, byte[] Payload)>();
        foreach (var tensor in MovableTensors(copy.Graph))
        {
            if (tensor.DataType == (int)DataType.String) continue; // strings have no fixed-size payload to move
            byte[]? payload = IsExternal(tensor) ? Read(tensor, sourceDirectory, modelPath)
                : !tensor.RawData.IsEmpty ? tensor.RawData.ToByteArray()
                : null;
            if (payload is null)
            {
                // Typed fields (float_data...): only worth converting to raw bytes if the tensor is going out.
                long typedBytes = TypedPayloadBytes(tensor);
                if (typedBytes < options.ThresholdBytes) continue;
                payload = TensorProtoConverter.FromTensor(TensorProtoConverter.ToTensor(tensor, sourceDirectory, modelPath), tensor.Name).RawData.ToByteArray();
            }
            if (payload.Length >= options.ThresholdBytes && payload.Length > 0)
                moved.Add((tensor, payload));
            else if (IsExternal(tensor))
                MakeInline(tensor, payload);
        }
        if (moved.Count == 0) return (copy, false);

        AtomicFile.WriteStream(dataPath, stream =>
        {
            foreach (var (tensor, payload) in moved)
            {
                long offset = (stream.Position + Alignment - 1) / Alignment * Alignment;
                while (stream.Position < offset) stream.WriteByte(0);
                stream.Write(payload);
                ClearPayload(tensor);
                tensor.DataLocation = TensorProto.Types.DataLocation.External;
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(CultureInfo.InvariantCulture) });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = payload.Length.ToString(CultureInfo.InvariantCulture) });
            }
        });
        return (copy, true);
    }

    private static void ClearPayload(TensorProto t)
    {
        t.RawData = ByteString.Empty;
        t.FloatData.Clear();
        t.Int32Data.Clear();
        t.Int64Data.Clear();
        t.DoubleData.Clear();
        t.Uint64Data.Clear();
        t.ExternalData.Clear();
    }

    private static long TypedPayloadBytes(TensorProto t)
    {
        long count = 1;
        foreach (var d in t.Dims) count *= Math.Max(d, 0);
        var type = (DataType)t.DataType;
        return Enum.IsDefined(type) && type is not (DataType.Undefined or DataType.String) ? count * DataTypes.SizeInBytes(type) : 0;
    }

    /// <summary>
    /// The tensors external data may hold: main-graph initializers and the values of main-graph Constant
    /// nodes (many exporters store every weight as a Constant). Other attribute tensors and subgraphs stay
    /// inline, because kernels read those without knowing the model's folder.
    /// </summary>
    public static IEnumerable<TensorProto> MovableTensors(GraphProto? graph)
    {
        if (graph is null) yield break;
        foreach (var t in graph.Initializer) yield return t;
        foreach (var node in graph.Node)
            if (node.OpType == "Constant" && node.Domain is "" or "ai.onnx")
                foreach (var a in node.Attribute)
                    if (a.Name == "value" && a.T is not null) yield return a.T;
    }
}
