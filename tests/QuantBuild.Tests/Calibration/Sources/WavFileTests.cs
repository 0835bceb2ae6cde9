using System.Buffers.Binary;
using QuantBuild.Calibration.Sources;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.TestData;

namespace QuantBuild.Tests.Calibration.Sources;

/// <summary>The WAV reader, resampling and windowing against hand-computed values (docs/calibration-data.md, "Audio").</summary>
[TestClass]
public sealed class WavFileTests
{
    private static float[] Mono(byte[] file) => WavFile.Parse(file, "clip.wav").Mono;

    [TestMethod]
    public void EveryPcmWidthAndFloatDecodesToKnownValues()
    {
        CollectionAssert.AreEqual(new[] { 0f, 0.5f, -1f, 32767f / 32768 }, Mono(WavBytes.Pcm16(16000, 1, 0, 16384, -32768, 32767)));
        // 8-bit PCM is unsigned, centred on 128.
        CollectionAssert.AreEqual(new[] { 0f, 0.5f, -1f, 127f / 128 }, Mono(WavBytes.Build(1, 1, 8000, 8, [128, 192, 0, 255])));
        // 24-bit little-endian: 0x400000 = 0.5, 0x800000 = −1, 0xFFFFFF = −1/2^23.
        CollectionAssert.AreEqual(new[] { 0.5f, -1f, -1f / 8388608 }, Mono(WavBytes.Build(1, 1, 8000, 24, [0, 0, 0x40, 0, 0, 0x80, 0xFF, 0xFF, 0xFF])));
        var int32 = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(int32, 0x40000000);
        BinaryPrimitives.WriteInt32LittleEndian(int32.AsSpan(4), int.MinValue);
        CollectionAssert.AreEqual(new[] { 0.5f, -1f }, Mono(WavBytes.Build(1, 1, 8000, 32, int32)));
        var floats = new byte[8];
        BinaryPrimitives.WriteSingleLittleEndian(floats, 0.25f);
        BinaryPrimitives.WriteSingleLittleEndian(floats.AsSpan(4), -0.75f);
        CollectionAssert.AreEqual(new[] { 0.25f, -0.75f }, Mono(WavBytes.Build(3, 1, 8000, 32, floats)));
        // WAVE_FORMAT_EXTENSIBLE carries the real format in its sub-format.
        CollectionAssert.AreEqual(new[] { 0.25f, -0.75f }, Mono(WavBytes.Build(0xFFFE, 1, 8000, 32, floats, subFormat: 3)));
    }

    [TestMethod]
    public void StereoIsAveragedToMonoAndTheFormatIsReported()
    {
        var clip = WavFile.Parse(WavBytes.Pcm16(44100, 2, 16384, 0, -32768, 16384, 100, 100), "s.wav");
        Assert.AreEqual((44100, 2, 16, false), (clip.SampleRate, clip.Channels, clip.BitsPerSample, clip.IsFloat));
        CollectionAssert.AreEqual(new[] { 0.25f, -0.25f, (float)(100 / 32768.0) }, clip.Mono);
    }

    [TestMethod]
    [DataRow("not RIFF", "does not start with a RIFF/WAVE header")]
    [DataRow("truncated data", "claims 400 bytes, only 4 remain")]
    [DataRow("adpcm", "format code 2 is not supported")]
    [DataRow("12-bit", "12-bit PCM is not supported")]
    [DataRow("no data", "no 'data' chunk")]
    [DataRow("partial frame", "not a whole number of 4-byte frames")]
    [DataRow("nan", "NaN or infinite")]
    [DataRow("empty", "holds no samples")]
    public void MalformedFilesAreQB1012NamingTheFileAndTheProblem(string kind, string expected)
    {
        var good = WavBytes.Pcm16(16000, 1, 1, 2);
        byte[] file = kind switch
        {
            "not RIFF" => "RIFX\0\0\0\0WAVE"u8.ToArray(),
            "truncated data" => WavBytes.Build(1, 1, 16000, 16, WavBytes.Int16(1, 2), dataSizeOverride: 400),
            "adpcm" => WavBytes.Build(2, 1, 16000, 16, WavBytes.Int16(1, 2)),
            "12-bit" => WavBytes.Build(1, 1, 16000, 12, WavBytes.Int16(1, 2)),
            "no data" => good[..(good.Length - 12)],
            "partial frame" => WavBytes.Build(1, 2, 16000, 16, WavBytes.Int16(1, 2, 3)),
            "empty" => WavBytes.Build(1, 1, 16000, 16, []),
            _ => WavBytes.Build(3, 1, 16000, 32, BitConverter.GetBytes(float.NaN)),
        };
        var e = Assert.ThrowsExactly<QuantBuildException>(() => WavFile.Parse(file, "/data/clip.wav"));
        Assert.AreEqual(DiagnosticCodes.InvalidWav, e.Code);
        Assert.AreEqual("/data/clip.wav", e.File);
        StringAssert.Contains(e.Message, expected);
    }

    [TestMethod]
    public void ResamplingInterpolatesLinearlyAtExactRationalPositions()
    {
        // Up 2×: output n sits at input n/2; the last input is held past the end.
        CollectionAssert.AreEqual(new[] { 0f, 0.5f, 1f, 0.5f, 0f, -0.5f, -1f, -1f }, AudioPreprocessor.Resample([0, 1, 0, -1], 8000, 16000));
        // Down 2×: every other sample (no filter).
        CollectionAssert.AreEqual(new[] { 0f, 2f, 4f }, AudioPreprocessor.Resample([0, 1, 2, 3, 4, 5], 16000, 8000));
        // 3 → 2: positions 0, 1.5 of four samples.
        CollectionAssert.AreEqual(new[] { 0f, 4.5f }, AudioPreprocessor.Resample([0, 3, 6, 9], 3, 2));
        // 44.1 kHz → 16 kHz: output 1000 sits at input 2756.25, with no drift accumulated over the clip.
        var ramp = Enumerable.Range(0, 44100).Select(i => (float)i).ToArray();
        var down = AudioPreprocessor.Resample(ramp, 44100, 16000);
        Assert.AreEqual(16000, down.Length);
        Assert.AreEqual(2756.25f, down[1000]);
        Assert.AreEqual((float)(15999 * 44100 / 16000.0), down[15999]);
    }

    [TestMethod]
    public void WindowsStepByHopDropTheTailAndPadAShortClip()
    {
        var recipe = new AudioRecipe { SampleRate = 16000, Window = 4, Hop = 3, Scale = 2 };
        var windows = AudioPreprocessor.Windows([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], recipe);
        Assert.AreEqual(3, windows.Count, "starts 0, 3, 6; sample 10 (start 9) has no whole window");
        CollectionAssert.AreEqual(new[] { 8f, 10f, 12f, 14f }, windows[1]);
        CollectionAssert.AreEqual(new[] { 14f, 16f, 18f, 20f }, windows[2]);
        var single = AudioPreprocessor.Windows([1, 2], recipe with { Hop = 0 });
        Assert.AreEqual(1, single.Count);
        CollectionAssert.AreEqual(new[] { 2f, 4f, 0f, 0f }, single[0]);
    }
}
