using QuantBuild.Tensors;
using System.Numerics;
using System.Numerics.Tensors;
using QuantBuild.Diagnostics;

namespace QuantBuild.Engine;

/// <summary>
/// An elementwise binary function in the three row shapes a <see cref="BroadcastPlan"/> produces.
/// Static abstract members let the JIT specialize the broadcast loop per operator, so the row
/// calls go straight to <see cref="TensorPrimitives"/> (SIMD) with no delegate in between.
/// </summary>
public interface IBinaryOp<T>
{
    static abstract T Invoke(T x, T y);
    static abstract void Invoke(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> destination);
    static abstract void Invoke(ReadOnlySpan<T> x, T y, Span<T> destination);
    static abstract void Invoke(T x, ReadOnlySpan<T> y, Span<T> destination);
}

public readonly struct AddOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x + y;
    public static void Invoke(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Add(x, y, d);
    public static void Invoke(ReadOnlySpan<T> x, T y, Span<T> d) => TensorPrimitives.Add(x, y, d);
    public static void Invoke(T x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Add(y, x, d);
}

public readonly struct SubOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x - y;
    public static void Invoke(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Subtract(x, y, d);
    public static void Invoke(ReadOnlySpan<T> x, T y, Span<T> d) => TensorPrimitives.Subtract(x, y, d);
    public static void Invoke(T x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Subtract(x, y, d);
}

public readonly struct MulOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x * y;
    public static void Invoke(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Multiply(x, y, d);
    public static void Invoke(ReadOnlySpan<T> x, T y, Span<T> d) => TensorPrimitives.Multiply(x, y, d);
    public static void Invoke(T x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Multiply(y, x, d);
}

/// <summary>Division; integer types truncate toward zero (C semantics, as ONNX Runtime).</summary>
public readonly struct DivOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => x / y;
    public static void Invoke(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Divide(x, y, d);
    public static void Invoke(ReadOnlySpan<T> x, T y, Span<T> d) => TensorPrimitives.Divide(x, y, d);
    public static void Invoke(T x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Divide(x, y, d);
}

public readonly struct MaxOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => T.Max(x, y);
    public static void Invoke(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Max(x, y, d);
    public static void Invoke(ReadOnlySpan<T> x, T y, Span<T> d) => TensorPrimitives.Max(x, y, d);
    public static void Invoke(T x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Max(y, x, d);
}

public readonly struct MinOp<T> : IBinaryOp<T> where T : INumber<T>
{
    public static T Invoke(T x, T y) => T.Min(x, y);
    public static void Invoke(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Min(x, y, d);
    public static void Invoke(ReadOnlySpan<T> x, T y, Span<T> d) => TensorPrimitives.Min(x, y, d);
    public static void Invoke(T x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Min(y, x, d);
}

/// <summary>x^y for floating types. Constant exponents 1, 2, 3 and 0.5 take exact cheap paths (x², √x are what models use Pow for).</summary>
public readonly struct PowOp<T> : IBinaryOp<T> where T : IFloatingPointIeee754<T>
{
    public static T Invoke(T x, T y) => T.Pow(x, y);
    public static void Invoke(ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Pow(x, y, d);
    public static void Invoke(ReadOnlySpan<T> x, T y, Span<T> d)
    {
        if (y == T.One) x.CopyTo(d);
        else if (y == T.One + T.One) TensorPrimitives.Multiply(x, x, d);
        else if (y == T.One + T.One + T.One) { TensorPrimitives.Multiply(x, x, d); TensorPrimitives.Multiply(d, x, d); }
        else if (y == T.One / (T.One + T.One)) TensorPrimitives.Sqrt(x, d);
        else TensorPrimitives.Pow(x, y, d);
    }
    public static void Invoke(T x, ReadOnlySpan<T> y, Span<T> d) => TensorPrimitives.Pow(x, y, d);
}

/// <summary>Picks the CLR element type of a tensor for a generic numeric routine.</summary>
public interface INumericAction<TResult>
{
    TResult Invoke<T>() where T : unmanaged, INumber<T>;
}

public static class NumericDispatch
{
    public static bool IsNumeric(DataType type) => type is DataType.Float or DataType.Double or DataType.Float16 or DataType.Int8 or DataType.UInt8
        or DataType.Int16 or DataType.UInt16 or DataType.Int32 or DataType.UInt32 or DataType.Int64 or DataType.UInt64;

    public static TResult Run<TAction, TResult>(DataType type, TAction action) where TAction : INumericAction<TResult> => type switch
    {
        DataType.Float => action.Invoke<float>(),
        DataType.Double => action.Invoke<double>(),
        DataType.Float16 => action.Invoke<Half>(),
        DataType.Int8 => action.Invoke<sbyte>(),
        DataType.UInt8 => action.Invoke<byte>(),
        DataType.Int16 => action.Invoke<short>(),
        DataType.UInt16 => action.Invoke<ushort>(),
        DataType.Int32 => action.Invoke<int>(),
        DataType.UInt32 => action.Invoke<uint>(),
        DataType.Int64 => action.Invoke<long>(),
        DataType.UInt64 => action.Invoke<ulong>(),
        _ => throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"element type {DataTypes.Name(type)} is not supported by this operator"),
    };
}
