using QuantBuild.Conformance;

namespace QuantBuild.Tests.Conformance;

/// <summary>The runner's own rules: tolerance, classification bookkeeping and the baseline comparison.</summary>
[TestClass]
public sealed class ConformanceRunnerTests
{
    private const double Rtol = 1e-3, Atol = 1e-5;

    private static Tensor F(params float[] v) => Tensor.FromFloats(v, v.Length);

    [TestMethod]
    public void Compare_FloatWithinAbsolutePlusRelativeTolerance_Matches()
    {
        // tolerance at 100 is 1e-5 + 0.1 = 0.10001
        Assert.IsNull(TensorComparison.Compare(F(100.1f, 0f), F(100f, 0.000009f), Rtol, Atol));
    }

    [TestMethod]
    public void Compare_FloatOutsideTolerance_ReportsCountAndWorstIndex()
    {
        var expected = Tensor.FromFloats([1f, 2f, 3f, 4f], 2, 2);
        var actual = Tensor.FromFloats([1f, 2.01f, 3f, 4.5f], 2, 2);
        var reason = TensorComparison.Compare(actual, expected, Rtol, Atol);
        Assert.IsNotNull(reason);
        StringAssert.StartsWith(reason, "2 of 4 values differ; worst at [1,1]: got 4.5, expected 4");
    }

    [TestMethod]
    public void Compare_NaNMatchesNaNOnly_AndInfinitiesMustBeEqual()
    {
        Assert.IsNull(TensorComparison.Compare(F(float.NaN, float.PositiveInfinity), F(float.NaN, float.PositiveInfinity), Rtol, Atol));
        Assert.IsNotNull(TensorComparison.Compare(F(1f), F(float.NaN), Rtol, Atol));
        Assert.IsNotNull(TensorComparison.Compare(F(float.NaN), F(1f), Rtol, Atol));
        Assert.IsNotNull(TensorComparison.Compare(F(float.NegativeInfinity), F(float.PositiveInfinity), Rtol, Atol));
        Assert.IsNotNull(TensorComparison.Compare(F(float.MaxValue), F(float.PositiveInfinity), Rtol, Atol));
    }

    [TestMethod]
    public void Compare_IntegersAndBools_AreExact()
    {
        Assert.IsNotNull(TensorComparison.Compare(Tensor.FromInt64([1000001], 1), Tensor.FromInt64([1000000], 1), Rtol, Atol));
        Assert.IsNull(TensorComparison.Compare(Tensor.FromInt64([7, -3], 2), Tensor.FromInt64([7, -3], 2), Rtol, Atol));
        var t = new Tensor(DataType.Bool, [2], new[] { true, false });
        var f = new Tensor(DataType.Bool, [2], new[] { true, true });
        Assert.AreEqual("1 of 2 values differ; first at [1]: got 0, expected 1", TensorComparison.Compare(t, f, Rtol, Atol));
    }

    [TestMethod]
    public void Compare_TypeOrShapeMismatch_IsReportedBeforeValues()
    {
        Assert.AreEqual("shape [2,1], expected [1,2]", TensorComparison.Compare(Tensor.FromFloats([1f, 2f], 2, 1), Tensor.FromFloats([1f, 2f], 1, 2), Rtol, Atol));
        var ints = new Tensor(DataType.Int32, [1], new[] { 1 });
        Assert.AreEqual("type int32, expected int64", TensorComparison.Compare(ints, Tensor.FromInt64([1], 1), Rtol, Atol));
    }

    [TestMethod]
    public void Compare_DoubleAndHalf_UseTheFloatingTolerance()
    {
        var d = new Tensor(DataType.Double, [1], new[] { 1.0005 });
        var de = new Tensor(DataType.Double, [1], new[] { 1.0 });
        Assert.IsNull(TensorComparison.Compare(d, de, Rtol, Atol));
        var h = new Tensor(DataType.Float16, [1], new[] { (Half)1.5f });
        var he = new Tensor(DataType.Float16, [1], new[] { (Half)1.0f });
        Assert.IsNotNull(TensorComparison.Compare(h, he, Rtol, Atol));
    }

    private static ConformanceTestResult Result(string id, TestOutcome outcome, params string[] ops)
    {
        var suite = id[..id.IndexOf('/')];
        return new ConformanceTestResult(new ConformanceTestCase(suite, id[(suite.Length + 1)..], "/nowhere"), outcome, outcome == TestOutcome.Passed ? "" : "why", ops, null, 0);
    }

    private static ConformanceRun Run(string? filter, params ConformanceTestResult[] results) =>
        new("/data", ["node"], filter, ["Add", "Identity"], results, TimeSpan.Zero);

    [TestMethod]
    public void Run_PerOpAndPassRate_CountApplicableTestsOnly()
    {
        var run = Run(null,
            Result("node/test_add", TestOutcome.Passed, "Add"),
            Result("node/test_add_bcast", TestOutcome.Failed, "Add"),
            Result("node/test_add_id", TestOutcome.Passed, "Add", "Identity"),
            Result("node/test_id_seq", TestOutcome.UnsupportedDataType, "Identity"),
            Result("node/test_mul", TestOutcome.UnsupportedOperator, "Add", "Mul"));

        Assert.AreEqual(3, run.Applicable);
        Assert.AreEqual(200.0 / 3, run.PassPercentage, 1e-9);
        var perOp = run.PerOp();
        Assert.AreEqual(new OpStatistics("Add", 2, 1, 1), perOp[0]);
        Assert.AreEqual(new OpStatistics("Identity", 1, 0, 1), perOp[1]);
        Assert.AreEqual(("Mul", 1), run.MissingOps().Single());
        // Results come back sorted by id whatever order they were produced in.
        CollectionAssert.AreEqual(new[] { "node/test_add", "node/test_add_bcast", "node/test_add_id", "node/test_id_seq", "node/test_mul" }, run.Results.Select(r => r.Id).ToArray());
    }

    [TestMethod]
    public void ExpectedFailures_FormatThenParse_RoundTripsTheTrackedTests()
    {
        var run = Run(null,
            Result("node/test_a", TestOutcome.Failed, "Add"),
            Result("node/test_b", TestOutcome.Passed, "Add"),
            Result("node/test_c", TestOutcome.UnsupportedDataType, "Identity"),
            Result("node/test_d", TestOutcome.UnsupportedOperator, "Mul"),
            Result("node/test_e", TestOutcome.RandomReference, "Identity"));
        var parsed = ExpectedFailures.Parse(ExpectedFailures.Format(run));
        CollectionAssert.AreEqual(new[] { "node/test_a", "node/test_c" }, parsed.Keys.ToArray());
        Assert.AreEqual("failed: why", parsed["node/test_a"]);
        var (unexpected, stale) = ExpectedFailures.Compare(run, parsed);
        Assert.IsEmpty(unexpected);
        Assert.IsEmpty(stale);
    }

    [TestMethod]
    public void ExpectedFailures_Compare_FindsRegressionsAndStaleEntries()
    {
        var run = Run(null,
            Result("node/test_regressed", TestOutcome.Failed, "Add"),
            Result("node/test_fixed", TestOutcome.Passed, "Add"),
            Result("node/test_gone_na", TestOutcome.UnsupportedOperator, "Mul"));
        var expected = ExpectedFailures.Parse("""
            # comment
            node/test_fixed  # failed: used to be wrong
            node/test_gone_na
            node/test_renamed  # failed: old name
            pytorch-operator/test_other_suite  # not run, so not judged
            """);
        var (unexpected, stale) = ExpectedFailures.Compare(run, expected);
        Assert.AreEqual("node/test_regressed  # failed: why", unexpected.Single());
        CollectionAssert.AreEqual(new[]
        {
            "node/test_fixed: now passes",
            "node/test_gone_na: now unsupported-operator (why)",
            "node/test_renamed: no such test",
        }, stale.ToArray());
    }

    [TestMethod]
    public void ExpectedFailures_Compare_IgnoresEntriesOutsideTheFilter()
    {
        var run = Run("add", Result("node/test_add", TestOutcome.Passed, "Add"));
        var (_, stale) = ExpectedFailures.Compare(run, ExpectedFailures.Parse("node/test_mul  # failed\nnode/test_add_x  # failed\n"));
        Assert.AreEqual("node/test_add_x: no such test", stale.Single());
    }

    [TestMethod]
    public void ExpectedFailures_Parse_RejectsDuplicates()
    {
        Assert.ThrowsExactly<FormatException>(() => ExpectedFailures.Parse("node/a # x\nnode/a # y\n"));
    }
}
