using QuantBuild.Graph.Transforms;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Oracle;

// QuantBuild benchmarks: every timing is compared with ONNX Runtime measured in the same run.
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- fp32  [options]
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- agree [options]
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- codebook   (linear vs LogQuant vs WEQ weights at 8/4/3/2 bits:
//                          MNIST held-out accuracy and ppocr-cls agreement, ours and ORT on our QDQ; artifacts/bench-codebook.json)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- multipoint [--models ID,...]   (multipoint vs linear
//                          weights at equal bytes: MNIST held-out accuracy, real-model SQNR/top-1; artifacts/bench-multipoint.json)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- eptq  [options]   (EPTQ vs nearest vs uniform weights; see EptqSuite.cs)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- int8  [options]   (W8A8 and W4A8: our integer
//                          runtime vs ORT on our QDQ file vs ORT fp32, weight bytes; artifacts/bench-int8.json;
//                          --qdq-types uint8,int8: ORT timed on the QDQ file written with each code type)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- task  [--models ppocr-cls,oww] [--samples N] [--out FILE.json]
//                          (task metrics on the labelled sets of .assets/task: fp32 engine / ORT, W8A8 in our
//                          integer runtime and as QDQ in ORT, decision agreement, SQNR; artifacts/bench-task.json;
//                          --profile: integer runtime vs ORT step by step on the first unit they decide differently;
//                          --qdq-types uint8,int8: one W8A8 row per QDQ code type, outputs.qdqIntegerType, default uint8)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- mixed [--models mnist,oww-embedding]   (accuracy of
//                          mixed precision and bias correction vs uniform widths; artifacts/bench-mixed.json)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- methods [--models mnist,ppocr-cls,oww] [--methods linear,weq,...]
//                          [--activations linear,log,weighted-log,uniform --activation-bits 4,3]  (level grids of ReLU outputs)
//                          [--bits 8,4,3,2] [--samples N] [--out FILE.json]   (every weight method x width, int8 activations, on
//                          the task sets: task metric ours / QDQ in ORT, agreement + SQNR vs fp32, bytes, time; the papers'
//                          claims side by side; artifacts/bench-methods.json)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- seed [--models mnist,ppocr-cls,oww-embedding]
//                          [--methods multipoint-w8,multipoint-w4,log-w4,weq-w4,log-act-a4] [--iters N] [--profile]
//                          (seed kernels vs the plain int8 row of the same model, our integer runtime only, same run,
//                          interleaved rounds, min and median ms; artifacts/bench-seed.json; see SeedSuite.cs)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- memory [--cli LABEL=PATH ...] [--samples 4,32]
//                          (peak RSS of `quantbuild quantize`, one child process per configuration: PaddleOCR classifier and
//                          the PP-OCRv4 detector at 640x640; see MemorySuite.cs)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- ort-run MODEL.onnx --input NAME=FILE.npy ... --out DIR
//                          [--chunk K] [--optimization LEVEL]   (ONNX Runtime in process, one .npy per output; the asset
//                          scripts under tests/oracle/ chain models with it; see OrtRunCommand.cs)
//   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- wakeword [--scores] FILE.wav ... | wakeword calibration WAV_DIR OUT_DIR
//                          (the wake-word sample's chain in fp32 ONNX Runtime: detections to compare with the sample's, and
//                          the sample's calibration tensors; see WakeWordReference.cs and samples/run-wakeword.sh)
// Options: --models ID,ID        only these real models (ids from .assets/inputs/manifest.json)
//          --model FILE.onnx --input NAME=FILE.npy ...   an ad-hoc model instead of the real ones
//          --warmup N --iters N  (fp32; defaults 5 and 30)
//          --out FILE.json       (fp32; default artifacts/bench-fp32.json)
//          --profile             (fp32) also time every node in extra runs; (int8) every step of our runtime
// Exit code: 0 when every model ran in both engines, 1 otherwise (the table still shows the rest).

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
try
{
    if (args.Length > 0 && args[0] == "eptq") return EptqSuite.Run(args[1..], RepoRoot.Find());
    if (args.Length > 0 && args[0] == "ort-run") return OrtRunCommand.Run(args[1..]);
    if (args.Length > 0 && args[0] == "wakeword") return WakeWordReference.Run(args[1..], RepoRoot.Find());
    if (args.Length > 0 && args[0] == "memory") return MemorySuite.Run(args[1..], RepoRoot.Find());
    var options = BenchOptions.Parse(args);
    var root = RepoRoot.Find();
    var oracle = new OrtOracle();
    if (options.Mode == "task") return TaskSuite.Run(oracle, options, root);
    if (options.Mode == "methods") return MethodsSuite.Run(oracle, options, root);
    if (options.Mode == "seed") return SeedSuite.Run(RealModelCatalog.Load(Path.Combine(root, ".assets")), options, root);
    IReadOnlyList<RealModel> models = options.Mode == "mixed" ? [] : options.SelectModels(root);
    return options.Mode switch
    {
        "fp32" => Fp32Suite.Run(models, oracle, options, root),
        "int8" => Int8Suite.Run(models, oracle, options, root),
        "codebook" => CodebookSuite.Run(models, oracle, root),
        "multipoint" => MultipointSuite.Run(models, oracle, options, root),
        "mixed" => MixedPrecisionSuite.Run(options, root),
        _ => AgreeSuite.Run(models, oracle),
    };
}
catch (Exception e) when (e is ArgumentException or FileNotFoundException or OracleException or QuantBuildException)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 2;
}

sealed record BenchOptions(string Mode, string[]? ModelIds, string? ModelPath, Dictionary<string, string> Inputs, int Warmup, int Iters, string? OutPath, bool Profile, int Samples = 0, string[]? Methods = null, int[]? Bits = null,
    string[]? ActivationLevels = null, int[]? ActivationBits = null, QuantBuild.Configuration.QdqIntegerType[]? QdqTypes = null, bool[]? AutoPrecision = null)
{
    public static BenchOptions Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("fp32" or "agree" or "int8" or "task" or "codebook" or "multipoint" or "mixed" or "methods" or "seed"))
            throw new ArgumentException("usage: QuantBuild.Benchmarks fp32|agree|int8|task|codebook|multipoint|mixed|methods|seed [--methods M,...] [--bits B,...] [--activations linear,log,weighted-log,uniform] [--activation-bits B,...] [--models ID,...] [--model FILE.onnx --input NAME=FILE.npy ...] [--warmup N] [--iters N] [--samples N] [--qdq-types uint8,int8] [--auto-precision on,off] [--out FILE.json]");
        string[]? ids = null, methods = null; string? model = null; string? outPath = null;
        int[]? bits = null, activationBits = null;
        string[]? activationLevels = null;
        QuantBuild.Configuration.QdqIntegerType[] qdqTypes = [QuantBuild.Configuration.QdqIntegerType.UInt8];
        bool[] autoPrecision = [true];
        var inputs = new Dictionary<string, string>(StringComparer.Ordinal);
        // Warm-up must outlast tiered JIT: every kernel runs once per inference, needs 30 calls to be queued
        // for the optimizing tier and is then compiled in the background. With 5 warm-up runs most timed
        // runs of a 60-step integer plan used tier-0 code, which made the int8 runtime look 4-25x slower
        // than it is.
        int warmup = 100, iters = 100, samples = 0;
        bool profile = false;
        for (int i = 1; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Count(int min) => int.TryParse(Value(), out var n) && n >= min ? n : throw new ArgumentException($"{args[i - 1]} needs an integer >= {min}");
            switch (args[i])
            {
                case "--models": ids = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--model": model = Path.GetFullPath(Value()); break;
                case "--input": OrtRunCommand.AddInput(inputs, Value()); break;
                case "--warmup": warmup = Count(0); break;
                case "--iters": iters = Count(1); break;
                case "--out": outPath = Path.GetFullPath(Value()); break;
                case "--profile": profile = true; break;
                case "--samples": samples = Count(0); break;
                case "--methods": methods = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--bits":
                    bits = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(b => int.TryParse(b, out var n) && n is >= 2 and <= 8 ? n : throw new ArgumentException($"--bits: '{b}' is not a width from 2 to 8")).ToArray();
                    break;
                case "--activations": activationLevels = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--activation-bits":
                    activationBits = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(b => int.TryParse(b, out var n) && n is >= 2 and <= 8 ? n : throw new ArgumentException($"--activation-bits: '{b}' is not a width from 2 to 8")).ToArray();
                    break;
                case "--qdq-types":
                    qdqTypes = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(t => t switch
                        {
                            "uint8" => QuantBuild.Configuration.QdqIntegerType.UInt8,
                            "int8" => QuantBuild.Configuration.QdqIntegerType.Int8,
                            _ => throw new ArgumentException($"--qdq-types: '{t}' is not uint8 or int8"),
                        }).Distinct().ToArray();
                    break;
                case "--auto-precision":
                    autoPrecision = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                        .Select(t => t switch { "on" => true, "off" => false, _ => throw new ArgumentException($"--auto-precision: '{t}' is not on or off") }).Distinct().ToArray();
                    break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (model is null && inputs.Count > 0) throw new ArgumentException("--input needs --model");
        return new BenchOptions(args[0], ids, model, inputs, warmup, iters, outPath, profile, samples, methods, bits, activationLevels, activationBits, qdqTypes, autoPrecision);
    }

    public IReadOnlyList<RealModel> SelectModels(string root)
    {
        if (ModelPath is not null)
        {
            if (!File.Exists(ModelPath)) throw new FileNotFoundException($"model not found: {ModelPath}");
            foreach (var f in Inputs.Values) if (!File.Exists(f)) throw new FileNotFoundException($"input not found: {f}");
            // ONNX backend tests all name their file model.onnx: their folder tells them apart.
            var id = Path.GetFileNameWithoutExtension(ModelPath);
            if (id == "model") id = Path.GetFileName(Path.GetDirectoryName(ModelPath)) ?? id;
            return [new RealModel(id, ModelPath, [new RealModelCase("given", Inputs)])];
        }
        var all = RealModelCatalog.Load(Path.Combine(root, ".assets"));
        if (ModelIds is null) return all;
        var unknown = ModelIds.Except(all.Select(m => m.Id)).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"unknown model id(s) {string.Join(", ", unknown)}; known: {string.Join(", ", all.Select(m => m.Id))}");
        return all.Where(m => ModelIds.Contains(m.Id)).ToList();
    }
}

static class RepoRoot
{
    public static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QuantBuild.sln"))) return dir.FullName;
        throw new FileNotFoundException($"no QuantBuild.sln above {AppContext.BaseDirectory}");
    }
}

static class Fp32Suite
{
    sealed record Row(string Model, string Case, double? OursMedianMs, double? OursMeanMs, double? OursMinMs,
        double? OrtMedianMs, double? OrtMeanMs, double? OrtMinMs, double? Ratio, int Iters, string? Error);

    public static int Run(IReadOnlyList<RealModel> models, OrtOracle oracle, BenchOptions options, string root)
    {
        var rows = new List<Row>();
        var profiles = new List<(string Model, string Report)>();
        foreach (var model in models)
        {
            var input = model.Cases[0];
            Console.Error.WriteLine($"bench {model.Id} ({input.Name}) ...");
            double[]? ours = null;
            OrtTiming? ort = null;
            var errors = new List<string>();
            try
            {
                ours = TimeOurs(model, input, options.Warmup, options.Iters);
                if (options.Profile) profiles.Add((model.Id, ProfileOurs(model, input, options.Warmup, options.Iters)));
            }
            catch (Exception e) when (e is QuantBuildException or NotSupportedException or InvalidDataException) { errors.Add("ours: " + e.Message); }
            try { ort = oracle.Bench(model.ModelPath, input.InputFiles, options.Warmup, options.Iters); }
            catch (OracleException e) { errors.Add("ORT: " + e.Message); }
            double? oursMedian = ours is null ? null : Median(ours);
            rows.Add(new Row(model.Id, input.Name, oursMedian, ours?.Average(), ours?.Min(),
                ort?.MedianMs, ort?.MeanMs, ort?.MinMs, oursMedian / ort?.MedianMs, options.Iters,
                errors.Count == 0 ? null : string.Join("; ", errors)));
        }

        var table = new StringBuilder();
        // Minima next to medians: on a shared machine the minimum is the run least disturbed by neighbours.
        table.AppendLine("| model | case | ours ms (median) | ORT ms (median) | ours/ORT | ours ms (min) | ORT ms (min) | ours/ORT (min) |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            table.AppendLine($"| {r.Model} | {r.Case} | {Ms(r.OursMedianMs)} | {Ms(r.OrtMedianMs)} | {Ratio(r.Ratio)} | {Ms(r.OursMinMs)} | {Ms(r.OrtMinMs)} | {Ratio(r.OursMinMs / r.OrtMinMs)} |");
        Console.WriteLine($"fp32 inference on {CpuDescription.Current}, ONNX Runtime {OrtOracle.Version}, 1 thread each, warmup {options.Warmup}, {options.Iters} iterations, median:");
        Console.WriteLine();
        Console.Write(table);
        foreach (var r in rows.Where(r => r.Error is not null)) Console.WriteLine($"\n{r.Model}: {r.Error}");
        foreach (var (id, text) in profiles) Console.WriteLine($"\nprofile of {id} (ours, 1 thread):\n{text}");

        var outPath = options.OutPath ?? Path.Combine(root, "artifacts", "bench-fp32.json");
        Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
        var report = new
        {
            suite = "fp32",
            date = DateTime.UtcNow.ToString("O"),
            machine = new { cpu = CpuDescription.Current, cores = Environment.ProcessorCount, os = Environment.OSVersion.ToString(), runtime = Environment.Version.ToString() },
            threads = 1,
            warmup = options.Warmup,
            iters = options.Iters,
            results = rows,
        };
        File.WriteAllText(outPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        var shown = Path.GetRelativePath(Environment.CurrentDirectory, outPath);
        Console.WriteLine($"\nwrote {(shown.StartsWith("..", StringComparison.Ordinal) ? outPath : shown)}");
        return rows.All(r => r.Error is null) ? 0 : 1;
    }

    private static double[] TimeOurs(RealModel model, RealModelCase input, int warmup, int iters)
    {
        // The graph as a build prepares it (constants and BatchNormalization folded), just as ONNX
        // Runtime's 'all' optimization level folds them on its side.
        var graph = OnnxImporter.Load(model.ModelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var feeds = input.LoadInputs();
        for (int i = 0; i < warmup; i++) engine.Run(feeds);
        var times = new double[iters];
        for (int i = 0; i < iters; i++)
        {
            long start = Stopwatch.GetTimestamp();
            engine.Run(feeds);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        return times;
    }

    /// <summary>Per-node times from a separate engine, so the profiling timestamps never touch the timed runs.</summary>
    private static string ProfileOurs(RealModel model, RealModelCase input, int warmup, int iters)
    {
        var graph = OnnxImporter.Load(model.ModelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 1, Profile = true });
        var feeds = input.LoadInputs();
        for (int i = 0; i < warmup; i++) engine.Run(feeds);
        engine.Profile!.Reset();
        for (int i = 0; i < iters; i++) engine.Run(feeds);
        return engine.Profile.Report(topNodes: 15, runs: iters);
    }

    private static double Median(double[] values)
    {
        var sorted = values.Order().ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }

    private static string Ratio(double? v) => v is double x ? x.ToString("0.00") + "x" : "-";

    private static string Ms(double? v) => v is double x ? x.ToString(x < 10 ? "0.000" : "0.0") : "-";
}

static class AgreeSuite
{
    public static int Run(IReadOnlyList<RealModel> models, OrtOracle oracle)
    {
        Console.WriteLine("| model | case | output | shape | max abs diff | max abs ref | diff/ref |");
        Console.WriteLine("|---|---|---|---|---:|---:|---:|");
        int failures = 0;
        foreach (var model in models)
            foreach (var input in model.Cases)
            {
                try
                {
                    var engine = new InferenceEngine(OnnxImporter.Load(model.ModelPath));
                    var ours = engine.Run(input.LoadInputs());
                    var outputs = engine.Graph.Outputs.Select(o => o.Name).ToList();
                    var reference = oracle.Run(model.ModelPath, input.InputFiles, outputs);
                    foreach (var name in outputs)
                    {
                        var a = Agreement.Compare(ours[name], reference[name]);
                        Console.WriteLine($"| {model.Id} | {input.Name} | {name} | {reference[name].ShapeString} | {a.MaxAbsDiff:G3} | {a.MaxAbsRef:G3} | {a.Relative:G3} |");
                    }
                }
                catch (Exception e) when (e is QuantBuildException or OracleException or NotSupportedException or InvalidDataException)
                {
                    failures++;
                    Console.WriteLine($"| {model.Id} | {input.Name} | (failed) | | | | {e.Message.ReplaceLineEndings(" ")} |");
                }
            }
        return failures == 0 ? 0 : 1;
    }
}
