using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Onnx.IO;

/// <summary>
/// A single serialized ONNX <see cref="TensorProto"/> in a file (<c>.pb</c>), the form the ONNX
/// backend test data and many model zoos use for sample inputs and expected outputs.
/// </summary>
public static class TensorProtoFile
{
    /// <summary>Reads the message as stored (external data, if any, stays a reference).</summary>
    public static TensorProto ReadProto(string path)
    {
        var bytes = InputFile.ReadAllBytes(path);
        return ParseProto(bytes, path);
    }

    public static TensorProto ParseProto(byte[] bytes, string? path = null)
    {
        var proto = new TensorProto();
        try
        {
            proto.MergeFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"'{path ?? "<tensor data>"}' is not a valid serialized TensorProto: {e.Message}", path, inner: e);
        }
        // An empty or unrelated file parses as a message with nothing set; data_type 0 is never valid.
        if (proto.DataType == 0)
            throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"'{path ?? "<tensor data>"}' holds no TensorProto (element type is not set)", path);
        return proto;
    }

    /// <summary>Reads and decodes the tensor; external data is resolved relative to the file's folder.</summary>
    public static Tensor Read(string path) => ReadNamed(path).Tensor;

    /// <summary>Like <see cref="Read"/>, also returning the name stored in the message (often the model input it feeds).</summary>
    public static (string Name, Tensor Tensor) ReadNamed(string path)
    {
        var proto = ReadProto(path);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path));
        return (proto.Name, TensorProtoConverter.ToTensor(proto, folder, path));
    }

    /// <summary>Writes the tensor as raw_data, atomically.</summary>
    public static void Write(string path, Tensor tensor, string name = "") =>
        AtomicFile.WriteAllBytes(path, TensorProtoConverter.FromTensor(tensor, name).ToByteArray());

    public static void WriteProto(string path, TensorProto proto) => AtomicFile.WriteAllBytes(path, proto.ToByteArray());
}
