using System.Buffers.Binary;
using QuantBuild.Calibration.Sources;
using QuantBuild.Configuration;

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
        Wav(3, 1, 48000, 32, 8),
        Wav(0xFFFE, 2, 16000, 16, 8),
    ];

    /// <summary>A RIFF/WAVE file with a 'fmt ' chunk (40 bytes when extensible, sub-format PCM) and <paramref name="frames"/> frames of ramp data.</summary>
    private static byte[] Wav(int format, int channels, int rate, int bits, int frames)
    {
        int fmtSize = format == 0xFFFE ? 40 : 16, dataSize = frames * channels * bits / 8;
        var b = new byte[12 + 8 + fmtSize + 8 + dataSize];
        "RIFF"u8.CopyTo(b); BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(4), b.Length - 8); "WAVE"u8.CopyTo(b.AsSpan(8));
        "fmt "u8.CopyTo(b.AsSpan(12)); BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), fmtSize);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(20), (ushort)format);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(22), (ushort)channels);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(24), rate);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(28), rate * channels * bits / 8);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(32), (ushort)(channels * bits / 8));
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(34), (ushort)bits);
        if (format == 0xFFFE)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(36), 22);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(38), (ushort)bits);
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(44), 1);
        }
        int data = 20 + fmtSize;
        "data"u8.CopyTo(b.AsSpan(data)); BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(data + 4), dataSize);
        for (int i = 0; i < dataSize; i++) b[data + 8 + i] = (byte)(i * 29);
        if (format == 3)
            for (int i = 0; i < frames * channels; i++) BinaryPrimitives.WriteSingleLittleEndian(b.AsSpan(data + 8 + 4 * i), (i % 7 - 3) / 4f);
        return b;
    }

    /// <summary>Field offsets in a seed (16-byte 'fmt '): RIFF size, fmt size, format, channels, rate, block align, bits, data size.</summary>
    private static readonly int[] Fields = [4, 16, 20, 22, 24, 32, 34, 40];
    private static readonly uint[] Values = [0, 1, 2, 3, 7, 8, 12, 16, 24, 32, 64, 65, 0xFFFE, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1_000_001];

    public override byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random)
    {
        if (random.Chance(3) || input.Length < 44) return ByteMutations.Mutate(input, corpus, random);
        var result = (byte[])input.Clone();
        int at = random.Pick(Fields);
        uint value = random.Pick(Values);
        if (at is 20 or 22 or 32 or 34) BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(at), (ushort)value);
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
