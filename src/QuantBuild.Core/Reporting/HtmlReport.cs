using System.Globalization;
using System.Text;
using System.Text.Json;

namespace QuantBuild.Reporting;

/// <summary>
/// <c>&lt;Name&gt;.report.html</c> (docs/html-report.md): the report.json of a model as one self-contained page —
/// inline CSS and SVG charts, no script, no external resource — so it opens from disk, offline, in any browser.
/// The page is a function of the report's bytes alone, so the same inputs give the same page (stage timings stay
/// in the build log, like the report keeps them out). Sections this renderer does not know (added by newer
/// builds) are shown as generic tables, so new report data is visible without a renderer change.
/// </summary>
public static class HtmlReport
{
    /// <summary>Top-level report keys with a section of their own; every other key is rendered generically.</summary>
    private static readonly HashSet<string> Known = new(StringComparer.Ordinal)
    {
        "formatVersion", "model", "represents", "settings", "notes", "layers", "activations", "quality", "floatNodes",
        "generatedCode", "sizes", "mixedPrecision", "eptq",
    };

    /// <summary>At most this many per-layer and per-activation charts are drawn (the tables list every entry).</summary>
    public const int MaxCharts = 400;

    public static byte[] Render(JsonElement report)
    {
        var html = new StringBuilder();
        string model = Text(Get(report, "model"));
        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
            .Append("<title>QuantBuild report: ").Append(Html.Escape(model)).Append("</title><style>").Append(Css).Append("</style></head><body>\n");
        html.Append("<h1>QuantBuild report: <span class=\"name\">").Append(Html.Escape(model)).Append("</span></h1>\n");
        if (Get(report, "represents") is { } represents) html.Append("<p class=\"represents\">").Append(Html.Escape(Text(represents))).Append("</p>\n");

        Summary(html, report);
        QualityOverview(html, report);
        Layers(html, report);
        Activations(html, report);
        if (Get(report, "mixedPrecision") is { ValueKind: JsonValueKind.Object } mixed) MixedPrecision(html, mixed);
        if (Get(report, "eptq") is { ValueKind: JsonValueKind.Object } eptq) Eptq(html, eptq);

        // Everything else, in file order: known-to-be-simple sections and sections added after this renderer.
        foreach (var property in report.EnumerateObject())
        {
            if (Known.Contains(property.Name)) continue;
            html.Append("<section class=\"generic\" id=\"section-").Append(Html.Escape(property.Name)).Append("\"><h2>").Append(Html.Escape(property.Name)).Append("</h2>\n");
            Generic(html, property.Value, 0);
            html.Append("</section>\n");
        }
        foreach (var name in new[] { "settings", "notes" })
            if (Get(report, name) is { } section)
            {
                html.Append("<section class=\"generic\" id=\"section-").Append(name).Append("\"><h2>").Append(name).Append("</h2>\n");
                Generic(html, section, 0);
                html.Append("</section>\n");
            }
        html.Append("<footer>Written by QuantBuild from ").Append(Html.Escape(model)).Append(".report.json; see docs/html-report.md for what each chart shows.</footer>\n</body></html>\n");
        return new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(html.ToString());
    }

    private static void Summary(StringBuilder html, JsonElement report)
    {
        html.Append("<section id=\"summary\"><h2>Summary</h2>\n<table class=\"kv\">");
        var settings = Get(report, "settings");
        var weights = Get(settings, "weights");
        var activations = Get(settings, "activations");
        Row(html, "weights", $"{Text(Get(weights, "method"))}, {Text(Get(weights, "bits"))} bits, {(Bool(Get(weights, "perChannel")) ? "per channel" : "per tensor")}, range {Text(Get(weights, "range"))}");
        Row(html, "activations", $"{Text(Get(activations, "method"))}, {Text(Get(activations, "bits"))} bits{(Bool(Get(activations, "symmetric")) ? ", symmetric" : "")}" +
            (Get(activations, "levels") is { } levels ? $", {Text(levels)} levels ({Text(Get(activations, "levelBits"))} bits)" : ""));
        var calibration = Get(settings, "calibration");
        Row(html, "calibration", $"{Text(Get(calibration, "samples"))} samples from {Text(Get(calibration, "files"))} files");
        var sizes = Get(report, "sizes");
        long fp32 = Long(Get(sizes, "weightsFp32Bytes")), quantized = Long(Get(sizes, "weightsQuantizedBytes"));
        Row(html, "quantized weights", $"{Bytes(fp32)} fp32 → {Bytes(quantized)} ({SvgCharts.Num(Num(Get(sizes, "weightCompression")))}×)");
        var stored = Get(sizes, "storedConstants");
        if (stored is not null)
        {
            if (Get(stored.Value, "quantOnnxBytes") is { } onnx)
                Row(html, "constants in .quant.onnx", $"{Bytes(Long(Get(stored.Value, "fp32Bytes")))} fp32 → {Bytes(Long(onnx))} ({SvgCharts.Num(Num(Get(stored.Value, "quantOnnxCompression")))}×)");
            if (Get(stored.Value, "generatedCodeBytes") is { } code)
                Row(html, "constants in generated C#", $"{Bytes(Long(Get(stored.Value, "fp32Bytes")))} fp32 → {Bytes(Long(code))} ({SvgCharts.Num(Num(Get(stored.Value, "generatedCodeCompression")))}×)");
        }
        if (Get(sizes, "modelFp32FileBytes") is { } modelBytes) Row(html, "model file", Bytes(Long(modelBytes)) + (Get(sizes, "quantOnnxFileBytes") is { } q ? $" fp32 → {Bytes(Long(q))} .quant.onnx" : ""));
        var generated = Get(report, "generatedCode");
        if (generated is not null)
        {
            Row(html, "arena (generated C#)", Bytes(Long(Get(generated.Value, "arenaBytes"))));
            Row(html, "plan steps", $"{Text(Get(generated.Value, "integerSteps"))} integer, {Text(Get(generated.Value, "floatSteps"))} float");
        }
        if (Get(report, "quality") is { } quality)
            foreach (var output in Items(Get(quality, "outputs")))
                Row(html, "output " + Text(Get(output, "name")), $"SQNR {Db(Get(output, "sqnrDb"))} vs fp32 on {Text(Get(quality, "samples"))} samples");
        Row(html, "time per stage", "in the build log, one line per stage (\"NAME: calibrate 246 ms\"): measured times differ from run to run, " +
            "so they stay out of this page and the report, which the same inputs reproduce byte for byte");
        html.Append("</table>\n");

        // Float nodes and why: the generated code's float steps carry their reason; without C# only the excluded list exists.
        var floatSteps = Items(Get(generated, "floatNodes")).ToList();
        var excluded = Items(Get(report, "floatNodes")).Select(e => Text(e)).ToList();
        html.Append("<h3>Nodes that compute in float</h3>\n");
        if (floatSteps.Count > 0)
        {
            html.Append("<table><tr><th>node</th><th>op</th><th>why</th></tr>");
            foreach (var f in floatSteps)
                html.Append("<tr><td class=\"name\">").Append(Html.Escape(Text(Get(f, "node")))).Append("</td><td>").Append(Html.Escape(Text(Get(f, "op"))))
                    .Append("</td><td>").Append(Html.Escape(Text(Get(f, "reason")))).Append("</td></tr>");
            html.Append("</table>\n");
        }
        else if (excluded.Count > 0)
            html.Append("<p>Excluded from quantization: <span class=\"name\">").Append(Html.Escape(string.Join(", ", excluded))).Append("</span></p>\n");
        else
            html.Append("<p>None: every step of the plan is integer.</p>\n");
        html.Append("</section>\n");
    }

    /// <summary>SQNR of every measured activation in plan order: where along the network the loss starts.</summary>
    private static void QualityOverview(StringBuilder html, JsonElement report)
    {
        var measured = Items(Get(Get(report, "quality"), "activations")).ToList();
        if (measured.Count == 0) return;
        var points = measured.Select((a, i) => ((double)i, Num(Get(a, "sqnrDb")))).ToList();
        html.Append("<section id=\"quality\"><h2>Measured SQNR along the network</h2>\n<p>Each stored int8 activation of the integer plan against the float model, in plan order (")
            .Append(measured.Count).Append(" tensors; infinite values are left out).</p>\n<figure>")
            .Append(SvgCharts.Line("SQNR per activation in plan order", points, "activation (plan order)", "SQNR dB", logY: false, width: 960)).Append("</figure></section>\n");
    }

    private static void Layers(StringBuilder html, JsonElement report)
    {
        var layers = Items(Get(report, "layers")).ToList();
        html.Append("<section id=\"layers\"><h2>Layers (").Append(layers.Count).Append(")</h2>\n");
        if (layers.Count == 0) { html.Append("<p>No quantized layers.</p></section>\n"); return; }
        var measured = Measured(report);
        html.Append("<table><tr><th>node</th><th>op</th><th>bits</th><th>method</th><th>weight SQNR</th><th>output SQNR (measured at)</th><th>fp32 bytes</th><th>quantized bytes</th></tr>");
        foreach (var layer in layers)
        {
            string output = Text(Get(layer, "measuredOutput"));
            string outputSqnr = output.Length > 0 && measured.TryGetValue(output, out var m) ? $"{Db(Get(m, "sqnrDb"))} ({output})" : "—";
            html.Append("<tr><td class=\"name\">").Append(Html.Escape(Text(Get(layer, "node")))).Append("</td><td>").Append(Html.Escape(Text(Get(layer, "op"))))
                .Append("</td><td>").Append(Html.Escape(Text(Get(layer, "bits")))).Append("</td><td>").Append(Html.Escape(Text(Get(layer, "method"))))
                .Append(Get(layer, "encoding") is { } encoding ? " (" + Html.Escape(Text(encoding)) + ")" : "")
                .Append("</td><td>").Append(Db(Get(layer, "sqnrDb"))).Append("</td><td class=\"name\">").Append(Html.Escape(outputSqnr))
                .Append("</td><td class=\"num\">").Append(Long(Get(layer, "fp32Bytes")).ToString("N0", CultureInfo.InvariantCulture))
                .Append("</td><td class=\"num\">").Append(Long(Get(layer, "quantizedBytes")).ToString("N0", CultureInfo.InvariantCulture)).Append("</td></tr>");
        }
        html.Append("</table>\n<h3>Weight distributions</h3>\n<p>Each layer's float weights divided by their channel's scale (so every channel's grid lines up), with the levels the layer deploys drawn as lines: " +
            "a linear grid's integer codes, or a codebook's levels. Out-of-frame bars at the edges count weights the grid cannot reach.</p>\n<div class=\"grid\">");
        int drawn = 0;
        foreach (var layer in layers)
        {
            if (Get(layer, "distribution") is not { ValueKind: JsonValueKind.Object } distribution || Get(distribution, "histogram") is not { } histogram) continue;
            if (drawn++ == MaxCharts) { html.Append("<p>… charts of the remaining layers are left out (").Append(MaxCharts).Append(" drawn).</p>"); break; }
            var markers = new List<Marker>();
            string levelsNote;
            var levels = Items(Get(distribution, "levels")).Select(l => Num(l)).ToList();
            if (levels.Count > 0)
            {
                markers.AddRange(levels.Select(l => new Marker(l, "level")));
                levelsNote = $"{levels.Count} levels";
            }
            else
            {
                double min = Num(Get(distribution, "levelMin")), max = Num(Get(distribution, "levelMax"));
                markers.Add(new Marker(min, "edge"));
                markers.Add(new Marker(max, "edge"));
                long count = Long(Get(distribution, "levelCount"));
                levelsNote = count < 0 ? "more than 256 levels" : $"{count} levels from {SvgCharts.Num(min)} to {SvgCharts.Num(max)} (ends drawn)";
            }
            string name = Text(Get(layer, "node"));
            html.Append("<figure class=\"card\"><figcaption><span class=\"name\">").Append(Html.Escape(name)).Append("</span> ")
                .Append(Html.Escape($"{Text(Get(layer, "bits"))}-bit {Text(Get(layer, "method"))}, {levelsNote}, SQNR {Db(Get(layer, "sqnrDb"))}")).Append("</figcaption>")
                .Append(HistogramOf(histogram, $"weights of {name} with the deployed levels", markers, [], logCounts: false, "weight / channel scale"))
                .Append("</figure>");
        }
        html.Append("</div></section>\n");
    }

    private static void Activations(StringBuilder html, JsonElement report)
    {
        var activations = Items(Get(report, "activations")).ToList();
        html.Append("<section id=\"activations\"><h2>Activations (").Append(activations.Count).Append(")</h2>\n");
        if (activations.Count == 0) { html.Append("<p>No quantized activations.</p></section>\n"); return; }
        var measured = Measured(report);
        html.Append("<table><tr><th>tensor</th><th>calibrated range</th><th>scale</th><th>zero point</th><th>bits</th><th>observed (quality samples)</th><th>clipped</th><th>SQNR</th></tr>");
        foreach (var a in activations)
        {
            string name = Text(Get(a, "name"));
            measured.TryGetValue(name, out var m);
            bool has = m.ValueKind == JsonValueKind.Object;
            html.Append("<tr><td class=\"name\">").Append(Html.Escape(name)).Append("</td><td>")
                .Append(Get(a, "min") is { } min ? $"[{SvgCharts.Num(Num(min))}, {SvgCharts.Num(Num(Get(a, "max")))}]" : "—")
                .Append("</td><td>").Append(SvgCharts.Num(Num(Get(a, "scale")))).Append("</td><td>").Append(Html.Escape(Text(Get(a, "zeroPoint"))))
                .Append("</td><td>").Append(Html.Escape(Text(Get(a, "bits")))).Append("</td><td>")
                .Append(has ? $"[{SvgCharts.Num(Num(Get(m, "observedMin")))}, {SvgCharts.Num(Num(Get(m, "observedMax")))}]" : "—").Append("</td><td>")
                .Append(has ? Percent(Get(m, "clippedFraction")) : "—").Append("</td><td>")
                .Append(has ? Db(Get(m, "sqnrDb")) : "—").Append("</td></tr>");
        }
        html.Append("</table>\n");
        var charted = activations.Select(a => Text(Get(a, "name"))).Where(n => measured.TryGetValue(n, out var m) && Get(m, "histogram") is not null).ToList();
        if (charted.Count > 0)
        {
            html.Append("<h3>Chosen range over the observed distribution</h3>\n<p>The float model's values of each tensor on the quality samples (log counts), the int8 grid's range shaded and its ends drawn; " +
                "the frame reaches a quarter of the grid beyond each end, and bars outside the plot count what lies further out.</p>\n<div class=\"grid\">");
            int drawn = 0;
            foreach (var name in charted)
            {
                if (drawn++ == MaxCharts) { html.Append("<p>… charts of the remaining activations are left out (").Append(MaxCharts).Append(" drawn).</p>"); break; }
                var m = measured[name];
                double low = Num(Get(m, "rangeMin")), high = Num(Get(m, "rangeMax"));
                html.Append("<figure class=\"card\"><figcaption><span class=\"name\">").Append(Html.Escape(name)).Append("</span> ")
                    .Append(Html.Escape($"range [{SvgCharts.Num(low)}, {SvgCharts.Num(high)}], SQNR {Db(Get(m, "sqnrDb"))}, {Percent(Get(m, "clippedFraction"))} clipped")).Append("</figcaption>")
                    .Append(HistogramOf(Get(m, "histogram")!.Value, $"values of {name} with the chosen range", [new Marker(low, "edge"), new Marker(high, "edge")],
                        [(low, high, "range")], logCounts: true, "value"))
                    .Append("</figure>");
            }
            html.Append("</div>\n");
        }
        else
            html.Append("<p>No distributions: the build measures them with the output quality check (C# output on, quality.samples &gt; 0).</p>\n");
        html.Append("</section>\n");
    }

    private static void MixedPrecision(StringBuilder html, JsonElement mixed)
    {
        html.Append("<section id=\"mixed-precision\"><h2>Mixed precision</h2>\n<table class=\"kv\">");
        Row(html, "budget", Bytes(Long(Get(mixed, "budgetBytes"))));
        Row(html, "chosen", $"{Bytes(Long(Get(mixed, "chosenBytes")))} ({SvgCharts.Num(Num(Get(mixed, "averageBits")))} bits on average; stored {Bytes(Long(Get(mixed, "storedBytes")))})");
        Row(html, "candidates", string.Join(", ", Items(Get(mixed, "candidates")).Select(e => Text(e))) + " bits");
        Row(html, "sensitivity", $"{Text(Get(mixed, "sensitivity"))} on {Text(Get(mixed, "sensitivitySamples"))} samples; solver {Text(Get(mixed, "solver"))}; Σ error {SvgCharts.Num(Num(Get(mixed, "objective")))}");
        html.Append("</table>\n");

        var layers = Items(Get(mixed, "layers")).ToList();
        var frontier = MixedPrecisionFrontier.Of(layers, out var uniform, out double chosenError);
        if (frontier.Count > 0)
        {
            html.Append("<p>The line is the lower convex frontier of every allocation of the candidate widths (Σ of the layers' measured errors against their bytes); " +
                "circles are every layer at one width, the filled point is the allocation the solver chose under the budget (dashed).</p>\n<figure>")
                .Append(SvgCharts.Frontier("error/bytes frontier with the chosen allocation", frontier, uniform, (Long(Get(mixed, "chosenBytes")), chosenError), Long(Get(mixed, "budgetBytes"))))
                .Append("</figure>\n");
        }
        else
            html.Append("<p>No frontier: the report lists no per-width bytes (written by an older build).</p>\n");
        html.Append("<table><tr><th>node</th><th>bits</th><th>bytes</th><th>error by width</th></tr>");
        foreach (var l in layers)
        {
            html.Append("<tr><td class=\"name\">").Append(Html.Escape(Text(Get(l, "node")))).Append("</td><td>").Append(Html.Escape(Text(Get(l, "bits"))))
                .Append(Bool(Get(l, "fixed")) ? " (fixed)" : "").Append("</td><td class=\"num\">").Append(Long(Get(l, "bytes")).ToString("N0", CultureInfo.InvariantCulture)).Append("</td><td>");
            if (Get(l, "errorByBits") is { ValueKind: JsonValueKind.Object } errors)
                html.Append(Html.Escape(string.Join(", ", errors.EnumerateObject().Select(e => $"{e.Name}: {SvgCharts.Num(Num(e.Value))}"))));
            html.Append("</td></tr>");
        }
        html.Append("</table></section>\n");
    }

    private static void Eptq(StringBuilder html, JsonElement eptq)
    {
        html.Append("<section id=\"eptq\"><h2>EPTQ</h2>\n<table class=\"kv\">");
        Row(html, "layers optimized", Text(Get(eptq, "layers")));
        Row(html, "steps", Text(Get(eptq, "iterations")));
        Row(html, "distillation loss", $"{SvgCharts.Num(Num(Get(eptq, "initialLoss")))} with nearest rounding → {SvgCharts.Num(Num(Get(eptq, "finalLoss")))} after EPTQ");
        Row(html, "weights rounded the other way", Percent(Get(eptq, "flippedFraction")));
        html.Append("</table>\n");
        var curve = Items(Get(eptq, "lossCurve")).Select(p => p.ValueKind == JsonValueKind.Array && p.GetArrayLength() == 2 ? (Num(p[0]), Num(p[1])) : (double.NaN, double.NaN)).ToList();
        html.Append("<p>").Append(Html.Escape(Text(Get(eptq, "curveMeasure")))).Append("; the lines mark the whole-set loss before and after.</p>\n<figure>")
            .Append(SvgCharts.Line("EPTQ loss curve", curve, "step", "loss", logY: true,
                [(Num(Get(eptq, "initialLoss")), "before", "nearest rounding"), (Num(Get(eptq, "finalLoss")), "after", "after EPTQ")], width: 640))
            .Append("</figure></section>\n");
    }

    /// <summary>quality.activations by name; a name listed twice keeps its first entry (the file may come from anywhere).</summary>
    private static Dictionary<string, JsonElement> Measured(JsonElement report)
    {
        var measured = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
        foreach (var a in Items(Get(Get(report, "quality"), "activations"))) measured.TryAdd(Text(Get(a, "name")), a);
        return measured;
    }

    private static string HistogramOf(JsonElement histogram, string title, IReadOnlyList<Marker> markers, IReadOnlyList<(double, double, string)> bands, bool logCounts, string xLabel) =>
        SvgCharts.Histogram(title, Items(Get(histogram, "counts")).Select(c => Long(c)).ToList(), Num(Get(histogram, "low")), Num(Get(histogram, "high")),
            Long(Get(histogram, "below")), Long(Get(histogram, "above")), markers, bands, logCounts, xLabel);

    /// <summary>Any JSON value as HTML: objects as key/value tables, arrays of objects as tables with the union of their keys, scalars as text.</summary>
    private static void Generic(StringBuilder html, JsonElement value, int depth)
    {
        switch (value.ValueKind)
        {
            case JsonValueKind.Object when depth < 4:
                html.Append("<table class=\"kv\">");
                foreach (var p in value.EnumerateObject())
                {
                    html.Append("<tr><th>").Append(Html.Escape(p.Name)).Append("</th><td>");
                    Generic(html, p.Value, depth + 1);
                    html.Append("</td></tr>");
                }
                html.Append("</table>");
                break;
            case JsonValueKind.Array when depth < 4 && value.GetArrayLength() > 0 && value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Object):
                var columns = new List<string>();
                foreach (var row in value.EnumerateArray())
                    foreach (var p in row.EnumerateObject())
                        if (!columns.Contains(p.Name) && columns.Count < 40) columns.Add(p.Name);
                html.Append("<table><tr>");
                foreach (var c in columns) html.Append("<th>").Append(Html.Escape(c)).Append("</th>");
                html.Append("</tr>");
                foreach (var row in value.EnumerateArray())
                {
                    html.Append("<tr>");
                    foreach (var c in columns)
                    {
                        html.Append("<td>");
                        if (Get(row, c) is { } cell) Generic(html, cell, depth + 1);
                        html.Append("</td>");
                    }
                    html.Append("</tr>");
                }
                html.Append("</table>");
                break;
            case JsonValueKind.Array when value.EnumerateArray().All(e => e.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array)):
                var items = value.EnumerateArray().Select(e => Text(e)).ToList();
                html.Append(Html.Escape(string.Join(", ", items.Take(200)) + (items.Count > 200 ? $", … ({items.Count - 200} more)" : "")));
                break;
            case JsonValueKind.Object or JsonValueKind.Array:
                // Deeper than a table can show: the JSON itself, shortened.
                var raw = value.GetRawText();
                html.Append("<code>").Append(Html.Escape(raw.Length > 400 ? raw[..400] + " …" : raw)).Append("</code>");
                break;
            default:
                html.Append(Html.Escape(Text(value)));
                break;
        }
    }

    private static void Row(StringBuilder html, string key, string value) =>
        html.Append("<tr><th>").Append(Html.Escape(key)).Append("</th><td>").Append(Html.Escape(value)).Append("</td></tr>");

    internal static JsonElement? Get(JsonElement? element, string name) =>
        element is { ValueKind: JsonValueKind.Object } e && e.TryGetProperty(name, out var v) ? v : null;

    internal static IEnumerable<JsonElement> Items(JsonElement? element) =>
        element is { ValueKind: JsonValueKind.Array } e ? e.EnumerateArray() : [];

    internal static string Text(JsonElement? element) => element switch
    {
        null => "",
        { ValueKind: JsonValueKind.String } e => e.GetString() ?? "",
        { ValueKind: JsonValueKind.True } => "true",
        { ValueKind: JsonValueKind.False } => "false",
        { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined } => "",
        { } e => e.GetRawText(),
    };

    /// <summary>A number, or the strings the report writes for non-finite figures ("inf", "-inf", "nan"); NaN for anything else.</summary>
    internal static double Num(JsonElement? element) => element switch
    {
        { ValueKind: JsonValueKind.Number } e when e.TryGetDouble(out var d) => d,
        { ValueKind: JsonValueKind.String } e => e.GetString() switch { "inf" => double.PositiveInfinity, "-inf" => double.NegativeInfinity, _ => double.NaN },
        _ => double.NaN,
    };

    internal static long Long(JsonElement? element) => element is { ValueKind: JsonValueKind.Number } e && e.TryGetInt64(out var l) ? l : 0;

    private static bool Bool(JsonElement? element) => element is { ValueKind: JsonValueKind.True };

    private static string Db(JsonElement? element)
    {
        double db = Num(element);
        return double.IsNaN(db) ? "—" : double.IsPositiveInfinity(db) ? "+inf dB (exact)" : db.ToString("0.0", CultureInfo.InvariantCulture) + " dB";
    }

    /// <summary>A fraction as a percentage to 3 decimals; "—" when the report has none.</summary>
    private static string Percent(JsonElement? fraction)
    {
        double value = Num(fraction);
        return double.IsFinite(value) ? (value * 100).ToString("0.###", CultureInfo.InvariantCulture) + " %" : "—";
    }

    private static string Bytes(long bytes) =>
        bytes.ToString("N0", CultureInfo.InvariantCulture) + " B" + (bytes >= 1024 ? $" ({(bytes / 1024.0).ToString(bytes >= 1 << 20 ? "F0" : "F1", CultureInfo.InvariantCulture)} KiB)" : "");

    private const string Css =
        "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#1d1d1f;background:#fff}h1{font-size:1.5em}h2{margin-top:1.6em;border-bottom:1px solid #ccc}" +
        ".name{font-family:ui-monospace,monospace;word-break:break-all}.represents{color:#555;max-width:70em;font-size:.9em}" +
        "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}th{background:#f4f4f6}" +
        "td.num{text-align:right}table.kv th{width:14em}code{font-size:.85em}" +
        ".grid{display:flex;flex-wrap:wrap;gap:10px}figure{margin:.5em 0}figure.card{border:1px solid #ddd;padding:4px;width:322px}figcaption{font-size:.8em;height:3.2em;overflow:hidden}" +
        "svg.chart{display:block;background:#fff}.bar{fill:#4a78c2}.outside{fill:#c2504a}.level{stroke:#e08a00;stroke-width:1;opacity:.8}.edge{stroke:#c2504a;stroke-width:1.5}" +
        ".range{fill:#3bb273;opacity:.15}.axis{fill:none;stroke:#444}.label{font-size:10px;fill:#333}.tick{font-size:9px;fill:#555}" +
        ".curve{fill:none;stroke:#4a78c2;stroke-width:1.5}.budget{stroke:#c2504a;stroke-dasharray:4 3}.before{stroke:#999;stroke-dasharray:3 3}.after{stroke:#3bb273;stroke-dasharray:3 3}" +
        ".reference{fill:#fff;stroke:#555}.chosen{fill:#e08a00;stroke:#333}footer{margin-top:2em;color:#777;font-size:.8em}";
}
