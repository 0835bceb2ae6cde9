namespace QuantBuild.Reporting;

/// <summary>
/// A fixed-frame histogram the report stores (docs/html-report.md, "Histograms"): <see cref="Bins"/> equal bins
/// over [<see cref="Low"/>, <see cref="High"/>), with the values below and above the frame counted apart, so its
/// size is bounded whatever the tensor, and the counts are integers in a fixed order (deterministic).
/// </summary>
public sealed class ValueHistogram
{
    public ValueHistogram(double low, double high, int bins)
    {
        if (!(high > low) || !double.IsFinite(low) || !double.IsFinite(high)) { low = -1; high = 1; }
        Low = low;
        High = high;
        Counts = new long[bins];
    }

    public double Low { get; }
    public double High { get; }
    public long[] Counts { get; }
    public int Bins => Counts.Length;
    public long Below { get; private set; }
    public long Above { get; private set; }

    public void Add(double value)
    {
        if (double.IsNaN(value)) return;
        double position = (value - Low) / (High - Low) * Counts.Length;
        if (position < 0) Below++;
        else if (position >= Counts.Length) Above++;
        else Counts[(int)position]++;
    }

    public void Write(System.Text.Json.Utf8JsonWriter json, string name)
    {
        json.WriteStartObject(name);
        // Frame ends to 6 significant digits: enough to draw, short in the file.
        json.WriteNumber("low", Emit.QuantizationReportSections.SixDigits(Low));
        json.WriteNumber("high", Emit.QuantizationReportSections.SixDigits(High));
        json.WriteNumber("below", Below);
        json.WriteNumber("above", Above);
        WriteCompact(json, "counts", Counts.Select(c => c.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        json.WriteEndObject();
    }

    /// <summary>
    /// A number array on one line (the indented report would give every count a line of its own, tripling the
    /// file): <paramref name="values"/> are already invariant-culture JSON numbers.
    /// </summary>
    public static void WriteCompact(System.Text.Json.Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WritePropertyName(name);
        json.WriteRawValue("[" + string.Join(",", values) + "]", skipInputValidation: true);
    }
}
