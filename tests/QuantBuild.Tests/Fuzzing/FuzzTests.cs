using QuantBuild.Diagnostics;
using QuantBuild.Fuzz;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Fuzzing;

/// <summary>
/// The reader fuzzer in the test suite: a short run per target with a fixed seed and iteration count
/// (so it replays the same inputs every time), and every saved crash input replayed. The long runs are
/// the command (docs/fuzzing.md).
/// </summary>
[TestClass]
public sealed class FuzzTests
{
    /// <summary>The seed of the suite's runs; any seed is as good, a fixed one makes failures reproducible.</summary>
    private const ulong Seed = 20261207;

    /// <summary>Roomier than the command's 2 s: test classes share the two cores, and a hang still fails.</summary>
    private static readonly FuzzLimits Limits = FuzzLimits.Default with { Timeout = TimeSpan.FromSeconds(10) };

    public static IEnumerable<object[]> Targets => FuzzTarget.Names.Select(n => new object[] { n });

    [TestMethod]
    [DynamicData(nameof(Targets))]
    public void EverySeedIsAccepted(string name)
    {
        // Mutations of valid inputs are what reach the checks past decoding; a seed that is rejected
        // itself would leave those checks unfuzzed without anyone noticing.
        using var target = FuzzTarget.Create(name, TestAssets.RepoRoot);
        for (int i = 0; i < target.Seeds.Count; i++)
        {
            var result = CaseRunner.Run(target, target.Seeds[i], Limits);
            Assert.AreEqual(Verdict.Accepted, result.Verdict, $"{name} seed {i}: {result.Detail}");
        }
    }

    /// <summary>Mutated inputs per target: together about 20 s on the two-core machine.</summary>
    [TestMethod]
    [DataRow("onnx", 4000)]
    [DataRow("sidecar", 4000)]
    [DataRow("npy", 4000)]
    [DataRow("wav", 4000)]
    [DataRow("image", 4000)]
    public void ShortRunFindsNoCrash(string name, int iterations)
    {
        using var target = FuzzTarget.Create(name, TestAssets.RepoRoot);
        // The time bound only guards against a runaway; the iteration count is what ends the run.
        var report = FuzzRunner.Run(target, Seed, iterations, TimeSpan.FromMinutes(5), Limits);
        Assert.AreEqual(target.Seeds.Count + iterations, report.Executed, "the run ended before its iteration count");
        var crashes = string.Join("\n", report.Crashes.Select(c => $"{c.Result.Signature}: {c.Result.Detail.Split('\n')[0]}"));
        Assert.AreEqual(0, report.Crashes.Count,
            $"{name}: crashes (save the inputs with: dotnet run -c Release --project tests/QuantBuild.Fuzz -- --target {name} --seed {Seed} --iterations {iterations}):\n{crashes}");
        // Some mutants must get through, or the mutations only test the first check.
        Assert.IsTrue(report.Accepted > target.Seeds.Count, $"{name}: only {report.Accepted} of {report.Executed} inputs were accepted");
    }

    [TestMethod]
    [DynamicData(nameof(Targets))]
    public void EverySavedCrashInputEndsInAQbErrorOrSucceeds(string name)
    {
        using var target = FuzzTarget.Create(name, TestAssets.RepoRoot);
        Assert.IsTrue(Directory.Exists(Path.Combine(TestAssets.RepoRoot, "tests", "fuzz-regressions")), "tests/fuzz-regressions is missing");
        var failures = FuzzRunner.Replay(target, TestAssets.RepoRoot, Limits)
            .Where(r => r.Result.Verdict == Verdict.Crash)
            .Select(r => $"{Path.GetFileName(r.File)}: {r.Result.Signature}\n{r.Result.Detail}")
            .ToList();
        Assert.AreEqual(0, failures.Count, string.Join("\n\n", failures));
    }

    [TestMethod]
    public void SameSeedSameInputs()
    {
        using var target = FuzzTarget.Create("npy", TestAssets.RepoRoot);
        static List<string> Sequence(FuzzTarget t, ulong seed)
        {
            var random = new FuzzRandom(seed);
            return Enumerable.Range(0, 50).Select(i => CaseRunner.FileName(t.Mutate(t.Seeds[i % t.Seeds.Count], t.Seeds, random))).ToList();
        }
        CollectionAssert.AreEqual(Sequence(target, 7), Sequence(target, 7));
        CollectionAssert.AreNotEqual(Sequence(target, 7), Sequence(target, 8));
    }

    [TestMethod]
    public void OutcomesAreClassified()
    {
        Assert.AreEqual(Verdict.Accepted, Classify(() => { }).Verdict);
        Assert.AreEqual(Verdict.Rejected, Classify(() => throw new QuantBuildException(DiagnosticCodes.InvalidNpy, "bad")).Verdict);
        // QB3999 is what the CLI prints for an unexpected exception: a crash by another name.
        Assert.AreEqual(Verdict.Crash, Classify(() => throw new QuantBuildException(DiagnosticCodes.InternalError, "oops")).Verdict);
        var npe = Classify(() => throw new NullReferenceException());
        Assert.AreEqual(Verdict.Crash, npe.Verdict);
        StringAssert.StartsWith(npe.Signature, "NullReferenceException");
        var greedy = Classify(() => GC.KeepAlive(new byte[8 << 20]), FuzzLimits.Default with { MaxAllocatedBytes = 1 << 20 });
        Assert.AreEqual((Verdict.Crash, "allocation"), (greedy.Verdict, greedy.Signature));
        var slow = Classify(() => Thread.Sleep(300), FuzzLimits.Default with { Timeout = TimeSpan.FromMilliseconds(50) });
        Assert.AreEqual((Verdict.Crash, "timeout"), (slow.Verdict, slow.Signature));
    }

    private static CaseResult Classify(Action action, FuzzLimits? limits = null)
    {
        using var target = new ActionTarget(action);
        return CaseRunner.Run(target, [], limits ?? Limits);
    }

    private sealed class ActionTarget(Action action) : FuzzTarget
    {
        public override string Name => "action";
        public override IReadOnlyList<byte[]> Seeds => [[]];
        public override byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random) => input;
        public override void Execute(byte[] input) => action();
    }
}
