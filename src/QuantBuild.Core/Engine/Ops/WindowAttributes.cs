using QuantBuild.Diagnostics;
using QuantBuild.Engine.LinearAlgebra;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// The sliding-window attributes shared by Conv, ConvTranspose and the pools (kernel_shape,
/// strides, dilations, pads, auto_pad), parsed once and resolved against an input shape per call.
/// </summary>
internal sealed class WindowAttributes
{
    public string AutoPad { get; private init; } = "NOTSET";
    public int[]? KernelShape { get; private init; }
    public int[]? Strides { get; private init; }
    public int[]? Dilations { get; private init; }
    public int[]? Pads { get; private init; }

    public static WindowAttributes Parse(Node node)
    {
        var autoPad = node.GetString("auto_pad", "NOTSET");
        if (autoPad is not ("NOTSET" or "SAME_UPPER" or "SAME_LOWER" or "VALID"))
            throw node.Error(DiagnosticCodes.InvalidAttribute, $"auto_pad '{autoPad}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
        var w = new WindowAttributes
        {
            AutoPad = autoPad,
            KernelShape = ToInts(node, "kernel_shape", 1),
            Strides = ToInts(node, "strides", 1),
            Dilations = ToInts(node, "dilations", 1),
            Pads = ToInts(node, "pads", 0),
        };
        if (w.KernelShape is { } k && w.Strides is { } s && s.Length != k.Length)
            throw node.Error(DiagnosticCodes.InvalidAttribute, $"strides has {s.Length} values for a {k.Length}-D kernel");
        if (w.Pads is { Length: var n } && n % 2 != 0)
            throw node.Error(DiagnosticCodes.InvalidAttribute, "pads must hold a begin and an end value per spatial axis");
        return w;
    }

    internal static int[]? ToInts(Node node, string name, int min)
    {
        var v = node.GetInts(name);
        if (v is null) return null;
        var r = new int[v.Length];
        for (int i = 0; i < v.Length; i++)
        {
            if (v[i] < min || v[i] > int.MaxValue)
                throw node.Error(DiagnosticCodes.InvalidAttribute, $"{name}[{i}] = {v[i]} is out of range (must be >= {min})");
            r[i] = (int)v[i];
        }
        return r;
    }

    public int[] StridesFor(int rank) => Check(Strides, rank, "strides") ?? Enumerable.Repeat(1, rank).ToArray();
    public int[] DilationsFor(int rank) => Check(Dilations, rank, "dilations") ?? Enumerable.Repeat(1, rank).ToArray();

    private static int[]? Check(int[]? v, int rank, string name)
    {
        if (v is not null && v.Length != rank)
            throw new QuantBuildException(DiagnosticCodes.ShapeMismatch, $"{name} has {v.Length} values but the input has {rank} spatial axes");
        return v;
    }

    /// <summary>
    /// Output size and padding of a convolution or pool over <paramref name="input"/> (spatial dims).
    /// <paramref name="ceilMode"/> rounds the window count up (pools), dropping a last window that
    /// would start inside the end padding.
    /// </summary>
    public WindowGeometry Resolve(Node node, int[] input, int[] kernel, bool ceilMode, out int[] padEnd)
    {
        int rank = input.Length;
        if (rank < 1 || rank > 3)
            throw node.Error(DiagnosticCodes.ShapeMismatch, $"{rank} spatial axes are not supported (1 to 3)");
        if (kernel.Length != rank)
            throw node.Error(DiagnosticCodes.ShapeMismatch, $"kernel has {kernel.Length} axes but the input has {rank} spatial axes");
        var strides = StridesFor(rank);
        var dilations = DilationsFor(rank);
        var padBegin = new int[rank];
        padEnd = new int[rank];
        var output = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            // 64-bit throughout: kernel, dilation, stride and pads are each up to 2^31 - 1 from the model,
            // and a wrapped product here once sized an output buffer.
            long dk = (long)(kernel[i] - 1) * dilations[i] + 1;
            long outputSize;
            switch (AutoPad)
            {
                case "SAME_UPPER":
                case "SAME_LOWER":
                {
                    outputSize = ((long)input[i] + strides[i] - 1) / strides[i];
                    long total = Math.Max(0, (outputSize - 1) * strides[i] + dk - input[i]);
                    if (total > int.MaxValue)
                        throw node.Error(DiagnosticCodes.TensorTooLarge, $"the padding axis {i} needs ({total}) does not fit 32 bits");
                    padBegin[i] = (int)(AutoPad == "SAME_UPPER" ? total / 2 : total - total / 2);
                    padEnd[i] = (int)total - padBegin[i];
                    break;
                }
                case "VALID":
                    outputSize = input[i] >= dk ? (input[i] - dk) / strides[i] + 1 : 0;
                    break;
                default:
                {
                    if (Pads is not null)
                    {
                        if (Pads.Length != 2 * rank)
                            throw node.Error(DiagnosticCodes.ShapeMismatch, $"pads has {Pads.Length} values for {rank} spatial axes");
                        padBegin[i] = Pads[i];
                        padEnd[i] = Pads[i + rank];
                    }
                    long span = (long)input[i] + padBegin[i] + padEnd[i] - dk;
                    if (span < 0) { outputSize = 0; break; }
                    outputSize = (ceilMode ? (span + strides[i] - 1) / strides[i] : span / strides[i]) + 1;
                    // A last window starting in the end padding covers no input: pools drop it.
                    if (ceilMode && (outputSize - 1) * strides[i] >= (long)input[i] + padBegin[i]) outputSize--;
                    break;
                }
            }
            output[i] = ShapeOpHelpers.CheckedDim(node, outputSize);
        }
        return new WindowGeometry(input, output, kernel, strides, dilations, padBegin);
    }
}
