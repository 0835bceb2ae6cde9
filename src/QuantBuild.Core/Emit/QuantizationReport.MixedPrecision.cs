using System.Text.Json;
using QuantBuild.Quantization;

namespace QuantBuild.Emit;

/// <summary>
/// The report's optional sections for mixed precision ("mixedPrecision": budget, candidates, the chosen
/// width and bytes per layer with the measured errors behind the choice) and bias correction
/// ("biasCorrection": the corrected layers and the mean shift removed). Absent when not used, so
/// reports of plain runs are unchanged.
/// </summary>
internal static class QuantizationReportSections
{
    public static void Write(Utf8JsonWriter json, QuantizedModel model)
    {
        if (model.BitAllocation is { } a)
        {
            json.WriteStartObject("mixedPrecision");
            json.WriteString("bytesMeasure", "codes packed at their own width (ceil(n*bits/8)) plus float32 scales; storedBytes: as the generated code stores them (int4 for <= 4 bits, int8 above)");
            json.WriteNumber("budgetBytes", a.BudgetBytes);
            json.WriteNumber("chosenBytes", a.ChosenBytes);
            json.WriteNumber("storedBytes", a.StoredBytes);
            json.WriteStartArray("candidates");
            foreach (var b in a.Candidates) json.WriteNumberValue(b);
            json.WriteEndArray();
            json.WriteString("sensitivity", a.Sensitivity);
            json.WriteNumber("sensitivitySamples", a.SensitivitySamples);
            json.WriteString("solver", a.Solver);
            Number(json, "objective", a.Objective);
            long weights = 0;
            double bits = 0;
            json.WriteStartArray("layers");
            foreach (var layer in a.Layers)
            {
                json.WriteStartObject();
                json.WriteString("node", layer.Node);
                json.WriteNumber("bits", layer.Bits);
                json.WriteNumber("bytes", layer.Bytes);
                if (layer.Fixed) json.WriteBoolean("fixed", true);
                if (layer.Errors.Count > 0)
                {
                    json.WriteStartObject("errorByBits");
                    foreach (var (b, error, _) in layer.Errors) Number(json, b.ToString(System.Globalization.CultureInfo.InvariantCulture), error);
                    json.WriteEndObject();
                    // With the errors, the frontier of every budget (docs/html-report.md, "Mixed precision").
                    json.WriteStartObject("bytesByBits");
                    foreach (var (b, _, bytes) in layer.Errors) json.WriteNumber(b.ToString(System.Globalization.CultureInfo.InvariantCulture), bytes);
                    json.WriteEndObject();
                }
                json.WriteEndObject();
                if (model.Weights.TryGetValue(layer.Node, out var w)) { weights += w.Codes.Length; bits += (double)w.Codes.Length * layer.Bits; }
            }
            json.WriteEndArray();
            Number(json, "averageBits", weights == 0 ? 0 : bits / weights);
            json.WriteEndObject();
        }
        if (model.Eptq is { Layers: > 0 } eptq)
        {
            json.WriteStartObject("eptq");
            json.WriteNumber("layers", eptq.Layers);
            json.WriteNumber("iterations", eptq.Iterations);
            Number(json, "initialLoss", eptq.InitialLoss);
            Number(json, "finalLoss", eptq.FinalLoss);
            Number(json, "flippedFraction", eptq.FlippedFraction);
            json.WriteString("curveMeasure", "mini-batch distillation loss (soft rounding), mean over consecutive steps; step = last step of the bucket");
            Reporting.ValueHistogram.WriteCompact(json, "lossCurve", (eptq.LossCurve ?? []).Select(p => string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"[{p.Step},{(double.IsFinite(p.Loss) ? SixDigits(p.Loss).ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "null")}]")));
            json.WriteEndObject();
        }
        if (model.BiasCorrections.Count > 0)
        {
            json.WriteStartArray("biasCorrection");
            foreach (var c in model.BiasCorrections)
            {
                json.WriteStartObject();
                json.WriteString("node", c.Node);
                Number(json, "meanAbsShift", c.MeanAbsShift);
                json.WriteBoolean("biasAdded", c.BiasAdded);
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
    }

    /// <summary>Derived figures to 6 significant digits (errors span orders of magnitude).</summary>
    private static void Number(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, SixDigits(value));
        else json.WriteString(name, "nan");
    }

    /// <summary>A finite figure rounded to 6 significant digits, invariant culture (the report's precision for derived figures).</summary>
    internal static double SixDigits(double value) =>
        double.Parse(value.ToString("G6", System.Globalization.CultureInfo.InvariantCulture), System.Globalization.CultureInfo.InvariantCulture);
}
