using QuantBuild.Graph;
using QuantBuild.Quantization;
using QuantBuild.Tensors;

namespace QuantBuild.Emit;

/// <summary>
/// The QDQ ONNX form of multipoint weights (docs/algorithms/multipoint.md, "Integer inference"), shared by <see cref="QdqOnnxEmitter"/> and
/// <see cref="QdqOnnxImporter"/>: the first point is the usual per-channel DequantizeLinear; the p-th
/// extra points of all channels form "level" tensors of the weight's shape (codes 0 and scale 1 in the
/// channels without a p-th point), each with its own per-channel DequantizeLinear; a Sum of the first
/// point and the levels, in level order, produces the weight the consumer reads. ONNX Runtime evaluates
/// exactly Σ_p DQ(q_p), which is what <see cref="WeightQuantization.Dequantize"/> returns.
/// The dense levels cost file bytes (zeros where a channel has no such point); int4 keeps that small.
/// </summary>
internal static class MultipointQdq
{
    /// <summary>Level tensors + DequantizeLinear + Sum nodes writing <paramref name="output"/> from the first point <paramref name="firstPoint"/>.</summary>
    public static List<Node> Emit(ModelGraph g, Func<string, string> fresh, WeightQuantization w, string firstPoint, string output, ISet<string> int4Weights)
    {
        var nodes = new List<Node>();
        int channels = w.Channels, inner = 1;
        for (int d = w.Axis + 1; d < w.Shape.Length; d++) inner *= w.Shape[d];
        var byChannel = w.ExtraPoints.GroupBy(p => p.Channel).ToDictionary(x => x.Key, x => x.ToList());
        int levels = byChannel.Values.Max(l => l.Count);
        var sumInputs = new List<string> { firstPoint };
        for (int level = 0; level < levels; level++)
        {
            var codes = new sbyte[w.Codes.Length];
            var scales = Enumerable.Repeat(1f, channels).ToArray();
            foreach (var (channel, points) in byChannel)
            {
                if (points.Count <= level) continue;
                var point = points[level];
                scales[channel] = point.Scale;
                int k = 0;
                for (int i = channel * inner; i < codes.Length; i += channels * inner)
                    for (int e = 0; e < inner; e++) codes[i + e] = point.Codes[k++];
            }
            var codesName = fresh($"{w.WeightName}_point{level + 2}_quantized");
            var scaleName = fresh($"{w.WeightName}_point{level + 2}_scale");
            g.Initializers[codesName] = new Tensor(DataType.Int8, w.Shape, codes);
            g.Initializers[scaleName] = Tensor.FromFloats(scales, channels);
            if (w.Bits <= 4) int4Weights.Add(codesName);
            var value = fresh($"{w.WeightName}_point{level + 2}");
            var dq = new Node(fresh($"{w.WeightName}_point{level + 2}_DequantizeLinear"), "DequantizeLinear", [codesName, scaleName], [value]);
            dq.SetInt("axis", w.Axis);
            nodes.Add(dq);
            sumInputs.Add(value);
        }
        nodes.Add(new Node(fresh(w.WeightName + "_multipoint_Sum"), "Sum", sumInputs, [output]));
        return nodes;
    }

    /// <summary>
    /// Finds Sum nodes whose inputs are all dequantized weight constants (already turned into initializers
    /// by the importer) and turns each into one multipoint weight: the first input is the first point, the
    /// others are levels whose non-zero channels are extra points. Removes the Sum and the point constants.
    /// </summary>
    public static Dictionary<string, WeightQuantization> Import(ModelGraph g, IReadOnlyList<(string FloatName, sbyte[] Codes, int[] Shape, float[] Scales, int Axis)> weights,
        HashSet<Node> remove, Func<string, string?, Exception> invalid)
    {
        var result = new Dictionary<string, WeightQuantization>(StringComparer.Ordinal);
        var byName = new Dictionary<string, (string FloatName, sbyte[] Codes, int[] Shape, float[] Scales, int Axis)>(StringComparer.Ordinal);
        foreach (var w in weights) byName[w.FloatName] = w;
        foreach (var sum in g.Nodes.Where(n => n.OpType == "Sum" && n.Inputs.Count >= 2).ToList())
        {
            if (!sum.Inputs.All(byName.ContainsKey)) continue;
            var first = byName[sum.Inputs[0]];
            int axis = first.Axis, channels = first.Shape[axis], inner = 1;
            for (int d = axis + 1; d < first.Shape.Length; d++) inner *= first.Shape[d];
            int length = first.Codes.Length / channels;
            var points = new List<(int Level, WeightPoint Point)>();
            for (int level = 1; level < sum.Inputs.Count; level++)
            {
                var lv = byName[sum.Inputs[level]];
                if (!lv.Shape.SequenceEqual(first.Shape) || lv.Scales.Length != channels)
                    throw invalid($"Sum '{sum.Name}': multipoint level '{sum.Inputs[level]}' does not match the first point's shape and channels", sum.Name);
                for (int c = 0; c < channels; c++)
                {
                    var row = new sbyte[length];
                    int k = 0;
                    bool any = false;
                    for (int i = c * inner; i < lv.Codes.Length; i += channels * inner)
                        for (int e = 0; e < inner; e++) any |= (row[k++] = lv.Codes[i + e]) != 0;
                    if (any) points.Add((level, new WeightPoint(c, row, lv.Scales[c])));
                }
            }
            var output = sum.Outputs[0];
            var wq = new WeightQuantization
            {
                NodeName = "",
                WeightName = output,
                Shape = first.Shape,
                Axis = axis,
                Bits = 8,
                Codes = first.Codes,
                Scales = first.Scales,
                Method = "multipoint",
                Quantizer = WeightMethod.Multipoint,
                ExtraPoints = points.OrderBy(p => p.Point.Channel).ThenBy(p => p.Level).Select(p => p.Point).ToList(),
            };
            result[output] = wq;
            g.Initializers[output] = Tensor.FromFloats(wq.Dequantize(), first.Shape);
            foreach (var input in sum.Inputs) g.Initializers.Remove(input);
            remove.Add(sum);
        }
        return result;
    }
}
