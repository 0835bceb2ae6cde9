using System.Runtime.CompilerServices;
using QuantBuild.Diagnostics;

namespace QuantBuild.Tensors;

/// <summary>
/// A dense, row-major (C order) tensor. The buffer is a plain typed array so kernels can take
/// spans of it without copies; <see cref="Shape"/> never aliases a caller's array.
/// Tensors are treated as immutable values by the engine: a kernel that needs to write creates a
/// new tensor, which is what makes forward traces safe to keep for the backward pass.
/// </summary>
public sealed class Tensor
{
    private readonly int[] _shape;

    public Tensor(DataType type, ReadOnlySpan<int> shape, Array data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.GetType().GetElementType() != DataTypes.ClrType(type))
            throw new ArgumentException($"buffer of {data.GetType().Name} cannot hold {DataTypes.Name(type)}", nameof(data));
        _shape = shape.ToArray();
        long count = ElementCount(_shape);
        if (count != data.Length)
            throw new QuantBuildException(DiagnosticCodes.ShapeMismatch, $"shape [{string.Join(",", _shape)}] needs {count} elements but the buffer has {data.Length}");
        Type = type;
        Data = data;
    }

    public DataType Type { get; }

    /// <summary>The dimensions. Do not mutate: use <see cref="Reshape"/>.</summary>
    public int[] Shape => _shape;
    public int Rank => _shape.Length;
    public int Length => Data.Length;
    public Array Data { get; }

    public static long ElementCount(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new QuantBuildException(DiagnosticCodes.ShapeMismatch, $"negative dimension {d} in shape");
            n *= d;
        }
        return n;
    }

    public static Tensor Create(DataType type, ReadOnlySpan<int> shape)
    {
        long n = ElementCount(shape);
        // Array.MaxLength, not int.MaxValue: between the two the runtime throws OutOfMemoryException.
        if (n > Array.MaxLength) throw new QuantBuildException(DiagnosticCodes.ShapeMismatch, $"tensor of {n} elements is too large");
        return new Tensor(type, shape, Array.CreateInstance(DataTypes.ClrType(type), (int)n));
    }

    public static Tensor FromFloats(float[] data, params int[] shape) => new(DataType.Float, shape, data);
    public static Tensor FromInt64(long[] data, params int[] shape) => new(DataType.Int64, shape, data);
    public static Tensor Zeros(params int[] shape) => Create(DataType.Float, shape);
    public static Tensor Scalar(float value) => new(DataType.Float, ReadOnlySpan<int>.Empty, new[] { value });

    public float[] Floats => Data as float[] ?? throw TypeError(DataType.Float);
    public long[] Int64s => Data as long[] ?? throw TypeError(DataType.Int64);
    public int[] Int32s => Data as int[] ?? throw TypeError(DataType.Int32);
    public sbyte[] Int8s => Data as sbyte[] ?? throw TypeError(DataType.Int8);
    public byte[] UInt8s => Data as byte[] ?? throw TypeError(DataType.UInt8);
    public bool[] Bools => Data as bool[] ?? throw TypeError(DataType.Bool);
    public double[] Doubles => Data as double[] ?? throw TypeError(DataType.Double);

    public T[] As<T>() => Data as T[] ?? throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"expected a {typeof(T).Name} tensor, got {DataTypes.Name(Type)}");

    private QuantBuildException TypeError(DataType expected) =>
        new(DiagnosticCodes.UnsupportedDataType, $"expected a {DataTypes.Name(expected)} tensor, got {DataTypes.Name(Type)}");

    /// <summary>A view with another shape over the same buffer (no copy).</summary>
    public Tensor Reshape(params int[] shape) => new(Type, shape, Data);

    public Tensor Clone() => new(Type, _shape, (Array)Data.Clone());

    /// <summary>Integer-typed tensor values widened to long (shape inputs, axes, indices).</summary>
    public long[] ToInt64Array()
    {
        switch (Data)
        {
            case long[] l: return (long[])l.Clone();
            case int[] i: return Array.ConvertAll(i, v => (long)v);
            case sbyte[] s: return Array.ConvertAll(s, v => (long)v);
            case byte[] b: return Array.ConvertAll(b, v => (long)v);
            case short[] s16: return Array.ConvertAll(s16, v => (long)v);
            case ushort[] u16: return Array.ConvertAll(u16, v => (long)v);
            case uint[] u32: return Array.ConvertAll(u32, v => (long)v);
            case ulong[] u64: return Array.ConvertAll(u64, v => (long)v);
            case bool[] bo: return Array.ConvertAll(bo, v => v ? 1L : 0L);
            default: throw TypeError(DataType.Int64);
        }
    }

    /// <summary>Values converted to float (for comparisons and reports, not hot paths).</summary>
    public float[] ToFloatArray()
    {
        switch (Data)
        {
            case float[] f: return (float[])f.Clone();
            case double[] d: return Array.ConvertAll(d, v => (float)v);
            case Half[] h: return Array.ConvertAll(h, v => (float)v);
            case bool[] bo: return Array.ConvertAll(bo, v => v ? 1f : 0f);
            default: return Array.ConvertAll(ToInt64Array(), v => (float)v);
        }
    }

    public string ShapeString => "[" + string.Join(",", _shape) + "]";

    public override string ToString() => $"{DataTypes.Name(Type)}{ShapeString}";

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool SameShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b) => a.SequenceEqual(b);
}
