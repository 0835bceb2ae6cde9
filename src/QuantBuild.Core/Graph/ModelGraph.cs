using QuantBuild.Diagnostics;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Graph;

/// <summary>
/// QuantBuild's in-memory model: nodes in topological order, constant tensors (initializers and
/// former Constant nodes), graph inputs/outputs and whatever is known about intermediate values.
/// </summary>
public sealed class ModelGraph
{
    public List<Node> Nodes { get; } = new();

    /// <summary>Constant tensors by name, in a stable (insertion) order so exports are deterministic.</summary>
    public OrderedDictionary<string, Tensor> Initializers { get; } = new(StringComparer.Ordinal);

    public List<ValueInfo> Inputs { get; } = new();
    public List<ValueInfo> Outputs { get; } = new();

    /// <summary>Known types/shapes of intermediate values (from the file or from shape inference).</summary>
    public Dictionary<string, ValueInfo> ValueInfos { get; } = new(StringComparer.Ordinal);

    /// <summary>Opset version of the default ONNX domain.</summary>
    public int OpsetVersion { get; set; }
    public long IrVersion { get; set; }
    public string Name { get; set; } = "";

    /// <summary>File the graph came from, for diagnostics.</summary>
    public string? SourcePath { get; set; }

    /// <summary>The imported model message, kept so an export can carry producer, metadata and functions forward.</summary>
    public ModelProto? SourceModel { get; set; }

    /// <summary>
    /// Where nodes that stand for an If whose condition depends on the data, by node name → the If's name
    /// (<see cref="Transforms.IfInlining"/>): shape inference checks that their two branches agree in shape.
    /// </summary>
    public Dictionary<string, string> IfSelects { get; } = new(StringComparer.Ordinal);

    public bool IsConstant(string name) => Initializers.ContainsKey(name);

    /// <summary>Map from value name to the node producing it.</summary>
    public Dictionary<string, Node> Producers()
    {
        var map = new Dictionary<string, Node>(StringComparer.Ordinal);
        foreach (var n in Nodes)
            foreach (var o in n.Outputs)
                if (o.Length > 0) map[o] = n;
        return map;
    }

    /// <summary>Map from value name to the nodes consuming it (in node order).</summary>
    public Dictionary<string, List<Node>> Consumers()
    {
        var map = new Dictionary<string, List<Node>>(StringComparer.Ordinal);
        foreach (var n in Nodes)
            foreach (var i in n.Inputs)
            {
                if (i.Length == 0) continue;
                if (!map.TryGetValue(i, out var list)) map[i] = list = new List<Node>();
                if (!list.Contains(n)) list.Add(n);
            }
        return map;
    }

    public bool IsGraphOutput(string name) => Outputs.Any(o => o.Name == name);

    /// <summary>
    /// Re-sorts nodes topologically (stable: keeps file order where it is already valid) and
    /// reports a cycle or a value nobody produces as QB2005 naming the node.
    /// </summary>
    public void SortTopologically()
    {
        var available = new HashSet<string>(StringComparer.Ordinal);
        foreach (var i in Inputs) available.Add(i.Name);
        foreach (var k in Initializers.Keys) available.Add(k);
        var pending = new List<Node>(Nodes);
        var sorted = new List<Node>(Nodes.Count);
        while (pending.Count > 0)
        {
            int before = sorted.Count;
            for (int i = 0; i < pending.Count; i++)
            {
                var n = pending[i];
                if (n.ReadNames.All(x => x.Length == 0 || available.Contains(x)))
                {
                    sorted.Add(n);
                    foreach (var o in n.Outputs) if (o.Length > 0) available.Add(o);
                    pending.RemoveAt(i);
                    i--;
                }
            }
            if (sorted.Count == before)
            {
                var stuck = pending[0];
                var missing = stuck.ReadNames.First(x => x.Length > 0 && !available.Contains(x));
                throw new QuantBuildException(DiagnosticCodes.GraphNotTopological,
                    $"{stuck.OpType} node '{stuck.Name}' reads '{missing}', which no input, initializer or node provides (or the graph has a cycle)",
                    SourcePath, node: stuck.Name);
            }
        }
        Nodes.Clear();
        Nodes.AddRange(sorted);
    }

    /// <summary>Removes nodes whose outputs nobody reads and initializers nobody uses.</summary>
    public void RemoveDeadNodes()
    {
        var live = new HashSet<string>(Outputs.Select(o => o.Name), StringComparer.Ordinal);
        for (int i = Nodes.Count - 1; i >= 0; i--)
        {
            var n = Nodes[i];
            if (n.Outputs.Any(live.Contains))
                foreach (var input in n.ReadNames) live.Add(input);
            else
                Nodes.RemoveAt(i);
        }
        foreach (var key in Initializers.Keys.Where(k => !live.Contains(k)).ToList())
            Initializers.Remove(key);
    }

    /// <summary>A fresh value name that collides with nothing in the graph.</summary>
    public string UniqueName(string stem)
    {
        var used = new HashSet<string>(Initializers.Keys, StringComparer.Ordinal);
        foreach (var n in Nodes) { used.UnionWith(n.Outputs); used.UnionWith(n.Inputs); used.Add(n.Name); }
        foreach (var i in Inputs) used.Add(i.Name);
        if (!used.Contains(stem)) return stem;
        for (int k = 1; ; k++)
            if (!used.Contains($"{stem}_{k}")) return $"{stem}_{k}";
    }
}
