using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Onnx.IO;

/// <summary>
/// Converts between ONNX <see cref="TensorProto"/> messages and <see cref="Tensor"/> values.
/// Reads raw_data (little-endian), the typed repeated fields, and external data files;
/// writes raw_data, which is what every ONNX producer and ONNX Runtime read fastest.
/// </summary>
public static class TensorProtoConverter
{
    /// <param name="proto">the message</param>
    /// <param name="baseDirectory">folder that external-data locations are relative to (the model's folder)</param>
    /// <param name="sourceFile">file named in diagnostics</param>
    public static Tensor ToTensor(TensorProto proto, string? baseDirectory = null, string? sourceFile = null)
    {
        var type = (DataType)proto.DataType;
        var shape = new int[proto.Dims.Count];
        for (int i = 0; i < shape.Length; i++)
        {
            long d = proto.Dims[i];
            if (d < 0 || d > int.MaxValue)
                throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"tensor '{proto.Name}' has invalid dimension {d}", sourceFile);
            shape[i] = (int)d;
        }
        // Dimensions come from the file: guard the product so a corrupt or non-tensor message cannot overflow it.
        long count = 1;
        foreach (var d in shape)
        {
            count *= d;
            if (count > Array.MaxLength)
                throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"tensor '{proto.Name}' with shape [{string.Join(",", shape)}] is larger than QuantBuild can hold", sourceFile);
        }
        if (type is DataType.String or DataType.Undefined || !Enum.IsDefined(type))
            throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"tensor '{proto.Name}' has element type {proto.DataType} ({(TensorProto.Types.DataType)proto.DataType}), which QuantBuild does not handle", sourceFile);

        // The payload is checked against the shape before the array is allocated: a corrupt dimension must
        // be a QB1006, not gigabytes allocated for a tensor whose data is a few bytes.
        Array data;
        if (proto.DataLocation == TensorProto.Types.DataLocation.External)
            data = FromRaw(ExternalData.Read(proto, baseDirectory, sourceFile), type, count, proto.Name, sourceFile);
        else if (!proto.RawData.IsEmpty || count == 0 && NoTypedData(proto))
            data = FromRaw(proto.RawData.Span, type, count, proto.Name, sourceFile);
        else
            data = FromTyped(proto, type, count, sourceFile);
        return new Tensor(type, shape, data);
    }

    private static bool NoTypedData(TensorProto p) =>
        p.FloatData.Count == 0 && p.Int32Data.Count == 0 && p.Int64Data.Count == 0 && p.DoubleData.Count == 0 && p.Uint64Data.Count == 0;

    private static Array FromRaw(ReadOnlySpan<byte> raw, DataType type, long count, string name, string? file)
    {
        int elementSize = DataTypes.SizeInBytes(type);
        if (raw.Length != count * elementSize)
            throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"tensor '{name}' holds {raw.Length} bytes of data but its shape needs {count * elementSize}", file);
        if (!BitConverter.IsLittleEndian)
            throw new PlatformNotSupportedException("QuantBuild reads ONNX raw data on little-endian machines only");
        var data = Array.CreateInstance(DataTypes.ClrType(type), (int)count);
        var target = MemoryMarshal.CreateSpan(ref MemoryMarshal.GetArrayDataReference(data), raw.Length);
        raw.CopyTo(target);
        return data;
    }

    private static Array FromTyped(TensorProto p, DataType type, long count, string? file)
    {
        int available = type switch
        {
            DataType.Float => p.FloatData.Count,
            DataType.Double => p.DoubleData.Count,
            DataType.Int64 => p.Int64Data.Count,
            DataType.UInt32 or DataType.UInt64 => p.Uint64Data.Count,
            _ => p.Int32Data.Count,
        };
        if (available != count)
            throw new QuantBuildException(DiagnosticCodes.InvalidTensorProto, $"tensor '{p.Name}' has {available} values but its shape needs {count}", file);
        var data = Array.CreateInstance(DataTypes.ClrType(type), (int)count);
        switch (type)
        {
            case DataType.Float: p.FloatData.CopyTo((float[])data, 0); break;
            case DataType.Double: p.DoubleData.CopyTo((double[])data, 0); break;
            case DataType.Int64: p.Int64Data.CopyTo((long[])data, 0); break;
            case DataType.UInt64: { var d = (ulong[])data; for (int i = 0; i < d.Length; i++) d[i] = p.Uint64Data[i]; break; }
            case DataType.UInt32: { var d = (uint[])data; for (int i = 0; i < d.Length; i++) d[i] = (uint)p.Uint64Data[i]; break; }
            case DataType.Int32: p.Int32Data.CopyTo((int[])data, 0); break;
            case DataType.Int8: { var d = (sbyte[])data; for (int i = 0; i < d.Length; i++) d[i] = (sbyte)p.Int32Data[i]; break; }
            case DataType.UInt8: { var d = (byte[])data; for (int i = 0; i < d.Length; i++) d[i] = (byte)p.Int32Data[i]; break; }
            case DataType.Int16: { var d = (short[])data; for (int i = 0; i < d.Length; i++) d[i] = (short)p.Int32Data[i]; break; }
            case DataType.UInt16: { var d = (ushort[])data; for (int i = 0; i < d.Length; i++) d[i] = (ushort)p.Int32Data[i]; break; }
            case DataType.Bool: { var d = (bool[])data; for (int i = 0; i < d.Length; i++) d[i] = p.Int32Data[i] != 0; break; }
            // float16 travels as its bit pattern in int32_data
            case DataType.Float16: { var d = (Half[])data; for (int i = 0; i < d.Length; i++) d[i] = BitConverter.UInt16BitsToHalf((ushort)p.Int32Data[i]); break; }
            default: throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"tensor '{p.Name}': element type {type} is not supported", file);
        }
        return data;
    }

    /// <summary>Serializes a tensor as raw_data (little-endian), the form ONNX Runtime loads fastest.</summary>
    public static TensorProto FromTensor(Tensor tensor, string name)
    {
        var proto = new TensorProto { Name = name, DataType = (int)tensor.Type };
        foreach (var d in tensor.Shape) proto.Dims.Add(d);
        if (tensor.Type == DataType.String)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"tensor '{name}': string tensors cannot be written");
        int size = DataTypes.SizeInBytes(tensor.Type) * tensor.Length;
        var bytes = MemoryMarshal.CreateReadOnlySpan(ref MemoryMarshal.GetArrayDataReference(tensor.Data), size);
        proto.RawData = ByteString.CopyFrom(bytes);
        return proto;
    }

    internal static long ReadInt64LE(ReadOnlySpan<byte> b) => BinaryPrimitives.ReadInt64LittleEndian(b);
}
