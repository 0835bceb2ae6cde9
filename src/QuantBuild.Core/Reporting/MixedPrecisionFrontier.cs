using System.Text.Json;

namespace QuantBuild.Reporting;

/// <summary>
/// The error/bytes frontier of a mixed-precision report (docs/html-report.md, "Mixed precision"): from each
/// allocatable layer's measured error and bytes per candidate width, the lower convex hull of (Σ bytes, Σ error)
/// over all allocations. Errors are additive in the objective, so the hull is found by starting every layer at
/// its cheapest width and applying the layers' own hull steps in order of error saved per byte — the points a
/// Lagrangian sweep over the budget passes through. The exact solver's choice lies on or above this line.
/// </summary>
public static class MixedPrecisionFrontier
{
    /// <param name="layers">the report's mixedPrecision.layers</param>
    /// <param name="uniform">every allocatable layer at one candidate width, for reference</param>
    /// <param name="chosenError">Σ of the chosen widths' errors</param>
    public static List<(double Bytes, double Error)> Of(IReadOnlyList<JsonElement> layers, out List<(double Bytes, double Error, string Label)> uniform, out double chosenError)
    {
        uniform = [];
        chosenError = 0;
        double fixedBytes = 0;
        var options = new List<List<(int Bits, double Error, double Bytes)>>();
        foreach (var layer in layers)
        {
            var errors = HtmlReport.Get(layer, "errorByBits");
            var bytes = HtmlReport.Get(layer, "bytesByBits");
            if (errors is not { ValueKind: JsonValueKind.Object } || bytes is not { ValueKind: JsonValueKind.Object })
            {
                fixedBytes += HtmlReport.Long(HtmlReport.Get(layer, "bytes"));
                continue;
            }
            var list = new List<(int, double, double)>();
            foreach (var e in errors.Value.EnumerateObject())
                if (int.TryParse(e.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int bits)
                    && HtmlReport.Get(bytes, e.Name) is { } b && double.IsFinite(HtmlReport.Num(e.Value)))
                    list.Add((bits, HtmlReport.Num(e.Value), HtmlReport.Long(b)));
            if (list.Count == 0) { fixedBytes += HtmlReport.Long(HtmlReport.Get(layer, "bytes")); continue; }
            options.Add(list);
            int chosen = (int)HtmlReport.Long(HtmlReport.Get(layer, "bits"));
            chosenError += list.Where(o => o.Item1 == chosen).Select(o => o.Item2).DefaultIfEmpty(0).First();
        }
        if (options.Count == 0) return [];

        // Each layer's lower convex hull from its cheapest option: steps of (Δbytes, Δerror), slopes increasing.
        var steps = new List<(double Slope, int Layer, int Order, double Bytes, double Error)>();
        double totalBytes = fixedBytes, totalError = 0;
        for (int l = 0; l < options.Count; l++)
        {
            var sorted = options[l].OrderBy(o => o.Bytes).ThenBy(o => o.Error).ThenBy(o => o.Bits).ToList();
            var current = sorted[0];
            totalBytes += current.Bytes;
            totalError += current.Error;
            for (int order = 0; ; order++)
            {
                (int Bits, double Error, double Bytes)? next = null;
                double best = 0;
                foreach (var o in sorted)
                {
                    if (o.Bytes <= current.Bytes || o.Error >= current.Error) continue;
                    double slope = (o.Error - current.Error) / (o.Bytes - current.Bytes);
                    if (next is null || slope < best) { best = slope; next = o; }
                }
                if (next is null) break;
                steps.Add((best, l, order, next.Value.Bytes - current.Bytes, next.Value.Error - current.Error));
                current = next.Value;
            }
        }
        var frontier = new List<(double, double)> { (totalBytes, totalError) };
        foreach (var s in steps.OrderBy(s => s.Slope).ThenBy(s => s.Layer).ThenBy(s => s.Order))
        {
            totalBytes += s.Bytes;
            totalError += s.Error;
            frontier.Add((totalBytes, totalError));
        }
        foreach (var bits in options.SelectMany(o => o.Select(x => x.Bits)).Distinct().Order())
            if (options.All(o => o.Any(x => x.Bits == bits)))
                uniform.Add((fixedBytes + options.Sum(o => o.First(x => x.Bits == bits).Bytes), options.Sum(o => o.First(x => x.Bits == bits).Error), $"all {bits}-bit"));
        return frontier;
    }
}
