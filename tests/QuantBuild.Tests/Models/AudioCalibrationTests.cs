using System.Text.Json;
using QuantBuild.Onnx.IO;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Models;

/// <summary>Calibration from WAV recordings through the user's path (`quantbuild quantize` with an audio recipe).</summary>
[TestClass]
public sealed class AudioCalibrationTests
{
    /// <summary>
    /// openWakeWord's melspectrogram front end takes 16 kHz speech as int16-valued floats [N, samples]. Its two
    /// espeak-ng test clips (tests/fetch-assets.sh), written as 16-bit mono WAV files and read back by the audio
    /// recipe (scale 32768, one 40000-sample window each), quantize to the same bytes as the .npy clips: the recipe
    /// reproduces the samples exactly, and the declared rate and channel count are accepted.
    /// </summary>
    [TestMethod]
    public void MelSpectrogramFromWavQuantizesExactlyAsFromTheSameSamplesAsNpy()
    {
        var model = TestAssets.RealModel("oww-melspectrogram");
        using var temp = new TempFolder();
        Directory.CreateDirectory(temp.File("wav"));
        foreach (var c in model.Cases)
        {
            var samples = NpyFile.Read(c.InputFiles["input"]).Floats;
            Assert.AreEqual(40000, samples.Length);
            Assert.IsTrue(samples.All(v => v == Math.Round(v) && v is >= short.MinValue and <= short.MaxValue), "int16-valued speech");
            File.WriteAllBytes(temp.File("wav", c.Name + ".wav"), WavBytes.Pcm16(16000, 1, samples.Select(v => (short)v).ToArray()));
        }
        var npy = JsonSerializer.Serialize(Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(model.Cases[0].InputFiles["input"]))!, "*", "input.npy"));
        File.WriteAllText(temp.File("npy.quant.json"), $$"""{ "calibration": { "inputs": { "input": {{npy}} } }, "quality": { "samples": 0 } }""");
        File.WriteAllText(temp.File("wav.quant.json"), """
            { "calibration": { "inputs": { "input": { "audio": "wav/*.wav", "sampleRate": 16000, "window": 40000, "scale": 32768,
                                                      "fileSampleRate": 16000, "fileChannels": 1 } } },
              "quality": { "samples": 0 } }
            """);
        foreach (var variant in new[] { "npy", "wav" })
        {
            var (exit, _, err) = CliHarness.Cli("quantize", model.ModelPath, "--config", temp.File($"{variant}.quant.json"), "--out", temp.File(variant), "--name", "mel", "--threads", "2");
            Assert.AreEqual(0, exit, err);
        }
        CollectionAssert.AreEqual(File.ReadAllBytes(temp.File("npy", "mel.quant.onnx")), File.ReadAllBytes(temp.File("wav", "mel.quant.onnx")), "QDQ model");
        CollectionAssert.AreEqual(File.ReadAllBytes(temp.File("npy", "mel.g.cs")), File.ReadAllBytes(temp.File("wav", "mel.g.cs")), "generated C#");
    }
}
