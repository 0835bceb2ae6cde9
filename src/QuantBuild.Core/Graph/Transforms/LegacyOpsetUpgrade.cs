using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Graph.Transforms;

/// <summary>
/// Rewrites a graph of default-domain opset 1..6 into opset-7 form, so the kernels (which implement
/// opsets 7..21) run it with its original meaning. Only changes whose old semantics the ONNX
/// changelog documents are translated; anything else that changed before opset 7 is refused with
/// QB2007 naming the node and op, rather than run under rules the model was not written for.
/// </summary>
/// <remarks>
/// What changed before opset 7, and what this does about it:
/// <list type="bullet">
/// <item><c>consumed_inputs</c> (opset &lt; 6) was an in-place hint with no effect on values: dropped.</item>
/// <item>Binary ops' <c>broadcast</c>/<c>axis</c> (opset &lt; 7, "limited broadcasting"): B is A's shape
/// suffix by default, or aligned at <c>axis</c>. Suffix matching is a special case of numpy
/// broadcasting, so the attributes just go; an axis-aligned B gets trailing 1-dims appended (a reshaped
/// initializer, or an Unsqueeze node for a computed B) so numpy broadcasting aligns it the same way.</item>
/// <item>Gemm's <c>broadcast</c> (opset &lt; 7): C broadcast by the same suffix rule, which numpy's
/// unidirectional broadcast to [M, N] reproduces: dropped.</item>
/// <item>BatchNormalization / Dropout <c>is_test</c> (opset &lt; 7): test mode is what opset 7 means;
/// training mode (is_test = 0) and the training-only extra outputs are refused.</item>
/// <item>PRelu (opset &lt; 7): a slope of C values is per channel (axis 1); it is reshaped to [C, 1, ...].</item>
/// <item>Concat without <c>axis</c> (opset &lt; 4) means axis 1; Reshape's <c>shape</c> attribute (opset &lt; 5)
/// becomes the shape input; Pad's <c>paddings</c> (opset 1) is <c>pads</c>; Split's optional second
/// input (opset 1) becomes the <c>split</c> attribute when constant; Cast's string <c>to</c> (opset &lt; 6)
/// becomes the element-type number; Selu's opset-1 defaults (alpha 1.6732, gamma 1.0507) are written out.</item>
/// <item>Refused: Upsample (opset &lt; 7: experimental, different attributes), Tile (opset &lt; 6: tiles/axis
/// inputs), recurrent ops (opset &lt; 7: output_sequence), BatchNormalization spatial = 0.</item>
/// </list>
/// </remarks>
public static class LegacyOpsetUpgrade
{
    /// <summary>The opset the rewritten graph is in.</summary>
    public const int TargetOpset = 7;

    private static readonly HashSet<string> LimitedBroadcastOps = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less",
    };

    /// <summary>Upgrades <paramref name="graph"/> in place when its opset is below 7; no-op otherwise.</summary>
    public static void Apply(ModelGraph graph)
    {
        int opset = graph.OpsetVersion;
        if (opset >= TargetOpset) return;
        var ranks = new RankResolver(graph);
        // Nodes are in topological order; inserted helper nodes go right before their consumer.
        for (int i = 0; i < graph.Nodes.Count; i++)
        {
            var node = graph.Nodes[i];
            if (node.Domain.Length != 0) continue;
            int inserted = UpgradeNode(graph, node, opset, i, ranks);
            i += inserted;
        }
        graph.OpsetVersion = TargetOpset;
    }

    private static QuantBuildException Refuse(ModelGraph graph, Node node, int opset, string what) =>
        new(DiagnosticCodes.UnsupportedOpset,
            $"{node.OpType} node '{node.Name}': {what} (opset {opset}); QuantBuild upgrades opset < {TargetOpset} models only where the old meaning is documented",
            graph.SourcePath, node: node.Name);

    /// <summary>Rewrites one node; returns how many nodes were inserted before it.</summary>
    private static int UpgradeNode(ModelGraph graph, Node node, int opset, int index, RankResolver ranks)
    {
        node.Attributes.Remove("consumed_inputs");
        int inserted = 0;
        switch (node.OpType)
        {
            case var op when LimitedBroadcastOps.Contains(op):
                inserted = UpgradeLimitedBroadcast(graph, node, opset, index, ranks);
                break;
            case "Gemm":
                node.Attributes.Remove("broadcast");
                break;
            case "BatchNormalization":
                UpgradeBatchNorm(graph, node, opset);
                break;
            case "Dropout":
                if (node.GetInt("is_test", 0) == 0)
                    throw Refuse(graph, node, opset, "is_test = 0 asks for training-mode (random) dropout");
                node.Attributes.Remove("is_test");
                if (node.Outputs.Count > 1 && node.Outputs[1].Length > 0 && IsRead(graph, node.Outputs[1]))
                    throw Refuse(graph, node, opset, "the mask output is read, but in test mode it is not filled");
                if (node.Outputs.Count > 1) node.Outputs.RemoveRange(1, node.Outputs.Count - 1);
                break;
            case "PRelu":
                UpgradePRelu(graph, node, opset, ranks);
                break;
            case "Concat":
                if (!node.HasAttribute("axis")) node.SetInt("axis", 1);
                break;
            case "Reshape":
                if (node.GetInts("shape") is { } shape)
                {
                    if (node.HasInput(1))
                        throw Refuse(graph, node, opset, "both a shape attribute and a shape input");
                    var name = graph.UniqueName(node.Name + "_shape");
                    graph.Initializers[name] = Tensor.FromInt64(shape, shape.Length);
                    node.Attributes.Remove("shape");
                    if (node.Inputs.Count < 2) node.Inputs.Add(name); else node.Inputs[1] = name;
                }
                break;
            case "Pad":
                if (node.Attributes.Remove("paddings", out var paddings))
                {
                    if (node.HasAttribute("pads"))
                        throw Refuse(graph, node, opset, "both paddings and pads attributes");
                    node.SetInts("pads", paddings.Ints);
                }
                break;
            case "Split":
                if (opset < 2)
                {
                    if (!node.HasAttribute("axis"))
                        throw Refuse(graph, node, opset, "no axis attribute, and Split-1 documents no default axis");
                    if (node.HasInput(1))
                    {
                        if (!graph.Initializers.TryGetValue(node.Inputs[1], out var split))
                            throw Refuse(graph, node, opset, "the split lengths are a computed input, which opset 7 can only take as an attribute");
                        node.SetInts("split", split.ToInt64Array());
                    }
                    if (node.Inputs.Count > 1) node.Inputs.RemoveRange(1, node.Inputs.Count - 1);
                }
                break;
            case "Cast":
                if (node.Attributes.TryGetValue("to", out var to) && (to.Type == AttributeProto.Types.AttributeType.String || (to.Type == AttributeProto.Types.AttributeType.Undefined && !to.S.IsEmpty)))
                {
                    var typeName = to.S.ToStringUtf8();
                    if (!Enum.TryParse<TensorProto.Types.DataType>(typeName, ignoreCase: true, out var dt) || dt == TensorProto.Types.DataType.Undefined)
                        throw Refuse(graph, node, opset, $"'to' names an unknown element type '{typeName}'");
                    node.SetInt("to", (long)dt);
                }
                break;
            case "Selu":
                if (opset < 6)
                {
                    // Selu-1's documented defaults differ from Selu-6's (1.67326..., 1.05070...).
                    if (!node.HasAttribute("alpha")) node.SetFloat("alpha", 1.6732f);
                    if (!node.HasAttribute("gamma")) node.SetFloat("gamma", 1.0507f);
                }
                break;
            case "Upsample":
                throw Refuse(graph, node, opset, "Upsample before opset 7 was experimental with different attributes");
            case "Tile" when opset < 6:
                throw Refuse(graph, node, opset, "Tile before opset 6 takes tiles and axis inputs");
            case "RNN" or "GRU" or "LSTM":
                throw Refuse(graph, node, opset, "recurrent ops before opset 7 have an output_sequence attribute with no opset-7 equivalent");
        }
        if (node.HasAttribute("is_test"))
            throw Refuse(graph, node, opset, "unexpected is_test attribute");
        return inserted;
    }

    private static bool IsRead(ModelGraph graph, string value) =>
        graph.IsGraphOutput(value) || graph.Nodes.Any(n => n.Inputs.Contains(value));

    private static int UpgradeLimitedBroadcast(ModelGraph graph, Node node, int opset, int index, RankResolver ranks)
    {
        bool broadcast = node.GetInt("broadcast", 0) != 0;
        bool hasAxis = node.Attributes.TryGetValue("axis", out var axisAttr);
        node.Attributes.Remove("broadcast");
        node.Attributes.Remove("axis");
        // Without broadcast the shapes must already be equal; with suffix matching numpy agrees.
        if (!broadcast || !hasAxis || node.Inputs.Count < 2) return 0;

        string b = node.Inputs[1];
        int rankA = ranks.RankOf(node.Inputs[0], index) ?? throw Refuse(graph, node, opset, "broadcast with an axis needs A's rank, which cannot be determined");
        int rankB = ranks.RankOf(b, index) ?? throw Refuse(graph, node, opset, "broadcast with an axis needs B's rank, which cannot be determined");
        long axis = axisAttr!.I < 0 ? axisAttr.I + rankA : axisAttr.I;
        if (axis < 0 || axis + rankB > rankA)
            throw Refuse(graph, node, opset, $"broadcast axis {axisAttr.I} does not place a rank-{rankB} B inside a rank-{rankA} A");
        // The result has A's shape: B's dims must equal A's from axis on, or be 1 (the changelog says
        // "1-dim expansion doesn't work yet", but PyTorch's exporter relies on it and the ONNX
        // backend tests expect it). Where both shapes are static, check it, since numpy broadcasting
        // would also accept a 1 in A against a larger B and change the result's shape.
        if (ranks.StaticShapeOf(node.Inputs[0]) is { } shapeA && ranks.StaticShapeOf(b) is { } shapeB
            && Enumerable.Range(0, rankB).Any(k => shapeB[k] != 1 && shapeB[k] != shapeA[axis + k]))
            throw Refuse(graph, node, opset, $"B [{string.Join(",", shapeB)}] and A [{string.Join(",", shapeA)}] from axis {axis} do not match");
        int trailing = rankA - (int)axis - rankB;
        if (trailing == 0) return 0;

        if (graph.Initializers.TryGetValue(b, out var constant))
        {
            var name = graph.UniqueName(b + "_aligned");
            graph.Initializers[name] = constant.Reshape([.. constant.Shape, .. Enumerable.Repeat(1, trailing)]);
            node.Inputs[1] = name;
            return 0;
        }
        // A computed B: Unsqueeze-1 (axes attribute) appends the trailing 1-dims whatever B's sizes are.
        var output = graph.UniqueName(b + "_aligned");
        var unsqueeze = new Node(graph.UniqueName(node.Name + "_align_B"), "Unsqueeze", [b], [output]);
        unsqueeze.SetInts("axes", Enumerable.Range(rankB, trailing).Select(i => (long)i));
        graph.Nodes.Insert(index, unsqueeze);
        ranks.Known[output] = rankA - (int)axis;
        node.Inputs[1] = output;
        return 1;
    }

    private static void UpgradeBatchNorm(ModelGraph graph, Node node, int opset)
    {
        if (node.GetInt("spatial", 1) == 0)
            throw Refuse(graph, node, opset, "spatial = 0 (per-activation statistics)");
        if (node.GetInt("is_test", 0) == 0)
            throw Refuse(graph, node, opset, "is_test = 0 asks for training mode (batch statistics)");
        node.Attributes.Remove("is_test");
        node.Attributes.Remove("spatial");
        for (int k = 1; k < node.Outputs.Count; k++)
            if (node.Outputs[k].Length > 0 && IsRead(graph, node.Outputs[k]))
                throw Refuse(graph, node, opset, $"output {k} ('{node.Outputs[k]}') is a training-mode statistic, not filled in test mode");
        if (node.Outputs.Count > 1) node.Outputs.RemoveRange(1, node.Outputs.Count - 1);
    }

    private static void UpgradePRelu(ModelGraph graph, Node node, int opset, RankResolver ranks)
    {
        if (node.Inputs.Count < 2) return;
        var slopeName = node.Inputs[1];
        if (!graph.Initializers.TryGetValue(slopeName, out var slope))
            throw Refuse(graph, node, opset, "a computed slope: the per-channel layout of the old PRelu needs a constant slope to translate");
        if (slope.Length == 1) return; // shared slope: numpy broadcasting agrees
        int index = graph.Nodes.IndexOf(node);
        int rankX = ranks.RankOf(node.Inputs[0], index) ?? throw Refuse(graph, node, opset, "X's rank cannot be determined");
        if (slope.Rank != 1)
            throw Refuse(graph, node, opset, $"slope of shape {slope.ShapeString}: the old PRelu documents only a shared or a per-channel slope");
        if (rankX < 2) throw Refuse(graph, node, opset, $"per-channel slope of {slope.Length} values for a rank-{rankX} X");
        if (rankX == 2) return; // [N, C]: the channel axis is the last one, where numpy aligns [C]
        var name = graph.UniqueName(slopeName + "_per_channel");
        graph.Initializers[name] = slope.Reshape([slope.Length, .. Enumerable.Repeat(1, rankX - 2)]);
        node.Inputs[1] = name;
    }

    /// <summary>
    /// Ranks of values, for the rewrites that need A's or X's rank: from initializers, declared graph
    /// inputs and value infos, or else by running the already-upgraded nodes before the consumer on
    /// synthetic inputs (the kernels know each op's shape rules; the rank does not depend on sizes).
    /// </summary>
    private sealed class RankResolver(ModelGraph graph)
    {
        public Dictionary<string, int> Known { get; } = new(StringComparer.Ordinal);

        /// <summary>The value's sizes when they are all declared (initializer, input or value info); else null.</summary>
        public long[]? StaticShapeOf(string name)
        {
            if (graph.Initializers.TryGetValue(name, out var t)) return t.Shape.Select(d => (long)d).ToArray();
            var declared = graph.Inputs.FirstOrDefault(i => i.Name == name)?.Shape
                ?? (graph.ValueInfos.TryGetValue(name, out var vi) ? vi.Shape : null);
            return declared is not null && declared.All(d => d is not null) ? declared.Select(d => d!.Value).ToArray() : null;
        }

        public int? RankOf(string name, int consumerIndex)
        {
            if (Known.TryGetValue(name, out var r)) return r;
            if (graph.Initializers.TryGetValue(name, out var t)) return t.Rank;
            if (graph.Inputs.FirstOrDefault(i => i.Name == name) is { } input) return input.Shape?.Length;
            if (graph.ValueInfos.TryGetValue(name, out var vi) && vi.Shape is { } s) return s.Length;
            if (graph.Inputs.Any(i => i.Shape is null)) return null;
            var prefix = new ModelGraph { OpsetVersion = TargetOpset, SourcePath = graph.SourcePath, Name = graph.Name };
            prefix.Nodes.AddRange(graph.Nodes.Take(consumerIndex));
            foreach (var (k, v) in graph.Initializers) prefix.Initializers[k] = v;
            prefix.Inputs.AddRange(graph.Inputs);
            prefix.Outputs.Add(new ValueInfo(name, DataType.Undefined, null));
            prefix.RemoveDeadNodes();
            try
            {
                var engine = new InferenceEngine(prefix, new EngineOptions { MaxDegreeOfParallelism = 1 });
                var values = engine.Run(Transforms.ShapeInference.SyntheticInputs(prefix, null, 1));
                if (!values.TryGetValue(name, out var value)) return null;
                Known[name] = value.Rank;
                return value.Rank;
            }
            catch (QuantBuildException)
            {
                return null;
            }
        }
    }
}
