using System.Text.Json;
using QuantBuild.Configuration;
using QuantBuild.Graph;
using QuantBuild.Quantization;

namespace QuantBuild.Emit;

/// <summary>
/// The QDQ form of level-coded activations (<see cref="QuantizedModel.LevelActivations"/>), both ways: the
/// metadata entry that carries each grid exactly (levels, thresholds, int16 table), and on import the removal of
/// the emitter's QuantizeLinear → Cast → Add → Gather chain, whose readers go back to the dequantized value.
/// </summary>
internal static class QdqLevels
{
    public static void WriteMetadata(Utf8JsonWriter json, QuantizedModel model, IReadOnlyDictionary<string, string> decodedNames)
    {
        if (model.LevelActivations.Count == 0) return;
        json.WriteStartObject("levelActivations");
        foreach (var (name, l) in model.LevelActivations.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            json.WriteStartObject(name);
            json.WriteString("grid", SidecarParser.ActivationLevels[(int)l.Grid]);
            // The Gather output the consumers read: the importer turns the chain back into this activation.
            json.WriteString("decoded", decodedNames[name]);
            json.WriteNumber("bits", l.Bits);
            json.WriteNumber("step", l.Step);
            json.WriteNumber("offset", l.Offset);
            if (double.IsFinite(l.WeightedEntropy)) json.WriteNumber("weightedEntropy", l.WeightedEntropy);
            json.WriteNumber("tableScale", l.TableScale);
            json.WriteStartArray("levels");
            foreach (var v in l.Levels) json.WriteNumberValue(v);
            json.WriteEndArray();
            json.WriteStartArray("thresholds");
            foreach (var v in l.Thresholds) json.WriteNumberValue(v);
            json.WriteEndArray();
            json.WriteStartArray("tableLevels");
            foreach (var v in l.TableLevels) json.WriteNumberValue(v);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndObject();
    }

    /// <summary>The grids recorded in the metadata (empty when there are none), rebuilt on the imported linear activations.</summary>
    public static Dictionary<string, JsonElement> ReadMetadata(JsonElement root)
    {
        var result = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        if (root.TryGetProperty("levelActivations", out var levels))
            foreach (var l in levels.EnumerateObject()) result[l.Name] = l.Value.Clone();
        return result;
    }

    public static LogActivationQuantization Rebuild(JsonElement e, ActivationQuantization linear)
    {
        var grid = (ActivationLevelGrid)Array.IndexOf(SidecarParser.ActivationLevels, e.GetProperty("grid").GetString());
        if ((int)grid < 0) throw new InvalidOperationException($"unknown level grid '{e.GetProperty("grid").GetString()}'");
        return new LogActivationQuantization(linear.Name, grid, e.GetProperty("bits").GetInt32(), linear,
            e.GetProperty("levels").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
            e.GetProperty("thresholds").EnumerateArray().Select(v => v.GetDouble()).ToArray(),
            e.GetProperty("tableScale").GetSingle(),
            e.GetProperty("tableLevels").EnumerateArray().Select(v => v.GetInt16()).ToArray())
        {
            Step = e.GetProperty("step").GetInt32(),
            Offset = e.GetProperty("offset").GetInt32(),
            WeightedEntropy = e.TryGetProperty("weightedEntropy", out var s) ? s.GetDouble() : double.NaN,
        };
    }

    /// <summary>
    /// Replaces every level decode chain the metadata names (QuantizeLinear → Cast → Add → Gather) by the plain
    /// DequantizeLinear of the activation (the emitter drops that one when only level readers remain): the
    /// Gather's readers read the activation under its own name again, and the pair is an ordinary Q/DQ pair.
    /// Returns the constants the chains used (to drop) — the grids themselves come from the metadata.
    /// </summary>
    public static List<string> RemoveDecodes(ModelGraph g, IReadOnlyDictionary<string, JsonElement> levels)
    {
        var decoded = levels.ToDictionary(kv => kv.Value.GetProperty("decoded").GetString()!, kv => kv.Key, StringComparer.Ordinal);
        var producers = g.Producers();
        var consumers = g.Consumers();
        var constants = new List<string>();
        var removed = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var added = new List<Node>();
        foreach (var gather in g.Nodes.Where(n => n.OpType == "Gather" && decoded.ContainsKey(n.Outputs[0])))
        {
            if (!producers.TryGetValue(gather.Inputs[1], out var add) || add.OpType != "Add"
                || !producers.TryGetValue(add.Inputs[0], out var cast) || cast.OpType != "Cast"
                || !producers.TryGetValue(cast.Inputs[0], out var q) || q.OpType != "QuantizeLinear")
                throw new InvalidOperationException($"the level decode of '{decoded[gather.Outputs[0]]}' is not QuantizeLinear → Cast → Add → Gather");
            removed.UnionWith([cast, add, gather]);
            constants.Add(add.Inputs[1]);
            constants.Add(gather.Inputs[0]);
            var name = decoded[gather.Outputs[0]];
            var dq = consumers[cast.Inputs[0]].FirstOrDefault(n => n.OpType == "DequantizeLinear");
            if (dq is null)
            {
                dq = new Node(name + "_DequantizeLinear", "DequantizeLinear", [cast.Inputs[0], .. q.Inputs.Skip(1)], [name]);
                added.Add(dq);
            }
            foreach (var n in g.Nodes)
                for (int k = 0; k < n.Inputs.Count; k++)
                    if (n.Inputs[k] == gather.Outputs[0]) n.Inputs[k] = dq.Outputs[0];
        }
        g.Nodes.RemoveAll(removed.Contains);
        g.Nodes.AddRange(added);
        return constants;
    }
}
