namespace QuantBuild.Quantization.Eptq;

/// <summary>
/// The per-layer half of EPTQ: nearest-rounded linear codes (with the sidecar's range method), marked
/// "eptq" so that <see cref="EptqOptimizer"/> optimizes the layer with all the others after the
/// per-layer loop (EPTQ is a whole-model optimization: its loss couples every layer).
/// </summary>
public sealed class EptqWeightQuantizer : IWeightQuantizer
{
    public WeightQuantization Quantize(WeightQuantizationRequest r)
    {
        var nearest = LinearQuantizer.QuantizeWeight(r.Node.Name, r.WeightName, r.Values, r.Shape, r.Axis, r.Settings.Bits, r.PerChannel, r.Settings.Range);
        return new WeightQuantization
        {
            NodeName = nearest.NodeName,
            WeightName = nearest.WeightName,
            Shape = nearest.Shape,
            Axis = nearest.Axis,
            Bits = nearest.Bits,
            Codes = nearest.Codes,
            Scales = nearest.Scales,
            Method = EptqOptimizer.Method,
            Quantizer = EptqOptimizer.Quantizer,
        };
    }
}
