using System.Globalization;
using QuantBuild.Conformance;

namespace QuantBuild.Tests.Conformance;

/// <summary>
/// The ONNX backend tests through the float engine: the node suite (one operator per model) and the
/// PyTorch-exported suites (small opset-6 networks, so they also go through the importer's legacy
/// opset upgrade). The acceptance bar for the supported operators, and a regression guard via
/// expected-failures.txt.
/// </summary>
[TestClass]
public sealed class BackendNodeTests
{
    private const double RequiredPassPercent = 95.0;
    private const string ExpectedFailuresFile = "expected-failures.txt";
    private const string RuntimeExpectedFailuresFile = "runtime-expected-failures.txt";

    // All tests judge the same run; the suites take seconds, so run them once per test session.
    private static readonly Lazy<ConformanceRun> BackendRun = new(() =>
        ConformanceRunner.Run(new ConformanceOptions { Suites = ConformanceOptions.DefaultSuites }));

    private static ConformanceRun RunBackendSuites()
    {
        // Missing data is a broken checkout, not a reason to skip: the acceptance bar must not vanish silently.
        if (!ConformanceRunner.DataAvailable(ConformanceOptions.DefaultDataDirectory))
            Assert.Fail(ConformanceRunner.MissingDataMessage(ConformanceOptions.DefaultDataDirectory));
        return BackendRun.Value;
    }

    private static ConformanceRun Suite(ConformanceRun run, string suite) =>
        new(run.DataDirectory, [suite], null, run.SupportedOps, run.Results.Where(r => r.Test.Suite == suite), run.Elapsed);

    [TestMethod]
    [DataRow("node")]
    [DataRow("pytorch-converted")]
    [DataRow("pytorch-operator")]
    public void Suite_PassRateOverApplicableTests_IsAtLeast95Percent(string suiteName)
    {
        var run = Suite(RunBackendSuites(), suiteName);
        Assert.IsGreaterThan(0, run.Applicable, $"no {suiteName} test uses only supported operators: is OpRegistry finding the kernels, does the importer accept the opset?");
        var failures = string.Join("\n", run.Failures.Select(f => $"  {f.Id}: {f.Reason}"));
        Assert.IsGreaterThanOrEqualTo(RequiredPassPercent, run.PassPercentage,
            string.Create(CultureInfo.InvariantCulture, $"{run.Passed} of {run.Applicable} applicable {suiteName} tests pass ({run.PassPercentage:0.0}%); failures:\n{failures}"));
    }

    [TestMethod]
    public void BackendSuites_NonPassingTests_AreExactlyTheExpectedFailures()
    {
        var run = RunBackendSuites();
        var path = Path.Combine(AppContext.BaseDirectory, "Conformance", ExpectedFailuresFile);
        Assert.IsTrue(File.Exists(path), $"{path} is missing (tests/QuantBuild.Tests/Conformance/{ExpectedFailuresFile}, copied to the output)");
        var (unexpected, stale) = ExpectedFailures.Compare(run, ExpectedFailures.Parse(File.ReadAllText(path)));

        var message = new List<string>();
        if (unexpected.Count > 0)
            message.Add($"{unexpected.Count} backend tests do not pass and are not in {ExpectedFailuresFile} (regressions, or new tests for a new kernel):\n  " + string.Join("\n  ", unexpected));
        if (stale.Count > 0)
            message.Add($"{stale.Count} entries of {ExpectedFailuresFile} are stale; remove them:\n  " + string.Join("\n  ", stale));
        if (message.Count > 0)
            Assert.Fail(string.Join("\n", message) + $"\nAfter reviewing, regenerate with:\n  {ExpectedFailures.RegenerateCommand}");
    }

    /// <summary>
    /// Any model the engine runs can be deployed: every backend test the engine passes also passes through
    /// the generated runtime's float kernels alone (every node kept float, no engine fallback), except the
    /// listed gaps, each with its reason. The runtime column is measured on the same run.
    /// </summary>
    [TestMethod]
    public void GeneratedRuntime_PassesWhatTheEnginePasses_ExceptTheListedGaps()
    {
        var run = RunBackendSuites();
        Assert.IsGreaterThan(400, run.RuntimeCount(RuntimeOutcome.Passed), "the generated-runtime run did not happen or lost most tests");
        var path = Path.Combine(AppContext.BaseDirectory, "Conformance", RuntimeExpectedFailuresFile);
        Assert.IsTrue(File.Exists(path), $"{path} is missing (tests/QuantBuild.Tests/Conformance/{RuntimeExpectedFailuresFile}, copied to the output)");
        var (unexpected, stale) = ExpectedFailures.CompareRuntime(run, ExpectedFailures.Parse(File.ReadAllText(path)));

        var message = new List<string>();
        if (unexpected.Count > 0)
            message.Add($"{unexpected.Count} backend tests pass in the engine but fail in the generated runtime and are not in {RuntimeExpectedFailuresFile}:\n  " + string.Join("\n  ", unexpected));
        if (stale.Count > 0)
            message.Add($"{stale.Count} entries of {RuntimeExpectedFailuresFile} are stale; remove them:\n  " + string.Join("\n  ", stale));
        if (message.Count > 0)
            Assert.Fail(string.Join("\n", message) + $"\nAfter reviewing, regenerate with:\n  {ExpectedFailures.RuntimeRegenerateCommand}");
    }
}
