using System.Text;

namespace QuantBuild.Conformance;

/// <summary>
/// The baseline of backend tests that use only supported operators yet do not pass, one per line:
/// <c>suite/test  # outcome: reason</c>. A run must reproduce it exactly (for the suites it ran):
/// a new non-passing test is a regression, and an entry that now passes must be removed, so the
/// list stays honest. Only the ids are compared; reasons are for readers.
/// </summary>
public static class ExpectedFailures
{
    public const string RegenerateCommand =
        "dotnet run -c Release --project tests/QuantBuild.Conformance -- --write-expected-failures tests/QuantBuild.Tests/Conformance/expected-failures.txt";

    /// <summary>Parses the file's text: id → reason (empty if none). Blank lines and '#' comment lines are skipped.</summary>
    public static IReadOnlyDictionary<string, string> Parse(string text)
    {
        var entries = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            int hash = line.IndexOf('#', StringComparison.Ordinal);
            var id = (hash < 0 ? line : line[..hash]).Trim();
            var reason = hash < 0 ? "" : line[(hash + 1)..].Trim();
            if (!entries.TryAdd(id, reason))
                throw new FormatException($"'{id}' is listed twice in the expected-failures file");
        }
        return entries;
    }

    public static string Format(ConformanceRun run)
    {
        var sb = new StringBuilder();
        sb.Append("# Backend tests whose operators are all supported but which do not pass: `suite/test  # outcome: reason`.\n");
        sb.Append("# BackendNodeTests requires a run to reproduce this list exactly (ids only), for the suites it runs.\n");
        sb.Append("# Regenerate after merging kernels, then review the diff:\n");
        sb.Append("#   ").Append(RegenerateCommand).Append('\n');
        foreach (var r in run.Results.Where(r => r.IsTrackedNonPass))
            sb.Append(r.Id).Append("  # ").Append(ConformanceReport.OutcomeName(r.Outcome)).Append(": ").Append(r.Reason).Append('\n');
        return sb.ToString();
    }

    /// <summary>Differences between a run and the baseline, each a readable line; empty when they agree.</summary>
    /// <returns>Unexpected: tests that do not pass but are not listed (regressions or new tests).
    /// Stale: listed tests that now pass, are no longer applicable, or do not exist.</returns>
    public static (IReadOnlyList<string> Unexpected, IReadOnlyList<string> Stale) Compare(ConformanceRun run, IReadOnlyDictionary<string, string> expected)
    {
        var unexpected = run.Results
            .Where(r => r.IsTrackedNonPass && !expected.ContainsKey(r.Id))
            .Select(r => $"{r.Id}  # {ConformanceReport.OutcomeName(r.Outcome)}: {r.Reason}")
            .ToList();

        var byId = run.Results.ToDictionary(r => r.Id, StringComparer.Ordinal);
        var stale = new List<string>();
        foreach (var id in expected.Keys.Order(StringComparer.Ordinal))
        {
            if (!InScope(run, id)) continue;
            if (!byId.TryGetValue(id, out var r)) stale.Add($"{id}: no such test");
            else if (r.Outcome == TestOutcome.Passed) stale.Add($"{id}: now passes");
            else if (!r.IsTrackedNonPass) stale.Add($"{id}: now {ConformanceReport.OutcomeName(r.Outcome)} ({r.Reason})");
        }
        return (unexpected, stale);
    }

    public const string RuntimeRegenerateCommand =
        "dotnet run -c Release --project tests/QuantBuild.Conformance -- --write-runtime-expected-failures tests/QuantBuild.Tests/Conformance/runtime-expected-failures.txt";

    /// <summary>
    /// The baseline of tests the engine passes but the generated runtime's float kernels do not:
    /// <c>suite/test  # reason</c>. Each is a known gap of the runtime; the reason says which.
    /// </summary>
    public static string FormatRuntime(ConformanceRun run)
    {
        var sb = new StringBuilder();
        sb.Append("# Backend tests the float engine passes but the generated runtime's float kernels do not: `suite/test  # reason`.\n");
        sb.Append("# BackendNodeTests requires a run to reproduce this list exactly (ids only). Every entry is a runtime gap to close.\n");
        sb.Append("# Regenerate after changing float kernels or bindings, then review the diff:\n");
        sb.Append("#   ").Append(RuntimeRegenerateCommand).Append('\n');
        foreach (var r in run.RuntimeFailures)
            sb.Append(r.Id).Append("  # ").Append(r.RuntimeReason).Append('\n');
        return sb.ToString();
    }

    /// <summary>Like <see cref="Compare"/> for the runtime baseline: unexpected runtime failures, and entries that no longer fail in the runtime.</summary>
    public static (IReadOnlyList<string> Unexpected, IReadOnlyList<string> Stale) CompareRuntime(ConformanceRun run, IReadOnlyDictionary<string, string> expected)
    {
        var unexpected = run.RuntimeFailures.Where(r => !expected.ContainsKey(r.Id)).Select(r => $"{r.Id}  # {r.RuntimeReason}").ToList();
        var byId = run.Results.ToDictionary(r => r.Id, StringComparer.Ordinal);
        var stale = new List<string>();
        foreach (var id in expected.Keys.Order(StringComparer.Ordinal))
        {
            if (!InScope(run, id)) continue;
            if (!byId.TryGetValue(id, out var r)) stale.Add($"{id}: no such test");
            else if (r.Runtime != RuntimeOutcome.Failed) stale.Add($"{id}: runtime now {ConformanceReport.RuntimeOutcomeName(r.Runtime)}");
        }
        return (unexpected, stale);
    }

    /// <summary>An entry is checked only when the run covered its suite and matched the filter.</summary>
    private static bool InScope(ConformanceRun run, string id)
    {
        int slash = id.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0 || !run.Suites.Contains(id[..slash], StringComparer.Ordinal)) return false;
        return run.Filter is not { Length: > 0 } f || id.Contains(f, StringComparison.OrdinalIgnoreCase);
    }
}
