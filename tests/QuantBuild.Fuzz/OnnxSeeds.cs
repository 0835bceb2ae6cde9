using Google.Protobuf;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Fuzz;

/// <summary>
/// Tiny ONNX graphs built in code, each aimed at a part of import: raw and typed initializers,
/// Constant nodes, constant folding of shape arithmetic, BatchNormalization folding, external data,
/// and the legacy opset upgrade. Small seeds mutate fast and make a mutation hit the interesting fields.
/// </summary>
public static class OnnxSeeds
{
    /// <summary>The external data file the seeds refer to (written by <see cref="OnnxTarget"/> beside the model).</summary>
    public const string DataFile = "weights.bin";

    public static IEnumerable<byte[]> All()
    {
        yield return Add().ToByteArray();
        yield return ConvNet().ToByteArray();
        yield return ShapeArithmetic().ToByteArray();
        yield return External().ToByteArray();
        yield return Legacy().ToByteArray();
        yield return Folding().ToByteArray();
        yield return Qdq().ToByteArray();
    }

    /// <summary>Y = Relu(X + W), W as raw_data.</summary>
    private static ModelProto Add() => Model(13, Graph("add",
        [Node("Add", ["X", "W"], ["S"]), Node("Relu", ["S"], ["Y"])],
        [Floats("W", [1, -2, 3, -4], raw: true, 4)],
        [Value("X", 1, 1, 4)], [Value("Y", 1, 1, 4)]));

    /// <summary>Conv → BatchNormalization (folded) → MaxPool → Flatten → Gemm → Softmax, weights as float_data.</summary>
    private static ModelProto ConvNet()
    {
        var w = Floats("W", Ramp(18), raw: false, 2, 1, 3, 3);
        var b = Floats("B", [0.1f, -0.1f], raw: false, 2);
        var graph = Graph("conv",
        [
            Node("Conv", ["X", "W", "B"], ["C"], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1), Ints("strides", 1, 1)),
            Node("BatchNormalization", ["C", "bs", "bb", "bm", "bv"], ["N"], Float("epsilon", 1e-5f)),
            Node("MaxPool", ["N"], ["P"], Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)),
            Node("Flatten", ["P"], ["F"], Int("axis", 1)),
            Node("Gemm", ["F", "W2", "B2"], ["G"], Int("transB", 0)),
            Node("Softmax", ["G"], ["Y"], Int("axis", 1)),
        ],
        [w, b, Floats("bs", [1, 2], true, 2), Floats("bb", [0, 1], true, 2), Floats("bm", [0.5f, 0], true, 2), Floats("bv", [1, 4], true, 2),
         Floats("W2", Ramp(24), raw: true, 8, 3), Floats("B2", [0, 0, 0], raw: false, 3)],
        [Value("X", 1, 1, 1, 5, 5)], [Value("Y", 1, 1, 3)]);
        return Model(13, graph);
    }

    /// <summary>Shape → Gather → Unsqueeze → Concat → Reshape → Transpose, with Constant nodes (tensor and value_ints).</summary>
    private static ModelProto ShapeArithmetic() => Model(13, Graph("shapes",
    [
        Node("Constant", [], ["zero"], Tensor("value", Int64s("", [0]))),
        Node("Constant", [], ["axes"], Ints("value_ints", 0)),
        Node("Constant", [], ["six"], Tensor("value", Int64s("", [6], 1))),
        Node("Shape", ["X"], ["s"]),
        Node("Gather", ["s", "zero"], ["n"], Int("axis", 0)),
        Node("Unsqueeze", ["n", "axes"], ["n1"]),
        Node("Concat", ["n1", "six"], ["shape"], Int("axis", 0)),
        Node("Reshape", ["X", "shape"], ["R"]),
        Node("Transpose", ["R"], ["Y"], Ints("perm", 1, 0)),
    ],
    [], [Value("X", 1, -1, 2, 3)], [Value("Y", 1, 6, -1)]));

    /// <summary>An initializer whose bytes live in <see cref="DataFile"/> beside the model (offset/length keys).</summary>
    private static ModelProto External()
    {
        var w = new TensorProto { Name = "W", DataType = 1, DataLocation = TensorProto.Types.DataLocation.External };
        w.Dims.Add(4);
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = DataFile });
        w.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = "16" });
        w.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = "16" });
        return Model(13, Graph("external", [Node("Mul", ["X", "W"], ["Y"])], [w], [Value("X", 1, 1, 4)], [Value("Y", 1, 1, 4)]));
    }

    /// <summary>Opset 4 (IR 3): Reshape with its shape as an attribute and an Add with the old broadcast attribute, for the legacy upgrade.</summary>
    private static ModelProto Legacy() => Model(4, Graph("legacy",
        [Node("Reshape", ["X"], ["R"], Ints("shape", 2, 2)), Node("Add", ["R", "B"], ["Y"], Int("broadcast", 1), Int("axis", 1))],
        [Floats("B", [1, 2], raw: true, 2)],
        [Value("X", 1, 1, 4), Value("B", 1, 2)], [Value("Y", 1, 2, 2)]), irVersion: 3);

    /// <summary>Constant-only subgraphs the importer folds: ConstantOfShape, Range, Slice, Expand, Cast.</summary>
    private static ModelProto Folding() => Model(13, Graph("folding",
    [
        Node("ConstantOfShape", ["dims"], ["ones"], Tensor("value", Floats("", [1], raw: true, 1))),
        Node("Range", ["start", "limit", "delta"], ["r"]),
        Node("Cast", ["r"], ["rf"], Int("to", 1)),
        Node("Slice", ["rf", "starts", "ends", "axes0"], ["sl"]),
        Node("Expand", ["sl", "dims"], ["e"]),
        Node("Mul", ["ones", "e"], ["k"]),
        Node("Add", ["X", "k"], ["Y"]),
    ],
    [Int64s("dims", [2, 3], 2), Int64s("start", [0]), Int64s("limit", [5]), Int64s("delta", [1]),
     Int64s("starts", [1], 1), Int64s("ends", [4], 1), Int64s("axes0", [0], 1)],
    [Value("X", 1, 2, 3)], [Value("Y", 1, 2, 3)]));

    /// <summary>
    /// A quantized model as <c>quantize</c> writes one for <c>run --int</c>: activations through QuantizeLinear/DequantizeLinear
    /// pairs, int8 per-channel weights and an int32 bias through DequantizeLinear, and the emitter's metadata.
    /// </summary>
    private static ModelProto Qdq()
    {
        var codes = new TensorProto { Name = "W_q", DataType = 3, RawData = ByteString.CopyFrom([1, 2, 3, 4, 0xFF, 0xFE, 0xFD, 0xFC, 127, 0, 0x81, 5]) };
        codes.Dims.AddRange([3, 4]);
        var bias = new TensorProto { Name = "B_q", DataType = 6 };
        bias.Dims.Add(3);
        bias.Int32Data.AddRange([10, -10, 0]);
        var zero = new TensorProto { Name = "zp", DataType = 3, RawData = ByteString.CopyFrom([0]) };
        var model = Model(13, Graph("qdq",
        [
            Node("QuantizeLinear", ["X", "xs", "zp"], ["X_q"]),
            Node("DequantizeLinear", ["X_q", "xs", "zp"], ["X_dq"]),
            Node("DequantizeLinear", ["W_q", "ws"], ["W"], Int("axis", 0)),
            Node("DequantizeLinear", ["B_q", "bs"], ["B"], Int("axis", 0)),
            Node("Gemm", ["X_dq", "W", "B"], ["G"], Int("transB", 1)),
            Node("QuantizeLinear", ["G", "gs", "zp"], ["G_q"]),
            Node("DequantizeLinear", ["G_q", "gs", "zp"], ["Y"]),
        ],
        [codes, bias, zero, Floats("xs", [0.05f], raw: true), Floats("ws", [0.01f, 0.02f, 0.03f], raw: true, 3),
         Floats("bs", [0.0005f, 0.001f, 0.0015f], raw: true, 3), Floats("gs", [0.1f], raw: true)],
        [Value("X", 1, 1, 4)], [Value("Y", 1, 1, 3)]));
        model.MetadataProps.Add(new StringStringEntryProto
        {
            Key = "quantbuild.qdq",
            Value = """{"weights":{"Gemm_G":{"bits":8,"method":"linear"}},"activations":{"X":8,"G":8},"floatNodes":[],"notes":{}}""",
        });
        return model;
    }

    private static float[] Ramp(int n) => Enumerable.Range(0, n).Select(i => (i % 7 - 3) * 0.25f).ToArray();

    private static ModelProto Model(long opset, GraphProto graph, long irVersion = 8)
    {
        var model = new ModelProto { IrVersion = irVersion, ProducerName = "quantbuild-fuzz", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    private static GraphProto Graph(string name, NodeProto[] nodes, TensorProto[] initializers, ValueInfoProto[] inputs, ValueInfoProto[] outputs)
    {
        var g = new GraphProto { Name = name };
        g.Node.AddRange(nodes);
        g.Initializer.AddRange(initializers);
        g.Input.AddRange(inputs);
        g.Output.AddRange(outputs);
        return g;
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var n = new NodeProto { OpType = op, Name = $"{op}_{string.Join("_", outputs)}" };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes);
        return n;
    }

    /// <summary>A tensor value; a negative dimension becomes the symbolic dimension "N".</summary>
    private static ValueInfoProto Value(string name, int elementType, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d >= 0 ? new TensorShapeProto.Types.Dimension { DimValue = d } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } } };
    }

    private static TensorProto Floats(string name, float[] values, bool raw, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = 1 };
        t.Dims.AddRange(dims);
        if (raw) t.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        else t.FloatData.AddRange(values);
        return t;
    }

    private static TensorProto Int64s(string name, long[] values, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = 7 };
        t.Dims.AddRange(dims);
        t.Int64Data.AddRange(values);
        return t;
    }

    private static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    private static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    private static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    private static AttributeProto Tensor(string name, TensorProto value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Tensor, T = value };
}
