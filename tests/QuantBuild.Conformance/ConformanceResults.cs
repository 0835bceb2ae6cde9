namespace QuantBuild.Conformance;

/// <summary>What happened to one backend test.</summary>
public enum TestOutcome
{
    Passed,
    Failed,
    /// <summary>The model uses an operator QuantBuild's engine does not implement: not a failure.</summary>
    UnsupportedOperator,
    /// <summary>A graph input, output or initializer has a type QuantBuild cannot represent at all
    /// (string, bfloat16, complex, float8, int4, or a sequence/map/optional instead of a tensor).</summary>
    UnsupportedDataType,
    /// <summary>The model's default-domain opset is outside the range the importer accepts.</summary>
    UnsupportedOpset,
    /// <summary>The reference output was drawn from a random stream the ONNX spec leaves unspecified
    /// (training-mode Dropout with ratio &gt; 0, Bernoulli): no implementation can reproduce it.</summary>
    RandomReference,
}

/// <summary>One backend test folder (suite/name) and its files.</summary>
public sealed record ConformanceTestCase(string Suite, string Name, string Directory)
{
    /// <summary>Stable identifier used in reports and in the expected-failures file.</summary>
    public string Id => $"{Suite}/{Name}";
}

/// <param name="Ops">distinct operator types of the model (domain-qualified outside the default domain), sorted</param>
/// <param name="Reason">one line: why it failed or is not applicable; empty when passed</param>
/// <param name="Detail">stack trace of an unexpected exception, for the JSON report</param>
public sealed record ConformanceTestResult(
    ConformanceTestCase Test,
    TestOutcome Outcome,
    string Reason,
    IReadOnlyList<string> Ops,
    string? Detail,
    double Milliseconds)
{
    public string Id => Test.Id;

    /// <summary>The generated runtime's float kernels on this test (run only when the engine passes it).</summary>
    public RuntimeOutcome Runtime { get; init; } = RuntimeOutcome.NotRun;

    /// <summary>One line: why the generated runtime failed or does not apply; empty otherwise.</summary>
    public string RuntimeReason { get; init; } = "";

    /// <summary>Counts toward the pass rate: every operator is supported and the data types are representable.</summary>
    public bool IsApplicable => Outcome is TestOutcome.Passed or TestOutcome.Failed;

    /// <summary>
    /// Every operator is supported but the test does not pass (failure, or an unrepresentable type or
    /// opset). These are what the expected-failures baseline tracks: the set is fixed by the data and
    /// the kernels present, so any change in it is news.
    /// </summary>
    public bool IsTrackedNonPass => Outcome is TestOutcome.Failed or TestOutcome.UnsupportedDataType or TestOutcome.UnsupportedOpset;
}

/// <summary>Counts for one operator across the tests whose model uses it.</summary>
/// <param name="RuntimePassed">tests the engine passes that the generated runtime's float kernels pass too</param>
/// <param name="RuntimeFailed">tests the engine passes that the generated runtime fails</param>
/// <param name="RuntimeNotApplicable">tests the engine passes whose model input or output is not float32</param>
public sealed record OpStatistics(string Op, int Passed, int Failed, int NotApplicable, int RuntimePassed = 0, int RuntimeFailed = 0, int RuntimeNotApplicable = 0);

/// <summary>The results of a whole run, in a deterministic order (by test id, ordinal).</summary>
public sealed class ConformanceRun
{
    public ConformanceRun(string dataDirectory, IReadOnlyList<string> suites, string? filter, IReadOnlyCollection<string> supportedOps, IEnumerable<ConformanceTestResult> results, TimeSpan elapsed)
    {
        DataDirectory = dataDirectory;
        Suites = suites;
        Filter = filter;
        SupportedOps = supportedOps.Order(StringComparer.Ordinal).ToList();
        Results = results.OrderBy(r => r.Id, StringComparer.Ordinal).ToList();
        Elapsed = elapsed;
    }

    public string DataDirectory { get; }
    public IReadOnlyList<string> Suites { get; }
    public string? Filter { get; }
    public IReadOnlyList<string> SupportedOps { get; }
    public IReadOnlyList<ConformanceTestResult> Results { get; }
    public TimeSpan Elapsed { get; }

    public int Count(TestOutcome outcome) => Results.Count(r => r.Outcome == outcome);
    public int Passed => Count(TestOutcome.Passed);
    public int Failed => Count(TestOutcome.Failed);
    public int Applicable => Passed + Failed;

    /// <summary>Passed / applicable, in percent; 0 when nothing was applicable.</summary>
    public double PassPercentage => Applicable == 0 ? 0 : 100.0 * Passed / Applicable;

    public IEnumerable<ConformanceTestResult> Failures => Results.Where(r => r.Outcome == TestOutcome.Failed);

    public int RuntimeCount(RuntimeOutcome outcome) => Results.Count(r => r.Runtime == outcome);

    /// <summary>Tests the engine passes and the generated runtime fails.</summary>
    public IEnumerable<ConformanceTestResult> RuntimeFailures => Results.Where(r => r.Runtime == RuntimeOutcome.Failed);

    /// <summary>
    /// One row per supported operator (tests with an unsupported operator still count as N/A for the
    /// supported operators they use), sorted by operator name.
    /// </summary>
    public IReadOnlyList<OpStatistics> PerOp()
    {
        var rows = new List<OpStatistics>();
        foreach (var op in SupportedOps)
        {
            int passed = 0, failed = 0, na = 0, rtPassed = 0, rtFailed = 0, rtNa = 0;
            foreach (var r in Results)
            {
                if (!r.Ops.Contains(op, StringComparer.Ordinal)) continue;
                switch (r.Runtime)
                {
                    case RuntimeOutcome.Passed: rtPassed++; break;
                    case RuntimeOutcome.Failed: rtFailed++; break;
                    case RuntimeOutcome.NotApplicable: rtNa++; break;
                }
                switch (r.Outcome)
                {
                    case TestOutcome.Passed: passed++; break;
                    case TestOutcome.Failed: failed++; break;
                    default: na++; break;
                }
            }
            rows.Add(new OpStatistics(op, passed, failed, na, rtPassed, rtFailed, rtNa));
        }
        return rows;
    }

    /// <summary>Unsupported operators with the number of tests that need each, most needed first.</summary>
    public IReadOnlyList<(string Op, int Tests)> MissingOps()
    {
        var supported = new HashSet<string>(SupportedOps, StringComparer.Ordinal);
        return Results.Where(r => r.Outcome == TestOutcome.UnsupportedOperator)
            .SelectMany(r => r.Ops.Where(op => !supported.Contains(op)))
            .GroupBy(op => op, StringComparer.Ordinal)
            .Select(g => (Op: g.Key, Tests: g.Count()))
            .OrderByDescending(x => x.Tests).ThenBy(x => x.Op, StringComparer.Ordinal)
            .ToList();
    }
}
