using System.Text.Json;
using Google.Protobuf;
using QuantBuild.Configuration;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Onnx.Proto;
using QuantBuild.Quantization;
using QuantBuild.Tensors;

namespace QuantBuild.Emit;

/// <summary>
/// Writes a <see cref="QuantizedModel"/> as a QDQ ONNX file that ONNX Runtime loads, fuses into its
/// int8 kernels and runs:
/// <list type="bullet">
/// <item>each quantized weight is an 8-bit initializer of codes + a float scale per channel and a
/// DequantizeLinear (axis = output channel) whose output keeps the weight's name, so the file is ~4×
/// smaller than fp32. Widths of 4 bits or less are stored as opset-21 INT4 (two codes per byte, ~8×
/// smaller; the whole graph is at opset 21 then); 5–7 bits as 8-bit codes inside the narrower grid.
/// With <see cref="QdqIntegerType.UInt8"/> (the default) 8-bit codes are uint8 with zero point 128 — the
/// same values as the int8 codes — so ONNX Runtime fuses them into its exact u8u8 kernels rather than the
/// u8s8 ones that saturate on CPUs without VNNI (docs/qdq-encoding.md).</item>
/// <item>each bias of a quantized Conv/Gemm is int32 codes with scale s_in·s_w[j], zero point 0.</item>
/// <item>each quantized activation gets QuantizeLinear → DequantizeLinear (uint8 codes with the int8 zero
/// point + 128 under <see cref="QdqIntegerType.UInt8"/>) right after its producer (the
/// producer's output is renamed, the DequantizeLinear output takes the original name, so consumers
/// and graph outputs are untouched); graph inputs get the pair in front of their consumers. Below 8
/// bits a Clip to the grid's real bounds comes first, since Q saturates only at the int8 limits.</item>
/// </list>
/// Float nodes keep float inputs (the dequantized values). The metadata entry <c>quantbuild.qdq</c>
/// records bit widths, methods, float nodes and notes so <see cref="QdqOnnxImporter"/> can rebuild
/// the model exactly.
/// </summary>
public static class QdqOnnxEmitter
{
    public const string MetadataKey = "quantbuild.qdq";

    /// <summary>Metadata value of the 8-bit code type (<c>integerType</c>): the importer maps uint8 codes back to the int8 ones the plan uses.</summary>
    internal const string UInt8IntegerType = "uint8", Int8IntegerType = "int8";

    public static ModelProto Emit(QuantizedModel model, QdqIntegerType integerType = QdqIntegerType.UInt8)
    {
        bool unsignedCodes = integerType == QdqIntegerType.UInt8;
        var source = model.Graph;
        if (source.OpsetVersion < OpsetUpgrade.QdqMinimumOpset)
            throw new InvalidOperationException($"the graph is at opset {source.OpsetVersion}; upgrade it (OpsetUpgrade) before quantizing");
        var g = OnnxImporter.Import(OnnxExporter.Export(source), sourcePath: source.SourcePath);
        // int16 QuantizeLinear/DequantizeLinear are in the default domain from opset 21 (docs/wide-activations.md, "The QDQ file").
        bool wideActivations = model.Activations.Values.Any(a => a.Bits > 8);
        if (wideActivations && g.OpsetVersion < OpsetUpgrade.Int16ActivationOpset) OpsetUpgrade.Apply(g, OpsetUpgrade.Int16ActivationOpset);
        var names = new NameSet(g);
        var prefix = new List<Node>();
        var after = new Dictionary<string, List<Node>>(StringComparer.Ordinal);
        var producers = g.Producers();

        // Weights and biases: integer initializers + DequantizeLinear producing the original name.
        var done = new HashSet<string>(StringComparer.Ordinal);
        var int4Weights = new HashSet<string>(StringComparer.Ordinal);
        // Codebook weights first (their own subgraph, QdqCodebook); the loop below then skips them.
        foreach (var node in g.Nodes)
            if (model.Weights.TryGetValue(node.Name, out var cw) && cw.Encoding == WeightEncoding.Codebook && done.Add(cw.WeightName))
            {
                QdqCodebook.EmitWeight(g, cw, names.Fresh, prefix);
                if (BiasIndex(node) is int cb && node.HasInput(cb) && model.Activations.TryGetValue(node.Inputs[0], out var cin) && !done.Contains(node.Inputs[cb])
                    && QdqCodebook.EmitBias(g, node.Inputs[cb], cw, BiasInputScale(model, node.Inputs[0], cin), names.Fresh, prefix))
                    done.Add(node.Inputs[cb]);
            }
        foreach (var node in g.Nodes)
        {
            if (!model.Weights.TryGetValue(node.Name, out var w) || !done.Add(w.WeightName)) continue;
            bool perChannel = w.Scales.Length > 1;
            var codes = names.Fresh(w.WeightName + "_quantized");
            var scale = names.Fresh(w.WeightName + "_scale");
            g.Initializers.Remove(w.WeightName);
            bool multipoint = w.ExtraPoints.Count > 0;
            // uint8 + 128 only where ORT would fuse the DequantizeLinear into an integer kernel: 4-bit codes
            // stay INT4, and multipoint weights feed an Add of points, not a Conv/MatMul directly.
            bool offsetCodes = unsignedCodes && w.Bits > 4 && !multipoint;
            List<string> dqInputs = [codes, scale];
            if (offsetCodes)
            {
                g.Initializers[codes] = new Tensor(DataType.UInt8, w.Shape, w.Codes.Select(c => (byte)(c + 128)).ToArray());
                var zero = names.Fresh(w.WeightName + "_zero_point");
                g.Initializers[zero] = perChannel
                    ? new Tensor(DataType.UInt8, [w.Scales.Length], Enumerable.Repeat((byte)128, w.Scales.Length).ToArray())
                    : new Tensor(DataType.UInt8, [], new[] { (byte)128 });
                dqInputs.Add(zero);
            }
            else g.Initializers[codes] = new Tensor(DataType.Int8, w.Shape, (sbyte[])w.Codes.Clone());
            if (w.Bits <= 4) int4Weights.Add(codes);
            g.Initializers[scale] = perChannel ? Tensor.FromFloats((float[])w.Scales.Clone(), w.Scales.Length) : Tensor.Scalar(w.Scales[0]);
            var dq = new Node(names.Fresh(w.WeightName + "_DequantizeLinear"), "DequantizeLinear", dqInputs, [multipoint ? names.Fresh(w.WeightName + "_point1") : w.WeightName]);
            if (perChannel) dq.SetInt("axis", w.Axis);
            prefix.Add(dq);
            if (multipoint) prefix.AddRange(MultipointQdq.Emit(g, names.Fresh, w, dq.Outputs[0], w.WeightName, int4Weights));

            if (BiasIndex(node) is int b && node.HasInput(b) && g.Initializers.TryGetValue(node.Inputs[b], out var bias)
                && bias.Type == DataType.Float && bias.Rank == 1 && bias.Length == w.Shape[w.Axis]
                && model.Activations.TryGetValue(node.Inputs[0], out var input) && done.Add(node.Inputs[b]))
            {
                var biasName = node.Inputs[b];
                var (biasCodes, biasScales) = QuantizeBias(bias.Floats, BiasInputScale(model, node.Inputs[0], input), w.Scales);
                var bq = names.Fresh(biasName + "_quantized");
                var bs = names.Fresh(biasName + "_scale");
                g.Initializers.Remove(biasName);
                g.Initializers[bq] = new Tensor(DataType.Int32, [biasCodes.Length], biasCodes);
                g.Initializers[bs] = Tensor.FromFloats(biasScales, biasScales.Length);
                var bdq = new Node(names.Fresh(biasName + "_DequantizeLinear"), "DequantizeLinear", [bq, bs], [biasName]);
                bdq.SetInt("axis", 0);
                prefix.Add(bdq);
            }
        }

        // Activations: Q → DQ pairs.
        var graphInputs = g.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        var levelInputs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, a) in model.Activations.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var floatName = graphInputs.Contains(name) ? name : names.Fresh(name + "_float");
            var output = graphInputs.Contains(name) ? names.Fresh(name + "_dequantized") : name;
            var scale = names.Fresh(name + "_scale");
            var zero = names.Fresh(name + "_zero_point");
            g.Initializers[scale] = Tensor.Scalar(a.Scale);
            // The file's codes: int8 as the plan has them, or the same values as uint8 (code + 128).
            bool fileSigned = a.Signed && !unsignedCodes;
            int fileZero = a.Signed && !fileSigned ? a.ZeroPoint + 128 : a.ZeroPoint;
            if (a.Bits > 8)
            {
                // 16-bit codes are int16 whatever qdqIntegerType says: ONNX Runtime fuses no integer kernel on them (docs/wide-activations.md).
                (fileSigned, fileZero) = (true, a.ZeroPoint);
                g.Initializers[zero] = new Tensor(DataType.Int16, [], new[] { (short)a.ZeroPoint });
            }
            else g.Initializers[zero] = fileSigned
                ? new Tensor(DataType.Int8, [], new[] { (sbyte)fileZero })
                : new Tensor(DataType.UInt8, [], new[] { (byte)fileZero });
            var pair = new List<Node>();
            string quantizeInput = floatName;
            bool narrow = a.Bits < 8;
            if (narrow)
            {
                var lo = names.Fresh(name + "_clip_min");
                var hi = names.Fresh(name + "_clip_max");
                g.Initializers[lo] = Tensor.Scalar((a.QMin - a.ZeroPoint) * a.Scale);
                g.Initializers[hi] = Tensor.Scalar((a.QMax - a.ZeroPoint) * a.Scale);
                quantizeInput = names.Fresh(name + "_clipped");
                pair.Add(new Node(names.Fresh(name + "_Clip"), "Clip", [floatName, lo, hi], [quantizeInput]));
            }
            var codes = names.Fresh(name + "_quantized");
            pair.Add(new Node(names.Fresh(name + "_QuantizeLinear"), "QuantizeLinear", [quantizeInput, scale, zero], [codes]));
            pair.Add(new Node(names.Fresh(name + "_DequantizeLinear"), "DequantizeLinear", [codes, scale, zero], [output]));
            if (model.LevelActivations.TryGetValue(name, out var levels))
                levelInputs[name] = LevelDecode(g, names, name, codes, a, fileZero - a.ZeroPoint, levels, pair);

            if (graphInputs.Contains(name))
            {
                foreach (var n in g.Nodes)
                    for (int k = 0; k < n.Inputs.Count; k++)
                        if (n.Inputs[k] == name) n.Inputs[k] = output;
                prefix.AddRange(pair);
            }
            else if (g.Initializers.TryGetValue(name, out var constant))
            {
                g.Initializers.Remove(name);
                g.Initializers[floatName] = constant;
                prefix.AddRange(pair);
            }
            else if (producers.TryGetValue(name, out var producer))
            {
                producer.Outputs[producer.Outputs.IndexOf(name)] = floatName;
                if (!after.TryGetValue(producer.Name, out var list)) after[producer.Name] = list = new List<Node>();
                list.AddRange(pair);
            }
            else throw new InvalidOperationException($"activation '{name}' is neither a graph input, a constant nor produced by a node");
        }

        // Level-coded ReLU outputs: their Conv/Gemm/MatMul consumers read the level values, as the integer runtime does.
        foreach (var n in g.Nodes)
            if (n.OpType is "Conv" or "Gemm" or "MatMul" && n.Inputs.Count > 0 && levelInputs.TryGetValue(n.Inputs[0], out var levelValues))
                n.Inputs[0] = levelValues;

        var nodes = new List<Node>(prefix);
        foreach (var n in g.Nodes)
        {
            nodes.Add(n);
            if (after.TryGetValue(n.Name, out var list)) nodes.AddRange(list);
        }
        g.Nodes.Clear();
        g.Nodes.AddRange(nodes);
        // Constants nobody reads (originals of folded values) would only add fp32 bytes to the file.
        g.RemoveDeadNodes();
        WriteUniformConstantsAsConstantOfShape(g, names);
        // Intermediate shapes may be bound to the calibration data's sizes; ONNX Runtime infers its own.
        g.ValueInfos.Clear();

        var proto = OnnxExporter.Export(g);
        if (int4Weights.Count > 0)
        {
            if (g.OpsetVersion < OpsetUpgrade.Int4Opset)
                throw new InvalidOperationException($"4-bit weights need opset {OpsetUpgrade.Int4Opset}; the graph is at {g.OpsetVersion}");
            foreach (var t in proto.Graph.Initializer)
                if (int4Weights.Contains(t.Name)) Int4Storage.ToInt4(t);
        }
        // Opset 13 needs IR version 7 or later.
        proto.IrVersion = Math.Max(proto.IrVersion, 7);
        proto.MetadataProps.Add(new StringStringEntryProto { Key = MetadataKey, Value = Metadata(model, levelInputs, unsignedCodes ? UInt8IntegerType : Int8IntegerType) });
        return proto;
    }

    /// <summary>
    /// The level grid of a ReLU output in a form ONNX Runtime runs: its linear codes (the Q output) → Cast to
    /// int32 → Add −qmin → Gather from a float table of one entry per code, holding the deployed value of the
    /// level that code maps to (int16 level · table scale). <paramref name="codeShift"/> is what the file adds
    /// to the plan's codes (128 for uint8 codes of an int8 activation). Returns the Gather output's name.
    /// </summary>
    private static string LevelDecode(ModelGraph g, NameSet names, string name, string codes, ActivationQuantization a, int codeShift, LogActivationQuantization levels, List<Node> into)
    {
        var asInt = names.Fresh(name + "_codes_int32");
        var cast = new Node(names.Fresh(name + "_Cast"), "Cast", [codes], [asInt]);
        cast.SetInt("to", (long)DataType.Int32);
        var offset = names.Fresh(name + "_code_offset");
        g.Initializers[offset] = new Tensor(DataType.Int32, [], new[] { -(a.QMin + codeShift) });
        var index = names.Fresh(name + "_level_code_index");
        var table = names.Fresh(name + "_level_values");
        g.Initializers[table] = Tensor.FromFloats(levels.CodeValues(), a.QMax - a.QMin + 1);
        var result = names.Fresh(name + "_levels");
        into.Add(cast);
        into.Add(new Node(names.Fresh(name + "_AddCodeOffset"), "Add", [asInt, offset], [index]));
        var gather = new Node(names.Fresh(name + "_GatherLevels"), "Gather", [table, index], [result]);
        gather.SetInt("axis", 0);
        into.Add(gather);
        return result;
    }

    /// <summary>Float constants from this many elements on are checked for being one repeated value.</summary>
    private const int UniformConstantMinElements = 16;

    /// <summary>
    /// A float constant that is one value repeated — a ConstantOfShape block of padding zeros, folded into an
    /// initializer when the model was prepared — goes back into the file as ConstantOfShape(shape) with that
    /// value: a few bytes instead of the whole fp32 tensor, which made BlazeFace's quantized file larger than
    /// its fp32 one. Bit patterns are compared, so −0 and NaN payloads stay what they were. Scales and zero points of
    /// QuantizeLinear/DequantizeLinear stay initializers even when uniform (a LogQuant layer whose channels share one
    /// exponent): QDQ consumers, ONNX Runtime's fusions and our own importer read them as constants.
    /// </summary>
    private static void WriteUniformConstantsAsConstantOfShape(ModelGraph g, NameSet names)
    {
        var graphInputs = g.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        graphInputs.UnionWith(g.Nodes.Where(n => n.OpType is "QuantizeLinear" or "DequantizeLinear").SelectMany(n => n.Inputs.Skip(1)));
        var fills = new List<Node>();
        foreach (var (name, t) in g.Initializers.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList())
        {
            if (t.Type != DataType.Float || t.Length < UniformConstantMinElements || graphInputs.Contains(name)) continue;
            var values = t.Floats;
            int first = BitConverter.SingleToInt32Bits(values[0]);
            if (!values.All(v => BitConverter.SingleToInt32Bits(v) == first)) continue;
            var shape = names.Fresh(name + "_shape");
            g.Initializers.Remove(name);
            g.Initializers[shape] = Tensor.FromInt64(t.Shape.Select(d => (long)d).ToArray(), t.Rank);
            var fill = new Node(names.Fresh(name + "_ConstantOfShape"), "ConstantOfShape", [shape], [name]);
            fill.Attributes["value"] = new AttributeProto
            {
                Name = "value", Type = AttributeProto.Types.AttributeType.Tensor,
                T = QuantBuild.Onnx.IO.TensorProtoConverter.FromTensor(Tensor.FromFloats([values[0]], 1), "value"),
            };
            fills.Add(fill);
        }
        g.Nodes.InsertRange(0, fills);
    }

    public static byte[] EmitBytes(QuantizedModel model, QdqIntegerType integerType = QdqIntegerType.UInt8) => Emit(model, integerType).ToByteArray();

    /// <summary>The input scale of a layer's bias: the level table's scale when the input is level-coded (as the integer plan does), else the activation's.</summary>
    private static float BiasInputScale(QuantizedModel model, string input, ActivationQuantization a) =>
        model.LevelActivations.TryGetValue(input, out var levels) ? levels.TableScale : a.Scale;

    /// <summary>Input index of the bias of a weighted node (Conv/ConvTranspose: 2; Gemm: C), null for MatMul.</summary>
    internal static int? BiasIndex(Node node) => node.OpType is "Conv" or "ConvTranspose" or "Gemm" ? 2 : null;

    /// <summary>b_q[j] = RNE(b[j] / (s_x·s_w[j])) saturated to int32 (docs/algorithms/linear.md, "Bias quantization"); the scale is the float32 product.</summary>
    public static (int[] Codes, float[] Scales) QuantizeBias(float[] bias, float inputScale, float[] weightScales)
    {
        var codes = new int[bias.Length];
        var scales = new float[bias.Length];
        for (int j = 0; j < bias.Length; j++)
        {
            float s = inputScale * weightScales[weightScales.Length == 1 ? 0 : j];
            scales[j] = s;
            double q = Math.Round((double)(bias[j] / s), MidpointRounding.ToEven);
            codes[j] = q >= int.MaxValue ? int.MaxValue : q <= int.MinValue ? int.MinValue : (int)q;
        }
        return (codes, scales);
    }

    private static string Metadata(QuantizedModel model, IReadOnlyDictionary<string, string> levelInputs, string integerType)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteNumber("version", 1);
            json.WriteString("integerType", integerType);
            json.WriteStartObject("weights");
            foreach (var (node, w) in model.Weights.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                json.WriteStartObject(node);
                json.WriteNumber("bits", w.Bits);
                json.WriteString("method", w.Method);
                if (w.Encoding == WeightEncoding.Codebook) json.WriteString("encoding", "codebook");
                json.WriteEndObject();
            }
            json.WriteEndObject();
            json.WriteStartObject("activations");
            foreach (var (name, a) in model.Activations.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                json.WriteNumber(name, a.Bits);
            json.WriteEndObject();
            QdqLevels.WriteMetadata(json, model, levelInputs);
            json.WriteStartArray("floatNodes");
            foreach (var n in model.FloatNodes.Order(StringComparer.Ordinal)) json.WriteStringValue(n);
            json.WriteEndArray();
            json.WriteStartObject("notes");
            foreach (var (k, v) in model.Notes.OrderBy(kv => kv.Key, StringComparer.Ordinal)) json.WriteString(k, v);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>Fresh names that collide with nothing in the graph or with each other.</summary>
    private sealed class NameSet
    {
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);

        public NameSet(ModelGraph g)
        {
            _used.UnionWith(g.Initializers.Keys);
            foreach (var n in g.Nodes) { _used.UnionWith(n.Inputs); _used.UnionWith(n.Outputs); _used.Add(n.Name); }
            foreach (var i in g.Inputs) _used.Add(i.Name);
            foreach (var o in g.Outputs) _used.Add(o.Name);
            _used.UnionWith(g.ValueInfos.Keys);
        }

        public string Fresh(string stem)
        {
            if (_used.Add(stem)) return stem;
            for (int k = 1; ; k++)
                if (_used.Add($"{stem}_{k}")) return $"{stem}_{k}";
        }
    }
}
