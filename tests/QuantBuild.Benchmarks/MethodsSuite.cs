using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Oracle;
using QuantBuild.Oracle.TaskEvaluation;

/// <summary>
/// `methods`: every weight quantization method at every requested weight width (int8 activations, min-max)
/// on the MNIST CNN, the PaddleOCR direction classifier and the openWakeWord embedding + alexa chain, each
/// variant quantized through the CLI's quantize job (the code a build runs) and evaluated by
/// <see cref="TaskEvaluator"/>: task metric in our integer runtime and of our QDQ file in ONNX Runtime,
/// top-1 agreement and output SQNR against fp32, weight bytes (the report's packed count and what the
/// generated C# stores), quantization time. Then the papers' relative claims, read off the same rows.
/// With --activations (and --activation-bits, default 4,3) every weight variant is crossed with level grids of
/// the ReLU outputs (activations.levels; "linear" = plain int8) and the claims become the WEQ paper's
/// activation claim: weighted-log beats LogQuant (and the uniform grid) at equal level bits.
/// </summary>
static class MethodsSuite
{
    /// <summary>
    /// A weight method of the grid: <paramref name="Weights"/> = extra members of the sidecar's weights object
    /// (after method and bits), <paramref name="Budget"/> = the budget object for a weight width, if any.
    /// A new method is one line here; one the sidecar parser does not implement yet shows as n/a.
    /// </summary>
    sealed record Method(string Name, string SidecarMethod, string Weights = "", Func<int, string>? Budget = null);

    private static readonly Method[] AllMethods =
    [
        new("linear", "linear"),
        new("log", "log"),
        new("weq", "weq"),
        new("multipoint", "multipoint"),  // the sidecar's default extra points (ρ = 0.05)
        new("linear+bc", "linear", """, "biasCorrection": true"""),
        // Mixed precision: per-layer widths from {2,3,4,8} with the grid's width as the average bit budget.
        new("mixed", "linear", Budget: bits => $$"""{ "averageBits": {{bits}}, "bits": [2, 3, 4, 8] }"""),
        new("eptq", "eptq"),
    ];

    private static readonly int[] DefaultBits = [8, 4, 3, 2];
    private static readonly string[] DefaultModels = ["mnist", "ppocr-cls", "oww"];

    /// <summary>One quantization variant: its row label, the method it exercises and the full sidecar (calibration added by the evaluator).</summary>
    sealed record Variant(string Label, string Method, int Bits, string SidecarMethod, string Sidecar);

    /// <summary>A paper claim checked on two variants of the same model: <paramref name="Claimed"/> should beat <paramref name="Baseline"/>.</summary>
    sealed record Claim(string Text, string Claimed, string Baseline);

    /// <summary>Variants beyond the grid that the claims need (equal bytes with a grid row).</summary>
    private static readonly Variant[] ComparisonVariants =
    [
        // 3-bit codes + ρ = 1/3 extra rows: (3 + 3·1/3) = 4 bits per weight, packed like linear W4.
        Make("multipoint W3 ρ=1/3", "multipoint", 3, "multipoint", """, "multipoint": { "extraPoints": 0.3333333333333333, "maxPoints": 4, "samples": 16 }""", null),
        Make("mixed avg 5", "mixed", 5, "linear", "", """{ "averageBits": 5, "bits": [2, 3, 4, 8] }"""),
        Make("linear W5", "linear", 5, "linear", "", null),
        // The same EPTQ optimization with every layer weighted alike: isolates what the label-free Hessian adds.
        Make("eptq-uniform W4", "eptq", 4, "eptq", "", null, """, "eptq": { "hessian": "uniform" }"""),
        Make("eptq-uniform W3", "eptq", 3, "eptq", "", null, """, "eptq": { "hessian": "uniform" }"""),
    ];

    private static readonly Claim[] Claims =
    [
        new("WEQ beats linear at 3 bits (WEQ paper)", "weq W3", "linear W3"),
        new("WEQ beats linear at 2 bits (WEQ paper)", "weq W2", "linear W2"),
        new("multipoint (3-bit + ρ=1/3) beats single-point linear W4 at equal packed bytes (multipoint paper)", "multipoint W3 ρ=1/3", "linear W4"),
        new("mixed precision within a 4-bit average budget beats uniform W4 at equal bytes (docs/mixed-precision.md)", "mixed W4", "linear W4"),
        new("mixed precision within a 5-bit average budget beats uniform W4 (issue's acceptance row)", "mixed avg 5", "linear W4"),
        new("mixed precision within a 5-bit average budget beats uniform W5 (same budget)", "mixed avg 5", "linear W5"),
        new("EPTQ (label-free Hessian) beats nearest rounding at 4 bits (EPTQ paper)", "eptq W4", "linear W4"),
        new("EPTQ (label-free Hessian) beats nearest rounding at 3 bits (EPTQ paper)", "eptq W3", "linear W3"),
        new("EPTQ's label-free Hessian weighting beats uniform layer weights at 4 bits (EPTQ paper)", "eptq W4", "eptq-uniform W4"),
        new("EPTQ's label-free Hessian weighting beats uniform layer weights at 3 bits (EPTQ paper)", "eptq W3", "eptq-uniform W3"),
    ];

    /// <param name="rootMembers">extra members of the sidecar's root object (e.g. an eptq section), starting with a comma</param>
    private static Variant Make(string label, string method, int bits, string sidecarMethod, string weights, string? budget, string rootMembers = "") =>
        new(label, method, bits, sidecarMethod,
            $$"""{ "weights": { "method": "{{sidecarMethod}}", "bits": {{(budget is null ? bits : 8)}}{{weights}} }, "activations": { "bits": 8 }{{(budget is null ? "" : $", \"budget\": {budget}")}}{{rootMembers}} }""");

    private static Variant GridVariant(Method m, int bits) =>
        Make($"{m.Name} W{bits}", m.Name, bits, m.SidecarMethod, m.Weights, m.Budget?.Invoke(bits));

    /// <summary>Level grids of ReLU outputs (--activations): "linear" is plain int8 (one row per weight variant).</summary>
    private static readonly string[] ActivationGrids = SidecarParser.ActivationLevels;

    /// <summary>A weight variant with its ReLU outputs on an activation level grid of <paramref name="levelBits"/> bits.</summary>
    private static Variant WithActivations(Variant v, string grid, int levelBits) => grid == "linear" ? v with { Label = v.Label + " A8" }
        : v with
        {
            Label = $"{v.Label} {grid} A{levelBits}",
            Sidecar = v.Sidecar.Replace("\"activations\": { \"bits\": 8 }", $"\"activations\": {{ \"bits\": 8, \"levels\": \"{grid}\", \"levelBits\": {levelBits} }}", StringComparison.Ordinal),
        };

    /// <summary>The WEQ paper's activation claim at each level width and weight variant: weighted-log beats LogQuant (and the uniform grid) at equal bits.</summary>
    private static List<Claim> ActivationClaims(IEnumerable<string> weightLabels, int[] levelBits) =>
        (from w in weightLabels
         from b in levelBits
         from baseline in new[] { "log", "uniform" }
         select new Claim($"weighted-log activations beat {baseline} at {b} bits ({w}; WEQ paper)", $"{w} weighted-log A{b}", $"{w} {baseline} A{b}")).ToList();

    /// <summary>One evaluated variant; <paramref name="Status"/> is "ok", "n/a — not implemented" or "error: …".</summary>
    sealed record Result(string Model, string Variant, string Method, int Bits, string Status, TaskRow? Row, long StoredBytes, double AverageBits);

    public static int Run(OrtOracle oracle, BenchOptions options, string root)
    {
        var modelIds = options.ModelIds ?? DefaultModels;
        var known = DefaultModels;
        var unknownModels = modelIds.Except(known).ToList();
        if (unknownModels.Count > 0) throw new ArgumentException($"unknown model(s) {string.Join(", ", unknownModels)}; known: {string.Join(", ", known)}");
        var methods = options.Methods ?? AllMethods.Select(m => m.Name).ToArray();
        var unknownMethods = methods.Except(AllMethods.Select(m => m.Name)).ToList();
        if (unknownMethods.Count > 0) throw new ArgumentException($"unknown method(s) {string.Join(", ", unknownMethods)}; known: {string.Join(", ", AllMethods.Select(m => m.Name))}");
        var bits = options.Bits ?? DefaultBits;

        var variants = (from name in methods
                        from b in bits
                        select GridVariant(AllMethods.Single(m => m.Name == name), b)).ToList();
        var claims = Claims.ToList();
        if (options.ActivationLevels is { } grids)
        {
            var unknownGrids = grids.Except(ActivationGrids).ToList();
            if (unknownGrids.Count > 0) throw new ArgumentException($"unknown activation grid(s) {string.Join(", ", unknownGrids)}; known: {string.Join(", ", ActivationGrids)}");
            var levelBits = options.ActivationBits ?? [4, 3];
            var weightLabels = variants.Select(v => v.Label).ToList();
            // Weight variants × activation grids (the claims' extra weight variants are not crossed: the grid is the comparison).
            variants = (from v in variants
                        from g in grids
                        from b in g == "linear" ? new[] { 8 } : levelBits
                        select WithActivations(v, g, b)).ToList();
            claims = ActivationClaims(weightLabels, levelBits);
        }
        else
        {
            // The claims' extra variants, when both sides of a claim could be in this run.
            foreach (var extra in ComparisonVariants)
                if (Claims.Any(c => (c.Claimed == extra.Label || c.Baseline == extra.Label) && Runs(c, variants, methods)) && variants.All(v => v.Label != extra.Label))
                    variants.Add(extra);
        }

        var work = Path.Combine(root, "artifacts", "bench-methods");
        Directory.CreateDirectory(work);
        var evaluator = new TaskEvaluator(oracle, work, Console.Error);
        var outPath = options.OutPath ?? Path.Combine(root, "artifacts", "bench-methods.json");
        var results = new List<Result>();
        var fp32 = new Dictionary<string, Fp32Results>();
        var describe = new Dictionary<string, string>();
        var errors = new List<string>();
        foreach (var id in modelIds)
        {
            EvaluationTask task;
            try
            {
                task = id == "mnist" ? new MnistTask(root, work) : EvaluationTask.Load(id, Path.Combine(root, ".assets"), options.Samples);
                fp32[id] = evaluator.Fp32(task);
                describe[id] = task.Describe();
            }
            catch (Exception e) when (e is QuantBuildException or OracleException or NotSupportedException or InvalidDataException or FileNotFoundException)
            {
                errors.Add($"{id}: {e.Message}");
                continue;
            }
            var modelResults = new List<Result>();
            foreach (var v in variants)
            {
                var result = Evaluate(evaluator, task, v);
                modelResults.Add(result);
                if (result.Status.StartsWith("error", StringComparison.Ordinal)) errors.Add($"{id} {v.Label}: {result.Status}");
                // After every variant, so an interrupted long run keeps what it measured.
                WriteJson(outPath, options, bits, methods, [.. results, .. modelResults], fp32, describe, errors);
            }
            results.AddRange(modelResults);
            // Each model's table as soon as it is done: a long run shows its progress.
            Console.WriteLine(Table(id, describe[id], fp32[id], modelResults));
            Console.WriteLine(ClaimsTable(modelResults, claims));
            WriteJson(outPath, options, bits, methods, results, fp32, describe, errors);
        }
        WriteJson(outPath, options, bits, methods, results, fp32, describe, errors);
        foreach (var e in errors) Console.WriteLine($"error: {e}");
        Console.WriteLine($"wrote {outPath}");
        return errors.Count == 0 ? 0 : 1;
    }

    private static bool Runs(Claim c, List<Variant> grid, string[] methods)
    {
        bool Available(string label) => grid.Any(v => v.Label == label) || ComparisonVariants.Any(v => v.Label == label && methods.Contains(v.Method));
        return Available(c.Claimed) && Available(c.Baseline);
    }

    private static Result Evaluate(TaskEvaluator evaluator, EvaluationTask task, Variant v)
    {
        const string NotImplemented = "n/a — not implemented";
        if (!SidecarParser.ImplementedWeightMethods.Contains(v.SidecarMethod))
            return new Result(task.Id, v.Label, v.Method, v.Bits, NotImplemented, null, 0, 0);
        Console.Error.WriteLine($"methods {task.Id} {v.Label} ...");
        try
        {
            var row = evaluator.Evaluate(task, new QuantizationRecipe(v.Label, v.Sidecar));
            long stored = row.QuantizedFiles.Where(f => f.EndsWith(".g.cs", StringComparison.Ordinal)).Sum(GeneratedWeightBytes);
            var weights = row.Artifacts.SelectMany(a => a.Plan.Model.Weights.Values).ToList();
            double averageBits = weights.Sum(w => (double)w.Codes.Length * w.Bits) / Math.Max(1, weights.Sum(w => (long)w.Codes.Length));
            return new Result(task.Id, v.Label, v.Method, v.Bits, "ok", row, stored, averageBits);
        }
        catch (QuantBuildException e) when (e.Code == DiagnosticCodes.UnsupportedSetting && e.Message.Contains("not implemented", StringComparison.Ordinal))
        {
            return new Result(task.Id, v.Label, v.Method, v.Bits, NotImplemented, null, 0, 0);
        }
        catch (Exception e) when (e is QuantBuildException or OracleException or NotSupportedException or InvalidDataException)
        {
            return new Result(task.Id, v.Label, v.Method, v.Bits, "error: " + e.Message.ReplaceLineEndings(" "), null, 0, 0);
        }
    }

    /// <summary>The weight bytes a generated class says it stores (its header: "...; weights N bytes ...").</summary>
    private static long GeneratedWeightBytes(string generatedFile)
    {
        using var reader = new StreamReader(generatedFile);
        for (int i = 0; i < 10 && reader.ReadLine() is { } line; i++)
            if (Regex.Match(line, @"weights (\d+) bytes") is { Success: true } m) return long.Parse(m.Groups[1].Value);
        throw new InvalidDataException($"{generatedFile}: no 'weights N bytes' in its header");
    }

    private static string Table(string id, string data, Fp32Results fp32, List<Result> results)
    {
        var t = new StringBuilder();
        t.AppendLine($"### {id}: {data}");
        t.AppendLine();
        t.AppendLine("| variant (weights, activations) | avg weight bits | task metric, integer runtime | task metric, our QDQ in ORT | top-1 agreement vs fp32 (int) | SQNR vs fp32 dB (int) | SQNR vs fp32 dB (QDQ ORT) | weight bytes packed (report) | weight bytes stored (.g.cs) | quantize s |");
        t.AppendLine("|---|---:|---|---|---|---:|---:|---:|---:|---:|");
        long fp32Bytes = results.FirstOrDefault(r => r.Row is not null)?.Row!.Fp32WeightBytes ?? 0;
        t.AppendLine($"| fp32 | 32 | {fp32.Engine.Score.Text} (our engine) | {fp32.Ort.Score.Text} (ORT) | — | — | — | {fp32Bytes:N0} | {fp32Bytes:N0} | — |");
        foreach (var r in results)
            t.AppendLine(r.Row is not { } row
                ? $"| {r.Variant} | | {r.Status} | | | | | | | |"
                : $"| {r.Variant} | {r.AverageBits:0.00} | {row.Integer.Text} | {row.QdqOrt.Text} | {row.IntegerVsFp32} | {Db(row.SqnrIntegerDb)} | {Db(row.SqnrQdqDb)} | {row.QuantizedWeightBytes:N0} | {r.StoredBytes:N0} | {row.QuantizeSeconds:0.0} |");
        return t.ToString();
    }

    /// <summary>Each claim with both sides' numbers and whether it holds on the task metric and on SQNR (integer runtime).</summary>
    private static string ClaimsTable(List<Result> results, List<Claim> claims)
    {
        var t = new StringBuilder();
        t.AppendLine("| claim | claimed side | baseline | packed bytes (claimed / baseline) | task metric (int) | SQNR dB (int) | holds on task metric? | holds on SQNR? |");
        t.AppendLine("|---|---|---|---:|---|---:|---|---|");
        foreach (var c in claims)
        {
            var a = results.FirstOrDefault(r => r.Variant == c.Claimed);
            var b = results.FirstOrDefault(r => r.Variant == c.Baseline);
            if (a is null || b is null) continue;
            if (a.Row is null || b.Row is null)
            {
                t.AppendLine($"| {c.Text} | {c.Claimed} | {c.Baseline} | | {(a.Row is null ? a.Status : b.Status)} | | n/a | n/a |");
                continue;
            }
            var (ma, mb) = (a.Row.Integer.Correct, b.Row.Integer.Correct);
            // The difference in samples, so a win by one or two digits reads as the noise it is.
            string metric = (ma > mb ? "yes" : ma == mb ? "tie" : "**no**") + (ma == mb ? "" : $" ({ma - mb:+0;−0} of {a.Row.Integer.Total})");
            // SQNR printed to 0.1 dB: closer than that is a tie, not a win.
            double gain = a.Row.SqnrIntegerDb - b.Row.SqnrIntegerDb;
            string sqnr = double.IsNaN(gain) || Math.Abs(gain) < 0.05 ? "tie" : gain > 0 ? "yes" : "**no**";
            double ratio = (double)a.Row.QuantizedWeightBytes / Math.Max(1, b.Row.QuantizedWeightBytes);
            t.AppendLine($"| {c.Text} | {c.Claimed} | {c.Baseline} | {a.Row.QuantizedWeightBytes:N0} vs {b.Row.QuantizedWeightBytes:N0} ({ratio:0.00}×) | {a.Row.Integer.Text} vs {b.Row.Integer.Text} | {Db(a.Row.SqnrIntegerDb)} vs {Db(b.Row.SqnrIntegerDb)} | {metric} | {sqnr} |");
        }
        return t.ToString();
    }

    private static string Db(double v) => double.IsPositiveInfinity(v) ? "∞" : v.ToString("0.0");

    private static void WriteJson(string path, BenchOptions options, int[] bits, string[] methods, List<Result> results,
        Dictionary<string, Fp32Results> fp32, Dictionary<string, string> describe, List<string> errors)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var report = new
        {
            suite = "methods",
            date = DateTime.UtcNow.ToString("O"),
            machine = new { cpu = CpuDescription.Current, cores = Environment.ProcessorCount, os = Environment.OSVersion.ToString(), runtime = Environment.Version.ToString() },
            samples = options.Samples,
            bits,
            methods,
            fp32 = fp32.Select(kv => new { model = kv.Key, data = describe[kv.Key], engine = kv.Value.Engine.Score, ort = kv.Value.Ort.Score }),
            results = results.Select(r => new
            {
                r.Model, r.Variant, r.Method, r.Bits, r.Status, r.AverageBits,
                Integer = r.Row?.Integer, QdqOrt = r.Row?.QdqOrt,
                IntegerVsFp32 = Agreement(r.Row?.IntegerVsFp32), QdqVsFp32 = Agreement(r.Row?.QdqVsFp32), IntegerVsQdq = Agreement(r.Row?.IntegerVsQdq),
                SqnrIntegerDb = Finite(r.Row?.SqnrIntegerDb), SqnrQdqDb = Finite(r.Row?.SqnrQdqDb),
                Fp32WeightBytes = r.Row?.Fp32WeightBytes, PackedWeightBytes = r.Row?.QuantizedWeightBytes, StoredWeightBytes = r.Row is null ? (long?)null : r.StoredBytes,
                QuantizeSeconds = r.Row?.QuantizeSeconds, IntegerSeconds = r.Row?.IntegerSeconds, QdqOrtSeconds = r.Row?.QdqOrtSeconds, FloatSteps = r.Row?.FloatSteps,
            }),
            errors,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
    }

    private static object? Agreement(DecisionAgreement? a) => a is null ? null : new { a.Same, a.Total, a.Fraction };

    // JSON has no infinity: identical outputs are written as null.
    private static double? Finite(double? v) => v is double d && double.IsFinite(d) ? d : null;
}
