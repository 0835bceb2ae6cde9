using QuantBuild.Diagnostics;
using QuantBuild.Tensors;

namespace QuantBuild.Graph.Transforms;

/// <summary>
/// Raises a graph to a newer default-domain opset, rewriting the operators whose signature changed on
/// the way. QDQ files need opset ≥ 13 (QuantizeLinear ≥ 10, per-axis scales ≥ 13); older models
/// (PaddleOCR is opset 9) are upgraded before calibration, so the float graph that is calibrated,
/// the QDQ file and the C# code all describe one graph. An operator whose old meaning cannot be
/// expressed is refused with QB4102 naming the node, never silently changed.
/// </summary>
public static class OpsetUpgrade
{
    public const int QdqMinimumOpset = 13;

    /// <summary>First opset with INT4 QuantizeLinear/DequantizeLinear (4-bit weights stored two per byte).</summary>
    public const int Int4Opset = 21;

    /// <summary>First opset with int16/uint16 QuantizeLinear/DequantizeLinear (16-bit activations, docs/wide-activations.md).</summary>
    public const int Int16ActivationOpset = 21;

    /// <returns>the number of nodes rewritten</returns>
    public static int Apply(ModelGraph graph, int targetOpset = QdqMinimumOpset)
    {
        int from = graph.OpsetVersion;
        if (from >= targetOpset) return 0;
        int rewritten = 0;
        foreach (var node in graph.Nodes.ToList())
        {
            if (node.Domain.Length != 0) continue;
            bool changed = node.OpType switch
            {
                "Clip" when from < 11 => ClipAttributesToInputs(graph, node),
                "Pad" when from < 11 => PadAttributesToInputs(graph, node),
                "Slice" when from < 10 => SliceAttributesToInputs(graph, node),
                "Squeeze" or "Unsqueeze" or "ReduceSum" when from < 13 && targetOpset >= 13 => AxesAttributeToInput(graph, node),
                "ReduceMean" or "ReduceMax" or "ReduceMin" or "ReduceProd" or "ReduceL1" or "ReduceL2" or "ReduceLogSum"
                    or "ReduceLogSumExp" or "ReduceSumSquare" when from < 18 && targetOpset >= 18 => AxesAttributeToInput(graph, node),
                "Split" when from < 13 && targetOpset >= 13 => SplitAttributeToInput(graph, node),
                "Softmax" or "LogSoftmax" or "Hardmax" when from < 13 && targetOpset >= 13 => CheckSoftmaxAxis(graph, node),
                "Upsample" => UpsampleToResize(graph, node, from),
                "Resize" when from < 11 => throw Refuse(graph, node, from, targetOpset, "Resize before opset 11 has no coordinate transformation mode to carry over"),
                "Dropout" when from < 12 => DropoutAttributes(node),
                _ => false,
            };
            if (changed) rewritten++;
        }
        graph.OpsetVersion = targetOpset;
        graph.SortTopologically();
        return rewritten;
    }

    private static QuantBuildException Refuse(ModelGraph graph, Node node, int from, int to, string why) =>
        new(DiagnosticCodes.CannotUpgradeOpset, $"{node.OpType} node '{node.Name}' cannot be upgraded from opset {from} to {to} for the QDQ file: {why}",
            graph.SourcePath, node: node.Name);

    private static string AddConstant(ModelGraph graph, Node node, string suffix, Tensor value)
    {
        var name = graph.UniqueName($"{node.Name}_{suffix}");
        graph.Initializers[name] = value;
        return name;
    }

    private static void SetInput(Node node, int index, string name)
    {
        while (node.Inputs.Count <= index) node.Inputs.Add("");
        node.Inputs[index] = name;
    }

    private static bool ClipAttributesToInputs(ModelGraph graph, Node node)
    {
        // Opset < 11: min/max attributes defaulting to the float extremes; from 11: optional inputs.
        float min = node.GetFloat("min", float.MinValue), max = node.GetFloat("max", float.MaxValue);
        node.Attributes.Remove("min");
        node.Attributes.Remove("max");
        if (min != float.MinValue) SetInput(node, 1, AddConstant(graph, node, "min", Tensor.Scalar(min)));
        if (max != float.MaxValue) SetInput(node, 2, AddConstant(graph, node, "max", Tensor.Scalar(max)));
        return true;
    }

    private static bool PadAttributesToInputs(ModelGraph graph, Node node)
    {
        var pads = node.GetInts("pads") ?? node.GetInts("paddings") ?? throw Refuse(graph, node, graph.OpsetVersion, QdqMinimumOpset, "it has no pads attribute");
        float value = node.GetFloat("value", 0f);
        node.Attributes.Remove("pads");
        node.Attributes.Remove("paddings");
        node.Attributes.Remove("value");
        SetInput(node, 1, AddConstant(graph, node, "pads", Tensor.FromInt64(pads, pads.Length)));
        if (value != 0f) SetInput(node, 2, AddConstant(graph, node, "value", Tensor.Scalar(value)));
        return true;
    }

    private static bool SliceAttributesToInputs(ModelGraph graph, Node node)
    {
        var starts = node.GetInts("starts")!;
        var ends = node.GetInts("ends")!;
        var axes = node.GetInts("axes");
        node.Attributes.Remove("starts");
        node.Attributes.Remove("ends");
        node.Attributes.Remove("axes");
        SetInput(node, 1, AddConstant(graph, node, "starts", Tensor.FromInt64(starts, starts.Length)));
        SetInput(node, 2, AddConstant(graph, node, "ends", Tensor.FromInt64(ends, ends.Length)));
        if (axes is not null) SetInput(node, 3, AddConstant(graph, node, "axes", Tensor.FromInt64(axes, axes.Length)));
        return true;
    }

    private static bool AxesAttributeToInput(ModelGraph graph, Node node)
    {
        var axes = node.GetInts("axes");
        if (axes is null) return false;
        node.Attributes.Remove("axes");
        SetInput(node, 1, AddConstant(graph, node, "axes", Tensor.FromInt64(axes, axes.Length)));
        return true;
    }

    private static bool SplitAttributeToInput(ModelGraph graph, Node node)
    {
        var split = node.GetInts("split");
        if (split is null) return false;
        node.Attributes.Remove("split");
        SetInput(node, 1, AddConstant(graph, node, "split", Tensor.FromInt64(split, split.Length)));
        return true;
    }

    private static bool DropoutAttributes(Node node)
    {
        // Inference-only: ratio became an input at 12; the output is the input either way.
        node.Attributes.Remove("ratio");
        node.Attributes.Remove("is_test");
        return true;
    }

    /// <summary>
    /// Before 13, Softmax flattened the input to 2-D at <c>axis</c> (default 1) and normalised each row;
    /// from 13 it normalises along one axis (default -1). The two agree when the axis is the last one;
    /// otherwise the old meaning is kept with Flatten → Softmax(axis 1) → Reshape back to the static shape.
    /// </summary>
    private static bool CheckSoftmaxAxis(ModelGraph graph, Node node)
    {
        long axis = node.GetInt("axis", 1);
        var info = graph.ValueInfos.TryGetValue(node.Inputs[0], out var vi) ? vi
            : graph.Inputs.FirstOrDefault(i => i.Name == node.Inputs[0]);
        int? rank = info?.Shape?.Length;
        if (rank is null)
            throw Refuse(graph, node, graph.OpsetVersion, QdqMinimumOpset, "the rank of its input is unknown, so the opset-13 axis meaning cannot be checked");
        long normalized = axis < 0 ? axis + rank.Value : axis;
        if (normalized == rank - 1)
        {
            node.SetInt("axis", normalized);
            return true;
        }
        if (info!.Shape is null || !info.IsFullyKnown)
            throw Refuse(graph, node, graph.OpsetVersion, QdqMinimumOpset,
                $"axis {axis} is not the last axis of its rank-{rank} input, and its shape {info.ShapeString} is not static, so the flatten-then-normalise semantics cannot be rebuilt");
        var flattened = graph.UniqueName($"{node.Name}_flat");
        var output = node.Outputs[0];
        var normalizedOut = graph.UniqueName($"{node.Name}_rows");
        var flatten = new Node(graph.UniqueName($"{node.Name}_flatten"), "Flatten", [node.Inputs[0]], [flattened]);
        flatten.SetInt("axis", normalized);
        var shape = info.Shape.Select(d => d!.Value).ToArray();
        var reshape = new Node(graph.UniqueName($"{node.Name}_unflatten"), "Reshape",
            [normalizedOut, AddConstant(graph, node, "shape", Tensor.FromInt64(shape, shape.Length))], [output]);
        node.Inputs[0] = flattened;
        node.Outputs[0] = normalizedOut;
        node.SetInt("axis", 1);
        int at = graph.Nodes.IndexOf(node);
        graph.Nodes.Insert(at, flatten);
        graph.Nodes.Insert(at + 2, reshape);
        return true;
    }

    /// <summary>Upsample (deprecated at 10) is Resize with asymmetric coordinates (nearest: floor).</summary>
    private static bool UpsampleToResize(ModelGraph graph, Node node, int from)
    {
        string mode = node.GetString("mode", "nearest");
        string scales;
        if (from < 9)
        {
            var values = node.GetFloats("scales") ?? throw Refuse(graph, node, from, QdqMinimumOpset, "it has no scales");
            scales = AddConstant(graph, node, "scales", Tensor.FromFloats(values, values.Length));
        }
        else scales = node.Inputs[1];
        var data = node.Inputs[0];
        node.OpType = "Resize";
        node.Attributes.Clear();
        node.SetString("mode", mode == "bilinear" ? "linear" : mode);
        node.SetString("coordinate_transformation_mode", "asymmetric");
        if (mode == "nearest") node.SetString("nearest_mode", "floor");
        node.Inputs.Clear();
        node.Inputs.AddRange([data, "", scales]);
        return true;
    }
}
