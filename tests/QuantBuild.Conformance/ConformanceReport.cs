using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace QuantBuild.Conformance;

/// <summary>
/// Renders a run as markdown (for people; byte-identical between runs with the same results, so it
/// can be diffed) and as JSON (for scripts; adds timings).
/// </summary>
public static class ConformanceReport
{
    public static string ToMarkdown(ConformanceRun run)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.AppendLine("# ONNX backend conformance (float engine, and the generated runtime's float kernels)");
        sb.AppendLine();
        sb.AppendLine(inv, $"Suites: {string.Join(", ", run.Suites)}{(run.Filter is { Length: > 0 } ? $" (filter \"{run.Filter}\")" : "")}");
        sb.AppendLine();
        sb.AppendLine(inv, $"**{run.Passed} of {run.Applicable} applicable tests pass ({Percent(run.PassPercentage)})**, {run.Failed} fail. " +
                           $"Not applicable: {run.Count(TestOutcome.UnsupportedOperator)} unsupported operator, " +
                           $"{run.Count(TestOutcome.UnsupportedDataType)} unsupported data type, " +
                           $"{run.Count(TestOutcome.UnsupportedOpset)} unsupported opset, " +
                           $"{run.Count(TestOutcome.RandomReference)} random reference output. Total {run.Results.Count} tests.");
        sb.AppendLine();

        bool runtime = run.Results.Any(r => r.Runtime != RuntimeOutcome.NotRun);
        if (runtime)
        {
            int rtPassed = run.RuntimeCount(RuntimeOutcome.Passed), rtFailed = run.RuntimeCount(RuntimeOutcome.Failed);
            sb.AppendLine(inv, $"**Generated runtime (float kernels only): {rtPassed} of {rtPassed + rtFailed} engine-passing tests pass**, {rtFailed} fail; " +
                               $"{run.RuntimeCount(RuntimeOutcome.NotApplicable)} not applicable (a model input or output that is not float32).");
            sb.AppendLine();
        }

        sb.AppendLine("## Per operator");
        sb.AppendLine();
        sb.AppendLine("N/A counts tests that use the operator but are not applicable (another operator unsupported, or an unsupported type/opset).");
        if (runtime)
            sb.AppendLine("Runtime columns: of the tests the engine passes, those the generated runtime's float kernels pass, fail, or cannot take (non-float32 model input/output).");
        sb.AppendLine();
        sb.AppendLine(runtime ? "| op | passed | failed | N/A | runtime passed | runtime failed | runtime N/A |" : "| op | passed | failed | N/A |");
        sb.AppendLine(runtime ? "|---|---:|---:|---:|---:|---:|---:|" : "|---|---:|---:|---:|");
        foreach (var row in run.PerOp())
        {
            if (runtime)
                sb.AppendLine(inv, $"| {row.Op} | {row.Passed} | {row.Failed} | {row.NotApplicable} | {row.RuntimePassed} | {row.RuntimeFailed} | {row.RuntimeNotApplicable} |");
            else
                sb.AppendLine(inv, $"| {row.Op} | {row.Passed} | {row.Failed} | {row.NotApplicable} |");
        }
        sb.AppendLine();

        if (runtime)
        {
            var rtFailures = run.RuntimeFailures.ToList();
            sb.AppendLine(inv, $"## Passed by the engine, failed by the generated runtime ({rtFailures.Count})");
            sb.AppendLine();
            foreach (var r in rtFailures)
                sb.AppendLine(inv, $"- `{r.Id}` — {r.RuntimeReason}");
            if (rtFailures.Count == 0) sb.AppendLine("None.");
            sb.AppendLine();
        }

        sb.AppendLine(inv, $"## Failing tests ({run.Failed})");
        sb.AppendLine();
        foreach (var r in run.Failures)
            sb.AppendLine(inv, $"- `{r.Id}` — {r.Reason}");
        if (run.Failed == 0) sb.AppendLine("None.");
        sb.AppendLine();

        var typeOrOpset = run.Results.Where(r => r.Outcome is TestOutcome.UnsupportedDataType or TestOutcome.UnsupportedOpset or TestOutcome.RandomReference).ToList();
        sb.AppendLine(inv, $"## Not applicable: supported operators, but unsupported data type or opset, or random reference ({typeOrOpset.Count})");
        sb.AppendLine();
        foreach (var r in typeOrOpset)
            sb.AppendLine(inv, $"- `{r.Id}` — {r.Reason}");
        if (typeOrOpset.Count == 0) sb.AppendLine("None.");
        sb.AppendLine();

        var missing = run.MissingOps();
        sb.AppendLine(inv, $"## Not applicable: unsupported operators ({missing.Count} operators, {run.Count(TestOutcome.UnsupportedOperator)} tests)");
        sb.AppendLine();
        if (missing.Count == 0) sb.AppendLine("None.");
        else
        {
            sb.AppendLine("| op | tests needing it |");
            sb.AppendLine("|---|---:|");
            foreach (var (op, tests) in missing)
                sb.AppendLine(inv, $"| {op} | {tests} |");
        }
        return sb.ToString();
    }

    public static string ToJson(ConformanceRun run)
    {
        var doc = new JsonReport(
            run.DataDirectory,
            run.Suites,
            run.Filter,
            new JsonSummary(run.Results.Count, run.Applicable, run.Passed, run.Failed,
                run.Count(TestOutcome.UnsupportedOperator), run.Count(TestOutcome.UnsupportedDataType), run.Count(TestOutcome.UnsupportedOpset),
                run.Count(TestOutcome.RandomReference),
                Math.Round(run.PassPercentage, 3), Math.Round(run.Elapsed.TotalSeconds, 3)),
            run.PerOp().Select(r => new JsonOp(r.Op, r.Passed, r.Failed, r.NotApplicable, r.RuntimePassed, r.RuntimeFailed, r.RuntimeNotApplicable)).ToList(),
            run.MissingOps().Select(m => new JsonMissingOp(m.Op, m.Tests)).ToList(),
            run.Results.Select(r => new JsonTest(r.Id, OutcomeName(r.Outcome), r.Reason.Length == 0 ? null : r.Reason,
                r.Runtime == RuntimeOutcome.NotRun ? null : RuntimeOutcomeName(r.Runtime), r.RuntimeReason.Length == 0 ? null : r.RuntimeReason,
                r.Ops, Math.Round(r.Milliseconds, 3), r.Detail)).ToList());
        return JsonSerializer.Serialize(doc, JsonContext.Default.JsonReport);
    }

    /// <summary>Kebab-case outcome names used in JSON and in the expected-failures file.</summary>
    public static string OutcomeName(TestOutcome outcome) => outcome switch
    {
        TestOutcome.Passed => "passed",
        TestOutcome.Failed => "failed",
        TestOutcome.UnsupportedOperator => "unsupported-operator",
        TestOutcome.UnsupportedDataType => "unsupported-type",
        TestOutcome.UnsupportedOpset => "unsupported-opset",
        TestOutcome.RandomReference => "random-reference",
        _ => outcome.ToString(),
    };

    public static string RuntimeOutcomeName(RuntimeOutcome outcome) => outcome switch
    {
        RuntimeOutcome.Passed => "passed",
        RuntimeOutcome.Failed => "failed",
        RuntimeOutcome.NotApplicable => "not-applicable",
        _ => "not-run",
    };

    private static string Percent(double p) => p.ToString("0.0", CultureInfo.InvariantCulture) + "%";

    internal sealed record JsonReport(string DataDirectory, IReadOnlyList<string> Suites, string? Filter, JsonSummary Summary,
        IReadOnlyList<JsonOp> Ops, IReadOnlyList<JsonMissingOp> UnsupportedOps, IReadOnlyList<JsonTest> Tests);
    internal sealed record JsonSummary(int Total, int Applicable, int Passed, int Failed, int UnsupportedOperator, int UnsupportedType,
        int UnsupportedOpset, int RandomReference, double PassPercent, double Seconds);
    internal sealed record JsonOp(string Op, int Passed, int Failed, int NotApplicable, int RuntimePassed, int RuntimeFailed, int RuntimeNotApplicable);
    internal sealed record JsonMissingOp(string Op, int Tests);
    internal sealed record JsonTest(string Id, string Outcome, string? Reason, string? Runtime, string? RuntimeReason, IReadOnlyList<string> Ops, double Milliseconds, string? Detail);
}

[JsonSourceGenerationOptions(WriteIndented = true, PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ConformanceReport.JsonReport))]
internal sealed partial class JsonContext : JsonSerializerContext;
