using System.Diagnostics;
using System.Text;
using System.Text.Json;
using QuantBuild.Compilation;
using QuantBuild.Engine;
using QuantBuild.Lowering;
using QuantBuild.Oracle;
using QuantBuild.Tensors;

/// <summary>
/// `seed`: inference time of the seed kernels (multipoint, codebook weights, log-level activations) next to the
/// plain int8 row of the same model, all measured in the same run through the same <see cref="IntegerModelRunner"/>
/// the int8 suite times (the kernels the generated code calls). Issue 12 asks each seed row to stay within 1.5x of
/// the int8 row. Every variant of a model is built first, then the variants are timed in interleaved rounds and
/// the minimum over all rounds is reported beside the median: on a shared machine a neighbour's build slows some
/// runs, and interleaving spreads that over every row instead of one. The "weighted ms" column sums the per-step
/// minima of the Conv/FullyConnected (and level-encode) steps only, where the seed kernels differ from int8; the
/// layer columns compare each Conv/FullyConnected step with the int8 step of the same graph node (per-step minima
/// over --iters extra runs), the issue's per-kernel criterion.
/// </summary>
static class SeedSuite
{
    /// <summary>A quantization variant: <paramref name="Weights"/> and <paramref name="Activations"/> are the sidecar's objects' members.</summary>
    sealed record Variant(string Name, string Weights, string Activations = "\"bits\": 8");

    private static readonly Variant[] AllVariants =
    [
        new("int8", "\"method\": \"linear\", \"bits\": 8"),
        new("multipoint-w8", "\"method\": \"multipoint\", \"bits\": 8"),
        new("multipoint-w4", "\"method\": \"multipoint\", \"bits\": 4, \"multipoint\": { \"extraPoints\": 0.25, \"maxPoints\": 4, \"samples\": 16 }"),
        new("log-w4", "\"method\": \"log\", \"bits\": 4"),
        new("weq-w4", "\"method\": \"weq\", \"bits\": 4"),
        new("log-act-a4", "\"method\": \"linear\", \"bits\": 8", "\"bits\": 8, \"levels\": \"log\", \"levelBits\": 4"),
    ];

    private static readonly string[] DefaultModels = ["mnist", "ppocr-cls", "oww-embedding"];

    sealed record Row(string Model, string Variant, double? MinMs, double? MedianMs, double? WeightedMinMs, double? RatioToInt8Min, string? Error,
        double? WorstLayerRatio = null, string? WorstLayer = null, int LayersOver = 0, int Layers = 0);

    /// <summary>Issue 12's acceptance factor: each seed kernel within this multiple of the int8 kernel of the same layer.</summary>
    private const double Acceptance = 1.5;

    /// <summary>Layers whose int8 step takes less (ms) are left out of the layer columns: their ratios are timer noise and call overhead.</summary>
    private const double SmallestComparedLayerMs = 0.005;

    public static int Run(IReadOnlyList<RealModel> models, BenchOptions options, string root)
    {
        var ids = options.ModelIds ?? DefaultModels;
        var variants = options.Methods is null ? AllVariants : AllVariants.Where(v => v.Name == "int8" || options.Methods.Contains(v.Name)).ToArray();
        var unknown = (options.Methods ?? []).Except(AllVariants.Select(v => v.Name)).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"unknown variant(s) {string.Join(", ", unknown)}; known: {string.Join(", ", AllVariants.Select(v => v.Name))}");
        var work = Path.Combine(root, "artifacts", "bench-seed");
        Directory.CreateDirectory(work);
        // Rounds × iterations per round = the requested iterations, at least 5 rounds.
        int rounds = Math.Max(5, options.Iters / 20);
        int perRound = Math.Max(1, options.Iters / rounds);
        var rows = new List<Row>();
        var profiles = new StringBuilder();
        foreach (var id in ids)
        {
            (string Model, string Calibration, Dictionary<string, Tensor> Feeds) source;
            try { source = Source(id, models, root, work); }
            catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidDataException)
            {
                rows.Add(new Row(id, "-", null, null, null, null, e.Message));
                continue;
            }

            var built = new List<(Variant Variant, IntegerModelRunner Runner)>();
            foreach (var v in variants)
            {
                Console.Error.WriteLine($"seed bench {id} {v.Name}: quantizing ...");
                try { built.Add((v, Build(source.Model, source.Calibration, v, work, $"{id}-{v.Name}"))); }
                catch (Exception e) when (e is QuantBuild.Diagnostics.QuantBuildException or NotSupportedException or InvalidDataException)
                {
                    rows.Add(new Row(id, v.Name, null, null, null, null, e.Message.ReplaceLineEndings(" ")));
                }
            }

            // A warm-up count alone left MNIST's timed runs on tier-0 code (0.151 ms, not 0.046).
            foreach (var (_, runner) in built) RunnerTiming.WarmUp(runner, source.Feeds, options.Warmup);
            var times = built.Select(_ => new List<double>()).ToList();
            for (int r = 0; r < rounds; r++)
                for (int b = 0; b < built.Count; b++)
                    for (int i = 0; i < perRound; i++)
                    {
                        long start = Stopwatch.GetTimestamp();
                        built[b].Runner.Run(source.Feeds);
                        times[b].Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }

            double? int8Min = null;
            var layerTimes = new Dictionary<string, IReadOnlyDictionary<string, (double Ms, string Detail)>>();
            var firstRow = rows.Count;
            for (int b = 0; b < built.Count; b++)
            {
                var sorted = times[b].Order().ToArray();
                var (weighted, layers, profile) = Profile(built[b].Runner, source.Feeds, options.Iters);
                layerTimes[built[b].Variant.Name] = layers;
                if (options.Profile) profiles.AppendLine($"\n{id} {built[b].Variant.Name}:\n{profile}");
                if (built[b].Variant.Name == "int8") int8Min = sorted[0];
                rows.Add(new Row(id, built[b].Variant.Name, sorted[0], sorted[sorted.Length / 2], weighted, null, null));
            }

            // Layer by layer (the same graph node in both plans): the seed kernel's minimum over the int8 kernel's.
            if (layerTimes.TryGetValue("int8", out var int8Layers))
                for (int i = firstRow; i < rows.Count; i++)
                {
                    if (rows[i].Error is not null || !layerTimes.TryGetValue(rows[i].Variant, out var layers)) continue;
                    var ratios = layers.Where(l => int8Layers.TryGetValue(l.Key, out var int8) && int8.Ms >= SmallestComparedLayerMs)
                        .Select(l => (Ratio: l.Value.Ms / int8Layers[l.Key].Ms, l.Value.Detail, Int8Ms: int8Layers[l.Key].Ms, l.Value.Ms)).ToList();
                    if (ratios.Count == 0) continue;
                    if (options.Profile)
                        foreach (var over in ratios.Where(r => r.Ratio > Acceptance).OrderByDescending(r => r.Ratio))
                            profiles.AppendLine($"over {Acceptance}x: {id} {rows[i].Variant} {over.Detail}: {over.Ms:0.000} vs int8 {over.Int8Ms:0.000} ms ({over.Ratio:0.00}x)");
                    var worst = ratios.MaxBy(r => r.Ratio);
                    rows[i] = rows[i] with
                    {
                        WorstLayerRatio = worst.Ratio,
                        WorstLayer = $"{worst.Detail} ({worst.Ms:0.000} vs {worst.Int8Ms:0.000} ms)",
                        LayersOver = ratios.Count(r => r.Ratio > Acceptance),
                        Layers = ratios.Count,
                    };
                }

            for (int i = 0; i < rows.Count; i++)
                if (rows[i].Model == id && rows[i].MinMs is double min && int8Min is double baseline)
                    rows[i] = rows[i] with { RatioToInt8Min = min / baseline };
        }

        var table = new StringBuilder();
        table.AppendLine($"| model | variant | min ms | median ms | conv/fc steps min ms | min / int8 min | layers over {Acceptance}x int8 (of those ≥ {SmallestComparedLayerMs} ms in int8) | worst layer / int8 | worst layer |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in rows)
            table.AppendLine(r.Error is not null
                ? $"| {r.Model} | {r.Variant} | error: {r.Error} | | | | | | |"
                : $"| {r.Model} | {r.Variant} | {r.MinMs:0.000} | {r.MedianMs:0.000} | {r.WeightedMinMs:0.000} | {r.RatioToInt8Min:0.00}x | {r.LayersOver} of {r.Layers} | {r.WorstLayerRatio:0.00}x | {r.WorstLayer} |");
        Console.WriteLine($"seed kernels vs int8 on {CpuDescription.Current}, 1 thread, our integer runtime only, warmup {options.Warmup}, {rounds} interleaved rounds x {perRound} runs; min and median over all runs:\n");
        Console.Write(table);
        Console.Write(profiles);
        var outPath = options.OutPath ?? Path.Combine(root, "artifacts", "bench-seed.json");
        File.WriteAllText(outPath, JsonSerializer.Serialize(new { cpu = CpuDescription.Current, rounds, perRound, rows }, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"\nwrote {outPath}");
        return rows.All(r => r.Error is null) ? 0 : 1;
    }

    /// <summary>The model file, the sidecar's calibration inputs and the feeds timed: MNIST's first held-out digit, or a real model's first case.</summary>
    private static (string, string, Dictionary<string, Tensor>) Source(string id, IReadOnlyList<RealModel> models, string root, string work)
    {
        if (id == "mnist")
        {
            var data = MnistBench.Load(root);
            var glob = MnistBench.WriteCalibration(data, Path.Combine(work, "mnist-calibration"), 64);
            return (MnistBench.ModelPath(root), $"\"input\": {JsonSerializer.Serialize(glob)}",
                new Dictionary<string, Tensor> { ["input"] = MnistBench.Image(data, data.HeldOutIndices[0]) });
        }

        var model = models.FirstOrDefault(m => m.Id == id) ?? throw new ArgumentException($"unknown model id {id}; known: mnist, {string.Join(", ", models.Select(m => m.Id))}");
        var input = model.Cases[0];
        // In-sample calibration on the model's own cases, as the int8 suite does.
        var casesDir = Path.GetDirectoryName(Path.GetDirectoryName(input.InputFiles.Values.First())!)!;
        var calibration = string.Join(", ", input.InputFiles.Select(kv =>
            $"\"{kv.Key}\": {JsonSerializer.Serialize(Path.Combine(casesDir, "*", Path.GetFileName(kv.Value)))}"));
        return (model.ModelPath, calibration, new Dictionary<string, Tensor>(input.LoadInputs()));
    }

    private static IntegerModelRunner Build(string modelPath, string calibration, Variant v, string work, string stem)
    {
        var sidecar = Path.Combine(work, stem + ".quant.json");
        // Automatic 16-bit promotion off: it runs the tensors it widens as float steps, so a variant that misses the
        // quality floor (MNIST with 4-bit log activations) would time float steps instead of the seed kernels it compares
        // (7.3x int8 with it, 1.25x without, on this CPU).
        File.WriteAllText(sidecar, $$"""{ "weights": { {{v.Weights}} }, "activations": { {{v.Activations}}, "autoPrecision": false }, "calibration": { "inputs": { {{calibration}} } } }""");
        var compiled = ModelCompiler.Compile(modelPath, sidecar, new EngineOptions { MaxDegreeOfParallelism = 1 });
        return new IntegerModelRunner(compiled.RequirePlan());
    }

    /// <summary>Per-step minimum over extra runs: the sum over the weighted steps, each Conv/FC step by graph node, and the ten most expensive steps.</summary>
    private static (double WeightedMs, IReadOnlyDictionary<string, (double Ms, string Detail)> Layers, string Top) Profile(IntegerModelRunner runner, IReadOnlyDictionary<string, Tensor> feeds, int iters)
    {
        var plan = runner.Plan;
        var ticks = RunnerTiming.MinimumStepTicks(runner, feeds, iters);
        static double Ms(long t) => t * 1000.0 / Stopwatch.Frequency;
        bool Weighted(PlanStep s) => s is ConvStep or FullyConnectedStep or LevelEncodeStep;
        double weighted = Ms(ticks.Where((_, s) => Weighted(plan.Steps[s])).Sum());
        static string Detail(PlanStep step) => step switch
        {
            ConvStep c => $"{step.OpType} k{c.Geometry.KernelHeight}x{c.Geometry.KernelWidth} s{c.Geometry.StrideHeight} g{c.Geometry.Groups} {c.Geometry.InChannels}->{c.Geometry.OutChannels} {c.Geometry.OutHeight}x{c.Geometry.OutWidth} W{c.Weights.Bits}{(c.Weights.IsMultipoint ? $" +{c.Weights.ExtraChannels!.Length} rows" : "")}{(c.Weights.Codebook is null ? "" : " codebook")}{(c.InputLevels is null ? "" : " log-input")}",
            FullyConnectedStep f => $"{step.OpType} {f.InFeatures}->{f.Units} W{f.Weights.Bits}{(f.Weights.IsMultipoint ? $" +{f.Weights.ExtraChannels!.Length} rows" : "")}{(f.Weights.Codebook is null ? "" : " codebook")}{(f.InputLevels is null ? "" : " log-input")}",
            _ => step.OpType,
        };
        var layers = new Dictionary<string, (double Ms, string Detail)>();
        for (int s = 0; s < ticks.Length; s++)
            if (plan.Steps[s] is ConvStep or FullyConnectedStep) layers[plan.Steps[s].NodeName] = (Ms(ticks[s]), Detail(plan.Steps[s]));
        var top = new StringBuilder();
        foreach (var (t, s) in ticks.Select((t, s) => (t, s)).OrderByDescending(x => x.t).Take(10))
            top.AppendLine($"  {Ms(t),8:0.000} ms  {Detail(plan.Steps[s])}");

        var byOp = ticks.Select((t, s) => (Op: plan.Steps[s] is FloatStep ? "float " + plan.Steps[s].OpType : plan.Steps[s].OpType, t)).GroupBy(x => x.Op).OrderByDescending(g => g.Sum(x => x.t));
        top.AppendLine("  by op (ms): " + string.Join(", ", byOp.Select(g => $"{g.Key} {Ms(g.Sum(x => x.t)):0.000} ({g.Count()})")));
        return (weighted, layers, top.ToString());
    }
}
