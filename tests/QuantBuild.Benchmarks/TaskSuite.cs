using System.Text;
using System.Text.Json;
using QuantBuild.Diagnostics;
using QuantBuild.Oracle;
using QuantBuild.Oracle.TaskEvaluation;

/// <summary>
/// `task`: the task metrics of the real models on the labelled sets tests/oracle/make-task-data.py
/// makes (PaddleOCR orientation accuracy; openWakeWord "alexa" fired / false alarms), for fp32 in our
/// engine and in ONNX Runtime, and W8A8 quantized through the CLI's quantize job with calibration sets
/// disjoint from the evaluation sets: in our integer runtime and as our QDQ file in ONNX Runtime.
/// </summary>
static class TaskSuite
{
    public static int Run(OrtOracle oracle, BenchOptions options, string root)
    {
        var ids = options.ModelIds ?? EvaluationTask.KnownIds.ToArray();
        var unknown = ids.Except(EvaluationTask.KnownIds).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"unknown task id(s) {string.Join(", ", unknown)}; known: {string.Join(", ", EvaluationTask.KnownIds)}");
        var evaluator = new TaskEvaluator(oracle, Path.Combine(root, "artifacts", "bench-task"), Console.Error);
        var rows = new List<TaskRow>();
        var tasks = new Dictionary<string, EvaluationTask>();
        var errors = new List<string>();
        foreach (var id in ids)
        {
            try
            {
                var task = EvaluationTask.Load(id, Path.Combine(root, ".assets"), options.Samples);
                tasks[id] = task;
                foreach (var type in options.QdqTypes ?? [QuantBuild.Configuration.QdqIntegerType.UInt8])
                    foreach (var auto in options.AutoPrecision ?? [true])
                        rows.Add(evaluator.Evaluate(task, QuantizationRecipe.W8A8With(type, auto)));
            }
            catch (Exception e) when (e is QuantBuildException or OracleException or NotSupportedException or InvalidDataException)
            {
                errors.Add($"{id}: {e.Message}");
            }
        }

        var table = new StringBuilder();
        table.AppendLine("| task | recipe | fp32 engine | fp32 ORT | W8A8 integer runtime | W8A8 QDQ meaning (ORT, opt. disabled) | W8A8 QDQ in ORT (default opt.) | int vs QDQ meaning | ORT default vs QDQ meaning | int vs ORT default (units / samples) | int vs fp32 | QDQ vs fp32 | SQNR int dB | SQNR QDQ meaning dB | SQNR QDQ ORT dB | weight bytes fp32 → W8 | quantize s | int runtime s | QDQ ORT s |");
        table.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|---:|---:|---:|---|---:|---:|---:|");
        foreach (var r in rows)
            table.AppendLine($"| {r.Task} | {r.Recipe} | {r.Fp32Engine.Text} | {r.Fp32Ort.Text} | {r.Integer.Text} | {r.QdqMeaning.Text} | {r.QdqOrt.Text} | {r.IntegerVsQdqMeaning} | {r.QdqVsQdqMeaning} | {r.IntegerVsQdq} / {r.IntegerVsQdqSamples} | {r.IntegerVsFp32} | {r.QdqVsFp32} | {r.SqnrIntegerDb:0.0} | {r.SqnrQdqMeaningDb:0.0} | {r.SqnrQdqDb:0.0} | {r.Fp32WeightBytes:N0} → {r.QuantizedWeightBytes:N0} | {r.QuantizeSeconds:0.0} | {r.IntegerSeconds:0.0} | {r.QdqOrtSeconds:0.0} |");
        Console.WriteLine($"Task metrics on {CpuDescription.Current}, ONNX Runtime {OrtOracle.Version} in process (calibration sets disjoint from the evaluation sets; agreement units: ppocr = text lines, oww = 16-embedding windows, samples = clips):\n");
        Console.Write(table);
        foreach (var r in rows)
        {
            Console.WriteLine($"\n{r.Task} {r.Recipe}: {r.Data}; output SQNR fp32 engine vs fp32 ORT {r.SqnrFp32EngineVsOrtDb:0.0} dB, integer runtime vs QDQ meaning {r.SqnrIntegerVsQdqMeaningDb:0.0} dB, vs QDQ in ORT (default opt.) {r.SqnrIntegerVsQdqDb:0.0} dB; float steps in the integer plan: {r.FloatSteps}");
            foreach (var d in r.IntegerVsQdqDisagreements)
                Console.WriteLine($"  {r.Task} unit {d.Unit}: int and the QDQ meaning decide differently: fp32 [{Values(d.Fp32)}], int [{Values(d.Integer)}], QDQ [{Values(d.Qdq)}]");
            if (options.Profile) PrintLayers(oracle, tasks[r.Task], r);
        }
        foreach (var e in errors) Console.WriteLine($"\nerror: {e}");

        var outPath = options.OutPath ?? Path.Combine(root, "artifacts", "bench-task.json");
        Directory.CreateDirectory(Path.GetDirectoryName(outPath)!);
        var report = new
        {
            suite = "task",
            date = DateTime.UtcNow.ToString("O"),
            machine = new { cpu = CpuDescription.Current, cores = Environment.ProcessorCount, os = Environment.OSVersion.ToString(), runtime = Environment.Version.ToString() },
            samples = options.Samples,
            results = rows.Select(r => new
            {
                r.Task, r.Recipe, r.Data,
                Fp32Engine = r.Fp32Engine, Fp32Ort = r.Fp32Ort, Integer = r.Integer, QdqOrt = r.QdqOrt, QdqMeaning = r.QdqMeaning,
                IntegerVsQdq = Agreement(r.IntegerVsQdq), IntegerVsQdqSamples = Agreement(r.IntegerVsQdqSamples),
                IntegerVsQdqMeaning = Agreement(r.IntegerVsQdqMeaning), QdqVsQdqMeaning = Agreement(r.QdqVsQdqMeaning),
                SqnrQdqMeaningDb = Finite(r.SqnrQdqMeaningDb), SqnrIntegerVsQdqMeaningDb = Finite(r.SqnrIntegerVsQdqMeaningDb),
                IntegerVsFp32 = Agreement(r.IntegerVsFp32), QdqVsFp32 = Agreement(r.QdqVsFp32),
                SqnrIntegerDb = Finite(r.SqnrIntegerDb), SqnrQdqDb = Finite(r.SqnrQdqDb), SqnrFp32EngineVsOrtDb = Finite(r.SqnrFp32EngineVsOrtDb), SqnrIntegerVsQdqDb = Finite(r.SqnrIntegerVsQdqDb),
                r.Fp32WeightBytes, r.QuantizedWeightBytes, r.QuantizeSeconds, r.IntegerSeconds, r.QdqOrtSeconds, r.FloatSteps,
                IntegerVsQdqDisagreements = r.IntegerVsQdqDisagreements,
                QuantizedFiles = r.QuantizedFiles,
            }),
            errors,
        };
        File.WriteAllText(outPath, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));
        Console.WriteLine($"\nwrote {outPath}");
        return errors.Count == 0 ? 0 : 1;
    }

    /// <summary>--profile: where the integer runtime and ORT on the QDQ file part ways, step by step, on the first unit they decide differently.</summary>
    private static void PrintLayers(OrtOracle oracle, EvaluationTask task, TaskRow row)
    {
        var unit = row.IntegerVsQdqDisagreements.FirstOrDefault()?.Unit ?? 0;
        if (task.UnitInput(unit) is not var (modelId, input)) return;
        var artifact = row.Artifacts.Single(a => a.ModelId == modelId);
        Console.WriteLine($"\n{row.Task} unit {unit}, integer runtime vs the meaning of {Path.GetFileName(artifact.QdqPath)} (ORT, optimizations disabled), every int8 step output:");
        Console.WriteLine("| step | op | node | tensor | SQNR int vs QDQ dB | codes differing | max code diff | SQNR int vs fp32 dB | SQNR QDQ vs fp32 dB |");
        Console.WriteLine("|---:|---|---|---|---:|---:|---:|---:|---:|");
        foreach (var l in LayerComparison.Compare(oracle.QdqMeaning(), artifact.Plan, artifact.QdqPath, input, task.ModelPaths[modelId]))
            Console.WriteLine($"| {l.Step} | {l.OpType} | {l.NodeName} | {l.Tensor} | {l.SqnrDb:0.0} | {l.CodeMismatches}/{l.Length} | {l.MaxCodeDiff} | {l.SqnrIntegerVsFp32Db:0.0} | {l.SqnrQdqVsFp32Db:0.0} |");
    }

    private static string Values(float[] v) => string.Join(", ", v.Select(x => x.ToString("0.000")));

    private static object Agreement(DecisionAgreement a) => new { a.Same, a.Total, a.Fraction };

    // JSON has no infinity: identical outputs are written as null.
    private static double? Finite(double v) => double.IsFinite(v) ? v : null;
}
