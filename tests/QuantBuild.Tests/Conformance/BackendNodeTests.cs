using System.Globalization;
using QuantBuild.Conformance;

namespace QuantBuild.Tests.Conformance;

/// <summary>
/// The ONNX backend node tests (one operator per model) through the float engine: the acceptance bar
/// for the supported operators, and a regression guard via expected-failures.txt.
/// </summary>
[TestClass]
public sealed class BackendNodeTests
{
    private const double RequiredPassPercent = 95.0;
    private const string ExpectedFailuresFile = "expected-failures.txt";

    // Both tests judge the same run; the suite takes seconds, so run it once per test session.
    private static readonly Lazy<ConformanceRun> NodeRun = new(() =>
        ConformanceRunner.Run(new ConformanceOptions { Suites = ["node"] }));

    private static ConformanceRun RunNodeSuite()
    {
        // Missing data is a broken checkout, not a reason to skip: the acceptance bar must not vanish silently.
        if (!ConformanceRunner.DataAvailable(ConformanceOptions.DefaultDataDirectory))
            Assert.Fail(ConformanceRunner.MissingDataMessage(ConformanceOptions.DefaultDataDirectory));
        return NodeRun.Value;
    }

    [TestMethod]
    public void NodeSuite_PassRateOverApplicableTests_IsAtLeast95Percent()
    {
        var run = RunNodeSuite();
        Assert.IsGreaterThan(0, run.Applicable, "no node test uses only supported operators: is OpRegistry finding the kernels?");
        var failures = string.Join("\n", run.Failures.Select(f => $"  {f.Id}: {f.Reason}"));
        Assert.IsGreaterThanOrEqualTo(RequiredPassPercent, run.PassPercentage,
            string.Create(CultureInfo.InvariantCulture, $"{run.Passed} of {run.Applicable} applicable node tests pass ({run.PassPercentage:0.0}%); failures:\n{failures}"));
    }

    [TestMethod]
    public void NodeSuite_NonPassingTests_AreExactlyTheExpectedFailures()
    {
        var run = RunNodeSuite();
        var path = Path.Combine(AppContext.BaseDirectory, "Conformance", ExpectedFailuresFile);
        Assert.IsTrue(File.Exists(path), $"{path} is missing (tests/QuantBuild.Tests/Conformance/{ExpectedFailuresFile}, copied to the output)");
        var (unexpected, stale) = ExpectedFailures.Compare(run, ExpectedFailures.Parse(File.ReadAllText(path)));

        var message = new List<string>();
        if (unexpected.Count > 0)
            message.Add($"{unexpected.Count} node tests do not pass and are not in {ExpectedFailuresFile} (regressions, or new tests for a new kernel):\n  " + string.Join("\n  ", unexpected));
        if (stale.Count > 0)
            message.Add($"{stale.Count} entries of {ExpectedFailuresFile} are stale; remove them:\n  " + string.Join("\n  ", stale));
        if (message.Count > 0)
            Assert.Fail(string.Join("\n", message) + $"\nAfter reviewing, regenerate with:\n  {ExpectedFailures.RegenerateCommand}");
    }
}
