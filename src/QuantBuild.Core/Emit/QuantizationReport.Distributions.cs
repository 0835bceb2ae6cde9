using System.Text.Json;
using QuantBuild.Quantization;
using QuantBuild.Reporting;

namespace QuantBuild.Emit;

/// <summary>
/// The report's distribution data (docs/html-report.md, "Histograms"): per layer, the float weights
/// histogrammed in units of their channel's scale, with the levels the layer deploys in the same units, so
/// one chart shows every channel's grid or codebook over its weights. Bounded: 64 bins and at most
/// <see cref="MaxListedLevels"/> listed levels per layer (a wider integer grid is given by its ends).
/// </summary>
internal static class ReportDistributions
{
    public const int WeightBins = 64;
    public const int MaxListedLevels = 64;

    public static void WriteWeights(Utf8JsonWriter json, WeightQuantization w, float[] original, float[] dequantized)
    {
        int inner = 1;
        for (int d = w.Axis + 1; d < w.Shape.Length; d++) inner *= w.Shape[d];
        int channels = Math.Max(1, w.Shape.Length == 0 ? 1 : w.Shape[w.Axis]);
        bool inSteps = w.Scales.Length > 0 && w.Scales.All(s => s > 0 && float.IsFinite(s));
        double Scale(int i) => !inSteps ? 1 : w.Scales[w.Scales.Length == 1 ? 0 : i / inner % channels % w.Scales.Length];

        var levels = new SortedSet<double>();
        double low = double.PositiveInfinity, high = double.NegativeInfinity;
        for (int i = 0; i < original.Length; i++)
        {
            double s = Scale(i), u = original[i] / s;
            if (double.IsFinite(u)) { low = Math.Min(low, u); high = Math.Max(high, u); }
            // The deployed value in the same units: an integer code for a linear grid, a table level for a codebook.
            double level = Math.Round(dequantized[i] / s, 4);
            if (double.IsFinite(level) && levels.Count <= 256) levels.Add(level);
        }
        if (w.Encoding == WeightEncoding.Linear && w.ExtraPoints.Count == 0 && w.DecodedFromBits is null && inSteps && w.Bits is >= 2 and <= 8)
        {
            // A linear grid deploys every integer code of its width, used or not: the grid, not the codes this tensor happens to hit.
            int qmax = (1 << (w.Bits - 1)) - 1, qmin = Math.Min(-qmax, w.Codes.Length == 0 ? -qmax : w.Codes.Min());
            levels.Clear();
            for (int q = qmin; q <= qmax; q++) levels.Add(q);
        }
        if (levels.Count > 0) { low = Math.Min(low, levels.Min); high = Math.Max(high, levels.Max); }
        double pad = (high - low) / 64;
        var histogram = new ValueHistogram(low - pad, high + pad, WeightBins);
        for (int i = 0; i < original.Length; i++) histogram.Add(original[i] / Scale(i));

        json.WriteStartObject("distribution");
        json.WriteString("unit", inSteps ? "channel scale" : "value");
        histogram.Write(json, "histogram");
        json.WriteNumber("levelCount", levels.Count > 256 ? -1 : levels.Count);
        if (levels.Count <= MaxListedLevels)
        {
            // Shortest round-trip text of each level (4 decimals at most), as the writer would spell it.
            ValueHistogram.WriteCompact(json, "levels", levels.Select(l => (l == 0 ? 0.0 : l).ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        }
        else if (levels.Count > 0)
        {
            // A wide grid (8-bit linear: every integer code in range) by its ends.
            json.WriteNumber("levelMin", levels.Min);
            json.WriteNumber("levelMax", levels.Max);
        }
        json.WriteEndObject();
    }
}
