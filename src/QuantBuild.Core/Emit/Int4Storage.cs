using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Emit;

/// <summary>
/// ONNX INT4 tensors (opset 21): two signed 4-bit codes per byte, element 0 in the low nibble
/// (docs/algorithms/linear.md, "Sub-byte storage"). The tensor layer has no 4-bit type, so the QDQ emitter packs at the proto
/// level after export and the importer unpacks to int8 before import.
/// </summary>
public static class Int4Storage
{
    public const int OnnxInt4 = 22;
    public const int OnnxInt8 = 3;

    public static byte[] Pack(ReadOnlySpan<sbyte> codes)
    {
        var packed = new byte[(codes.Length + 1) / 2];
        for (int i = 0; i < codes.Length; i++)
        {
            if (codes[i] is < -8 or > 7) throw new ArgumentOutOfRangeException(nameof(codes), codes[i], "INT4 codes lie in [-8, 7]");
            int nibble = codes[i] & 0x0F;
            packed[i >> 1] |= (byte)((i & 1) == 0 ? nibble : nibble << 4);
        }
        return packed;
    }

    public static sbyte[] Unpack(ReadOnlySpan<byte> packed, int count)
    {
        var codes = new sbyte[count];
        for (int i = 0; i < count; i++)
        {
            int nibble = (i & 1) == 0 ? packed[i >> 1] & 0x0F : packed[i >> 1] >> 4;
            codes[i] = (sbyte)(nibble >= 8 ? nibble - 16 : nibble);
        }
        return codes;
    }

    /// <summary>Rewrites an int8 initializer holding 4-bit codes as INT4.</summary>
    public static void ToInt4(TensorProto tensor)
    {
        var codes = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, sbyte>(tensor.RawData.Span);
        tensor.RawData = ByteString.CopyFrom(Pack(codes));
        tensor.DataType = OnnxInt4;
    }

    /// <summary>Rewrites every INT4 initializer of the graph as int8 (one code per byte).</summary>
    /// <param name="file">the model file, named in diagnostics</param>
    public static void ExpandAll(GraphProto graph, string? file = null)
    {
        foreach (var tensor in graph.Initializer)
        {
            if (tensor.DataType != OnnxInt4) continue;
            long count = 1;
            foreach (var d in tensor.Dims)
            {
                // Dimensions and payload come from the file: check both before sizing or reading anything by them.
                if (d < 0 || count > 0 && d > Array.MaxLength / count)
                    throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"INT4 tensor '{tensor.Name}' has invalid dimensions [{string.Join(",", tensor.Dims)}]", file);
                count *= d;
            }
            // INT4 may also arrive in int32_data (one byte of two nibbles per entry).
            var bytes = tensor.RawData.Length > 0 ? tensor.RawData.ToByteArray() : tensor.Int32Data.Select(v => (byte)v).ToArray();
            if (bytes.Length != (count + 1) / 2)
                throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto,
                    $"INT4 tensor '{tensor.Name}' holds {bytes.Length} bytes but its {count} codes need {(count + 1) / 2}", file);
            var codes = Unpack(bytes, (int)count);
            tensor.Int32Data.Clear();
            tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes<sbyte>(codes));
            tensor.DataType = OnnxInt8;
        }
    }
}
