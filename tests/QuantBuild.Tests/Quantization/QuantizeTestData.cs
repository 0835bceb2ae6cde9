using QuantBuild.Onnx.IO;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

/// <summary>Calibration folders and sidecars for the real-model quantization tests.</summary>
internal static class QuantizeTestData
{
    private static readonly Lazy<MnistDataset> Mnist = new(() =>
    {
        try { return MnistDataset.Load(Path.Combine(TestAssets.RepoRoot, MnistDataset.RelativeDigitsDirectory)); }
        catch (FileNotFoundException e) { throw new AssertFailedException(e.Message + $" (run {TestAssets.FetchScript})"); }
    });

    public static MnistDataset Digits => Mnist.Value;

    public static string MnistModel => Path.Combine(TestAssets.RepoRoot, "samples", "MnistDigits", "Models", "mnist.onnx");

    /// <summary>Writes <paramref name="count"/> training digits (every 80th) as calib/d###.npy [1,1,28,28] under <paramref name="dir"/>.</summary>
    public static void WriteMnistCalibration(string dir, int count = 100)
    {
        var training = Digits.TrainingIndices;
        int stride = training.Length / count;
        Directory.CreateDirectory(Path.Combine(dir, "calib"));
        for (int k = 0; k < count; k++)
        {
            var pixels = Digits.Image(training[k * stride]).ToArray();
            NpyFile.Write(Path.Combine(dir, "calib", $"d{k:D3}.npy"), Tensor.FromFloats(pixels, 1, 1, 28, 28));
        }
    }

    /// <summary>
    /// A quantize workspace in <paramref name="dir"/>: the real MNIST model as mnist.onnx, <paramref name="samples"/>
    /// calibration digits in calib/ and <paramref name="sidecarJson"/> as mnist.quant.json. Returns the model's path.
    /// </summary>
    public static string MnistWorkspace(string dir, int samples, string sidecarJson)
    {
        var model = Path.Combine(dir, "mnist.onnx");
        File.Copy(MnistModel, model);
        WriteMnistCalibration(dir, samples);
        File.WriteAllText(Path.Combine(dir, "mnist.quant.json"), sidecarJson);
        return model;
    }

    /// <summary>The 2,000 held-out digits as one [2000,1,28,28] file, and their labels.</summary>
    public static (string File, byte[] Labels) WriteHeldOut(string dir)
    {
        var heldOut = Digits.HeldOutIndices;
        var file = Path.Combine(dir, "heldout.npy");
        NpyFile.Write(file, Tensor.FromFloats(Digits.Batch(heldOut), heldOut.Length, 1, 28, 28));
        return (file, heldOut.Select(i => Digits.Labels[i]).ToArray());
    }

    public static double Accuracy(Tensor logits, byte[] labels)
    {
        int classes = logits.Shape[1], correct = 0;
        var v = logits.Floats;
        for (int b = 0; b < labels.Length; b++)
        {
            int best = 0;
            for (int c = 1; c < classes; c++) if (v[b * classes + c] > v[b * classes + best]) best = c;
            if (best == labels[b]) correct++;
        }
        return (double)correct / labels.Length;
    }
}
