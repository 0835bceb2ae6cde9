using System.Globalization;
using System.Text;

namespace QuantBuild.Reporting;

/// <summary>A vertical marker on a histogram: a level of the grid or codebook, or an end of a chosen range.</summary>
public readonly record struct Marker(double X, string Css);

/// <summary>
/// The report's charts as inline SVG (docs/html-report.md): histograms with markers, line charts, and the
/// mixed-precision frontier. Every coordinate is formatted with the invariant culture to a fixed number of
/// decimals, so the same data always gives the same bytes; every label goes through <see cref="Html.Escape"/>.
/// Each chart is an &lt;svg class="chart"&gt; with a &lt;title&gt;, so a browser shows it as one image with a name.
/// </summary>
public static class SvgCharts
{
    private const double DefaultWidth = 320, Height = 150, Left = 44, Right = 8, Top = 8, Bottom = 28;
    private const double PlotHeight = Height - Top - Bottom;

    /// <summary>
    /// Bars of <paramref name="counts"/> over [<paramref name="low"/>, <paramref name="high"/>) with vertical markers;
    /// <paramref name="logCounts"/> draws heights as log(1 + count) so a spike at zero leaves the tails visible.
    /// The values below and above the frame are drawn as bars at the edges (outliers are never dropped from view).
    /// </summary>
    public static string Histogram(string title, IReadOnlyList<long> counts, double low, double high, long below, long above,
        IReadOnlyList<Marker> markers, IReadOnlyList<(double From, double To, string Css)> bands, bool logCounts, string xLabel)
    {
        const double plotWidth = DefaultWidth - Left - Right;
        var svg = Begin("histogram", title, DefaultWidth);
        if (!(high > low) || !double.IsFinite(low) || !double.IsFinite(high))
        {
            // A frame no chart can be drawn in (a hand-edited report): say so rather than write NaN coordinates.
            svg.Append(Note("no usable histogram frame", plotWidth));
            Axes(svg, xLabel, "count", plotWidth);
            return End(svg);
        }
        double Height(long c) => logCounts ? Math.Log(1 + c) : c;
        double max = Math.Max(Math.Max(Height(below), Height(above)), counts.Count == 0 ? 0 : counts.Max(Height));
        if (max <= 0) max = 1;
        double X(double value) => Left + (value - low) / (high - low) * plotWidth;
        foreach (var (from, to, css) in bands)
        {
            double a = Clamp(X(from), plotWidth), b = Clamp(X(to), plotWidth);
            if (b > a) svg.Append($"<rect class=\"{css}\" x=\"{F(a)}\" y=\"{F(Top)}\" width=\"{F(b - a)}\" height=\"{F(PlotHeight)}\"/>");
        }
        double bin = plotWidth / Math.Max(1, counts.Count);
        for (int i = 0; i < counts.Count; i++)
        {
            if (counts[i] == 0) continue;
            double h = Height(counts[i]) / max * PlotHeight;
            svg.Append($"<rect class=\"bar\" x=\"{F(Left + i * bin)}\" y=\"{F(Top + PlotHeight - h)}\" width=\"{F(Math.Max(0.6, bin - 0.4))}\" height=\"{F(h)}\"/>");
        }
        // Out-of-frame values: thin bars just outside the plot's edges.
        if (below > 0) { double h = Height(below) / max * PlotHeight; svg.Append($"<rect class=\"outside\" x=\"{F(Left - 5)}\" y=\"{F(Top + PlotHeight - h)}\" width=\"4\" height=\"{F(h)}\"><title>{below} below the frame</title></rect>"); }
        if (above > 0) { double h = Height(above) / max * PlotHeight; svg.Append($"<rect class=\"outside\" x=\"{F(Left + plotWidth + 1)}\" y=\"{F(Top + PlotHeight - h)}\" width=\"4\" height=\"{F(h)}\"><title>{above} above the frame</title></rect>"); }
        foreach (var m in markers)
        {
            if (!(m.X >= low && m.X <= high)) continue;
            double x = X(m.X);
            svg.Append($"<line class=\"{m.Css}\" x1=\"{F(x)}\" y1=\"{F(Top)}\" x2=\"{F(x)}\" y2=\"{F(Top + PlotHeight)}\"/>");
        }
        Axes(svg, xLabel, logCounts ? "log count" : "count", plotWidth);
        svg.Append(Tick(Left, low)).Append(Tick(Left + plotWidth, high, anchor: "end"));
        // Zero, when it is inside and clear of the end labels.
        if (X(0) - Left > 0.15 * plotWidth && Left + plotWidth - X(0) > 0.15 * plotWidth) svg.Append(Tick(X(0), 0, anchor: "middle"));
        return End(svg);
    }

    /// <summary>A polyline over (x, y) points; <paramref name="logY"/> plots log10(y) (non-positive values are left out).</summary>
    public static string Line(string title, IReadOnlyList<(double X, double Y)> points, string xLabel, string yLabel, bool logY,
        IReadOnlyList<(double Y, string Css, string Label)>? horizontal = null, double width = DefaultWidth)
    {
        double plotWidth = width - Left - Right;
        var svg = Begin("line", title, width);
        var usable = points.Where(p => double.IsFinite(p.X) && double.IsFinite(p.Y) && (!logY || p.Y > 0)).ToList();
        var ys = usable.Select(p => p.Y).Concat((horizontal ?? []).Select(h => h.Y).Where(y => double.IsFinite(y) && (!logY || y > 0))).ToList();
        if (usable.Count == 0 || ys.Count == 0) { svg.Append(Note("no finite points", plotWidth)); Axes(svg, xLabel, yLabel, plotWidth); return End(svg); }
        double T(double y) => logY ? Math.Log10(y) : y;
        double x0 = usable.Min(p => p.X), x1 = usable.Max(p => p.X), y0 = ys.Min(T), y1 = ys.Max(T);
        if (x1 <= x0) x1 = x0 + 1;
        if (y1 <= y0) { y0 -= 0.5; y1 += 0.5; }
        double pad = (y1 - y0) * 0.05;
        y0 -= pad; y1 += pad;
        double X(double x) => Left + (x - x0) / (x1 - x0) * plotWidth;
        double Y(double y) => Top + PlotHeight - (T(y) - y0) / (y1 - y0) * PlotHeight;
        foreach (var (y, css, label) in horizontal ?? [])
        {
            if (!double.IsFinite(y) || (logY && y <= 0)) continue;
            svg.Append($"<line class=\"{css}\" x1=\"{F(Left)}\" y1=\"{F(Y(y))}\" x2=\"{F(Left + plotWidth)}\" y2=\"{F(Y(y))}\"><title>{Html.Escape(label)}</title></line>");
        }
        svg.Append("<polyline class=\"curve\" points=\"");
        svg.AppendJoin(" ", usable.Select(p => $"{F(X(p.X))},{F(Y(p.Y))}"));
        svg.Append("\"/>");
        Axes(svg, xLabel, yLabel + (logY ? " (log)" : ""), plotWidth);
        svg.Append(Tick(Left, x0)).Append(Tick(Left + plotWidth, x1, anchor: "end"));
        svg.Append(YTick(Top + PlotHeight, logY ? Math.Pow(10, y0 + pad) : y0 + pad)).Append(YTick(Top + 8, logY ? Math.Pow(10, y1 - pad) : y1 - pad));
        return End(svg);
    }

    /// <summary>
    /// The error/bytes plane of mixed precision: the frontier as a step line, reference points (uniform widths),
    /// the budget as a vertical line and the chosen allocation as a marked point. Errors are plotted on a log axis.
    /// </summary>
    public static string Frontier(string title, IReadOnlyList<(double Bytes, double Error)> frontier, IReadOnlyList<(double Bytes, double Error, string Label)> references,
        (double Bytes, double Error) chosen, double budget)
    {
        const double plotWidth = DefaultWidth * 2 - Left - Right;
        var svg = Begin("frontier", title, DefaultWidth * 2);
        var all = frontier.Concat(references.Select(r => (r.Bytes, r.Error))).Append(chosen).Where(p => p.Item2 > 0 && double.IsFinite(p.Item2)).ToList();
        if (all.Count == 0) { svg.Append(Note("no positive errors to plot", plotWidth)); Axes(svg, "weight bytes", "Σ error (log)", plotWidth); return End(svg); }
        double x0 = Math.Min(all.Min(p => p.Item1), budget > 0 ? budget : double.MaxValue), x1 = Math.Max(all.Max(p => p.Item1), budget);
        double y0 = all.Min(p => Math.Log10(p.Item2)), y1 = all.Max(p => Math.Log10(p.Item2));
        if (x1 <= x0) x1 = x0 + 1;
        if (y1 <= y0) { y0 -= 0.5; y1 += 0.5; }
        double padX = (x1 - x0) * 0.04, padY = (y1 - y0) * 0.06;
        x0 -= padX; x1 += padX; y0 -= padY; y1 += padY;
        double X(double x) => Left + (x - x0) / (x1 - x0) * plotWidth;
        double Y(double e) => Top + PlotHeight - (Math.Log10(Math.Max(e, 1e-300)) - y0) / (y1 - y0) * PlotHeight;
        if (budget > 0)
            svg.Append($"<line class=\"budget\" x1=\"{F(X(budget))}\" y1=\"{F(Top)}\" x2=\"{F(X(budget))}\" y2=\"{F(Top + PlotHeight)}\"><title>budget {budget.ToString("N0", CultureInfo.InvariantCulture)} bytes</title></line>");
        var line = frontier.Where(p => p.Error > 0 && double.IsFinite(p.Error)).ToList();
        if (line.Count > 0)
        {
            svg.Append("<polyline class=\"curve\" points=\"");
            svg.AppendJoin(" ", line.Select(p => $"{F(X(p.Bytes))},{F(Y(p.Error))}"));
            svg.Append("\"/>");
        }
        foreach (var (bytes, error, label) in references.Where(r => r.Error > 0))
            svg.Append($"<circle class=\"reference\" cx=\"{F(X(bytes))}\" cy=\"{F(Y(error))}\" r=\"3.5\"><title>{Html.Escape(label)}</title></circle>")
               .Append($"<text class=\"label\" x=\"{F(X(bytes) + 5)}\" y=\"{F(Y(error) - 4)}\">{Html.Escape(label)}</text>");
        if (chosen.Error > 0)
            svg.Append($"<circle class=\"chosen\" cx=\"{F(X(chosen.Bytes))}\" cy=\"{F(Y(chosen.Error))}\" r=\"5\"><title>chosen: {chosen.Bytes.ToString("N0", CultureInfo.InvariantCulture)} bytes, Σ error {Num(chosen.Error)}</title></circle>");
        Axes(svg, "weight bytes", "Σ error (log)", plotWidth);
        svg.Append(Tick(Left, x0 + padX)).Append(Tick(Left + plotWidth, x1 - padX, anchor: "end"));
        svg.Append(YTick(Top + PlotHeight, Math.Pow(10, y0 + padY))).Append(YTick(Top + 8, Math.Pow(10, y1 - padY)));
        return End(svg);
    }

    private static StringBuilder Begin(string kind, string title, double width) =>
        new StringBuilder().Append($"<svg class=\"chart {kind}\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {F(width)} {F(Height)}\" width=\"{F(width)}\" height=\"{F(Height)}\" role=\"img\"><title>{Html.Escape(title)}</title>");

    private static string End(StringBuilder svg) => svg.Append("</svg>").ToString();

    private static void Axes(StringBuilder svg, string xLabel, string yLabel, double plotWidth)
    {
        svg.Append($"<path class=\"axis\" d=\"M{F(Left)},{F(Top)}V{F(Top + PlotHeight)}H{F(Left + plotWidth)}\"/>");
        svg.Append($"<text class=\"label\" x=\"{F(Left + plotWidth / 2)}\" y=\"{F(Height - 2)}\" text-anchor=\"middle\">{Html.Escape(xLabel)}</text>");
        svg.Append($"<text class=\"label\" transform=\"translate(10 {F(Top + PlotHeight / 2)}) rotate(-90)\" text-anchor=\"middle\">{Html.Escape(yLabel)}</text>");
    }

    private static string Tick(double x, double value, string anchor = "start") =>
        $"<text class=\"tick\" x=\"{F(x)}\" y=\"{F(Top + PlotHeight + 11)}\" text-anchor=\"{anchor}\">{Html.Escape(Num(value))}</text>";

    private static string YTick(double y, double value) =>
        $"<text class=\"tick\" x=\"{F(Left - 3)}\" y=\"{F(y)}\" text-anchor=\"end\">{Html.Escape(Num(value))}</text>";

    private static string Note(string text, double plotWidth) =>
        $"<text class=\"label\" x=\"{F(Left + plotWidth / 2)}\" y=\"{F(Top + PlotHeight / 2)}\" text-anchor=\"middle\">{Html.Escape(text)}</text>";

    private static double Clamp(double x, double plotWidth) => Math.Clamp(x, Left, Left + plotWidth);

    /// <summary>SVG coordinates to 2 decimals, invariant.</summary>
    private static string F(double value) => value.ToString("0.##", CultureInfo.InvariantCulture);

    /// <summary>A figure as people read it: 4 significant digits, invariant culture.</summary>
    public static string Num(double value) => double.IsNaN(value) ? "—" : double.IsPositiveInfinity(value) ? "+inf" : double.IsNegativeInfinity(value) ? "-inf" : value.ToString("G4", CultureInfo.InvariantCulture);
}
