using QuantBuild.Calibration;

namespace QuantBuild.Configuration;

/// <summary>How weight scales are chosen for the linear quantizer.</summary>
public enum WeightRangeMethod
{
    /// <summary>Scale from max|w| of the channel (or tensor): nothing is clipped.</summary>
    MinMax,
    /// <summary>Scale = α·max|w| with α chosen to minimise the squared error (docs/algorithms/linear.md, "Weight scales").</summary>
    Mse,
}

/// <summary>Weight quantization of one layer (the sidecar's <c>weights</c> object).</summary>
public sealed record WeightSettings
{
    public Quantization.WeightMethod Method { get; init; } = Quantization.WeightMethod.Linear;
    public int Bits { get; init; } = 8;
    public bool PerChannel { get; init; } = true;
    public bool Symmetric { get; init; } = true;
    public WeightRangeMethod Range { get; init; } = WeightRangeMethod.MinMax;
    /// <summary>After quantization, shift the bias by the expected output error E[(W_q − W)·x] (see BiasCorrection).</summary>
    public bool BiasCorrection { get; init; }
    /// <summary>Options of the multipoint quantizer (the sidecar's <c>weights.multipoint</c>); used when Method is Multipoint.</summary>
    public MultipointSettings Multipoint { get; init; } = new();
}

/// <summary>
/// Budget of the multipoint quantizer (docs/algorithms/multipoint.md, "Greedy construction under a budget"). Every channel gets one point; a layer with
/// C_out channels gets round(<see cref="ExtraPoints"/>·C_out) extra points on top, placed greedily where
/// they reduce the layer's output error on calibration data most, at most <see cref="MaxPoints"/> per channel.
/// At equal bit width the extra points cost that same fraction of the layer's weight bytes and MACs.
/// </summary>
public sealed record MultipointSettings
{
    /// <summary>Extra points per layer as a fraction of its output channels (ρ, default 0.05; docs/algorithms/multipoint.md, "Greedy construction under a budget").</summary>
    public double ExtraPoints { get; init; } = 0.05;
    /// <summary>Points per channel at most (n_max, default 4).</summary>
    public int MaxPoints { get; init; } = 4;
    /// <summary>Calibration samples used to measure output error (0 = none: error in weight space).</summary>
    public int Samples { get; init; } = 16;
}

/// <summary>Activation quantization (the sidecar's <c>activations</c> object).</summary>
public sealed record ActivationSettings
{
    public CalibrationMethod Method { get; init; } = CalibrationMethod.MinMax;
    public int Bits { get; init; } = 8;
    public bool Symmetric { get; init; }
    public double Percentile { get; init; } = 99.999;
    /// <summary>
    /// Level grid of the ReLU outputs that feed a Conv/Gemm/MatMul (activations.levels): Linear keeps them int8;
    /// the others re-code them on 2^<see cref="LevelBits"/> levels (docs/activation-levels.md). The network input,
    /// the logits and every other activation stay linear (docs/activation-levels.md, "Which tensors").
    /// </summary>
    public ActivationLevelGrid Levels { get; init; } = ActivationLevelGrid.Linear;
    /// <summary>Bits of the level index (activations.levelBits), N = 2^LevelBits levels including 0.</summary>
    public int LevelBits { get; init; } = 4;
    /// <summary>
    /// activations.autoPrecision: when a model output of the integer plan misses quality.outputSqnrFloorDb, promote the
    /// activations whose measured promotion helps most to 16 bits (docs/wide-activations.md, "Automatic promotion").
    /// </summary>
    public bool AutoPrecision { get; init; } = true;
    /// <summary>activations.autoPrecisionMaxTensors: the most activations automatic promotion may widen (0 = none).</summary>
    public int AutoPrecisionMaxTensors { get; init; } = 8;
}

/// <summary>Where calibration samples come from (the sidecar's <c>calibration</c> object).</summary>
public sealed record CalibrationSettings
{
    /// <summary>Model input name → glob or path as written in the sidecar (relative to its folder), in sidecar order.</summary>
    public IReadOnlyList<CalibrationInput> Inputs { get; init; } = [];
    /// <summary>Upper bound on the number of samples used; 0 = all.</summary>
    public int MaxSamples { get; init; } = 256;
    /// <summary>Seed of the subset drawn when more files match than <see cref="MaxSamples"/>.</summary>
    public int Seed { get; init; }
    /// <summary>Folder the patterns are relative to (the sidecar's folder; the current folder without a sidecar).</summary>
    public string BaseDirectory { get; init; } = Directory.GetCurrentDirectory();
    /// <summary>The sidecar object these samples come from ("calibration" or "verify"), as diagnostics name it.</summary>
    public string Section { get; init; } = "calibration";
}

/// <summary>
/// The sidecar's <c>verify</c> object (docs/verify.md): held-out samples, read like calibration samples, on which the
/// build runs the float model and the quantized outputs in ONNX Runtime and the integer plan, and the thresholds
/// whose miss fails the build. A null threshold is not checked (its figure is still reported).
/// </summary>
public sealed record VerifySettings
{
    public required CalibrationSettings Samples { get; init; }
    /// <summary>Least share (0..1) of rows whose arg-max over the last axis matches the float model's, per output with a class axis.</summary>
    public double? MinTop1Agreement { get; init; }
    /// <summary>Least SQNR (dB) against the float model, per output.</summary>
    public double? MinSqnrDb { get; init; }
    /// <summary>Largest absolute difference from the float model allowed anywhere in an output.</summary>
    public double? MaxAbsError { get; init; }
    /// <summary>Position of the verify object and of each threshold key in the sidecar, for diagnostics.</summary>
    public int Line { get; init; }
    public int Column { get; init; }
    public IReadOnlyDictionary<string, (int Line, int Column)> KeyPositions { get; init; } = new Dictionary<string, (int, int)>();
}

/// <summary>
/// One entry of <c>calibration.inputs</c>, with the position of its pattern for diagnostics. <paramref name="Recipe"/>
/// says how a matched file becomes samples: null for tensor files (.npy/.pb) used as they are, otherwise an
/// <see cref="ImageRecipe"/> or <see cref="AudioRecipe"/> (docs/calibration-data.md).
/// </summary>
public sealed record CalibrationInput(string Name, string Pattern, int Line = 0, int Column = 0, CalibrationRecipe? Recipe = null);

/// <summary>Overrides for the nodes matching one key of the sidecar's <c>layers</c> object.</summary>
public sealed record LayerOverride
{
    public required string Pattern { get; init; }
    public bool? Skip { get; init; }
    public int? Bits { get; init; }
    public Quantization.WeightMethod? Method { get; init; }
    public bool? PerChannel { get; init; }
    public bool? Symmetric { get; init; }
    public WeightRangeMethod? Range { get; init; }
    public MultipointSettings? Multipoint { get; init; }
    public bool? BiasCorrection { get; init; }
    /// <summary>layers[...].activations.bits: the width of the activations this node produces (2..8 or 16).</summary>
    public int? ActivationBits { get; init; }
    /// <summary>Position of the key in the sidecar, for diagnostics.</summary>
    public int Line { get; init; }
    public int Column { get; init; }

    public bool IsGlob => Pattern.Contains('*');

    /// <summary>Exact name, or a glob where <c>*</c> matches any run of characters (including '/').</summary>
    public bool Matches(string nodeName) => IsGlob ? GlobMatch(Pattern, nodeName) : string.Equals(Pattern, nodeName, StringComparison.Ordinal);

    internal static bool GlobMatch(string pattern, string text)
    {
        // Iterative wildcard match with backtracking to the last '*': linear in practice, no regex escaping pitfalls.
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (p < pattern.Length && pattern[p] == text[t]) { p++; t++; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}

/// <summary>quality: how the build measures the integer plan against the float model, and when it warns.</summary>
public sealed record QualitySettings
{
    /// <summary>Calibration samples both models run on (0 turns the measurement off).</summary>
    public int Samples { get; init; } = 4;
    /// <summary>A model output whose SQNR against the float model is below this gets warning QB4106.</summary>
    public double OutputSqnrFloorDb { get; init; } = 20;
}

public sealed record OutputSettings
{
    public bool Onnx { get; init; } = true;
    public bool CSharp { get; init; } = true;
    public bool Report { get; init; } = true;
    /// <summary>outputs.qdqIntegerType: the integer type of 8-bit codes in the QDQ file (docs/qdq-encoding.md).</summary>
    public QdqIntegerType QdqIntegerType { get; init; } = QdqIntegerType.UInt8;
}

/// <summary>
/// How the QDQ file stores 5–8-bit codes. Both describe the same real values (a uint8 code is the int8 code
/// + 128, its zero point likewise); they differ in which ONNX Runtime kernels fuse them, and so in whether
/// ORT computes the file's meaning exactly on every CPU. See docs/qdq-encoding.md for the measurements.
/// </summary>
public enum QdqIntegerType
{
    /// <summary>uint8 activations and uint8 weights with zero point 128: ORT's u8u8 kernels, exact on every x64 CPU (the default).</summary>
    UInt8,
    /// <summary>int8 activations and weights: ORT's u8s8/s8s8 kernels, which saturate 16-bit pair sums on x64 CPUs without VNNI.</summary>
    Int8,
}

/// <summary>
/// Everything the sidecar (<c>MODEL.quant.json</c>) can say. A missing sidecar is the defaults:
/// int8 per-channel symmetric weights, min-max int8 asymmetric activations, outputs all on; calibration
/// inputs are still required (see <see cref="Calibration"/>).
/// </summary>
public sealed record QuantizationSettings
{
    public WeightSettings Weights { get; init; } = new();
    public ActivationSettings Activations { get; init; } = new();
    public CalibrationSettings Calibration { get; init; } = new();
    public IReadOnlyList<LayerOverride> Layers { get; init; } = [];
    /// <summary>Maximum bytes of quantized weights (codes packed at their bit width, plus scales); null = no budget.</summary>
    public long? WeightByteBudget { get; init; }
    /// <summary>Options of the EPTQ optimization, used by layers whose weights.method is "eptq".</summary>
    public EptqSettings Eptq { get; init; } = new();
    /// <summary>budget.averageBits: the byte budget as an average width over all quantized weights (plus their scales); null = none.</summary>
    public double? AverageBitsBudget { get; init; }
    /// <summary>budget.bits: candidate widths for mixed precision; empty = no allocation (the budget is only checked).</summary>
    public IReadOnlyList<int> BitCandidates { get; init; } = [];
    /// <summary>budget.sensitivitySamples: calibration samples the per-layer sensitivity runs (0 = the default, 32).</summary>
    public int SensitivitySamples { get; init; }
    public OutputSettings Outputs { get; init; } = new();
    /// <summary>quality: the build's own measurement of the integer plan against the float model (docs/output-quality.md).</summary>
    public QualitySettings Quality { get; init; } = new();
    /// <summary>verify: held-out samples and agreement thresholds checked at build time; null = no verification.</summary>
    public VerifySettings? Verify { get; init; }
    /// <summary>The sidecar the settings came from; null when defaults are used.</summary>
    public string? SourcePath { get; init; }

    /// <summary>
    /// Width of the activations <paramref name="nodeName"/> produces: the last matching layers entry that sets
    /// activations.bits (globs in sidecar order, then an exact name), else activations.bits.
    /// </summary>
    public int ActivationBitsForNode(string nodeName)
    {
        int bits = Activations.Bits;
        foreach (var l in Layers.Where(l => l.IsGlob && l.Matches(nodeName)).Concat(Layers.Where(l => !l.IsGlob && l.Matches(nodeName))))
            bits = l.ActivationBits ?? bits;
        return bits;
    }

    /// <summary>
    /// Weight settings for one node and whether it is skipped: matching globs apply in sidecar order
    /// (later ones win), then an exact name entry, which always wins over globs.
    /// </summary>
    public (WeightSettings Weights, bool Skip) ForNode(string nodeName)
    {
        var weights = Weights;
        bool skip = false;
        var matching = Layers.Where(l => l.IsGlob && l.Matches(nodeName)).Concat(Layers.Where(l => !l.IsGlob && l.Matches(nodeName)));
        foreach (var l in matching)
        {
            if (l.Skip is bool s) skip = s;
            weights = weights with
            {
                Bits = l.Bits ?? weights.Bits,
                Method = l.Method ?? weights.Method,
                PerChannel = l.PerChannel ?? weights.PerChannel,
                Symmetric = l.Symmetric ?? weights.Symmetric,
                Range = l.Range ?? weights.Range,
                Multipoint = l.Multipoint ?? weights.Multipoint,
                BiasCorrection = l.BiasCorrection ?? weights.BiasCorrection,
            };
        }
        return (weights, skip);
    }
}
