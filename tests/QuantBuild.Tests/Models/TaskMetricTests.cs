using QuantBuild.Oracle.TaskEvaluation;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Models;

/// <summary>
/// Task metrics of the real models (tests/oracle/README.md) on subsets of the labelled sets tests/oracle/make-task-data.py makes:
/// fp32 scores in its expected range, and W8A8 (quantized through the CLI's quantize job, calibrated on the
/// disjoint calibration sets) makes the same top-1 decisions in our integer runtime as our QDQ file means.
/// The whole sets run in `QuantBuild.Benchmarks -- task`.
/// </summary>
/// <remarks>
/// "What the QDQ file means" is ONNX Runtime with graph optimizations disabled: each DequantizeLinear →
/// float op → QuantizeLinear as written, the same on every CPU. ORT's default level fuses the groups into
/// integer kernels whose results depend on the CPU (on x64 without VNNI its u8s8 kernels saturate 16-bit
/// pair sums), so agreement with it is measured by the benchmark, not asserted here (docs/qdq-encoding.md).
/// openWakeWord's tests guard the current level (≥ 95 % of windows) on 12 clips.
/// </remarks>
[TestClass]
public sealed class TaskMetricTests
{
    private const double RequiredAgreement = 0.99;
    private const double CurrentAgreement = 0.95;

    private static TaskRow Evaluate(string taskId, int samples, TempFolder folder)
    {
        var oracle = TestAssets.RequireOracle();
        TestAssets.Require("task/.complete");
        var task = EvaluationTask.Load(taskId, TestAssets.AssetsDir, samples);
        Assert.AreEqual(samples, task.SampleCount);
        return new TaskEvaluator(oracle, folder.Path).Evaluate(task, QuantizationRecipe.W8A8);
    }

    [TestMethod]
    public void PaddleClassifierW8A8DecidesLikeOrtOnItsQdqFile()
    {
        using var folder = new TempFolder();
        var row = Evaluate("ppocr-cls", 40, folder);

        // fp32: the classifier's expected 90-99 % orientation accuracy on rendered lines, the same in both engines.
        Assert.IsTrue(row.Fp32Engine.Accuracy >= 0.9, $"fp32 engine: {row.Fp32Engine.Text}");
        Assert.AreEqual(row.Fp32Ort.Correct, row.Fp32Engine.Correct, $"fp32 engine {row.Fp32Engine.Text} vs ORT {row.Fp32Ort.Text}");
        Assert.IsTrue(row.IntegerVsQdqMeaning.Fraction >= CurrentAgreement, $"integer runtime vs the QDQ file's meaning: {row.IntegerVsQdqMeaning}");
        Assert.IsTrue(row.Integer.Accuracy >= 0.85, $"W8A8 integer runtime: {row.Integer.Text}");
        Assert.AreEqual(0, row.FloatSteps, "every PaddleOCR node lowers to an integer kernel");
        Assert.IsTrue(row.QuantizedWeightBytes * 3 < row.Fp32WeightBytes, $"weights {row.Fp32WeightBytes} -> {row.QuantizedWeightBytes} bytes");
    }

    [TestMethod]
    public void WakeWordChainW8A8DecidesLikeOrtOnItsQdqFiles()
    {
        using var folder = new TempFolder();
        // The first 4 positives and 8 negatives of the evaluation set; every clip gives 13 scored windows.
        var row = Evaluate("oww", 12, folder);

        Assert.AreEqual("4/4 fired, 0/8 false alarms", row.Fp32Engine.Text);
        Assert.AreEqual(row.Fp32Engine.Text, row.Fp32Ort.Text);
        Assert.IsTrue(row.IntegerVsQdqMeaning.Fraction >= CurrentAgreement, $"integer runtime vs the QDQ files' meaning, per window: {row.IntegerVsQdqMeaning}");
        Assert.IsTrue(row.IntegerVsFp32.Fraction >= CurrentAgreement, $"integer runtime vs fp32, per window: {row.IntegerVsFp32}");
        Assert.AreEqual(2, row.QuantizedFiles.Count(f => f.EndsWith(".quant.onnx", StringComparison.Ordinal)), "embedding and alexa head quantized");
    }

    [TestMethod]
    public void PaddleClassifierIntegerRuntimeAndQdqFileMeaningAgreeOnNinetyNinePercentOfTheFullSet()
    {
        using var folder = new TempFolder();
        var row = Evaluate("ppocr-cls", 200, folder);
        Assert.IsTrue(row.IntegerVsQdqMeaning.Fraction >= RequiredAgreement, $"integer runtime vs the QDQ file's meaning: {row.IntegerVsQdqMeaning}");
    }
}
