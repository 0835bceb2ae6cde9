using QuantBuild.Graph;

namespace QuantBuild.Quantization;

/// <summary>
/// Per-tensor affine quantization of one activation: real = (code − ZeroPoint) · Scale.
/// Activations are always per-tensor (the integer runtime needs one scale per tensor).
/// </summary>
public sealed record ActivationQuantization(string Name, float Scale, int ZeroPoint, int Bits = 8, bool Signed = true)
{
    public int QMin => Signed ? -(1 << (Bits - 1)) : 0;
    public int QMax => Signed ? (1 << (Bits - 1)) - 1 : (1 << Bits) - 1;
}

/// <summary>How a weight tensor's codes map back to real values.</summary>
public enum WeightEncoding
{
    /// <summary>real = code · Scales[channel] (symmetric, zero point 0).</summary>
    Linear,
    /// <summary>real = Codebook[channel or 0][code]: LogQuant, WEQ and other non-uniform quantizers.</summary>
    Codebook,
}

/// <summary>
/// The quantized form of one layer's constant weight (Conv, ConvTranspose, Gemm, MatMul with a
/// constant B). Codes keep the float tensor's shape and element order; <see cref="Axis"/> names the
/// output-channel axis the per-channel tables follow (Conv: 0; Gemm transB=1: 0; MatMul/Gemm B: 1).
/// </summary>
public sealed class WeightQuantization
{
    public required string NodeName { get; init; }
    /// <summary>Initializer name of the float weight in the prepared graph.</summary>
    public required string WeightName { get; init; }
    public required int[] Shape { get; init; }
    public required int Axis { get; init; }
    public required int Bits { get; init; }
    public WeightEncoding Encoding { get; init; } = WeightEncoding.Linear;
    /// <summary>One code per weight element, in the float tensor's row-major order.</summary>
    public required sbyte[] Codes { get; init; }
    /// <summary>Per-channel scales (length 1 for per-tensor) for <see cref="WeightEncoding.Linear"/>.</summary>
    public float[] Scales { get; init; } = Array.Empty<float>();
    /// <summary>
    /// Per-channel (or single) tables of real values indexed by code, for <see cref="WeightEncoding.Codebook"/>: one per
    /// scale, also when the channels share one int8 level table (then they differ by their scale only).
    /// </summary>
    public float[][]? Codebooks { get; init; }
    /// <summary>
    /// For <see cref="WeightEncoding.Codebook"/> weights that deploy on int8 kernels: the int8 level of every table
    /// entry, one table per scale or one shared by all of them, with
    /// <c>Codebooks[t][k] == CodebookLevels[CodebookLevels.Length == 1 ? 0 : t][k] · Scales[t]</c>.
    /// </summary>
    public sbyte[][]? CodebookLevels { get; init; }
    /// <summary>The quantizer that produced it: what code that depends on the method branches on.</summary>
    public WeightMethod Quantizer { get; init; } = WeightMethod.Linear;
    /// <summary>
    /// Set when a codebook method's layer is stored as its decoded int8 levels because that is smaller than its
    /// indices and tables: the index width the method used (the levels are still that method's levels).
    /// </summary>
    public int? DecodedFromBits { get; init; }
    /// <summary>Label of the method for the report and the QDQ metadata ("linear", "linear-mse", "log", "weq", ...); never branched on.</summary>
    public string Method { get; init; } = "linear";
    /// <summary>
    /// Multipoint (docs/algorithms/multipoint.md) points beyond the first, for <see cref="WeightEncoding.Linear"/>: each adds
    /// Scale·Codes to one channel. Ordered by channel, then by the order the greedy construction added them
    /// (the float sum runs in that order, as the QDQ file's Sum does). Empty for single-point quantization.
    /// </summary>
    public IReadOnlyList<WeightPoint> ExtraPoints { get; init; } = Array.Empty<WeightPoint>();

    /// <summary>Elements of one output channel (the length of a <see cref="WeightPoint.Codes"/> row).</summary>
    public int ChannelLength => Shape.Length == 0 ? Codes.Length : Codes.Length / Math.Max(1, Shape[Axis]);

    public int Channels => Shape[Axis];

    /// <summary>The real value each code stands for (what the quantized layer really multiplies by).</summary>
    public float[] Dequantize()
    {
        var result = new float[Codes.Length];
        int inner = 1;
        for (int d = Axis + 1; d < Shape.Length; d++) inner *= Shape[d];
        int channels = Shape[Axis];
        for (int i = 0; i < Codes.Length; i++)
        {
            int channel = i / inner % channels;
            result[i] = Encoding == WeightEncoding.Linear
                ? Codes[i] * Scales[Scales.Length == 1 ? 0 : channel]
                : Codebooks![Codebooks.Length == 1 ? 0 : channel][Codes[i] & 0xFF];
        }
        foreach (var point in ExtraPoints)
        {
            // The channel's elements in row-major order: the same order as the point's codes.
            int k = 0;
            for (int i = point.Channel * inner; i < Codes.Length; i += channels * inner)
                for (int e = 0; e < inner; e++) result[i + e] += point.Codes[k++] * point.Scale;
        }
        return result;
    }
}

/// <summary>
/// One extra multipoint point of a weight channel: real += <see cref="Scale"/>·code for each of the
/// channel's elements, <see cref="Codes"/> in the channel's row-major element order, on the restricted
/// b-bit grid of <see cref="WeightQuantization.Bits"/>.
/// </summary>
public sealed record WeightPoint(int Channel, sbyte[] Codes, float Scale);

/// <summary>
/// Everything the emitters need: the prepared float graph, quantization of every activation that
/// flows as integers, every quantized weight, and the nodes that stay float. The QDQ ONNX emitter and
/// the C# emitter both read this one record, so the file ONNX Runtime runs and the code the app runs
/// describe the same quantized model.
/// </summary>
public sealed class QuantizedModel
{
    public QuantizedModel(ModelGraph graph) => Graph = graph;

    /// <summary>The float graph after preparation (constants and BatchNormalization folded, shapes inferred).</summary>
    public ModelGraph Graph { get; }

    /// <summary>Quantization of activations by value name. A float value absent here stays float.</summary>
    public Dictionary<string, ActivationQuantization> Activations { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// ReLU outputs re-coded on a level grid (activations.levels log / weighted-log / uniform), by value name.
    /// Each is also in <see cref="Activations"/>: the producer writes those linear codes, and the consuming
    /// Conv/Gemm/MatMul reads the level each code maps to.
    /// </summary>
    public Dictionary<string, LogActivationQuantization> LevelActivations { get; } = new(StringComparer.Ordinal);

    /// <summary>Quantized weights by node name.</summary>
    public Dictionary<string, WeightQuantization> Weights { get; } = new(StringComparer.Ordinal);

    /// <summary>Nodes the user excluded (or the quantizer could not handle); they run as float kernels.</summary>
    public HashSet<string> FloatNodes { get; } = new(StringComparer.Ordinal);

    /// <summary>Free-form facts for the report (method, calibration, timings).</summary>
    public Dictionary<string, string> Notes { get; } = new(StringComparer.Ordinal);

    /// <summary>Mixed precision's chosen widths (null when the budget lists no candidate widths).</summary>
    public MixedPrecision.BitAllocationResult? BitAllocation { get; init; }

    /// <summary>What the EPTQ pass did (losses, its loss curve), when it ran.</summary>
    public Eptq.EptqResult? Eptq { get; set; }

    /// <summary>Layers whose bias was corrected for the mean weight-quantization error.</summary>
    public List<BiasCorrection.Correction> BiasCorrections { get; } = new();
}
