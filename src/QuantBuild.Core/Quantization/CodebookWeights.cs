using QuantBuild.Runtime;

namespace QuantBuild.Quantization;

/// <summary>
/// One group's codebook as a quantizer found it: real table entries indexed by code, the code of every
/// value, and optionally the int8 step the table should be stored with (0 = max|entry|/127).
/// </summary>
public sealed record CodebookGroup(double[] Table, int[] Codes, float PreferredScale = 0f);

/// <summary>
/// Shared plumbing of the non-uniform weight quantizers (LogQuant, WEQ): gathers each output channel
/// (or the whole tensor), lets the method build a real-valued table and codes, then stores the table
/// as int8 levels × one float scale per table (or one table shared by all channels, each with its own
/// scale, when the channels' int8 tables are equal). The int8 step is what makes the layer deployable on the
/// ordinary int8 × int8 → int32 kernels: the runtime decodes a code to its int8 level and the
/// requantizer applies s_x·scale exactly as for linear weights. <see cref="WeightQuantization.Codebooks"/>
/// therefore holds level·scale (the values really executed), not the method's ideal reals.
/// </summary>
public static class CodebookWeights
{
    /// <summary>
    /// The layer's smallest form: its per-channel tables, one shared table when they are all equal
    /// (<see cref="BuildTables"/>), or its decoded levels where those take fewer bytes (<see cref="DecodedIfSmaller"/>).
    /// </summary>
    public static WeightQuantization Build(WeightQuantizationRequest r, string method, int bits, Func<float[], CodebookGroup> quantizeGroup)
    {
        var codebook = BuildTables(r, method, bits, quantizeGroup, shareEqualTables: true);
        var (_, outer, inner, axisLength) = ChannelLayout.Of(r.Shape, r.Axis, r.PerChannel);
        return DecodedIfSmaller(codebook, r.PerChannel, outer, inner, axisLength);
    }

    /// <summary>
    /// The codebook form: per-group int8 level tables with their scales, and each weight's index. With
    /// <paramref name="shareEqualTables"/>, per-channel tables that are all equal (LogQuant's always are: 0, ±1, … ±64
    /// at 2^(FSR−7), only the scale differs per channel) are kept once, with the channels' scales: every weight is
    /// still <c>level · scale_c</c>, so <see cref="WeightQuantization.Codebooks"/> and
    /// <see cref="WeightQuantization.Dequantize"/> are the same, and the layer stores one table of 2^b levels
    /// instead of one per channel (docs/algorithms/weq.md, "One shared table").
    /// </summary>
    internal static WeightQuantization BuildTables(WeightQuantizationRequest r, string method, int bits, Func<float[], CodebookGroup> quantizeGroup,
        bool shareEqualTables = false)
    {
        if (bits < 2 || bits > 8) throw new ArgumentException($"{method} weights need 2 to 8 bits, got {bits}");
        foreach (var v in r.Values)
            if (!float.IsFinite(v)) throw new ArgumentException("weights hold NaN or infinity");
        var shape = r.Shape;
        int axis = r.Axis;
        bool perChannel = r.PerChannel;
        var (channels, outer, inner, axisLength) = ChannelLayout.Of(shape, axis, perChannel);
        int tableSize = 1 << bits;

        var codes = new sbyte[r.Values.Length];
        var levels = new sbyte[channels][];
        var reals = new float[channels][];
        var scales = new float[channels];
        for (int c = 0; c < channels; c++)
        {
            // The channel's elements (a strided slice when the axis is not the first) and where they came from.
            var positions = new List<int>(r.Values.Length / channels);
            if (!perChannel) for (int i = 0; i < r.Values.Length; i++) positions.Add(i);
            else
                for (int o = 0; o < outer; o++)
                    for (int i = 0; i < inner; i++) positions.Add((o * axisLength + c) * inner + i);
            var values = positions.Select(p => r.Values[p]).ToArray();
            var group = quantizeGroup(values);
            if (group.Table.Length != tableSize || group.Codes.Length != values.Length)
                throw new InvalidOperationException($"{method}: a group returned {group.Table.Length} table entries / {group.Codes.Length} codes");
            (levels[c], scales[c]) = ToInt8(group.Table, group.PreferredScale);
            reals[c] = levels[c].Select(l => l * scales[c]).ToArray();
            for (int k = 0; k < positions.Count; k++) codes[positions[k]] = unchecked((sbyte)(byte)group.Codes[k]);
        }
        return new WeightQuantization
        {
            NodeName = r.Node.Name,
            WeightName = r.WeightName,
            Shape = shape,
            Axis = axis,
            Bits = bits,
            Encoding = WeightEncoding.Codebook,
            Codes = codes,
            Scales = scales,
            Codebooks = reals,
            CodebookLevels = shareEqualTables && levels.All(t => t.AsSpan().SequenceEqual(levels[0])) ? [levels[0]] : levels,
            Method = method,
            Quantizer = WeightMethods.FromLabel(method),
        };
    }

    /// <summary>
    /// A layer whose tables outweigh what its indices save (few weights per table: depthwise channels, or 8-bit
    /// indices, which are as large as the int8 levels themselves) is stored as its decoded int8 levels with the
    /// same per-table scales: the same real values (level · scale), so the same QDQ meaning and the same integer
    /// kernel (a codebook layer decodes its indices once and runs the int8 kernel on exactly these levels), in fewer
    /// bytes (docs/algorithms/weq.md, "Storage"). The layer keeps its method; its encoding becomes linear 8-bit.
    /// </summary>
    private static WeightQuantization DecodedIfSmaller(WeightQuantization codebook, bool perChannel, int outer, int inner, int axisLength)
    {
        var tables = codebook.CodebookLevels!;
        long decodedBytes = codebook.Codes.Length + 4L * codebook.Scales.Length;
        if (decodedBytes >= QuantizationPipeline.QuantizedWeightBytes(codebook)) return codebook;
        var decoded = new sbyte[codebook.Codes.Length];
        for (int p = 0; p < decoded.Length; p++)
        {
            // Element p's channel along the axis: p = (o·axisLength + c)·inner + i.
            int table = perChannel && tables.Length > 1 ? p / inner % axisLength : 0;
            decoded[p] = tables[table][(byte)codebook.Codes[p]];
        }
        return new WeightQuantization
        {
            NodeName = codebook.NodeName,
            WeightName = codebook.WeightName,
            Shape = codebook.Shape,
            Axis = codebook.Axis,
            Bits = 8,
            Codes = decoded,
            Scales = codebook.Scales,
            Method = codebook.Method,
            Quantizer = codebook.Quantizer,
            DecodedFromBits = codebook.Bits,
        };
    }

    /// <summary>
    /// Table reals → int8 levels on the restricted grid [-127, 127] and their scale: the preferred scale
    /// when given (LogQuant keeps powers of two exact), else max|entry|/127; an all-zero table gets scale 1.
    /// </summary>
    public static (sbyte[] Levels, float Scale) ToInt8(double[] table, float preferredScale = 0f)
    {
        double max = table.Length == 0 ? 0 : table.Max(Math.Abs);
        float scale = preferredScale > 0 ? preferredScale
            : max > 0 ? QuantParams.FromRange(-(float)max, (float)max, -127, 127, symmetric: true).Scale : 1f;
        var levels = new sbyte[table.Length];
        for (int k = 0; k < table.Length; k++)
            levels[k] = (sbyte)Math.Clamp(Math.Round(table[k] / scale, MidpointRounding.ToEven), -127, 127);
        return (levels, scale);
    }
}
