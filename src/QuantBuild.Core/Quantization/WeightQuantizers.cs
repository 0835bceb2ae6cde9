using QuantBuild.Configuration;
using QuantBuild.Graph;

namespace QuantBuild.Quantization;

/// <summary>One constant weight to quantize, with the settings that apply to its node.</summary>
/// <param name="Axis">the output-channel axis per-channel tables follow</param>
/// <param name="Context">the run's shared state (graph, calibration samples) for quantizers that look at data</param>
public sealed record WeightQuantizationRequest(Node Node, string WeightName, float[] Values, int[] Shape, int Axis,
    WeightSettings Settings, QuantizationContext Context)
{
    /// <summary>Per-channel only when asked for and the weight has a channel axis at all.</summary>
    public bool PerChannel => Settings.PerChannel && Shape.Length > 0;
}

/// <summary>
/// A per-layer weight quantizer selected by the sidecar's <c>weights.method</c> (globally or per layer).
/// Each method lives in its own file and returns the one contract both emitters read
/// (<see cref="WeightQuantization"/>), so adding a method never touches the emitters unless it needs a
/// new weight encoding.
/// </summary>
public interface IWeightQuantizer
{
    WeightQuantization Quantize(WeightQuantizationRequest request);
}

/// <summary>The weight quantizers by sidecar method name.</summary>
public static class WeightQuantizers
{
    private static readonly Dictionary<WeightMethod, IWeightQuantizer> s_byMethod = new()
    {
        [WeightMethod.Linear] = new LinearWeightQuantizer(),
        [WeightMethod.Log] = new LogQuantizer(),
        [WeightMethod.Weq] = new WeqQuantizer(),
        [WeightMethod.Multipoint] = new MultipointQuantizer(),
        [WeightMethod.Eptq] = new Eptq.EptqWeightQuantizer(),
    };

    /// <summary>Methods a sidecar may select today (the parser rejects the others with a clear message).</summary>
    public static IReadOnlyCollection<WeightMethod> Implemented => s_byMethod.Keys;

    public static IWeightQuantizer For(WeightMethod method) =>
        s_byMethod.TryGetValue(method, out var quantizer) ? quantizer
        : throw new ArgumentException($"weight method '{WeightMethods.Name(method)}' is not implemented; use one of {string.Join(", ", s_byMethod.Keys.Select(WeightMethods.Name))}");

    private sealed class LinearWeightQuantizer : IWeightQuantizer
    {
        public WeightQuantization Quantize(WeightQuantizationRequest r) =>
            LinearQuantizer.QuantizeWeight(r.Node.Name, r.WeightName, r.Values, r.Shape, r.Axis, r.Settings.Bits, r.PerChannel, r.Settings.Range);
    }
}
