using QuantBuild.Graph;
using QuantBuild.Quantization;
using QuantBuild.Tensors;

namespace QuantBuild.Emit;

/// <summary>
/// Codebook weights (LogQuant, WEQ) in a QDQ file, as a subgraph ONNX Runtime runs and
/// <see cref="QdqOnnxImporter"/> recognises:
/// <code>
/// levels int8 [T, 2^b] ─DequantizeLinear(scale [T], axis 0)→ Reshape [T·2^b] ─┐
/// indices uint8 (weight shape) ─Cast(int32)→ Add(channel offsets c·2^b) ──────┴→ Gather(axis 0) → weight
/// </code>
/// With one table (T = 1) the scale is a scalar and there is no Add. The Gather's output keeps the weight's
/// name, so the Conv/Gemm/MatMul reads it unchanged; its values are level·scale, exactly the weights the
/// integer runtime multiplies by. Indices are stored one per byte (ONNX Gather takes no packed indices).
/// One table shared by channels with their own scales (LogQuant per channel) gathers the int8 levels first and
/// dequantizes them like linear int8 weights, per channel along the weight's axis:
/// <code>
/// levels int8 [2^b] ───────────────────────────┐
/// indices uint8 (weight shape) ─Cast(int32)────┴→ Gather(axis 0) → int8 levels ─DequantizeLinear(scale [C], axis)→ weight
/// </code>
/// </summary>
internal static class QdqCodebook
{
    public static void EmitWeight(ModelGraph g, WeightQuantization w, Func<string, string> fresh, List<Node> prefix)
    {
        var tables = w.CodebookLevels ?? throw new InvalidOperationException($"codebook weight '{w.WeightName}' has no int8 level tables");
        if (tables.Length == 1 && w.Scales.Length > 1)
        {
            EmitShared(g, w, tables[0], fresh, prefix);
            return;
        }
        int entries = 1 << w.Bits;
        int count = tables.Length;
        var levels = fresh(w.WeightName + "_codebook_levels");
        var scale = fresh(w.WeightName + "_codebook_scale");
        var table = fresh(w.WeightName + "_codebook");
        var flatShape = fresh(w.WeightName + "_codebook_flat_shape");
        var flat = fresh(w.WeightName + "_codebook_flat");
        g.Initializers.Remove(w.WeightName);
        g.Initializers[levels] = new Tensor(DataType.Int8, [count, entries], tables.SelectMany(t => t).ToArray());
        g.Initializers[scale] = count > 1 ? Tensor.FromFloats((float[])w.Scales.Clone(), count) : Tensor.Scalar(w.Scales[0]);
        g.Initializers[flatShape] = new Tensor(DataType.Int64, [1], new long[] { (long)count * entries });
        var dq = new Node(fresh(w.WeightName + "_codebook_DequantizeLinear"), "DequantizeLinear", [levels, scale], [table]);
        if (count > 1) dq.SetInt("axis", 0);
        prefix.Add(dq);
        prefix.Add(new Node(fresh(w.WeightName + "_codebook_Reshape"), "Reshape", [table, flatShape], [flat]));
        var wide = WideIndices(g, w, fresh, prefix);
        var gatherIndices = wide;
        if (count > 1)
        {
            // Channel c reads table c: index + c·entries, broadcast along the output-channel axis.
            var offsetShape = w.Shape.Select((d, i) => i == w.Axis ? d : 1).ToArray();
            var offsets = fresh(w.WeightName + "_codebook_offsets");
            g.Initializers[offsets] = new Tensor(DataType.Int32, offsetShape, Enumerable.Range(0, count).Select(c => c * entries).ToArray());
            gatherIndices = fresh(w.WeightName + "_codebook_indices_offset");
            prefix.Add(new Node(fresh(w.WeightName + "_codebook_Add"), "Add", [wide, offsets], [gatherIndices]));
        }
        var gather = new Node(fresh(w.WeightName + "_codebook_Gather"), "Gather", [flat, gatherIndices], [w.WeightName]);
        gather.SetInt("axis", 0);
        prefix.Add(gather);
    }

    /// <summary>One int8 table for every channel: Gather the levels, then DequantizeLinear with the channels' scales.</summary>
    private static void EmitShared(ModelGraph g, WeightQuantization w, sbyte[] table, Func<string, string> fresh, List<Node> prefix)
    {
        var levels = fresh(w.WeightName + "_codebook_levels");
        var scale = fresh(w.WeightName + "_codebook_scale");
        var gathered = fresh(w.WeightName + "_codebook_gathered");
        g.Initializers.Remove(w.WeightName);
        g.Initializers[levels] = new Tensor(DataType.Int8, [table.Length], (sbyte[])table.Clone());
        g.Initializers[scale] = Tensor.FromFloats((float[])w.Scales.Clone(), w.Scales.Length);
        var gather = new Node(fresh(w.WeightName + "_codebook_Gather"), "Gather", [levels, WideIndices(g, w, fresh, prefix)], [gathered]);
        gather.SetInt("axis", 0);
        prefix.Add(gather);
        var dq = new Node(fresh(w.WeightName + "_codebook_DequantizeLinear"), "DequantizeLinear", [gathered, scale], [w.WeightName]);
        dq.SetInt("axis", w.Axis);
        prefix.Add(dq);
    }

    /// <summary>The indices, one uint8 per weight in the weight's shape, cast to the int32 Gather takes.</summary>
    private static string WideIndices(ModelGraph g, WeightQuantization w, Func<string, string> fresh, List<Node> prefix)
    {
        var indices = fresh(w.WeightName + "_codebook_indices");
        var wide = fresh(w.WeightName + "_codebook_indices_int32");
        g.Initializers[indices] = new Tensor(DataType.UInt8, w.Shape, w.Codes.Select(c => unchecked((byte)c)).ToArray());
        var cast = new Node(fresh(w.WeightName + "_codebook_Cast"), "Cast", [indices], [wide]);
        cast.SetInt("to", (long)DataType.Int32);
        prefix.Add(cast);
        return wide;
    }

    /// <summary>The bias as int32 at s_in·s_w[j] (as for linear weights); false when it is not a per-channel float constant.</summary>
    public static bool EmitBias(ModelGraph g, string biasName, WeightQuantization w, float inputScale, Func<string, string> fresh, List<Node> prefix)
    {
        if (!g.Initializers.TryGetValue(biasName, out var bias) || bias.Type != DataType.Float || bias.Rank != 1 || bias.Length != w.Shape[w.Axis]) return false;
        var (codes, scales) = QdqOnnxEmitter.QuantizeBias(bias.Floats, inputScale, w.Scales);
        var bq = fresh(biasName + "_quantized");
        var bs = fresh(biasName + "_scale");
        g.Initializers.Remove(biasName);
        g.Initializers[bq] = new Tensor(DataType.Int32, [codes.Length], codes);
        g.Initializers[bs] = Tensor.FromFloats(scales, scales.Length);
        var bdq = new Node(fresh(biasName + "_DequantizeLinear"), "DequantizeLinear", [bq, bs], [biasName]);
        bdq.SetInt("axis", 0);
        prefix.Add(bdq);
        return true;
    }
}

/// <summary>
/// A codebook weight recognised in a QDQ file: the float weight's name, indices, tables and their scales
/// (one per table, or one per channel along <see cref="Axis"/> for a single shared table).
/// </summary>
internal sealed record ImportedCodebook(string FloatName, int[] Shape, int? Axis, sbyte[] Indices, sbyte[][] Tables, float[] Scales);

internal static class QdqCodebookImport
{
    /// <summary>
    /// Finds every <see cref="QdqCodebook"/> subgraph, replaces it by the decoded float weight (an initializer
    /// under the Gather's output name) and returns what it held.
    /// </summary>
    public static List<ImportedCodebook> Extract(ModelGraph g)
    {
        var result = new List<ImportedCodebook>();
        var producers = g.Producers();
        var consumers = g.Consumers();
        var remove = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var constants = new List<string>();
        bool Only(string value) => consumers.TryGetValue(value, out var c) && c.Count == 1;
        foreach (var gather in g.Nodes.Where(n => n.OpType == "Gather" && n.Inputs.Count == 2 && n.GetInt("axis", 0) == 0))
        {
            if (!producers.TryGetValue(gather.Inputs[0], out var reshape) || reshape.OpType != "Reshape" || !Only(gather.Inputs[0])) continue;
            if (!producers.TryGetValue(reshape.Inputs[0], out var dq) || dq.OpType != "DequantizeLinear" || !Only(reshape.Inputs[0])) continue;
            if (!g.Initializers.TryGetValue(dq.Inputs[0], out var levels) || levels.Type != DataType.Int8 || levels.Rank != 2) continue;
            if (!dq.HasInput(1) || !g.Initializers.TryGetValue(dq.Inputs[1], out var scale)) continue;
            if (dq.HasInput(2) && g.Initializers.TryGetValue(dq.Inputs[2], out var zp) && zp.ToFloatArray().Any(z => z != 0)) continue;
            if (!producers.TryGetValue(gather.Inputs[1], out var indexNode)) continue;
            Node? add = null;
            int[]? offsetShape = null;
            if (indexNode.OpType == "Add")
            {
                add = indexNode;
                var offsetName = add.Inputs.FirstOrDefault(i => g.Initializers.ContainsKey(i));
                var castOut = add.Inputs.FirstOrDefault(i => !g.Initializers.ContainsKey(i));
                if (offsetName is null || castOut is null || !producers.TryGetValue(castOut, out indexNode)) continue;
                offsetShape = g.Initializers[offsetName].Shape.ToArray();
                constants.Add(offsetName);
            }
            if (indexNode.OpType != "Cast" || !g.Initializers.TryGetValue(indexNode.Inputs[0], out var indices) || indices.Type != DataType.UInt8) continue;
            int count = levels.Shape[0], entries = levels.Shape[1];
            var flat = levels.Int8s;
            var tables = Enumerable.Range(0, count).Select(t => flat.AsSpan(t * entries, entries).ToArray()).ToArray();
            var scales = scale.Floats.Length == count ? scale.Floats.ToArray() : Enumerable.Repeat(scale.Floats[0], count).ToArray();
            var raw = indices.UInt8s;
            int[] shape = indices.Shape.ToArray();
            int? axis = count > 1 && offsetShape is not null ? Array.FindIndex(offsetShape, d => d == count) : null;
            var values = new float[raw.Length];
            int inner = 1;
            if (axis is int a) for (int d = a + 1; d < shape.Length; d++) inner *= shape[d];
            for (int i = 0; i < raw.Length; i++)
            {
                int t = axis is null ? 0 : i / inner % count;
                values[i] = tables[t][raw[i]] * scales[t];
            }
            g.Initializers[gather.Outputs[0]] = Tensor.FromFloats(values, shape);
            result.Add(new ImportedCodebook(gather.Outputs[0], shape, axis, raw.Select(b => unchecked((sbyte)b)).ToArray(), tables, scales));
            remove.UnionWith(add is null ? [gather, reshape, dq, indexNode] : [gather, reshape, dq, indexNode, add]);
            constants.AddRange([dq.Inputs[0], dq.Inputs[1], reshape.Inputs[1], indexNode.Inputs[0]]);
            if (dq.HasInput(2)) constants.Add(dq.Inputs[2]);
        }
        ExtractShared(g, producers, Only, result, remove, constants);
        g.Nodes.RemoveAll(remove.Contains);
        foreach (var c in constants) g.Initializers.Remove(c);
        return result;
    }

    /// <summary>The shared-table form: DequantizeLinear(scale [C], axis) of a Gather of int8 levels [2^b] by Cast(uint8 indices).</summary>
    private static void ExtractShared(ModelGraph g, Dictionary<string, Node> producers, Func<string, bool> only,
        List<ImportedCodebook> result, HashSet<Node> remove, List<string> constants)
    {
        foreach (var dq in g.Nodes.Where(n => n.OpType == "DequantizeLinear" && n.Inputs.Count >= 2))
        {
            if (!producers.TryGetValue(dq.Inputs[0], out var gather) || gather.OpType != "Gather" || gather.Inputs.Count != 2
                || gather.GetInt("axis", 0) != 0 || !only(dq.Inputs[0])) continue;
            if (!g.Initializers.TryGetValue(gather.Inputs[0], out var levels) || levels.Type != DataType.Int8 || levels.Rank != 1) continue;
            if (!g.Initializers.TryGetValue(dq.Inputs[1], out var scale) || scale.Type != DataType.Float || scale.Rank != 1) continue;
            if (dq.HasInput(2) && g.Initializers.TryGetValue(dq.Inputs[2], out var zp) && zp.ToFloatArray().Any(z => z != 0)) continue;
            if (!producers.TryGetValue(gather.Inputs[1], out var cast) || cast.OpType != "Cast" || !only(gather.Inputs[1])) continue;
            if (!g.Initializers.TryGetValue(cast.Inputs[0], out var indices) || indices.Type != DataType.UInt8) continue;
            int[] shape = indices.Shape.ToArray();
            int axis = (int)dq.GetInt("axis", 1);
            if (axis < 0) axis += shape.Length;
            if (axis < 0 || axis >= shape.Length || shape[axis] != scale.Length) continue;
            var table = levels.Int8s.ToArray();
            var scales = scale.Floats.ToArray();
            var raw = indices.UInt8s;
            if (raw.Any(i => i >= table.Length)) continue;
            int inner = 1;
            for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
            var values = new float[raw.Length];
            for (int i = 0; i < raw.Length; i++) values[i] = table[raw[i]] * scales[i / inner % scales.Length];
            g.Initializers[dq.Outputs[0]] = Tensor.FromFloats(values, shape);
            result.Add(new ImportedCodebook(dq.Outputs[0], shape, axis, raw.Select(b => unchecked((sbyte)b)).ToArray(), [table], scales));
            remove.UnionWith([dq, gather, cast]);
            constants.AddRange([gather.Inputs[0], dq.Inputs[1], cast.Inputs[0]]);
            if (dq.HasInput(2)) constants.Add(dq.Inputs[2]);
        }
    }
}
