using System.Globalization;
using System.Text.Json;
using QuantBuild.Verification;

namespace QuantBuild.Emit;

/// <summary>
/// The report's "verify" section (docs/verify.md): the held-out sample count, the thresholds the sidecar set, and per
/// artifact (the QDQ file in ONNX Runtime, the generated code's integer plan) and model output the agreement with the
/// fp32 model in ONNX Runtime. Only present when the sidecar has verify; a report is written only when every threshold
/// held. Figures are rounded (SQNR to 0.01 dB, errors to 4 significant digits) so that the last bits of ONNX Runtime's
/// float kernels, which differ between CPUs, do not reach the report.
/// </summary>
internal static class VerifyReportSection
{
    public static void Write(Utf8JsonWriter json, VerifyResult verify)
    {
        json.WriteStartObject("verify");
        json.WriteNumber("samples", verify.Samples);
        json.WriteString("reference", "the fp32 model in ONNX Runtime (graph optimizations off, one thread)");
        json.WriteString("onnxRuntime", verify.OnnxRuntimeVersion);
        json.WriteStartObject("thresholds");
        if (verify.Settings.MinTop1Agreement is double top1) Rounded(json, "minTop1Agreement", top1);
        if (verify.Settings.MinSqnrDb is double sqnr) Rounded(json, "minSqnrDb", sqnr);
        if (verify.Settings.MaxAbsError is double error) Rounded(json, "maxAbsError", error);
        json.WriteEndObject();
        json.WriteStartArray("artifacts");
        foreach (var artifact in verify.Artifacts)
        {
            json.WriteStartObject();
            json.WriteString("artifact", artifact.Artifact);
            json.WriteStartArray("outputs");
            foreach (var o in artifact.Outputs)
            {
                json.WriteStartObject();
                json.WriteString("name", o.Output);
                if (o.Top1Agreement is double agreement)
                {
                    json.WriteNumber("top1Rows", o.Top1Rows);
                    json.WriteNumber("top1Agree", o.Top1Agree);
                    json.WriteNumber("top1Agreement", Math.Round(agreement, 4));
                }
                if (double.IsFinite(o.SqnrDb)) json.WriteNumber("sqnrDb", Math.Round(o.SqnrDb, 2));
                else json.WriteString("sqnrDb", double.IsPositiveInfinity(o.SqnrDb) ? "inf" : "-inf");
                Rounded(json, "maxAbsError", o.MaxAbsError);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    /// <summary>
    /// The sample count and the per-artifact, per-output figures of a report's verify section, as <see cref="Write"/>
    /// stored them (rounded); null when the report has none.
    /// </summary>
    public static (int Samples, IReadOnlyList<ArtifactAgreement> Artifacts)? Read(byte[] reportJson)
    {
        using var report = JsonDocument.Parse(reportJson);
        if (!report.RootElement.TryGetProperty("verify", out var verify)) return null;
        var artifacts = verify.GetProperty("artifacts").EnumerateArray().Select(a => new ArtifactAgreement(a.GetProperty("artifact").GetString()!,
            a.GetProperty("outputs").EnumerateArray().Select(o =>
            {
                var sqnr = o.GetProperty("sqnrDb");
                double sqnrDb = sqnr.ValueKind == JsonValueKind.String ? (sqnr.GetString() == "inf" ? double.PositiveInfinity : double.NegativeInfinity) : sqnr.GetDouble();
                return new OutputAgreement(o.GetProperty("name").GetString()!,
                    o.TryGetProperty("top1Rows", out var rows) ? rows.GetInt32() : 0, o.TryGetProperty("top1Agree", out var agree) ? agree.GetInt32() : 0,
                    sqnrDb, o.GetProperty("maxAbsError").GetDouble());
            }).ToList())).ToList();
        return (verify.GetProperty("samples").GetInt32(), artifacts);
    }

    /// <summary>Four significant digits.</summary>
    private static void Rounded(Utf8JsonWriter json, string name, double value) =>
        json.WriteNumber(name, double.Parse(value.ToString("G4", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture));
}
