using QuantBuild.Compilation;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Lowering;
using QuantBuild.Oracle;
using QuantBuild.Quantization;

/// <summary>
/// `int8`: each real model quantized through the same pipeline a build runs (a sidecar whose
/// calibration glob names the model's real input cases — in-sample calibration, stated in the table),
/// at 8- and 4-bit weights with int8 activations. Times, single-threaded and in the same run: our
/// integer runtime (the kernels the generated code calls), ONNX Runtime on our QDQ file, and ONNX
/// Runtime on the fp32 model; prints the weight bytes of each form.
/// </summary>
static class Int8Suite
{
    // melspectrogram is the model a user keeps in float (log-power front end): not in this suite.
    private static readonly string[] DefaultModels = ["ppocr-cls", "oww-embedding", "oww-alexa", "blazeface-front-128", "ppocr-rec"];

    sealed record Row(string Model, int Bits, double? OursMs, double? OrtQdqMs, double? OrtFp32Ms, long Fp32WeightBytes, long QuantWeightBytes,
        long QdqFileBytes, int FloatSteps, string? Error, double? OursMinMs = null, double? OrtQdqMinMs = null, string QdqType = "uint8",
        long ArenaBytes = 0, long HeapBytes = 0);

    public static int Run(IReadOnlyList<RealModel> models, OrtOracle oracle, BenchOptions options, string root)
    {
        // An ad-hoc --model is measured as given; otherwise the default list, or the ids named.
        var selected = options.ModelIds is null && options.ModelPath is null ? models.Where(m => DefaultModels.Contains(m.Id)).ToList() : models.ToList();
        var rows = new List<Row>();
        var work = Path.Combine(root, "artifacts", "bench-int8");
        Directory.CreateDirectory(work);
        foreach (var model in selected)
        {
            var input = model.Cases[0];
            double? fp32 = null;
            try { fp32 = oracle.Bench(model.ModelPath, input.InputFiles, options.Warmup, options.Iters).MedianMs; }
            catch (OracleException e) { rows.Add(new Row(model.Id, 0, null, null, null, 0, 0, 0, 0, "ORT fp32: " + e.Message)); continue; }
            foreach (int bits in new[] { 8, 4 })
            {
                Console.Error.WriteLine($"int8 bench {model.Id} W{bits}A8 ...");
                try { rows.AddRange(Measure(model, input, bits, fp32, oracle, options, work)); }
                catch (Exception e) when (e is QuantBuildException or OracleException or NotSupportedException)
                {
                    rows.Add(new Row(model.Id, bits, null, null, fp32, 0, 0, 0, 0, e.Message));
                }
            }
        }

        var table = new StringBuilder();
        // Minimums beside the medians: on a shared, loaded machine the fastest run is the steadier comparison.
        table.AppendLine("| model | weights | QDQ codes | ours int ms | ORT QDQ ms | ORT fp32 ms | ours/ORT-QDQ | ours/ORT-fp32 | ours min ms | ORT QDQ min ms | min ratio | weight bytes fp32 | weight bytes quantized | QDQ file bytes | float steps | arena bytes | heap bytes building kernels |");
        table.AppendLine("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
            table.AppendLine(r.Error is not null
                ? $"| {r.Model} | W{r.Bits}A8 | {r.QdqType} | error: {r.Error} | | | | | | | | | | | | | |"
                : $"| {r.Model} | W{r.Bits}A8 | {r.QdqType} | {r.OursMs:0.000} | {r.OrtQdqMs:0.000} | {r.OrtFp32Ms:0.000} | {r.OursMs / r.OrtQdqMs:0.00}x | {r.OursMs / r.OrtFp32Ms:0.00}x | {r.OursMinMs:0.000} | {r.OrtQdqMinMs:0.000} | {r.OursMinMs / r.OrtQdqMinMs:0.00}x | {r.Fp32WeightBytes:N0} | {r.QuantWeightBytes:N0} | {r.QdqFileBytes:N0} | {r.FloatSteps} | {r.ArenaBytes:N0} | {r.HeapBytes:N0} |");
        Console.WriteLine($"int8 inference on {CpuDescription.Current}, ONNX Runtime {OrtOracle.Version}, 1 thread each, warmup {options.Warmup}, {options.Iters} iterations, median; calibration = the model's own input cases (in-sample):\n");
        Console.Write(table);
        Console.WriteLine($"\nconvolution scratch shared per thread after every model above ran: {QuantBuild.Runtime.Conv2DInt8.SharedScratchBytes:N0} bytes (held once per thread, not per model or layer)");
        var outPath = options.OutPath ?? Path.Combine(root, "artifacts", "bench-int8.json");
        File.WriteAllText(outPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"\nwrote {outPath}");
        return rows.All(r => r.Error is null) ? 0 : 1;
    }

    /// <summary>Times every step over extra runs and lists the most expensive ones (with their shapes).</summary>
    private static string ProfileSteps(string id, int bits, IntegerPlan plan, IntegerModelRunner runner, IReadOnlyDictionary<string, QuantBuild.Tensors.Tensor> feeds, int iters)
    {
        var ticks = RunnerTiming.MinimumStepTicks(runner, feeds, iters);
        int runs = iters;
        iters = 1;
        double total = ticks.Sum();
        var text = new StringBuilder($"\nprofile of {id} W{bits}A8 (ours, per step, minimum over {runs} runs; sum {total / Stopwatch.Frequency * 1000:0.000} ms):\n");
        foreach (var (s, t) in ticks.Select((t, s) => (s, t)).OrderByDescending(x => x.t).Take(Environment.GetEnvironmentVariable("QB_PROFILE_ALL") is null ? 20 : int.MaxValue))
        {
            var step = plan.Steps[s];
            string shape(PlanTensor p) => "[" + string.Join(",", p.Shape) + "]";
            string detail = step is ConvStep c
                ? $"k{c.Geometry.KernelHeight}x{c.Geometry.KernelWidth} s{c.Geometry.StrideHeight}x{c.Geometry.StrideWidth} g{c.Geometry.Groups} W{c.Weights.Bits} ({(double)c.Geometry.OutputLength * c.Geometry.FanIn / (t / (double)Stopwatch.Frequency) / 1e9:0.0} GMAC/s)"
                : "";
            text.AppendLine($"  {t / total * 100,5:0.0}%  {t / (double)Stopwatch.Frequency * 1000 / iters,8:0.000} ms  {step.OpType} {detail} {string.Join(" ", step.Inputs.Select(shape))} -> {string.Join(" ", step.Outputs.Select(shape))}");
        }
        var byOp = ticks.Select((t, s) => (op: plan.Steps[s].OpType, t)).GroupBy(x => x.op).OrderByDescending(g => g.Sum(x => x.t));
        text.AppendLine("  by op: " + string.Join(", ", byOp.Select(g => $"{g.Key} {g.Sum(x => x.t) / total * 100:0.0}%")));
        // The largest convolution by multiply-accumulates against what one core can do with the instructions it uses.
        var largest = ticks.Select((t, s) => (s, t)).Where(x => plan.Steps[x.s] is ConvStep)
            .Select(x => (x.s, x.t, macs: (long)((ConvStep)plan.Steps[x.s]).Geometry.OutputLength * ((ConvStep)plan.Steps[x.s]).Geometry.FanIn))
            .OrderByDescending(x => x.macs).FirstOrDefault();
        if (largest.macs > 0)
        {
            var g = ((ConvStep)plan.Steps[largest.s]).Geometry;
            double achieved = largest.macs / (largest.t / (double)Stopwatch.Frequency) / 1e9;
            var (peak, instructions) = PeakProbe.Int8MacRate();
            string kind = g.InChannelsPerGroup == 1 && g.OutChannelsPerGroup < 4 ? $"depthwise rows ({QuantBuild.Runtime.Conv2DInt8.DepthwisePath})" : $"GEMM tiles ({QuantBuild.Runtime.Conv2DInt8.GemmPath})";
            text.AppendLine($"  largest conv: k{g.KernelHeight}x{g.KernelWidth} {g.InChannels}->{g.OutChannels} g{g.Groups} on {g.OutHeight}x{g.OutWidth}, {largest.macs / 1e6:0.00} M MAC in {largest.t * 1000.0 / Stopwatch.Frequency:0.000} ms = {achieved:0.0} GMAC/s via {kind}; "
                + (peak > 0 ? $"this core's peak with {instructions}: {peak:0.0} GMAC/s ({achieved / peak * 100:0}% of it)" : "no peak probe for this CPU"));
        }
        return text.ToString();
    }

    private static IEnumerable<Row> Measure(RealModel model, RealModelCase input, int bits, double? fp32, OrtOracle oracle, BenchOptions options, string work)
    {
        // A sidecar beside the inputs, as a user would write one: calibration globs per input.
        var casesDir = Path.GetDirectoryName(Path.GetDirectoryName(input.InputFiles.Values.First())!)!;
        var sidecar = Path.Combine(work, $"{model.Id}-w{bits}.quant.json");
        var calibration = string.Join(", ", input.InputFiles.Select(kv =>
            $"\"{kv.Key}\": {JsonSerializer.Serialize(Path.Combine(casesDir, "*", Path.GetFileName(kv.Value)))}"));
        File.WriteAllText(sidecar, $$"""{ "weights": { "bits": {{bits}} }, "calibration": { "inputs": { {{calibration}} } } }""");

        var compiled = ModelCompiler.Compile(model.ModelPath, sidecar, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var result = compiled.Pipeline;
        var kernelPlan = compiled.RequirePlan();
        // What building the kernels allocates (arena, prepared tables, packed or decoded weight copies, scratch):
        // the memory a model instance holds besides its weight data.
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var runner = new IntegerModelRunner(kernelPlan);
        long heapBytes = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var plan = runner.Plan;
        var feeds = input.LoadInputs();
        RunnerTiming.WarmUp(runner, feeds, options.Warmup);
        var times = new double[options.Iters];
        for (int i = 0; i < times.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            runner.Run(feeds);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        if (options.Profile) Console.WriteLine(ProfileSteps(model.Id, bits, plan, runner, feeds, options.Iters));
        long fp32Bytes = result.Model.Weights.Values.Sum(w => 4L * w.Codes.Length);
        long quantBytes = result.Model.Weights.Values.Sum(w => ((long)w.Codes.Length * w.Bits + 7) / 8);
        var rows = new List<Row>();
        // The same quantized model written with each QDQ code type: only ORT's kernels (and its timing) differ.
        foreach (var type in options.QdqTypes ?? [QdqIntegerType.UInt8])
        {
            var name = type == QdqIntegerType.Int8 ? "int8" : "uint8";
            var qdq = Path.Combine(work, $"{model.Id}-w{bits}-{name}.quant.onnx");
            var qdqBytes = QdqOnnxEmitter.EmitBytes(result.Model, type);
            File.WriteAllBytes(qdq, qdqBytes);
            var ortQdq = oracle.Bench(qdq, input.InputFiles, options.Warmup, options.Iters);
            rows.Add(new Row(model.Id, bits, times[times.Length / 2], ortQdq.MedianMs, fp32, fp32Bytes, quantBytes, qdqBytes.Length, plan.FloatNodeNames.Count, null, times[0], ortQdq.MinMs, name,
                plan.ArenaBytes, heapBytes));
        }
        return rows;
    }
}
