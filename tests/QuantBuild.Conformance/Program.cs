using System.Globalization;
using QuantBuild.Conformance;

// Command line: runs the ONNX backend tests through the float engine, prints a markdown report on
// stdout (deterministic: no timings), progress and timing on stderr.
const string Usage = """
    usage: dotnet run -c Release --project tests/QuantBuild.Conformance -- [options]
      --data DIR                         backend test data (default /usr/share/libonnx-testdata/data)
      --suite NAME                       node | pytorch-converted | pytorch-operator | simple (repeatable; default the first three)
      --filter SUBSTR                    only tests whose id (suite/name) contains SUBSTR, case-insensitive
      --json PATH                        also write the results as JSON
      --write-expected-failures PATH     write the baseline of non-passing tests (not with --filter)
      --check-expected-failures PATH     exit 1 unless the run reproduces the baseline
      --write-runtime-expected-failures PATH   write the baseline of tests the engine passes and the generated runtime fails
      --check-runtime-expected-failures PATH   exit 1 unless the run reproduces that baseline
      --no-runtime                       skip the generated-runtime run of engine-passing tests
      --threads N                        engine threads per test (default: processor count)
      --verbose                          print each test's outcome on stderr as it finishes
    """;

string dataDir = ConformanceOptions.DefaultDataDirectory;
var suites = new List<string>();
string? filter = null, jsonPath = null, writeExpected = null, checkExpected = null, writeRuntime = null, checkRuntime = null;
bool runtime = true;
int threads = Environment.ProcessorCount;
bool verbose = false;

for (int i = 0; i < args.Length; i++)
{
    string Value()
    {
        if (i + 1 >= args.Length) Fail($"{args[i]} needs a value");
        return args[++i];
    }
    switch (args[i])
    {
        case "--data": dataDir = Value(); break;
        case "--suite": suites.Add(Value()); break;
        case "--filter": filter = Value(); break;
        case "--json": jsonPath = Value(); break;
        case "--write-expected-failures": writeExpected = Value(); break;
        case "--check-expected-failures": checkExpected = Value(); break;
        case "--threads":
            if (!int.TryParse(Value(), NumberStyles.None, CultureInfo.InvariantCulture, out threads) || threads < 1) Fail("--threads needs a positive integer");
            break;
        case "--write-runtime-expected-failures": writeRuntime = Value(); break;
        case "--check-runtime-expected-failures": checkRuntime = Value(); break;
        case "--no-runtime": runtime = false; break;
        case "--verbose": verbose = true; break;
        case "-h" or "--help": Console.Out.Write(Usage); return 0;
        default: Fail($"unknown argument '{args[i]}'"); break;
    }
}
if ((writeExpected is not null || writeRuntime is not null) && filter is not null)
    Fail("--write-expected-failures with --filter would write a partial baseline; drop the filter");

if (!ConformanceRunner.DataAvailable(dataDir))
{
    Console.Error.WriteLine("error: " + ConformanceRunner.MissingDataMessage(dataDir));
    return 2;
}

var options = new ConformanceOptions
{
    DataDirectory = dataDir,
    Suites = suites.Count > 0 ? suites : ConformanceOptions.DefaultSuites,
    Filter = filter,
    EngineThreads = threads,
    CheckGeneratedRuntime = runtime || writeRuntime is not null || checkRuntime is not null,
};

ConformanceRun run;
try
{
    run = ConformanceRunner.Run(options, verbose
        ? r => Console.Error.WriteLine($"{ConformanceReport.OutcomeName(r.Outcome),-21} {r.Id} {r.Reason}" +
                                        (r.Runtime == RuntimeOutcome.NotRun ? "" : $" [runtime {ConformanceReport.RuntimeOutcomeName(r.Runtime)}{(r.RuntimeReason.Length > 0 ? ": " + r.RuntimeReason : "")}]"))
        : null);
}
catch (DirectoryNotFoundException e)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 2;
}

Console.Out.Write(ConformanceReport.ToMarkdown(run));
Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"{run.Results.Count} tests in {run.Elapsed.TotalSeconds:0.00} s: {run.Passed}/{run.Applicable} applicable pass ({run.PassPercentage:0.0}%)"));

if (jsonPath is not null)
{
    File.WriteAllText(jsonPath, ConformanceReport.ToJson(run));
    Console.Error.WriteLine($"wrote {jsonPath}");
}
if (writeExpected is not null)
{
    File.WriteAllText(writeExpected, ExpectedFailures.Format(run));
    Console.Error.WriteLine($"wrote {writeExpected} ({run.Results.Count(r => r.IsTrackedNonPass)} entries)");
}
if (writeRuntime is not null)
{
    File.WriteAllText(writeRuntime, ExpectedFailures.FormatRuntime(run));
    Console.Error.WriteLine($"wrote {writeRuntime} ({run.RuntimeFailures.Count()} entries)");
}
int exitCode = 0;
if (checkRuntime is not null)
{
    var (unexpected, stale) = ExpectedFailures.CompareRuntime(run, ExpectedFailures.Parse(File.ReadAllText(checkRuntime)));
    foreach (var u in unexpected) Console.Error.WriteLine($"runtime fails and not in {checkRuntime}: {u}");
    foreach (var s in stale) Console.Error.WriteLine($"stale entry in {checkRuntime}: {s}");
    if (unexpected.Count + stale.Count > 0) exitCode = 1;
}
if (checkExpected is not null)
{
    var (unexpected, stale) = ExpectedFailures.Compare(run, ExpectedFailures.Parse(File.ReadAllText(checkExpected)));
    foreach (var u in unexpected) Console.Error.WriteLine($"not passing and not in {checkExpected}: {u}");
    foreach (var s in stale) Console.Error.WriteLine($"stale entry in {checkExpected}: {s}");
    if (unexpected.Count + stale.Count > 0) return 1;
}
return exitCode;

static void Fail(string message)
{
    Console.Error.WriteLine("error: " + message);
    Console.Error.Write(Usage);
    Environment.Exit(2);
}
