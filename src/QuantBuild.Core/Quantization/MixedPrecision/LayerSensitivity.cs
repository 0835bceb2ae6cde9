using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Quantization.MixedPrecision;

/// <summary>One layer whose weight bit width the allocator may choose.</summary>
public sealed record ConfigurableLayer(Node Node, int WeightIndex, int Axis, Configuration.WeightSettings Settings);

/// <summary>
/// Measured sensitivity s[layer, bits] of the model output to quantizing one layer's weights
/// (docs/mixed-precision.md, "Mixed precision under a weight budget", measured-error variant): the layer's weight is replaced by its dequantized
/// codes at that width — produced by the layer's own weight quantizer, so the figure describes what
/// will ship — every other layer stays float, the calibration samples run through the float engine,
/// and the error is the normalized MSE Σ(ŷ_q − ŷ)² / Σ ŷ² over all model outputs and samples.
/// <para>
/// Choices, and why: the measured error (not a Hessian trace) is exact for the one-layer
/// perturbation and needs no backward pass; activations stay float so the table isolates the weight
/// error the allocator controls; outputs produced by Softmax are read at the Softmax input (logits),
/// where small errors are not squashed. Each run repeats the whole forward pass (no suffix-only
/// evaluation): cost = layers × candidates × samples forward passes, so the sample count is capped
/// (budget.sensitivitySamples, default 32). The sum of per-layer errors is the allocator's
/// objective, i.e. errors are assumed additive across layers (first-order, as in MCT).
/// </para>
/// </summary>
public static class LayerSensitivity
{
    public sealed record Table(IReadOnlyList<ConfigurableLayer> Layers, int[] Candidates, double[][] Error, long[][] Bytes, int Samples);

    public static Table Measure(QuantizationContext context, IReadOnlyList<ConfigurableLayer> layers, int[] candidates, int maxSamples)
    {
        var graph = context.Graph;
        var samples = context.Samples(maxSamples);
        if (samples.Count == 0) throw new InvalidOperationException("mixed precision needs at least one calibration sample");
        var engine = new InferenceEngine(graph, context.EngineOptions);
        var observed = ObservedOutputs(graph);
        var reference = samples.Select(s => Outputs(engine, s.Feeds, observed)).ToList();
        double signal = 0;
        foreach (var outputs in reference) foreach (var o in outputs) foreach (var v in o) signal += (double)v * v;
        if (signal == 0) signal = 1;

        var error = new double[layers.Count][];
        var bytes = new long[layers.Count][];
        for (int i = 0; i < layers.Count; i++)
        {
            var layer = layers[i];
            var name = layer.Node.Inputs[layer.WeightIndex];
            var original = graph.Initializers[name];
            error[i] = new double[candidates.Length];
            bytes[i] = new long[candidates.Length];
            try
            {
                for (int c = 0; c < candidates.Length; c++)
                {
                    var settings = layer.Settings with { Bits = candidates[c] };
                    var wq = WeightQuantizers.For(settings.Method).Quantize(
                        new WeightQuantizationRequest(layer.Node, name, original.Floats, original.Shape, layer.Axis, settings, context));
                    bytes[i][c] = QuantizationPipeline.QuantizedWeightBytes(wq);
                    // A new tensor object: the engine reads initializers on every run and re-packs a changed weight.
                    graph.Initializers[name] = Tensor.FromFloats(wq.Dequantize(), original.Shape);
                    double noise = 0;
                    for (int s = 0; s < samples.Count; s++)
                    {
                        var outputs = Outputs(engine, samples[s].Feeds, observed);
                        for (int o = 0; o < outputs.Count; o++)
                        {
                            var a = outputs[o];
                            var r = reference[s][o];
                            for (int k = 0; k < a.Length; k++) { double d = (double)a[k] - r[k]; noise += d * d; }
                        }
                    }
                    error[i][c] = noise / signal;
                }
            }
            finally
            {
                graph.Initializers[name] = original;
            }
            context.Progress?.Report($"mixed precision: sensitivity of '{layer.Node.Name}' " +
                string.Join(", ", candidates.Select((b, c) => $"{b}b {error[i][c]:G3}")));
        }
        return new Table(layers, candidates, error, bytes, samples.Count);
    }

    /// <summary>The model outputs, each read before a final Softmax when it has one.</summary>
    private static List<string> ObservedOutputs(ModelGraph graph)
    {
        var producers = graph.Producers();
        var names = new List<string>();
        foreach (var output in graph.Outputs)
        {
            if (output.Type != DataType.Float && output.Type != DataType.Undefined) continue;
            names.Add(producers.TryGetValue(output.Name, out var p) && p.OpType is "Softmax" or "LogSoftmax" && p.Inputs.Count > 0
                ? p.Inputs[0] : output.Name);
        }
        return names;
    }

    private static List<float[]> Outputs(InferenceEngine engine, IReadOnlyDictionary<string, Tensor> feeds, List<string> names)
    {
        var values = engine.Run(feeds, names);
        return names.Select(n => values[n].Floats.ToArray()).ToList();
    }
}
