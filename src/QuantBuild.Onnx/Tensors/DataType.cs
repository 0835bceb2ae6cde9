namespace QuantBuild.Tensors;

/// <summary>Element types, numbered exactly as ONNX's TensorProto.DataType so values convert by cast.</summary>
public enum DataType
{
    Undefined = 0,
    Float = 1,
    UInt8 = 2,
    Int8 = 3,
    UInt16 = 4,
    Int16 = 5,
    Int32 = 6,
    Int64 = 7,
    String = 8,
    Bool = 9,
    Float16 = 10,
    Double = 11,
    UInt32 = 12,
    UInt64 = 13,
}

public static class DataTypes
{
    /// <summary>The CLR array element type that stores a tensor of this type.</summary>
    public static Type ClrType(DataType type) => type switch
    {
        DataType.Float => typeof(float),
        DataType.UInt8 => typeof(byte),
        DataType.Int8 => typeof(sbyte),
        DataType.UInt16 => typeof(ushort),
        DataType.Int16 => typeof(short),
        DataType.Int32 => typeof(int),
        DataType.Int64 => typeof(long),
        DataType.Bool => typeof(bool),
        DataType.Float16 => typeof(Half),
        DataType.Double => typeof(double),
        DataType.UInt32 => typeof(uint),
        DataType.UInt64 => typeof(ulong),
        DataType.String => typeof(string),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no storage for this element type"),
    };

    public static int SizeInBytes(DataType type) => type switch
    {
        DataType.Float or DataType.Int32 or DataType.UInt32 => 4,
        DataType.UInt8 or DataType.Int8 or DataType.Bool => 1,
        DataType.UInt16 or DataType.Int16 or DataType.Float16 => 2,
        DataType.Int64 or DataType.Double or DataType.UInt64 => 8,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "no fixed size for this element type"),
    };

    public static bool IsFloatingPoint(DataType type) => type is DataType.Float or DataType.Double or DataType.Float16;

    public static string Name(DataType type) => type.ToString().ToLowerInvariant();
}
