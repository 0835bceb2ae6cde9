using QuantBuild.Compilation;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using QuantBuild.Graph;
using QuantBuild.Lowering;
using QuantBuild.Quantization;

namespace QuantBuild.Oracle.TaskEvaluation;

/// <summary>
/// How to quantize a task's models: a sidecar without its calibration inputs (weights, activations, layers,
/// budget...), which the evaluator completes with each model's calibration glob. Any sidecar a build
/// accepts works, so a later evaluation table can compare methods and bit widths row by row.
/// </summary>
public sealed record QuantizationRecipe(string Name, string SidecarJson)
{
    public static QuantizationRecipe W8A8 { get; } = new("W8A8", """{ "weights": { "bits": 8 }, "activations": { "bits": 8 } }""");

    /// <summary>
    /// W8A8 with the QDQ file's 8-bit codes of the given type (outputs.qdqIntegerType), and with automatic 16-bit promotion on (the
    /// default) or off (activations.autoPrecision, docs/wide-activations.md).
    /// </summary>
    public static QuantizationRecipe W8A8With(QuantBuild.Configuration.QdqIntegerType type, bool autoPrecision = true)
    {
        var name = type == QuantBuild.Configuration.QdqIntegerType.Int8 ? "int8" : "uint8";
        return autoPrecision
            ? new($"W8A8 qdq={name}", $$"""{ "weights": { "bits": 8 }, "activations": { "bits": 8 }, "outputs": { "qdqIntegerType": "{{name}}" } }""")
            : new($"W8A8 qdq={name} autoPrecision=off", $$"""{ "weights": { "bits": 8 }, "activations": { "bits": 8, "autoPrecision": false }, "outputs": { "qdqIntegerType": "{{name}}" } }""");
    }

    /// <summary>The sidecar for one model: the recipe plus <c>calibration.inputs</c> (other calibration keys of the recipe are kept).</summary>
    public string SidecarFor(QuantizedModelSpec model)
    {
        var root = JsonNode.Parse(SidecarJson) as JsonObject ?? throw new ArgumentException($"recipe '{Name}': the sidecar must be a JSON object");
        if (root["calibration"] is not JsonObject calibration) root["calibration"] = calibration = new JsonObject();
        calibration["inputs"] = new JsonObject { [model.InputName] = model.CalibrationGlob };
        calibration["maxSamples"] ??= 0;  // the calibration sets are small: use every file
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}

/// <summary>Fraction of decisions two variants share.</summary>
public sealed record DecisionAgreement(int Same, int Total)
{
    public double Fraction => Total == 0 ? 1 : (double)Same / Total;

    public static DecisionAgreement Of(int[] a, int[] b)
    {
        if (a.Length != b.Length) throw new ArgumentException($"decision counts differ: {a.Length} vs {b.Length}");
        return new DecisionAgreement(a.Zip(b).Count(p => p.First == p.Second), a.Length);
    }

    public override string ToString() => $"{100 * Fraction:0.0}% ({Same}/{Total})";
}

/// <summary>One variant's predictions with its task score and how long the evaluation set took.</summary>
public sealed record VariantResult(string Variant, TaskPredictions Predictions, TaskScore Score, double Seconds);

/// <summary>fp32 in our engine and in ONNX Runtime: the references every recipe is compared with.</summary>
public sealed record Fp32Results(VariantResult Engine, VariantResult Ort);

/// <summary>
/// One row of a task evaluation: a recipe's quantized models in our integer runtime and (as QDQ files) in
/// ONNX Runtime, against fp32. Agreement is per decision unit (text line; clip window) and per labelled
/// sample (line; clip). SQNR is of the final outputs, in dB, each runtime against its own fp32.
/// ORT runs each QDQ file twice: at its default optimization level (<c>QdqOrt</c>: fused integer kernels,
/// which differ between CPUs) and with optimizations disabled (<c>QdqMeaning</c>: DequantizeLinear → float
/// op → QuantizeLinear, what the file says on every CPU). Our integer runtime is held to the meaning.
/// </summary>
public sealed record TaskRow(
    string Task, string Recipe, string Data,
    TaskScore Fp32Engine, TaskScore Fp32Ort, TaskScore Integer, TaskScore QdqOrt, TaskScore QdqMeaning,
    DecisionAgreement IntegerVsQdq, DecisionAgreement IntegerVsQdqSamples,
    DecisionAgreement IntegerVsQdqMeaning, DecisionAgreement QdqVsQdqMeaning,
    DecisionAgreement IntegerVsFp32, DecisionAgreement QdqVsFp32,
    double SqnrIntegerDb, double SqnrQdqDb, double SqnrQdqMeaningDb, double SqnrFp32EngineVsOrtDb,
    double SqnrIntegerVsQdqDb, double SqnrIntegerVsQdqMeaningDb,
    long Fp32WeightBytes, long QuantizedWeightBytes, double QuantizeSeconds,
    double IntegerSeconds, double QdqOrtSeconds, int FloatSteps, IReadOnlyList<string> QuantizedFiles,
    IReadOnlyList<Disagreement> IntegerVsQdqDisagreements, IReadOnlyList<QuantizedArtifact> Artifacts);

/// <summary>A quantized model of a row: the integer plan our runtime ran and the QDQ file ONNX Runtime ran.</summary>
public sealed record QuantizedArtifact(string ModelId, IntegerPlan Plan, string QdqPath);

/// <summary>A decision unit where our integer runtime and the QDQ file's meaning (ONNX Runtime, optimizations disabled)
/// decide differently, with the unit's outputs (text line: class probabilities; window: alexa score) in fp32 (our
/// engine), integer runtime and QDQ.</summary>
public sealed record Disagreement(int Unit, float[] Fp32, float[] Integer, float[] Qdq);

/// <summary>
/// Evaluates tasks: fp32 (once per task, cached), then per recipe: quantize each model through the CLI's
/// quantize job (the code `quantbuild quantize` runs, writing .quant.onnx, .g.cs and .report.json), run the
/// lowered plan in <see cref="IntegerModelRunner"/> and the QDQ file in ONNX Runtime, and compare.
/// </summary>
public sealed class TaskEvaluator(OrtOracle oracle, string workDir, TextWriter? log = null)
{
    private readonly Dictionary<EvaluationTask, Fp32Results> _fp32 = new();
    private readonly TextWriter _log = log ?? TextWriter.Null;

    public Fp32Results Fp32(EvaluationTask task)
    {
        if (_fp32.TryGetValue(task, out var cached)) return cached;
        var engine = RunVariant(task, "fp32 engine", task.ModelPaths.ToDictionary(kv => kv.Key, kv => (IModelBackend)new EngineBackend(kv.Value)));
        var ort = RunVariant(task, "fp32 ORT", task.ModelPaths.ToDictionary(kv => kv.Key, kv => Ort(kv.Value, kv.Value)));
        return _fp32[task] = new Fp32Results(engine, ort);
    }

    public TaskRow Evaluate(EvaluationTask task, QuantizationRecipe recipe)
    {
        var fp32 = Fp32(task);
        var folder = Path.Combine(workDir, task.Id, SafeName(recipe.Name));
        Directory.CreateDirectory(folder);
        // Models outside the recipe (openWakeWord's melspectrogram) stay fp32: our engine beside our
        // integer runtime, ONNX Runtime beside ONNX Runtime.
        var floatModels = task.ModelPaths.Where(kv => task.QuantizedModels.All(q => q.Id != kv.Key)).ToList();
        var integer = floatModels.ToDictionary(kv => kv.Key, kv => (IModelBackend)new EngineBackend(kv.Value));
        var qdq = floatModels.ToDictionary(kv => kv.Key, kv => Ort(kv.Value, kv.Value));
        // The float models run the same way beside both readings of the QDQ files.
        var meaning = new Dictionary<string, IModelBackend>(qdq);
        long fp32Bytes = 0, quantBytes = 0;
        int floatSteps = 0;
        double quantizeSeconds = 0;
        var files = new List<string>();
        var artifacts = new List<QuantizedArtifact>();
        foreach (var spec in task.QuantizedModels)
        {
            var sidecar = Path.Combine(folder, spec.Id + ".quant.json");
            File.WriteAllText(sidecar, recipe.SidecarFor(spec));
            _log.WriteLine($"{task.Id} {recipe.Name}: quantize {spec.Id} ...");
            long start = Stopwatch.GetTimestamp();
            // The compile `quantbuild quantize` and MSBuild run; its outputs are written as the CLI names them.
            var compiled = ModelCompiler.Compile(spec.ModelPath, sidecar, new Engine.EngineOptions { MaxDegreeOfParallelism = Environment.ProcessorCount });
            var written = new List<string>();
            foreach (var file in compiled.Outputs(spec.Id, new Emit.CSharpEmitOptions { ClassName = "Model", Namespace = "QuantBuild.Evaluation" }))
            {
                var path = Path.Combine(folder, file.FileName);
                File.WriteAllBytes(path, file.Content);
                written.Add(path);
            }
            quantizeSeconds += Stopwatch.GetElapsedTime(start).TotalSeconds;
            var model = compiled.Model;
            // The plan the C# emitter wrote out, compiled once.
            var calls = compiled.RequirePlan();
            var plan = calls.Plan;
            floatSteps += plan.FloatNodeNames.Count;
            integer[spec.Id] = new IntegerBackend(calls, spec.Id);
            var qdqFile = written.Single(f => f.EndsWith(".quant.onnx", StringComparison.Ordinal));
            var (input, output) = IoNames(spec.ModelPath);
            qdq[spec.Id] = new OrtBackend(oracle, qdqFile, input, output);
            meaning[spec.Id] = new OrtBackend(oracle.QdqMeaning(), qdqFile, input, output);
            artifacts.Add(new QuantizedArtifact(spec.Id, plan, qdqFile));
            fp32Bytes += model.Weights.Values.Sum(w => 4L * w.Codes.Length);
            quantBytes += model.Weights.Values.Sum(QuantizationPipeline.QuantizedWeightBytes);
            files.AddRange(written);
        }
        var ours = RunVariant(task, recipe.Name + " integer runtime", integer);
        var theirs = RunVariant(task, recipe.Name + " QDQ ORT", qdq);
        var meant = RunVariant(task, recipe.Name + " QDQ meaning (ORT, optimizations disabled)", meaning);
        return new TaskRow(task.Id, recipe.Name, task.Describe(),
            fp32.Engine.Score, fp32.Ort.Score, ours.Score, theirs.Score, meant.Score,
            DecisionAgreement.Of(ours.Predictions.Decisions, theirs.Predictions.Decisions),
            DecisionAgreement.Of(ours.Predictions.Verdicts, theirs.Predictions.Verdicts),
            DecisionAgreement.Of(ours.Predictions.Decisions, meant.Predictions.Decisions),
            DecisionAgreement.Of(theirs.Predictions.Decisions, meant.Predictions.Decisions),
            DecisionAgreement.Of(ours.Predictions.Decisions, fp32.Engine.Predictions.Decisions),
            DecisionAgreement.Of(theirs.Predictions.Decisions, fp32.Ort.Predictions.Decisions),
            SqnrDb(fp32.Engine.Predictions.Outputs, ours.Predictions.Outputs),
            SqnrDb(fp32.Ort.Predictions.Outputs, theirs.Predictions.Outputs),
            SqnrDb(fp32.Ort.Predictions.Outputs, meant.Predictions.Outputs),
            SqnrDb(fp32.Ort.Predictions.Outputs, fp32.Engine.Predictions.Outputs),
            SqnrDb(theirs.Predictions.Outputs, ours.Predictions.Outputs),
            SqnrDb(meant.Predictions.Outputs, ours.Predictions.Outputs),
            fp32Bytes, quantBytes, quantizeSeconds, ours.Seconds, theirs.Seconds, floatSteps, files,
            Disagreements(fp32.Engine.Predictions, ours.Predictions, meant.Predictions), artifacts);
    }

    private static List<Disagreement> Disagreements(TaskPredictions fp32, TaskPredictions ours, TaskPredictions theirs)
    {
        int width = ours.Outputs.Length / ours.Decisions.Length;
        float[] Unit(TaskPredictions p, int u) => p.Outputs.AsSpan(u * width, width).ToArray();
        return Enumerable.Range(0, ours.Decisions.Length).Where(u => ours.Decisions[u] != theirs.Decisions[u])
            .Select(u => new Disagreement(u, Unit(fp32, u), Unit(ours, u), Unit(theirs, u))).ToList();
    }

    /// <summary>10·log10(Σ ref² / Σ (x − ref)²); +∞ when identical.</summary>
    public static double SqnrDb(float[] reference, float[] value)
    {
        if (reference.Length != value.Length) throw new ArgumentException($"output lengths differ: {reference.Length} vs {value.Length}");
        double signal = 0, noise = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            signal += (double)reference[i] * reference[i];
            double d = (double)value[i] - reference[i];
            noise += d * d;
        }
        return noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
    }

    private VariantResult RunVariant(EvaluationTask task, string variant, IReadOnlyDictionary<string, IModelBackend> backends)
    {
        _log.WriteLine($"{task.Id}: {variant} on {task.SampleCount} samples ...");
        long start = Stopwatch.GetTimestamp();
        var predictions = task.Predict(backends);
        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var score = task.Score(predictions);
        _log.WriteLine($"{task.Id}: {variant}: {score.Text} ({seconds:0.0} s)");
        return new VariantResult(variant, predictions, score, seconds);
    }

    /// <summary>ONNX Runtime on <paramref name="runPath"/>; input/output names from the fp32 model (a QDQ file keeps them).</summary>
    private IModelBackend Ort(string fp32Path, string runPath)
    {
        var (input, output) = IoNames(fp32Path);
        return new OrtBackend(oracle, runPath, input, output);
    }

    /// <summary>The single input and the first output of a task model.</summary>
    private static (string Input, string Output) IoNames(string modelPath)
    {
        var graph = OnnxImporter.Load(modelPath);
        return (graph.Inputs.Single().Name, graph.Outputs[0].Name);
    }

    private static string SafeName(string name) => string.Concat(name.Select(c => char.IsLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_'));
}
