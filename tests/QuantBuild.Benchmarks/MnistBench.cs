using QuantBuild.Onnx.IO;
using QuantBuild.Oracle.TaskEvaluation;
using QuantBuild.Tensors;
using QuantBuild.TestData;

/// <summary>
/// The MNIST pieces every benchmark mode shares: the sample's model, calibration files drawn evenly from
/// the training digits (never the held-out ones) and the 2,000 held-out digits as one batch.
/// </summary>
static class MnistBench
{
    public static string ModelPath(string root) => Path.Combine(root, "samples", "MnistDigits", "Models", "mnist.onnx");

    public static MnistDataset Load(string root) => MnistDataset.Load(Path.Combine(root, MnistDataset.RelativeDigitsDirectory));

    /// <summary>
    /// Writes <paramref name="count"/> training digits (every (training count / count)-th, as
    /// samples/run-sample.sh exports them) into <paramref name="folder"/>, one [1,1,28,28] .npy each, after
    /// emptying it so a smaller count never leaves stale files for the glob; returns the glob.
    /// </summary>
    public static string WriteCalibration(MnistDataset data, string folder, int count)
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        Directory.CreateDirectory(folder);
        int stride = data.TrainingIndices.Length / count;
        for (int k = 0; k < count; k++)
            NpyFile.Write(Path.Combine(folder, $"d{k:D3}.npy"), Image(data, data.TrainingIndices[k * stride]));
        return Path.Combine(folder, "*.npy");
    }

    public static Tensor Image(MnistDataset data, int index) =>
        Tensor.FromFloats(data.Image(index).ToArray(), 1, 1, MnistDataset.Side, MnistDataset.Side);

    /// <summary>The held-out digits stacked as [count, 1, 28, 28].</summary>
    public static Tensor HeldOutBatch(MnistDataset data) =>
        Tensor.FromFloats(data.Batch(data.HeldOutIndices), data.HeldOutIndices.Length, 1, MnistDataset.Side, MnistDataset.Side);
}

/// <summary>
/// MNIST as an evaluation task for <see cref="TaskEvaluator"/>: the sample's CNN on the 2,000 held-out
/// digits (metric = accuracy), calibrated on training digits only.
/// </summary>
sealed class MnistTask : EvaluationTask
{
    private readonly MnistDataset _data;
    private readonly int _calibrationCount;

    public MnistTask(string root, string workDir, int calibrationCount = 200)
    {
        _data = MnistBench.Load(root);
        _calibrationCount = calibrationCount;
        var model = MnistBench.ModelPath(root);
        var glob = MnistBench.WriteCalibration(_data, Path.Combine(workDir, "mnist-calibration"), calibrationCount);
        ModelPaths = new Dictionary<string, string> { [Id] = model };
        QuantizedModels = [new QuantizedModelSpec(Id, model, "input", glob)];
    }

    public override string Id => "mnist";
    public override IReadOnlyDictionary<string, string> ModelPaths { get; }
    public override IReadOnlyList<QuantizedModelSpec> QuantizedModels { get; }
    public override int SampleCount => _data.HeldOutIndices.Length;

    public override string Describe() => $"{SampleCount} held-out digits; calibration: {_calibrationCount} training digits";

    public override TaskPredictions Predict(IReadOnlyDictionary<string, IModelBackend> backends)
    {
        var logits = backends[Id].RunEach(MnistBench.HeldOutBatch(_data)).ToFloatArray();
        var decisions = Enumerable.Range(0, SampleCount)
            .Select(i => ArgMax(logits.AsSpan(i * MnistDataset.ClassCount, MnistDataset.ClassCount))).ToArray();
        return new TaskPredictions(logits, decisions, decisions);
    }

    public override (string ModelId, Tensor Input)? UnitInput(int unit) => (Id, MnistBench.Image(_data, _data.HeldOutIndices[unit]));

    public override TaskScore Score(TaskPredictions predictions)
    {
        var held = _data.HeldOutIndices;
        int correct = Enumerable.Range(0, held.Length).Count(i => predictions.Verdicts[i] == _data.Labels[held[i]]);
        return new TaskScore(correct, held.Length, $"{100.0 * correct / held.Length:0.00}% ({correct}/{held.Length})");
    }
}
