using System.Text.Json;
using QuantBuild.Cli;
using QuantBuild.Onnx.IO;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;
using StbImageSharp;

namespace QuantBuild.Tests.Models;

/// <summary>
/// Calibration from image files through the user's path (`quantbuild quantize` with a sidecar recipe), on real models.
/// </summary>
[TestClass]
public sealed class ImageCalibrationTests
{
    /// <summary>1/127.5 as written in the sidecar: BlazeFace takes pixels in [−1, 1].</summary>
    private const double BlazeFaceScale = 0.00784313725490196;

    /// <summary>
    /// BlazeFace from the four real photos (PNG and JPEG, 300–512 pixels high, stretched to 128×128, NHWC, [−1, 1])
    /// quantizes to the same bytes as from .npy files holding the tensor docs/calibration-data.md defines for those
    /// pixels, computed here straight from the documented formula: the same calibrated ranges, the same model.
    /// </summary>
    [TestMethod]
    public void BlazeFaceFromPhotosQuantizesExactlyAsFromTheSamePixelsAsNpy()
    {
        var model = TestAssets.BlazeFace;
        var photos = Directory.GetFiles(TestAssets.Require("photos")).Order(StringComparer.Ordinal).ToArray();
        Assert.AreEqual(4, photos.Length);
        Assert.IsTrue(photos.Any(p => p.EndsWith(".jpg", StringComparison.Ordinal)) && photos.Any(p => p.EndsWith(".png", StringComparison.Ordinal)));
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("npy"));
        for (int k = 0; k < photos.Length; k++)
            NpyFile.Write(temp.File("npy", $"{k}.npy"), Tensors.Tensor.FromFloats(ReferenceTensor(photos[k], 128, 128), 1, 128, 128, 3));

        var images = JsonSerializer.Serialize(Path.Combine(TestAssets.AssetsDir, "photos", "*"));
        File.WriteAllText(temp.File("images.quant.json"), $$"""
            { "calibration": { "inputs": { "input:0": { "images": {{images}}, "resize": [128, 128], "layout": "NHWC", "scale": {{BlazeFaceScale.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}}, "mean": [1] } } },
              "quality": { "samples": 0 } }
            """);
        File.WriteAllText(temp.File("npy.quant.json"), """{ "calibration": { "inputs": { "input:0": "npy/*.npy" } }, "quality": { "samples": 0 } }""");
        foreach (var variant in new[] { "images", "npy" })
        {
            var (exit, _, err) = CliHarness.Cli("quantize", model, "--config", temp.File($"{variant}.quant.json"), "--out", temp.File(variant), "--name", "face", "--threads", "2");
            Assert.AreEqual(0, exit, err);
        }
        CollectionAssert.AreEqual(File.ReadAllBytes(temp.File("npy", "face.quant.onnx")), File.ReadAllBytes(temp.File("images", "face.quant.onnx")), "QDQ model");
        CollectionAssert.AreEqual(File.ReadAllBytes(temp.File("npy", "face.g.cs")), File.ReadAllBytes(temp.File("images", "face.g.cs")), "generated C#");
    }

    /// <summary>
    /// docs/calibration-data.md, "Images", for fit "stretch", RGB, NHWC, mean 1, std 1: output pixel (y, x) samples the
    /// source at ((x + 0.5)·W/w − 0.5, (y + 0.5)·H/h − 0.5), clamped into the image, bilinearly in double; the value is
    /// (pixel·scale − 1) / 1 rounded to float32. Written out per pixel, independently of ImagePreprocessor.
    /// </summary>
    private static float[] ReferenceTensor(string file, int h, int w)
    {
        var image = ImageResult.FromMemory(File.ReadAllBytes(file), ColorComponents.RedGreenBlue);
        int width = image.Width, height = image.Height;
        var result = new float[h * w * 3];
        for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
        {
            double sy = Math.Min(Math.Max((y + 0.5) * height / h - 0.5, 0), height - 1);
            double sx = Math.Min(Math.Max((x + 0.5) * width / w - 0.5, 0), width - 1);
            int y0 = (int)sy, x0 = (int)sx, y1 = Math.Min(y0 + 1, height - 1), x1 = Math.Min(x0 + 1, width - 1);
            double fy = sy - y0, fx = sx - x0;
            for (int c = 0; c < 3; c++)
            {
                double p00 = image.Data[(y0 * width + x0) * 3 + c], p01 = image.Data[(y0 * width + x1) * 3 + c];
                double p10 = image.Data[(y1 * width + x0) * 3 + c], p11 = image.Data[(y1 * width + x1) * 3 + c];
                double pixel = (1 - fy) * ((1 - fx) * p00 + fx * p01) + fy * ((1 - fx) * p10 + fx * p11);
                result[(y * w + x) * 3 + c] = (float)((pixel * BlazeFaceScale - 1) / 1);
            }
        }
        return result;
    }

    /// <summary>
    /// The MNIST model from grey PNG digits: a corrupt image among them stops the build before calibration with
    /// QB1011 naming it, and nothing is written; without it the same sidecar quantizes.
    /// </summary>
    [TestMethod]
    public void MnistFromPngDigitsQuantizesAndACorruptOneFailsFirstWritingNothing()
    {
        using var temp = new TempFolder();
        var model = temp.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        Directory.CreateDirectory(temp.File("digits"));
        var training = QuantizeTestData.Digits.TrainingIndices;
        for (int k = 0; k < 8; k++)
        {
            var pixels = QuantizeTestData.Digits.Image(training[k * 500]).ToArray().Select(v => (byte)Math.Round(v * 255)).ToArray();
            PngWriter.Write(temp.File("digits", $"d{k}.png"), 28, 28, 1, pixels);
        }
        File.WriteAllText(temp.File("mnist.quant.json"), """
            {
              "calibration": {
                "inputs": { "input": { "images": "digits/*.png", "channelOrder": "gray", "scale": 0.00392156862745098 } }
              }
            }
            """);
        var ok = CliHarness.Cli("quantize", model, "--out", temp.File("ok"));
        Assert.AreEqual(0, ok.Exit, ok.Err);
        Assert.IsTrue(File.Exists(temp.File("ok", "mnist.g.cs")));

        File.WriteAllBytes(temp.File("digits", "d9.png"), File.ReadAllBytes(temp.File("digits", "d0.png"))[..60]);
        var bad = CliHarness.Cli("quantize", model, "--out", temp.File("bad"));
        Assert.AreEqual(ExitCodes.Failed, bad.Exit);
        StringAssert.Contains(bad.Err, "error QB1011");
        StringAssert.Contains(bad.Err, temp.File("digits", "d9.png"));
        Assert.DoesNotContain("calibration:", bad.Out, "reported before calibration started");
        Assert.IsFalse(Directory.Exists(temp.File("bad")), "nothing written");
    }
}
