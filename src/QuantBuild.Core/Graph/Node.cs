using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Graph;

/// <summary>
/// One operator application. Attributes stay as ONNX <see cref="AttributeProto"/> messages so that
/// anything we do not interpret (subgraphs, type protos) survives an import/export untouched;
/// the typed getters below are how kernels read them.
/// </summary>
public sealed class Node
{
    public Node(string name, string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, string domain = "")
    {
        Name = name;
        OpType = opType;
        Domain = domain;
        Inputs = inputs.ToList();
        Outputs = outputs.ToList();
    }

    public string Name { get; set; }
    public string OpType { get; set; }
    public string Domain { get; set; }

    /// <summary>Input value names; an empty string marks an omitted optional input.</summary>
    public List<string> Inputs { get; }
    public List<string> Outputs { get; }
    public Dictionary<string, AttributeProto> Attributes { get; } = new(StringComparer.Ordinal);

    /// <summary>The original message, kept for doc strings and fields the IR does not model.</summary>
    public NodeProto? Source { get; set; }

    public bool HasInput(int index) => index < Inputs.Count && Inputs[index].Length > 0;

    /// <summary>
    /// Outer-scope values a subgraph attribute (If's branches) reads without listing them as inputs: the node
    /// depends on them as on its inputs, so ordering and dead-value removal count them too (docs/control-flow.md).
    /// </summary>
    public IReadOnlyCollection<string> CapturedNames =>
        _captured ??= Attributes.Values.Any(a => a.G is not null || a.Graphs.Count > 0)
            ? Transforms.SubgraphScope.FreeNames(Attributes.Values.SelectMany(a => a.G is not null ? [a.G] : a.Graphs.ToArray()))
            : Array.Empty<string>();

    private IReadOnlyCollection<string>? _captured;

    /// <summary>Every value the node reads: its inputs and the outer-scope values its subgraphs capture.</summary>
    public IEnumerable<string> ReadNames => CapturedNames.Count == 0 ? Inputs : Inputs.Concat(CapturedNames);

    public bool HasAttribute(string name) => Attributes.ContainsKey(name);

    public long GetInt(string name, long defaultValue) =>
        Attributes.TryGetValue(name, out var a) ? Expect(a, AttributeProto.Types.AttributeType.Int).I : defaultValue;

    public long GetInt(string name) => Expect(Required(name), AttributeProto.Types.AttributeType.Int).I;

    public float GetFloat(string name, float defaultValue) =>
        Attributes.TryGetValue(name, out var a) ? Expect(a, AttributeProto.Types.AttributeType.Float).F : defaultValue;

    public string GetString(string name, string defaultValue) =>
        Attributes.TryGetValue(name, out var a) ? Expect(a, AttributeProto.Types.AttributeType.String).S.ToStringUtf8() : defaultValue;

    public long[]? GetInts(string name) =>
        Attributes.TryGetValue(name, out var a) ? Expect(a, AttributeProto.Types.AttributeType.Ints).Ints.ToArray() : null;

    public float[]? GetFloats(string name) =>
        Attributes.TryGetValue(name, out var a) ? Expect(a, AttributeProto.Types.AttributeType.Floats).Floats.ToArray() : null;

    public string[]? GetStrings(string name) =>
        Attributes.TryGetValue(name, out var a) ? Expect(a, AttributeProto.Types.AttributeType.Strings).Strings.Select(s => s.ToStringUtf8()).ToArray() : null;

    public Tensor? GetTensor(string name) =>
        Attributes.TryGetValue(name, out var a)
            ? TensorProtoConverter.ToTensor(Expect(a, AttributeProto.Types.AttributeType.Tensor).T
                ?? throw Error(DiagnosticCodes.InvalidAttribute, $"attribute '{name}' holds no tensor"))
            : null;

    public void SetInt(string name, long value) =>
        Attributes[name] = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public void SetFloat(string name, float value) =>
        Attributes[name] = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public void SetInts(string name, IEnumerable<long> values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        Attributes[name] = a;
    }

    public void SetString(string name, string value) =>
        Attributes[name] = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.String, S = Google.Protobuf.ByteString.CopyFromUtf8(value) };

    public QuantBuildException Error(string code, string message) => new(code, $"{OpType} node '{Name}': {message}", node: Name);

    private AttributeProto Required(string name) =>
        Attributes.TryGetValue(name, out var a) ? a : throw Error(DiagnosticCodes.InvalidAttribute, $"required attribute '{name}' is missing");

    private AttributeProto Expect(AttributeProto a, AttributeProto.Types.AttributeType type)
    {
        // IR < 2 files may omit the type discriminator; trust the field that is set then.
        if (a.Type == type || a.Type == AttributeProto.Types.AttributeType.Undefined) return a;
        throw Error(DiagnosticCodes.InvalidAttribute, $"attribute '{a.Name}' is {a.Type}, expected {type}");
    }

    public override string ToString() => $"{OpType}('{Name}': {string.Join(",", Inputs)} -> {string.Join(",", Outputs)})";
}
