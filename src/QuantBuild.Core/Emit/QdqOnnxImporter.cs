using System.Text.Json;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Quantization;
using QuantBuild.Tensors;

namespace QuantBuild.Emit;

/// <summary>
/// The inverse of <see cref="QdqOnnxEmitter"/>: reads a QDQ file back into a <see cref="QuantizedModel"/>
/// (float graph without Q/DQ nodes, activation parameters, weight codes and scales, float nodes), which
/// is what <c>quantbuild run --int</c> executes. Structure is recognised from the graph itself
/// (DequantizeLinear of int8/int32 constants, QuantizeLinear → DequantizeLinear pairs, the optional
/// Clip of sub-8-bit activations); the <c>quantbuild.qdq</c> metadata adds what ONNX cannot say (bit
/// widths below 8, methods, float nodes, notes). Files from other tools import with 8-bit defaults.
/// The float weights of the returned graph are the dequantized codes: the fp32 originals are not in the file.
/// </summary>
public static class QdqOnnxImporter
{
    public static QuantizedModel Load(string path)
    {
        var proto = OnnxModelFile.Load(path);
        return Import(proto, path, Path.GetDirectoryName(Path.GetFullPath(path)));
    }

    public static QuantizedModel Import(ModelProto proto, string? sourcePath = null, string? baseDirectory = null)
    {
        proto = proto.Clone();
        Int4Storage.ExpandAll(proto.Graph, sourcePath);
        var g = OnnxImporter.Import(proto, baseDirectory, sourcePath);
        // The scans below index node inputs and outputs directly.
        OperatorArity.Validate(g);
        var meta = ReadMetadata(proto, sourcePath);
        QuantBuildException Invalid(string message, string? node = null) => new(DiagnosticCodes.InvalidQdqModel, message, sourcePath, node: node);

        // Codebook weights (LogQuant/WEQ subgraphs) become float initializers before the DequantizeLinear scan.
        var codebooks = QdqCodebookImport.Extract(g);
        var consumers = g.Consumers();
        var remove = new HashSet<Node>();
        var scalesAndCodes = new HashSet<string>(StringComparer.Ordinal);
        var weights = new List<(string FloatName, sbyte[] Codes, int[] Shape, float[] Scales, int Axis)>();
        var activations = new List<ActivationQuantization>();
        var graphInputs = g.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);

        foreach (var dq in g.Nodes.Where(n => n.OpType == "DequantizeLinear").ToList())
        {
            if (!g.Initializers.TryGetValue(dq.Inputs[0], out var codes)) continue;
            var scale = Constant(g, dq, 1, Invalid);
            int axis = (int)dq.GetInt("axis", 1);
            // Symmetric weights only: zero point 0 for int8 codes, 128 for uint8 ones (the same values, +128).
            int symmetricZero = codes.Type == DataType.UInt8 ? 128 : 0;
            if (codes.Type == DataType.UInt8 && !dq.HasInput(2))
                throw Invalid($"DequantizeLinear '{dq.Name}' reads uint8 constant '{dq.Inputs[0]}' with zero point 0; QuantBuild needs symmetric weights (uint8 with zero point 128)", dq.Name);
            if (dq.HasInput(2) && Constant(g, dq, 2, Invalid).ToFloatArray().Any(z => z != symmetricZero))
                throw Invalid($"DequantizeLinear '{dq.Name}' gives constant '{dq.Inputs[0]}' a zero point other than {symmetricZero}; QuantBuild needs symmetric weights", dq.Name);
            if (codes.Type == DataType.UInt8)
                codes = new Tensor(DataType.Int8, codes.Shape, codes.UInt8s.Select(u => (sbyte)(u - 128)).ToArray());
            var scales = scale.Floats;
            CheckScales(scales, $"DequantizeLinear '{dq.Name}' (weight '{dq.Inputs[0]}')", dq.Name, Invalid, bias: codes.Type == DataType.Int32);
            if (axis < 0) axis += codes.Rank;
            if (scales.Length == 0 || scales.Length > 1 && (axis < 0 || axis >= codes.Rank || scales.Length != codes.Shape[axis]))
                throw Invalid($"DequantizeLinear '{dq.Name}' has {scales.Length} scales for constant '{dq.Inputs[0]}' {codes.ShapeString} along axis {axis}; " +
                              "give one scale, or one per channel of that axis", dq.Name);
            var values = Dequantize(codes, scales, axis);
            if (!values.All(float.IsFinite))
                throw Invalid($"DequantizeLinear '{dq.Name}': weight '{dq.Inputs[0]}' times its scale ({scales.Max()}) is beyond the float range", dq.Name);
            var output = dq.Outputs[0];
            g.Initializers[output] = Tensor.FromFloats(values, codes.Shape);
            remove.Add(dq);
            scalesAndCodes.Add(dq.Inputs[0]);
            scalesAndCodes.Add(dq.Inputs[1]);
            if (dq.HasInput(2)) scalesAndCodes.Add(dq.Inputs[2]);
            if (codes.Type == DataType.Int8)
                weights.Add((output, codes.Int8s, codes.Shape, scales.Length == 0 ? [scales.Length == 0 ? 1f : scales[0]] : scales, scales.Length > 1 ? axis : 0));
            else if (codes.Type != DataType.Int32)
                throw Invalid($"DequantizeLinear '{dq.Name}' reads a {DataTypes.Name(codes.Type)} constant; QuantBuild imports int8/uint8 weights and int32 biases", dq.Name);
        }

        var multipointWeights = MultipointQdq.Import(g, weights, remove, (m, n) => Invalid(m, n));
        // Level-coded activations: their decode chain hangs off the Q output; without it each Q feeds one DQ again.
        try { scalesAndCodes.UnionWith(QdqLevels.RemoveDecodes(g, meta.LevelActivations)); }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException)
        {
            throw Invalid($"level-coded activations: {e.Message}");
        }
        consumers = g.Consumers();
        var producers = g.Producers();
        foreach (var q in g.Nodes.Where(n => n.OpType == "QuantizeLinear").ToList())
        {
            var qOut = q.Outputs[0];
            if (!consumers.TryGetValue(qOut, out var readers) || readers.Count != 1 || readers[0].OpType != "DequantizeLinear")
                throw Invalid($"QuantizeLinear '{q.Name}' must feed exactly one DequantizeLinear", q.Name);
            var dq = readers[0];
            var scaleTensor = Constant(g, q, 1, Invalid);
            CheckScales(scaleTensor.Floats, $"QuantizeLinear '{q.Name}' (activation '{q.Inputs[0]}')", q.Name, Invalid);
            var scale = scaleTensor.Floats[0];
            var zeroTensor = q.HasInput(2) ? Constant(g, q, 2, Invalid) : null;
            int zero = zeroTensor is null ? 0 : (int)zeroTensor.ToFloatArray()[0];
            bool signed = zeroTensor is not null && zeroTensor.Type is DataType.Int8 or DataType.Int16;
            remove.Add(q);
            remove.Add(dq);
            foreach (var k in q.Inputs.Skip(1).Concat(dq.Inputs.Skip(1))) if (k.Length > 0) scalesAndCodes.Add(k);

            // The value that went into Q, looking through the sub-8-bit Clip the emitter adds.
            var floatName = q.Inputs[0];
            // Only a Clip the emitter added (metadata says the activation is narrower than 8 bits) is part of the pair;
            // a model's own Clip (ReLU6, hard-swish) right before a quantized output is not.
            bool narrow = meta.ActivationBits.TryGetValue(dq.Outputs[0], out var declaredBits) && declaredBits < 8
                || meta.ActivationBits.TryGetValue(producers.TryGetValue(floatName, out var c0) && c0.OpType == "Clip" ? c0.Inputs[0] : "", out var inputBits) && inputBits < 8;
            if (narrow && producers.TryGetValue(floatName, out var clip) && clip.OpType == "Clip" && consumers[floatName].Count == 1
                && consumers.TryGetValue(clip.Inputs[0], out var clipReaders) && clipReaders.Count == 1 && IsGridClip(g, clip, scale, zero, signed))
            {
                remove.Add(clip);
                foreach (var k in clip.Inputs.Skip(1)) if (k.Length > 0) scalesAndCodes.Add(k);
                floatName = clip.Inputs[0];
            }
            var dequantized = dq.Outputs[0];
            string name;
            if (graphInputs.Contains(floatName))
            {
                name = floatName;
                foreach (var n in g.Nodes)
                    for (int k = 0; k < n.Inputs.Count; k++)
                        if (n.Inputs[k] == dequantized) n.Inputs[k] = floatName;
            }
            else
            {
                name = dequantized;
                if (producers.TryGetValue(floatName, out var producer))
                    producer.Outputs[producer.Outputs.IndexOf(floatName)] = dequantized;
                else if (g.Initializers.Remove(floatName, out var constant))
                    g.Initializers[dequantized] = constant;
                else throw Invalid($"QuantizeLinear '{q.Name}' reads '{floatName}', which nothing produces", q.Name);
                // Other readers of the unquantized value (files from other tools) now read the dequantized one.
                foreach (var n in g.Nodes)
                    for (int k = 0; k < n.Inputs.Count; k++)
                        if (n.Inputs[k] == floatName && !remove.Contains(n)) n.Inputs[k] = dequantized;
            }
            int bits = meta.ActivationBits.TryGetValue(name, out var b) ? b : 8;
            // Our uint8 files hold int8 activations + 128: give the plan back the int8 codes it was built with.
            if (!signed && meta.IntegerType == QdqOnnxEmitter.UInt8IntegerType) { signed = true; zero -= 128; }
            activations.Add(new ActivationQuantization(name, scale, zero, bits, signed));
        }

        g.Nodes.RemoveAll(remove.Contains);
        foreach (var k in scalesAndCodes) g.Initializers.Remove(k);
        g.SortTopologically();

        var model = new QuantizedModel(g);
        foreach (var a in activations.OrderBy(a => a.Name, StringComparer.Ordinal)) model.Activations[a.Name] = a;
        foreach (var node in g.Nodes)
        {
            if (QuantizationPipeline.WeightInput(g, node) is not (int index, _)) continue;
            if (codebooks.FirstOrDefault(x => x.FloatName == node.Inputs[index]) is { } cb)
            {
                var (cbBits, cbMethod) = meta.Weights.TryGetValue(node.Name, out var cm) ? cm : ((int)Math.Log2(cb.Tables[0].Length), "codebook");
                model.Weights[node.Name] = new WeightQuantization
                {
                    NodeName = node.Name,
                    WeightName = cb.FloatName,
                    Shape = cb.Shape,
                    Axis = cb.Axis ?? QuantizationPipeline.WeightInput(g, node)!.Value.Axis,
                    Bits = cbBits,
                    Encoding = WeightEncoding.Codebook,
                    Codes = cb.Indices,
                    Scales = cb.Scales,
                    CodebookLevels = cb.Tables,
                    Codebooks = cb.Scales.Select((s, j) => cb.Tables[cb.Tables.Length == 1 ? 0 : j].Select(l => l * s).ToArray()).ToArray(),
                    Method = cbMethod,
                    Quantizer = WeightMethods.FromLabel(cbMethod),
                };
                continue;
            }
            var (bits, method) = meta.Weights.TryGetValue(node.Name, out var m) ? m : (8, "linear");
            if (multipointWeights.TryGetValue(node.Inputs[index], out var mp))
            {
                model.Weights[node.Name] = new WeightQuantization
                {
                    NodeName = node.Name, WeightName = mp.WeightName, Shape = mp.Shape, Axis = mp.Axis, Bits = bits,
                    Codes = mp.Codes, Scales = mp.Scales, Method = method, Quantizer = WeightMethods.FromLabel(method), ExtraPoints = mp.ExtraPoints,
                };
                continue;
            }
            var w = weights.FirstOrDefault(x => x.FloatName == node.Inputs[index]);
            if (w.Codes is null) continue;
            model.Weights[node.Name] = new WeightQuantization
            {
                NodeName = node.Name,
                WeightName = w.FloatName,
                Shape = w.Shape,
                Axis = w.Scales.Length > 1 ? w.Axis : QuantizationPipeline.WeightInput(g, node)!.Value.Axis,
                Bits = bits,
                Codes = w.Codes,
                Scales = w.Scales,
                Method = method,
                Quantizer = WeightMethods.FromLabel(method),
            };
        }
        foreach (var (name, levels) in meta.LevelActivations)
        {
            if (!model.Activations.TryGetValue(name, out var linear))
                throw Invalid($"metadata gives activation '{name}' a level grid, but it is not quantized in the file");
            try { model.LevelActivations[name] = QdqLevels.Rebuild(levels, linear); }
            catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
            {
                throw Invalid($"metadata level grid of '{name}' is damaged: {e.Message}");
            }
        }
        foreach (var n in meta.FloatNodes) model.FloatNodes.Add(n);
        foreach (var (k, v) in meta.Notes) model.Notes[k] = v;
        return model;
    }

    private static Tensor Constant(ModelGraph g, Node node, int index, Func<string, string?, QuantBuildException> invalid) =>
        node.HasInput(index) && g.Initializers.TryGetValue(node.Inputs[index], out var t) ? t
            : throw invalid($"{node.OpType} '{node.Name}' input {index} must be a constant", node.Name);

    /// <summary>
    /// Scales must be positive normal floats: 0 or a subnormal divides to infinity when a value is
    /// quantized, a negative one flips every value, NaN poisons everything after it. The one exception is
    /// an int32 bias (<paramref name="bias"/>): its scale is input scale × weight scale, which our own
    /// quantizer writes below 2^-126 when both are small (the bias then saturates, QB4105), and dequantizing
    /// a constant only multiplies, so a positive subnormal is valid there. 8-bit weight codes keep the rule.
    /// </summary>
    private static void CheckScales(float[] scales, string what, string node, Func<string, string?, QuantBuildException> invalid, bool bias = false)
    {
        foreach (var s in scales)
            if (bias ? !(s > 0 && float.IsFinite(s)) : !float.IsNormal(s) || s < 0)
                throw invalid(bias
                    ? $"{what} has scale {s.ToString(System.Globalization.CultureInfo.InvariantCulture)}; a bias's scale must be a positive, finite float"
                    : $"{what} has scale {s.ToString(System.Globalization.CultureInfo.InvariantCulture)}; a scale must be a positive, finite, normal float", node);
    }

    private static bool IsGridClip(ModelGraph g, Node clip, float scale, int zero, bool signed)
    {
        if (!clip.HasInput(1) || !clip.HasInput(2) || !g.Initializers.TryGetValue(clip.Inputs[1], out var lo) || !g.Initializers.TryGetValue(clip.Inputs[2], out var hi))
            return false;
        // The emitter's clip bounds sit on exact grid points: (qmin − z)·s and (qmax − z)·s.
        float low = lo.Floats[0] / scale + zero, high = hi.Floats[0] / scale + zero;
        return Math.Abs(low - Math.Round(low)) < 1e-3 && Math.Abs(high - Math.Round(high)) < 1e-3 && (signed ? low >= -128 && high <= 127 : low >= 0 && high <= 255);
    }

    private static float[] Dequantize(Tensor codes, float[] scales, int axis)
    {
        var q = codes.ToFloatArray();
        var result = new float[q.Length];
        // With one scale the axis plays no part and need not be valid; per channel, Import has checked it against the shape.
        if (scales.Length == 1)
        {
            for (int i = 0; i < q.Length; i++) result[i] = q[i] * scales[0];
            return result;
        }
        int inner = 1;
        for (int d = axis + 1; d < codes.Rank; d++) inner *= codes.Shape[d];
        int channels = codes.Shape[axis];
        for (int i = 0; i < q.Length; i++)
            result[i] = q[i] * scales[i / inner % channels];
        return result;
    }

    private sealed record QdqMetadata(Dictionary<string, (int Bits, string Method)> Weights, Dictionary<string, int> ActivationBits,
        List<string> FloatNodes, Dictionary<string, string> Notes)
    {
        public Dictionary<string, JsonElement> LevelActivations { get; set; } = new(StringComparer.Ordinal);
        /// <summary>The emitter's 8-bit code type; files before it was recorded, and other tools' files, say nothing.</summary>
        public string? IntegerType { get; set; }
    }

    private static QdqMetadata ReadMetadata(ModelProto proto, string? path)
    {
        var meta = new QdqMetadata(new(StringComparer.Ordinal), new(StringComparer.Ordinal), new(), new(StringComparer.Ordinal));
        var entry = proto.MetadataProps.LastOrDefault(p => p.Key == QdqOnnxEmitter.MetadataKey);
        if (entry is null) return meta;
        try
        {
            using var doc = JsonDocument.Parse(entry.Value);
            var root = doc.RootElement;
            foreach (var w in root.GetProperty("weights").EnumerateObject())
                meta.Weights[w.Name] = (w.Value.GetProperty("bits").GetInt32(), w.Value.GetProperty("method").GetString()!);
            foreach (var a in root.GetProperty("activations").EnumerateObject()) meta.ActivationBits[a.Name] = a.Value.GetInt32();
            foreach (var n in root.GetProperty("floatNodes").EnumerateArray()) meta.FloatNodes.Add(n.GetString()!);
            foreach (var n in root.GetProperty("notes").EnumerateObject()) meta.Notes[n.Name] = n.Value.GetString()!;
            meta.LevelActivations = QdqLevels.ReadMetadata(root);
            if (root.TryGetProperty("integerType", out var integerType)) meta.IntegerType = integerType.GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidQdqModel, $"metadata '{QdqOnnxEmitter.MetadataKey}' is damaged: {e.Message}", path, inner: e);
        }
        return meta;
    }
}
