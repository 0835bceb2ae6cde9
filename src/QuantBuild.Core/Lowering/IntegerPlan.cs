using QuantBuild.Graph;
using QuantBuild.Quantization;
using QuantBuild.Runtime;
using QuantBuild.Tensors;

namespace QuantBuild.Lowering;

/// <summary>How a plan value is stored while the model runs.</summary>
public enum PlanElementType
{
    /// <summary>int8 codes with per-tensor <see cref="PlanTensor.Quant"/>.</summary>
    Int8,
    /// <summary>int16 codes with per-tensor <see cref="PlanTensor.Quant"/>: a 16-bit activation (docs/wide-activations.md).</summary>
    Int16,
    /// <summary>float32 (only around float-fallback steps and unquantized values).</summary>
    Float32,
}

/// <summary>
/// One value of the integer plan: an activation in the arena (possibly a view of another one, for
/// Reshape/Flatten/Squeeze/Unsqueeze) or a constant operand quantized at build time.
/// </summary>
public sealed class PlanTensor
{
    public PlanTensor(string name, int[] shape, PlanElementType type, QuantParams quant)
    {
        Name = name;
        Shape = shape;
        Type = type;
        Quant = quant;
    }

    public string Name { get; }
    public int[] Shape { get; }
    public PlanElementType Type { get; }
    /// <summary>Scale and zero point of the codes, int8 or int16 (meaningless for <see cref="PlanElementType.Float32"/>).</summary>
    public QuantParams Quant { get; }
    public int Length => Shape.Aggregate(1, (a, b) => checked(a * b));
    public int ByteLength => Type switch
    {
        PlanElementType.Int8 => Length,
        PlanElementType.Int16 => checked(Length * 2),
        _ => checked(Length * 4),
    };

    /// <summary>True for a value the plan holds as codes (int8 or int16) rather than float values.</summary>
    public bool IsCoded => Type != PlanElementType.Float32;

    /// <summary>Width of the codes: 8 or 16 (the kernels that take either are told which).</summary>
    public int CodeBits => Type switch
    {
        PlanElementType.Int8 => 8,
        PlanElementType.Int16 => 16,
        _ => throw new QuantBuild.Diagnostics.QuantBuildException(QuantBuild.Diagnostics.DiagnosticCodes.InternalError, $"'{Name}' holds float values, not codes"),
    };

    /// <summary>The code range of <see cref="CodeBits"/>: [−128, 127] or [−32768, 32767].</summary>
    public (int Min, int Max) CodeRange => CodeBits == 16 ? (short.MinValue, short.MaxValue) : (sbyte.MinValue, sbyte.MaxValue);

    /// <summary>
    /// Build-time codes of a constant operand (not in the arena), else null. A constant of one repeated value
    /// may hold a single code standing for every element (<see cref="Length"/> still counts the tensor); only
    /// kernels that repeat a one-element input (ConcatInt8) are given such operands.
    /// </summary>
    public sbyte[]? ConstantCodes { get; init; }
    public bool IsConstant => ConstantCodes is not null;

    /// <summary>
    /// For a tensor the model quantizes at a width other than 8 bits (docs/wide-activations.md): its grid, else null.
    /// A 16-bit tensor is <see cref="PlanElementType.Int16"/> codes on it. Any other width is
    /// <see cref="PlanElementType.Float32"/>: whoever writes the tensor (a float step, the model input) rounds every
    /// value to the grid as the QDQ file's QuantizeLinear → DequantizeLinear does.
    /// </summary>
    public ActivationQuantization? Grid { get; init; }

    /// <summary>The grid a writer of this float tensor rounds its values to (WideActivationGrid.Round), else null.</summary>
    public ActivationQuantization? FloatGrid => Type == PlanElementType.Float32 ? Grid : null;

    /// <summary>The tensor whose storage this one reuses unchanged (a reshape view), else null.</summary>
    public PlanTensor? ViewOf { get; init; }
    /// <summary>The tensor that owns the storage (itself unless a view).</summary>
    public PlanTensor Root => ViewOf?.Root ?? this;

    /// <summary>Byte offset in the activation arena (set by <see cref="ArenaPlanner"/>; views share their root's).</summary>
    public int Offset { get; internal set; } = -1;

    public override string ToString() => $"{Name} {Type}[{string.Join(",", Shape)}]";
}

/// <summary>One step of the plan: an integer kernel with its prepared parameters, or a float fallback.</summary>
public abstract class PlanStep
{
    protected PlanStep(string nodeName, string opType, IReadOnlyList<PlanTensor> inputs, IReadOnlyList<PlanTensor> outputs)
    {
        NodeName = nodeName;
        OpType = opType;
        Inputs = inputs;
        Outputs = outputs;
    }

    /// <summary>The graph node (the first of a fused group) this step computes.</summary>
    public string NodeName { get; }
    /// <summary>What the step computes, e.g. "Conv+Relu" or "HardSwish(pattern)".</summary>
    public string OpType { get; }
    public IReadOnlyList<PlanTensor> Inputs { get; }
    public IReadOnlyList<PlanTensor> Outputs { get; }
    /// <summary>Graph nodes this step replaces (several when a pattern was fused).</summary>
    public IReadOnlyList<string> FusedNodes { get; init; } = [];

    /// <summary>
    /// Values between this step's fused nodes that the step still rounds to their own int8 parameters (an Add's sum
    /// before its Relu, a convolution's output before the code maps it feeds), so the QDQ file keeps their
    /// quantization; other values inside a fused step (a Conv output before its fused Relu, hard-swish intermediates)
    /// are never rounded.
    /// </summary>
    public IReadOnlyList<string> KeptIntermediates { get; init; } = [];

    /// <summary>True when the step computes in float (dequantize → float op → quantize).</summary>
    public virtual bool IsFloat => false;

    public override string ToString() => $"{OpType} '{NodeName}': {string.Join(", ", Inputs.Select(i => i.Name))} -> {string.Join(", ", Outputs.Select(o => o.Name))}";
}

/// <summary>Quantized weights of a Conv or FullyConnected step, with the data the kernels take.</summary>
public sealed class PlanWeights
{
    /// <summary>The weights of a Conv or FullyConnected step; null for steps without weights.</summary>
    public static PlanWeights? Of(PlanStep step) => step switch
    {
        ConvStep c => c.Weights,
        FullyConnectedStep f => f.Weights,
        _ => null,
    };

    /// <summary>Identifier-safe name for emitted data.</summary>
    public required string Name { get; init; }
    public required int Bits { get; init; }
    /// <summary>Codes in the kernel's layout (Conv: OIHW; FullyConnected: [units, K]).</summary>
    public required sbyte[] Codes { get; init; }
    public required float[] Scales { get; init; }
    /// <summary>int32 bias at scale s_in·s_w[j] (zero point 0); the kernels fold −z_x·Σw themselves.</summary>
    public required int[] Bias { get; init; }

    /// <summary>
    /// Codebook weights (LogQuant, WEQ): the packed indices and int8 level tables the kernels decode. When
    /// set, <see cref="Codes"/> holds the decoded levels (Bits = 8), so a path that ignores codebooks still
    /// computes the same layer.
    /// </summary>
    public PlanCodebook? Codebook { get; init; }

    /// <summary>Multipoint (docs/algorithms/multipoint.md, "Integer inference") extra rows [ExtraChannels.Length, K] in kernel layout, after the first-point rows; null otherwise.</summary>
    public sbyte[]? ExtraCodes { get; init; }
    /// <summary>The output channel of each extra row (ascending), for the multipoint kernels.</summary>
    public int[]? ExtraChannels { get; init; }
    /// <summary>The real scale a of each extra row.</summary>
    public float[]? ExtraScales { get; init; }
    /// <summary>Runs on the multipoint kernels (Conv2DMultipoint / FullyConnectedMultipoint).</summary>
    public bool IsMultipoint => ExtraChannels is not null;

    /// <summary>Codes as stored: int8 as-is, int4 two per byte (element 0 in the low nibble); multipoint extra rows follow the first-point rows in one stream.</summary>
    public byte[] StoredBytes()
    {
        var codes = ExtraCodes is null ? Codes : [.. Codes, .. ExtraCodes];
        if (Bits == 4)
        {
            var packed = new byte[BitPacking.PackedLength(codes.Length, 4)];
            BitPacking.PackInt4(codes, packed);
            return packed;
        }
        var bytes = new byte[codes.Length];
        Buffer.BlockCopy(codes, 0, bytes, 0, bytes.Length);
        return bytes;
    }
}

/// <summary>Codebook weights in kernel layout: b-bit indices into 2^b int8 levels per table (one table, or one per output channel).</summary>
public sealed class PlanCodebook
{
    public required int IndexBits { get; init; }
    /// <summary>One index per weight, in the kernel's [channels, fanIn] order.</summary>
    public required byte[] Indices { get; init; }
    /// <summary>Tables of 2^IndexBits int8 levels, concatenated (table j follows channel j when there are several).</summary>
    public required sbyte[] Levels { get; init; }
    public int Tables => Levels.Length >> IndexBits;
    /// <summary>Output channels: the kernel reads one float32 weight scale per channel, whatever the number of tables.</summary>
    public required int Channels { get; init; }

    /// <summary>The indices packed LSB-first at <see cref="IndexBits"/> bits (<see cref="BitPacking.Pack"/>).</summary>
    public byte[] PackedIndices()
    {
        var packed = new byte[BitPacking.PackedLength(Indices.Length, IndexBits)];
        BitPacking.Pack(Indices.Select(i => (int)i).ToArray(), IndexBits, isSigned: false, packed);
        return packed;
    }

    /// <summary>
    /// Bytes deployed: packed indices + int8 level tables + the float32 weight scales, one per output channel as the
    /// generated class stores them (KernelBinding), also for a shared table (the bias is not counted, as for linear weights).
    /// </summary>
    public int StoredBytes => BitPacking.PackedLength(Indices.Length, IndexBits) + Levels.Length + 4 * Channels;
}

public sealed class ConvStep(string node, string opType, PlanTensor input, PlanTensor output, Conv2DGeometry geometry, PlanWeights weights, int clampMin, int clampMax)
    : PlanStep(node, opType, [input], [output])
{
    /// <summary>
    /// Elementwise code maps (unary steps, or Max against a one-element constant) applied to the convolution's int8
    /// output in its output stage, in order; the step's output is the last map's. Empty: none.
    /// </summary>
    public IReadOnlyList<PlanStep> Then { get; init; } = [];
    /// <summary>The convolution's own output, before <see cref="Then"/> (the step's output when there is none).</summary>
    public PlanTensor ConvOutput { get; init; } = output;
    /// <summary>When set, the input holds level indices of this grid (<see cref="LevelEncodeStep"/>) and the step runs on Conv2DLogInput.</summary>
    public LogActivationQuantization? InputLevels { get; init; }
    public Conv2DGeometry Geometry { get; } = geometry;
    public PlanWeights Weights { get; } = weights;
    public int ClampMin { get; } = clampMin;
    public int ClampMax { get; } = clampMax;
}

public sealed class FullyConnectedStep(string node, string opType, PlanTensor input, PlanTensor output, int batch, int inFeatures, int units, PlanWeights weights, int clampMin, int clampMax)
    : PlanStep(node, opType, [input], [output])
{
    /// <summary>When set, the input holds level indices of this grid and the step runs on FullyConnectedLogInput.</summary>
    public LogActivationQuantization? InputLevels { get; init; }
    public int Batch { get; } = batch;
    public int InFeatures { get; } = inFeatures;
    public int Units { get; } = units;
    public PlanWeights Weights { get; } = weights;
    public int ClampMin { get; } = clampMin;
    public int ClampMax { get; } = clampMax;
}

/// <summary>Which runtime kernel a single-input integer step uses.</summary>
public enum UnaryKind
{
    Requantize,
    Clip,
    LeakyRelu,
    HardSigmoid,
    HardSwish,
    Sigmoid,
    Tanh,
    MaxPool,
    AveragePool,
    GlobalAveragePool,
    Transpose,
    Softmax,
}

public sealed class UnaryStep(string node, string opType, UnaryKind kind, PlanTensor input, PlanTensor output)
    : PlanStep(node, opType, [input], [output])
{
    public UnaryKind Kind { get; } = kind;
    /// <summary>Clip bounds (real units), LeakyRelu α (in Min), HardSigmoid α/β (Min/Max).</summary>
    public float Min { get; init; } = float.NegativeInfinity;
    public float Max { get; init; } = float.PositiveInfinity;
    public Pool2DGeometry? Pool { get; init; }
    public bool CountIncludePad { get; init; }
    /// <summary>Transpose permutation (rank ≤ 6).</summary>
    public int[]? Permutation { get; init; }
    /// <summary>Softmax axis (non-negative).</summary>
    public int Axis { get; init; }
}

/// <summary>
/// Linear int8 codes of a ReLU output → the index of the level of its grid (LogLevelEncoder, one 256-entry
/// table); the output tensor holds the indices as int8 codes for the consuming Conv/Gemm/MatMul.
/// </summary>
public sealed class LevelEncodeStep(string node, PlanTensor input, PlanTensor output, LogActivationQuantization levels)
    : PlanStep(node, "LevelEncode", [input], [output])
{
    public LogActivationQuantization Levels { get; } = levels;
    /// <summary>Entry c + 128: the level index of code c.</summary>
    public sbyte[] Table { get; } = levels.EncodingTable();
}

public enum BinaryKind { Add, Mul, Max }

public sealed class BinaryStep(string node, string opType, BinaryKind kind, PlanTensor a, PlanTensor b, PlanTensor output, int clampMin = sbyte.MinValue, int clampMax = sbyte.MaxValue)
    : PlanStep(node, opType, [a, b], [output])
{
    public BinaryKind Kind { get; } = kind;
    public int ClampMin { get; } = clampMin;
    public int ClampMax { get; } = clampMax;

    /// <summary>
    /// An Add whose only consumer is a Relu/Clip: the sum keeps its own int8 parameters (<see cref="FusedClip.Sum"/>,
    /// as in the QDQ file) and the activation maps its codes in the same pass; the step's output is the activation's.
    /// </summary>
    public FusedClip? Then { get; init; }
}

/// <summary>A Relu/Clip applied to an int8 intermediate that is never stored: the intermediate's parameters and the clip's bounds.</summary>
public sealed record FusedClip(QuantParams Sum, float Min, float Max);

public sealed class ConcatStep(string node, IReadOnlyList<PlanTensor> inputs, PlanTensor output, int axis)
    : PlanStep(node, "Concat", inputs, [output])
{
    public int Axis { get; } = axis;
}

/// <summary>
/// A node computed by the float engine: int8 inputs are dequantized, the float kernel runs, outputs
/// are quantized (or kept float when the quantized model leaves them float).
/// </summary>
public sealed class FloatStep(Node node, IReadOnlyList<PlanTensor> inputs, IReadOnlyList<PlanTensor> outputs, string reason, IReadOnlyDictionary<string, Tensor> constants)
    : PlanStep(node.Name, node.OpType, inputs, outputs)
{
    public Node Node { get; } = node;
    /// <summary>Values of the node's non-activation inputs: initializers (quantized weights dequantized) and shape values.</summary>
    public IReadOnlyDictionary<string, Tensor> Constants { get; } = constants;
    /// <summary>Why the node was not lowered to an integer kernel.</summary>
    public string Reason { get; } = reason;
    public override bool IsFloat => true;
}

/// <summary>
/// The lowered model: ordered steps over a static arena. Model inputs arrive as float and are quantized
/// at the edge into their arena slot; outputs are dequantized from theirs.
/// </summary>
public sealed class IntegerPlan
{
    internal IntegerPlan(QuantizedModel model, List<PlanStep> steps, List<PlanTensor> tensors, List<PlanTensor> inputs, List<PlanTensor> outputs, List<string> warnings)
    {
        Model = model;
        Steps = steps;
        Tensors = tensors;
        Inputs = inputs;
        Outputs = outputs;
        Warnings = warnings;
    }

    public QuantizedModel Model { get; }
    public IReadOnlyList<PlanStep> Steps { get; }
    /// <summary>Every tensor of the plan (activations, views, constants) in creation order.</summary>
    public IReadOnlyList<PlanTensor> Tensors { get; }
    /// <summary>Model inputs in graph order (their slot receives the quantized input).</summary>
    public IReadOnlyList<PlanTensor> Inputs { get; }
    /// <summary>Model outputs in graph order.</summary>
    public IReadOnlyList<PlanTensor> Outputs { get; }
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Arena size in bytes (offsets aligned to <see cref="ArenaPlanner.Alignment"/>).</summary>
    public int ArenaBytes { get; internal set; }
    /// <summary>Max over steps of the bytes alive at once: no static placement can use less.</summary>
    public int ArenaLowerBound { get; internal set; }

    /// <summary>Names of graph nodes that run in float.</summary>
    public IReadOnlyList<string> FloatNodeNames => Steps.OfType<FloatStep>().Select(s => s.NodeName).ToList();
}
