using QuantBuild.Tensors;

namespace QuantBuild.Graph;

/// <summary>Type and (possibly symbolic) shape of a named value. A null dimension value is unknown;
/// <see cref="DimParams"/> keeps its symbolic name (e.g. "N") where the model gave one.</summary>
public sealed class ValueInfo
{
    public ValueInfo(string name, DataType type, long?[]? shape, string?[]? dimParams = null)
    {
        Name = name;
        Type = type;
        Shape = shape;
        DimParams = dimParams ?? (shape is null ? null : new string?[shape.Length]);
    }

    public string Name { get; }
    public DataType Type { get; set; }
    /// <summary>Null when even the rank is unknown.</summary>
    public long?[]? Shape { get; set; }
    public string?[]? DimParams { get; set; }

    public bool IsFullyKnown => Shape is not null && Shape.All(d => d.HasValue);

    /// <summary>Concrete shape, binding unknown dimensions to <paramref name="unknownAs"/>.</summary>
    public int[] ConcreteShape(int unknownAs = 1) =>
        Shape is null ? Array.Empty<int>() : Shape.Select(d => d.HasValue ? (int)d.Value : unknownAs).ToArray();

    public string ShapeString => Shape is null ? "?" : "[" + string.Join(",", Shape.Select((d, i) => d?.ToString() ?? DimParams?[i] ?? "?")) + "]";

    public override string ToString() => $"{Name}: {DataTypes.Name(Type)}{ShapeString}";
}
