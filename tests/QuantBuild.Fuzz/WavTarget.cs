using System.Buffers.Binary;
using QuantBuild.Calibration.Sources;
using QuantBuild.Configuration;
using QuantBuild.TestData;

namespace QuantBuild.Fuzz;

/// <summary>
/// WAV bytes → <see cref="WavFile.Parse"/> and the audio recipe (resampling, windows): one seed per sample format,
/// mutated in their bytes and in the fields a lying header would use (chunk sizes, format code, channels, rate, widths).
/// </summary>
public sealed class WavTarget : FuzzTarget
{
    public override string Name => "wav";

    public override IReadOnlyList<byte[]> Seeds { get; } =
    [
        Wav(1, 1, 16000, 16, 12),
        Wav(1, 2, 8000, 8, 10),
        Wav(1, 1, 44100, 24, 9),
        Wav(1, 2, 22050, 32, 8),
        WavBytes.Build(3, 1, 48000, 32, Enumerable.Range(0, 8).SelectMany(i => BitConverter.GetBytes((i % 7 - 3) / 4f)).ToArray()),
        Wav(0xFFFE, 2, 16000, 16, 8),
    ];

    /// <summary>A seed of <paramref name="frames"/> frames of ramp bytes (after a skipped 'LIST' chunk, as WavBytes writes).</summary>
    private static byte[] Wav(int format, int channels, int rate, int bits, int frames) =>
        WavBytes.Build(format, channels, rate, bits, Enumerable.Range(0, frames * channels * bits / 8).Select(i => (byte)(i * 29)).ToArray());

    /// <summary>Field offsets in a 16-byte-'fmt ' seed: RIFF size, LIST size, fmt size, format, channels, rate, block align, bits, data size.</summary>
    private static readonly int[] Fields = [4, 16, 28, 32, 34, 36, 44, 46, 52];
    private static readonly uint[] Values = [0, 1, 2, 3, 7, 8, 12, 16, 24, 32, 64, 65, 0xFFFE, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1_000_001];

    public override byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random)
    {
        if (random.Chance(3) || input.Length < 56) return ByteMutations.Mutate(input, corpus, random);
        var result = (byte[])input.Clone();
        int at = random.Pick(Fields);
        uint value = random.Pick(Values);
        if (at is 32 or 34 or 44 or 46) BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(at), (ushort)value);
        else BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(at), value);
        return result;
    }

    private static readonly AudioRecipe Recipe = new() { SampleRate = 11025, Window = 4, Hop = 3, Scale = 2 };

    public override void Execute(byte[] input)
    {
        var clip = WavFile.Parse(input, "fuzz.wav");
        AudioPreprocessor.Windows(AudioPreprocessor.Resample(clip.Mono, clip.SampleRate, Recipe.SampleRate), Recipe);
    }
}
