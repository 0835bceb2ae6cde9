using System.Globalization;
using QuantBuild.Fuzz;

// Command line: fuzzes the readers for a fixed time each, prints what ran, saves each new crash
// signature's input to tests/fuzz-regressions/<target>/<hash>.bin. Exit 1 if anything crashed.
const string Usage = """
    usage: dotnet run -c Release --project tests/QuantBuild.Fuzz -- [options]
      --target onnx|sidecar|npy|all   reader to fuzz (default all, one after another)
      --seconds N                     time per target (default 60)
      --iterations N                  also stop a target after N mutated inputs (default: no bound)
      --seed S                        PRNG seed; the same seed and bound replay the same inputs (default 1)
      --no-save                       report crashes without writing regression files
      --replay                        run the saved regression inputs instead of fuzzing; print each outcome
    """;

string target = "all";
double seconds = 60;
long iterations = long.MaxValue;
ulong seed = 1;
bool save = true, replay = false;
for (int i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : Fail($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--target": target = Value(); break;
        case "--seconds":
            if (!double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out seconds) || seconds <= 0) Fail("--seconds needs a positive number");
            break;
        case "--iterations":
            if (!long.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out iterations) || iterations < 1) Fail("--iterations needs a positive integer");
            break;
        case "--seed":
            if (!ulong.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out seed)) Fail("--seed needs a non-negative integer");
            break;
        case "--no-save": save = false; break;
        case "--replay": replay = true; break;
        case "-h" or "--help": Console.Out.Write(Usage); return 0;
        default: Fail($"unknown argument '{args[i]}'"); break;
    }
}
var targets = target == "all" ? FuzzTarget.Names : FuzzTarget.Names.Contains(target) ? [target] : [Fail($"unknown target '{target}' (onnx, sidecar, npy, all)")];
var repoRoot = FuzzTarget.FindRepoRoot(AppContext.BaseDirectory);

int crashes = 0;
foreach (var name in targets)
{
    using var fuzzTarget = FuzzTarget.Create(name, repoRoot);
    if (replay)
    {
        foreach (var (file, result) in FuzzRunner.Replay(fuzzTarget, repoRoot, FuzzLimits.Default))
        {
            Console.WriteLine($"{Path.GetRelativePath(repoRoot, file)}: {result.Verdict} {result.Signature}");
            if (result.Verdict == Verdict.Crash)
            {
                crashes++;
                Console.WriteLine(Indented(result.Detail));
            }
        }
        continue;
    }
    var report = FuzzRunner.Run(fuzzTarget, seed, iterations, TimeSpan.FromSeconds(seconds), FuzzLimits.Default, (result, input) =>
    {
        var where = save ? FuzzRunner.SaveRegression(repoRoot, name, input) : "(not saved)";
        Console.Error.WriteLine($"[{name}] crash: {result.Signature} -> {where}");
        Console.Error.WriteLine(Indented(result.Detail));
    });
    crashes += report.Crashes.Count;
    // The repository builds with invariant globalization, so plain interpolation formats invariantly.
    Console.WriteLine(
        $"{name}: {report.Executed} inputs in {report.Elapsed.TotalSeconds:F0} s ({report.Executed / Math.Max(report.Elapsed.TotalSeconds, 1e-3):F0}/s), " +
        $"{report.Accepted} accepted, corpus {report.CorpusSize}, {report.Crashes.Count} crash signature(s), seed {seed}" +
        (report.StoppedOnHang ? " — stopped at a hung input" : ""));
}
// A hung case's thread cannot be stopped; exit explicitly rather than wait for it.
Environment.Exit(crashes > 0 ? 1 : 0);
return 0;

// The first lines of a crash's detail (message and innermost frames), indented under its summary line.
static string Indented(string detail) => "    " + string.Join("\n    ", detail.Split('\n').Take(8));

static string Fail(string message)
{
    Console.Error.WriteLine("error: " + message);
    Console.Error.Write(Usage);
    Environment.Exit(2);
    return "";
}
