using System.Diagnostics;

namespace QuantBuild.Fuzz;

/// <summary>What one fuzzing run did.</summary>
public sealed class FuzzReport
{
    public required string Target { get; init; }
    public long Executed { get; set; }
    public int Accepted { get; set; }
    public int CorpusSize { get; set; }
    /// <summary>Distinct crash signatures, each with the first input that produced it.</summary>
    public List<(CaseResult Result, byte[] Input)> Crashes { get; } = new();
    /// <summary>A case hung and did not finish even after a grace period: its thread cannot be stopped, so the run ended there.</summary>
    public bool StoppedOnHang { get; set; }
    public TimeSpan Elapsed { get; set; }
}

/// <summary>
/// The mutation loop. Without coverage instrumentation, "interesting" means a new outcome signature
/// (a QB code with a message shape not seen before, or acceptance): such inputs join the corpus, so the
/// loop digs past the first check that rejects an input towards the later ones.
/// </summary>
public static class FuzzRunner
{
    /// <summary>Corpus entries beyond the seeds; bounded so that a long run does not grow without end.</summary>
    private const int MaxCorpus = 256;

    private static readonly TimeSpan StragglerGrace = TimeSpan.FromSeconds(60);

    /// <param name="maxIterations">stop after this many mutated inputs (the test suite's deterministic bound)</param>
    /// <param name="maxTime">stop after this long (the command's bound); whichever comes first</param>
    /// <param name="onCrash">called with each new crash signature's input, e.g. to save it</param>
    public static FuzzReport Run(FuzzTarget target, ulong seed, long maxIterations, TimeSpan maxTime, FuzzLimits limits,
        Action<CaseResult, byte[]>? onCrash = null)
    {
        var report = new FuzzReport { Target = target.Name };
        var clock = Stopwatch.StartNew();
        var random = new FuzzRandom(seed);
        var corpus = new List<byte[]>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var crashSignatures = new HashSet<string>(StringComparer.Ordinal);

        bool Consider(byte[] input, bool isSeed)
        {
            var result = CaseRunner.Run(target, input, limits);
            report.Executed++;
            if (result.Verdict == Verdict.Accepted) report.Accepted++;
            if (result.Verdict == Verdict.Crash)
            {
                if (crashSignatures.Add(result.Signature))
                {
                    report.Crashes.Add((result, input));
                    onCrash?.Invoke(result, input);
                }
                // A slow case usually finishes eventually; fuzzing on beside it would measure every later case
                // against a busy core, so wait for it, and give up on the run only if it really hangs.
                if (result.Straggler is { } thread && !thread.Join(StragglerGrace)) { report.StoppedOnHang = true; return false; }
            }
            else if (isSeed || (seen.Add(result.Signature) && corpus.Count < target.Seeds.Count + MaxCorpus))
            {
                seen.Add(result.Signature);
                corpus.Add(input);
            }
            return true;
        }

        foreach (var s in target.Seeds)
            if (!Consider(s, isSeed: true)) return Finish();
        for (long i = 0; i < maxIterations && clock.Elapsed < maxTime && corpus.Count > 0; i++)
        {
            // Seeds are picked as often as everything found since, so the well-formed inputs keep being mutated.
            var parent = random.Chance(2) ? random.Pick(target.Seeds) : random.Pick(corpus);
            if (!Consider(target.Mutate(parent, corpus, random), isSeed: false)) break;
        }
        return Finish();

        FuzzReport Finish()
        {
            report.CorpusSize = corpus.Count;
            report.Elapsed = clock.Elapsed;
            return report;
        }
    }

    /// <summary>tests/fuzz-regressions/&lt;target&gt;/ under the repository root.</summary>
    public static string RegressionDirectory(string repoRoot, string target) => Path.Combine(repoRoot, "tests", "fuzz-regressions", target);

    /// <summary>Runs every saved regression input of <paramref name="target"/> again, in file name order.</summary>
    public static List<(string File, CaseResult Result)> Replay(FuzzTarget target, string repoRoot, FuzzLimits limits)
    {
        var dir = RegressionDirectory(repoRoot, target.Name);
        if (!Directory.Exists(dir)) return new();
        return Directory.GetFiles(dir, "*.bin").Order(StringComparer.Ordinal)
            .Select(f => (f, CaseRunner.Run(target, File.ReadAllBytes(f), limits))).ToList();
    }

    /// <summary>tests/fuzz-regressions/open/&lt;target&gt;/: known failures not yet fixed, which the tests do not replay.</summary>
    public static string OpenDirectory(string repoRoot, string target) => Path.Combine(repoRoot, "tests", "fuzz-regressions", "open", target);

    /// <summary>Saves a crashing input as &lt;hash&gt;.bin, unless it is a known open one; returns its path.</summary>
    public static string SaveRegression(string repoRoot, string target, byte[] input)
    {
        var name = CaseRunner.FileName(input);
        var known = Path.Combine(OpenDirectory(repoRoot, target), name);
        if (File.Exists(known)) return known + " (known, open)";
        var dir = RegressionDirectory(repoRoot, target);
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, name);
        File.WriteAllBytes(path, input);
        return path;
    }
}
