using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Quantization;

/// <summary>
/// Bias correction (docs/algorithms/bias-correction.md, <c>"weights": { "biasCorrection": true }</c>): quantizing a
/// layer's weights shifts the mean of its output by E[(W_q − W)·x] per output channel; subtracting
/// that shift from the bias removes the systematic part of the error, which otherwise accumulates
/// through the following layers.
/// <para>
/// The expectation is measured, not modelled: for every calibration sample the float model runs once
/// and each corrected layer's float input x is pushed through the layer alone with weights
/// ΔW = W_q − W and no bias (a one-node graph, so padding, strides and groups are exactly the
/// layer's). The shift is averaged over samples and every non-channel position. Inputs are the float
/// model's (not the quantized upstream's), so each layer's correction is independent of the others.
/// </para>
/// <para>
/// The corrected bias replaces the bias initializer in the prepared graph, so lowering and both
/// emitters quantize it like any bias (int32 at s_in·s_w). Conv, ConvTranspose and Gemm without a bias
/// get one; MatMul has no bias input and is left alone (adding an Add node would change the graph the
/// lowering fuses).
/// </para>
/// </summary>
public static class BiasCorrection
{
    /// <summary>One corrected layer: the mean |shift| removed and whether a bias input had to be added.</summary>
    public sealed record Correction(string Node, double MeanAbsShift, bool BiasAdded);

    public const int DefaultSamples = 64;

    /// <summary>Whether the layer's operator can carry a corrected bias.</summary>
    public static bool Supports(Node node) => node.OpType is "Conv" or "ConvTranspose" or "Gemm";

    /// <summary>Corrects the biases of <paramref name="nodes"/> (quantized layers) in the context's graph.</summary>
    public static List<Correction> Apply(QuantizedModel model, QuantizationContext context, IReadOnlyList<Node> nodes, int maxSamples = DefaultSamples)
    {
        var graph = context.Graph;
        var layers = nodes.Where(n => Supports(n) && model.Weights.ContainsKey(n.Name)).ToList();
        if (layers.Count == 0) return [];
        var shifts = MeasureShifts(model, context, layers, maxSamples);
        var consumers = graph.Consumers();
        var corrections = new List<Correction>();
        for (int i = 0; i < layers.Count; i++)
        {
            var node = layers[i];
            var shift = shifts[i];
            // Gemm adds beta·C: the correction of C is shift/beta.
            double factor = node.OpType == "Gemm" ? node.GetFloat("beta", 1f) : 1;
            bool added = !node.HasInput(2);
            float[]? bias;
            if (added)
            {
                bias = new float[shift.Length];
                if (node.OpType == "Gemm" && factor != 1) { node.SetFloat("beta", 1f); factor = 1; }
            }
            else
            {
                // A bias that is computed, or broadcast along more than the channels, is left alone.
                var existing = graph.Initializers.TryGetValue(node.Inputs[2], out var t) && t.Type == DataType.Float ? t : null;
                bias = existing is null || factor == 0 ? null
                    : existing.Length == shift.Length ? existing.ToFloatArray()
                    : existing.Length == 1 ? Enumerable.Repeat(existing.Floats[0], shift.Length).ToArray()
                    : null;
                if (bias is null) continue;
            }
            for (int c = 0; c < bias.Length; c++) bias[c] = (float)(bias[c] - shift[c] / factor);

            // A bias shared with another node (or newly added) gets a name of its own.
            bool shared = !added && (consumers.TryGetValue(node.Inputs[2], out var readers) && readers.Count > 1 || graph.IsGraphOutput(node.Inputs[2]));
            string name = added || shared ? graph.UniqueName(node.Name + "_bias_corrected") : node.Inputs[2];
            graph.Initializers[name] = Tensor.FromFloats(bias, bias.Length);
            if (added)
            {
                while (node.Inputs.Count < 2) node.Inputs.Add("");
                if (node.Inputs.Count == 2) node.Inputs.Add(name); else node.Inputs[2] = name;
            }
            else node.Inputs[2] = name;
            corrections.Add(new Correction(node.Name, shift.Average(Math.Abs), added));
        }
        return corrections;
    }

    /// <summary>
    /// E[(W_q − W)·x] per output channel for each layer, over the first <paramref name="maxSamples"/>
    /// calibration samples (float inputs x).
    /// </summary>
    public static List<double[]> MeasureShifts(QuantizedModel model, QuantizationContext context, IReadOnlyList<Node> layers, int maxSamples = DefaultSamples)
    {
        var graph = context.Graph;
        var engine = new InferenceEngine(graph, context.EngineOptions);
        var probes = layers.Select(n => ErrorProbe(graph, n, model.Weights[n.Name], context.EngineOptions)).ToList();
        var sums = layers.Select(_ => (double[]?)null).ToList();
        var counts = new long[layers.Count];
        var inputs = layers.Select(n => n.Inputs[0]).Distinct(StringComparer.Ordinal).ToList();
        foreach (var sample in context.Samples(maxSamples))
        {
            // Each layer input is probed the moment it is computed and then released like any intermediate,
            // so one sample never holds every layer input at once. A layer's sum only grows by this sample's
            // term here, so the order in which layers are visited leaves every shift as it was.
            engine.Run(sample.Feeds, inputs, (name, x) =>
            {
                for (int i = 0; i < layers.Count; i++)
                    if (layers[i].Inputs[0] == name) Accumulate(i, x);
            });
        }
        return sums.Select((s, i) => s is null ? Array.Empty<double>() : s.Select(v => v / Math.Max(1, counts[i])).ToArray()).ToList();

        void Accumulate(int i, Tensor x)
        {
            var y = probes[i].Run(new Dictionary<string, Tensor>(StringComparer.Ordinal) { ["x"] = x })["y"];
            // Output channels run along axis 1 for Conv, ConvTranspose ([N, M, ...]) and Gemm ([M, N]).
            int channels = y.Shape[1];
            int inner = 1;
            for (int d = 2; d < y.Rank; d++) inner *= y.Shape[d];
            var sum = sums[i] ??= new double[channels];
            var data = y.Floats;
            for (int k = 0; k < data.Length; k++) sum[k / inner % channels] += data[k];
            counts[i] += data.Length / channels;
        }
    }

    /// <summary>The layer alone, weights replaced by W_q − W and no bias: its output is the weight error's contribution.</summary>
    private static InferenceEngine ErrorProbe(ModelGraph graph, Node node, WeightQuantization wq, EngineOptions? options)
    {
        var original = graph.Initializers[node.Inputs[1]].Floats;
        var dequantized = wq.Dequantize();
        var delta = new float[original.Length];
        for (int k = 0; k < delta.Length; k++) delta[k] = dequantized[k] - original[k];
        var probe = new ModelGraph { OpsetVersion = graph.OpsetVersion, IrVersion = graph.IrVersion, Name = node.Name + "_bias_probe" };
        probe.Initializers["dw"] = Tensor.FromFloats(delta, graph.Initializers[node.Inputs[1]].Shape);
        var copy = new Node(node.Name, node.OpType, ["x", "dw"], ["y"], node.Domain);
        foreach (var (key, attribute) in node.Attributes) copy.Attributes[key] = attribute;
        // Gemm's output is alpha·A·B: the shift must carry the same factor; beta only scales the (absent) C.
        probe.Nodes.Add(copy);
        probe.Inputs.Add(new ValueInfo("x", DataType.Float, null));
        probe.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        return new InferenceEngine(probe, options);
    }
}
