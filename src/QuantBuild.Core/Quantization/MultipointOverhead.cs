using QuantBuild.Graph;

namespace QuantBuild.Quantization;

/// <summary>
/// What multipoint's extra points cost against single-point quantization at the same bit width
/// (docs/algorithms/multipoint.md, "Cost"): weight bytes (codes packed at the grid width plus one float32 scale per
/// point; and as the integer runtime stores them, int4 for ≤ 4 bits else int8) and multiply-accumulates
/// per inference (each extra row repeats its channel's dot products).
/// </summary>
public sealed record MultipointOverhead(int Layers, int Channels, int ExtraPoints, long SingleBytes, long ExtraBytes,
    long SingleStoredBytes, long ExtraStoredBytes, long SingleMacs, long ExtraMacs)
{
    public double MemoryOverhead => SingleBytes == 0 ? 0 : (double)ExtraBytes / SingleBytes;
    public double MacOverhead => SingleMacs == 0 ? 0 : (double)ExtraMacs / SingleMacs;

    /// <summary>Overhead over every quantized weight of the model (layers without extra points count as single-point).</summary>
    public static MultipointOverhead Of(QuantizedModel model)
    {
        int layers = 0, channels = 0, extra = 0;
        long singleBytes = 0, extraBytes = 0, singleStored = 0, extraStored = 0, singleMacs = 0, extraMacs = 0;
        foreach (var node in model.Graph.Nodes)
        {
            if (!model.Weights.TryGetValue(node.Name, out var w)) continue;
            int storage = w.Bits <= 4 ? 4 : 8;
            long rowLength = w.ChannelLength;
            singleBytes += ((long)w.Codes.Length * w.Bits + 7) / 8 + 4L * w.Scales.Length;
            singleStored += ((long)w.Codes.Length * storage + 7) / 8;
            extraBytes += ((long)w.ExtraPoints.Count * rowLength * w.Bits + 7) / 8 + 4L * w.ExtraPoints.Count;
            extraStored += ((long)w.ExtraPoints.Count * rowLength * storage + 7) / 8;
            // Output positions per channel: the node's output elements over its channels.
            long outputs = model.Graph.ValueInfos.TryGetValue(node.Outputs[0], out var vi) && vi.Shape is not null
                ? vi.ConcreteShape().Aggregate(1L, (a, b) => a * Math.Max(1, b)) : w.Channels;
            long positions = Math.Max(1, outputs / Math.Max(1, w.Channels));
            singleMacs += positions * w.Codes.Length;
            extraMacs += positions * w.ExtraPoints.Count * rowLength;
            if (w.Quantizer == WeightMethod.Multipoint) { layers++; channels += w.Channels; extra += w.ExtraPoints.Count; }
        }
        return new MultipointOverhead(layers, channels, extra, singleBytes, extraBytes, singleStored, extraStored, singleMacs, extraMacs);
    }
}
