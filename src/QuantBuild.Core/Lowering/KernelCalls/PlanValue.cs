using System.Reflection;
using QuantBuild.Diagnostics;

namespace QuantBuild.Lowering;

/// <summary>
/// A typed value in the kernel-call plan (docs/plan-format.md): a constructor or method argument, or
/// an operand of a kernel's <c>Eval</c>. The in-process runner evaluates these values and the C# emitter
/// prints them; neither knows any kernel by name, so both run the same calls by construction.
/// </summary>
public abstract class PlanValue
{
    /// <summary>
    /// A build-time value as a plan value: scalars, enums and small arrays stay literals; runtime value
    /// objects (QuantParams, geometries) become their constructor; large arrays become data.
    /// </summary>
    public static PlanValue Of(object value, Func<Array, PlanValue>? largeArray = null) => value switch
    {
        PlanValue v => v,
        int[] { Length: > LiteralValue.MaxInlineElements } a when largeArray is not null => largeArray(a),
        float[] a when largeArray is not null => largeArray(a),
        _ => new LiteralValue(value),
    };
}

/// <summary>
/// A value printed inline: int, float, bool, an enum, a runtime value object (printed as a call of its
/// constructor with every parameter read from the property of the same name), or a one- or
/// two-dimensional array of those.
/// </summary>
public sealed class LiteralValue : PlanValue
{
    /// <summary>Longest int[] written inline; longer ones are plan data (one static field, not a literal per use).</summary>
    public const int MaxInlineElements = 64;

    public LiteralValue(object value) => Value = value;

    public object Value { get; }
}

/// <summary>What a <see cref="PlanData"/> is, for size accounting (the report's and the generated class's byte counts).</summary>
public enum PlanDataRole
{
    /// <summary>Integer weights of a Conv/Gemm step as stored: codes, packed codes or indices, level tables.</summary>
    Weights,
    /// <summary>Per-channel parameters of a weighted step: scales, int32 bias, multipoint channel lists.</summary>
    ChannelParameters,
    /// <summary>Lookup tables and level grids of activation kernels.</summary>
    Table,
    /// <summary>An int8 constant operand (an Add's bias, a Concat's padding).</summary>
    Constant,
    /// <summary>Weights, constants and index tables of float steps.</summary>
    FloatStep,
}

/// <summary>Constant data compiled into the generated class once: weights, biases, tables, float constants.</summary>
public sealed class PlanData
{
    internal PlanData(string name, Array values, PlanDataRole role, string description)
    {
        Name = name;
        Values = values;
        Role = role;
        Description = description;
    }

    public PlanDataRole Role { get; }

    /// <summary>Identifier of the static member that holds the data in generated code.</summary>
    public string Name { get; }
    /// <summary>sbyte[], byte[], short[], int[] or float[].</summary>
    public Array Values { get; }
    public Type ElementType => Values.GetType().GetElementType()!;
    /// <summary>One line for the generated comment: what the data is and how it is laid out.</summary>
    public string Description { get; }
    public long ByteLength => (long)Values.Length * System.Runtime.InteropServices.Marshal.SizeOf(ElementType);
}

/// <summary>A use of <see cref="PlanData"/> as an argument (an array, or a read-only span over it).</summary>
public sealed class DataValue(PlanData data) : PlanValue
{
    public PlanData Data { get; } = data;
}

/// <summary>An empty span or array of <see cref="ElementType"/> (an unused optional operand).</summary>
public sealed class EmptyValue(Type elementType) : PlanValue
{
    public Type ElementType { get; } = elementType;
}

/// <summary>A span over the activation arena: <see cref="Length"/> elements of <see cref="ElementType"/> at <see cref="ByteOffset"/>.</summary>
public sealed class ArenaValue : PlanValue
{
    public ArenaValue(int byteOffset, int length, Type elementType)
    {
        if (elementType != typeof(sbyte) && elementType != typeof(short) && elementType != typeof(float))
            throw new QuantBuildException(DiagnosticCodes.InternalError, $"arena views are int8, int16 or float, not {elementType.Name}");
        ByteOffset = byteOffset;
        Length = length;
        ElementType = elementType;
    }

    public int ByteOffset { get; }
    public int Length { get; }
    public Type ElementType { get; }

    /// <summary>The int8 codes of an activation in its arena slot.</summary>
    public static ArenaValue Codes(PlanTensor t) => t.Type == PlanElementType.Int8 ? new(t.Offset, t.Length, typeof(sbyte))
        : throw new QuantBuildException(DiagnosticCodes.InternalError, $"'{t.Name}' is {t.Type}, not int8 codes");
    /// <summary>The int16 codes of a 16-bit activation in its arena slot.</summary>
    public static ArenaValue Int16Codes(PlanTensor t) => t.Type == PlanElementType.Int16 ? new(t.Offset, t.Length, typeof(short))
        : throw new QuantBuildException(DiagnosticCodes.InternalError, $"'{t.Name}' is {t.Type}, not int16 codes");
    /// <summary>The codes of a coded activation, int8 or int16 as it is stored.</summary>
    public static ArenaValue CodesOf(PlanTensor t) => t.Type == PlanElementType.Int16 ? Int16Codes(t) : Codes(t);
    /// <summary>Float values at <paramref name="byteOffset"/> (a float activation, or the float copy of an int8 one).</summary>
    public static ArenaValue Floats(int byteOffset, int length) => new(byteOffset, length, typeof(float));
}

/// <summary>The object a constructor makes from its arguments.</summary>
public sealed class NewValue(ConstructorInfo constructor, IReadOnlyList<PlanValue> arguments) : PlanValue
{
    public ConstructorInfo Constructor { get; } = constructor;
    public IReadOnlyList<PlanValue> Arguments { get; } = arguments;
}

/// <summary>The result of a static method (a kernel factory, a build-once decoding of stored weights).</summary>
public sealed class CallValue(MethodInfo method, IReadOnlyList<PlanValue> arguments) : PlanValue
{
    public MethodInfo Method { get; } = method;
    public IReadOnlyList<PlanValue> Arguments { get; } = arguments;
}
