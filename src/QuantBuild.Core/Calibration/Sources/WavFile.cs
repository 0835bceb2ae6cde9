using System.Buffers.Binary;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;

namespace QuantBuild.Calibration.Sources;

/// <summary>A decoded WAV file: its format and its samples averaged over channels, as floats in [−1, 1).</summary>
public sealed record WavAudio(int SampleRate, int Channels, int BitsPerSample, bool IsFloat, float[] Mono);

/// <summary>
/// Reads RIFF/WAVE files: PCM integer (8-bit unsigned, 16/24/32-bit signed) and IEEE float 32-bit, plain or
/// WAVE_FORMAT_EXTENSIBLE (docs/calibration-data.md, "Audio"). Every chunk size is checked against the bytes
/// that remain before it is used, so a lying header is QB1012 naming the file, never a read past the end.
/// </summary>
public static class WavFile
{
    public const int MaxSampleRate = 1_000_000, MaxChannels = 64;
    /// <summary>
    /// A calibration clip is seconds to minutes of audio; 64 MiB is 35 minutes of 16-bit mono at 16 kHz. It also bounds
    /// the decoded samples (at most one float per byte: 256 MB for 8-bit mono) before anything is allocated.
    /// </summary>
    public const long MaxFileBytes = 64L << 20;

    private const ushort FormatPcm = 1, FormatFloat = 3, FormatExtensible = 0xFFFE;

    public static WavAudio Read(string path) => Parse(InputFile.ReadAllBytes(path, "WAV file", MaxFileBytes), path);

    public static WavAudio Parse(ReadOnlySpan<byte> bytes, string path)
    {
        QuantBuildException Invalid(string what) => new(DiagnosticCodes.InvalidWav, $"'{path}' is not a usable WAV file: {what}", path);

        if (bytes.Length < 12 || !bytes[..4].SequenceEqual("RIFF"u8) || !bytes[8..12].SequenceEqual("WAVE"u8))
            throw Invalid("it does not start with a RIFF/WAVE header");
        // The RIFF size may understate or overstate the file (streamed writers); chunks are bounded by the bytes present.
        int position = 12;
        (ushort Format, int Channels, int Rate, int BlockAlign, int Bits)? format = null;
        ReadOnlySpan<byte> data = default;
        bool haveData = false;
        while (position + 8 <= bytes.Length)
        {
            var id = bytes.Slice(position, 4);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(position + 4, 4));
            position += 8;
            long remaining = bytes.Length - position;
            if (size > remaining)
                throw Invalid($"chunk '{Printable(id)}' at byte {position - 8} claims {size} bytes, only {remaining} remain");
            var body = bytes.Slice(position, (int)size);
            if (id.SequenceEqual("fmt "u8)) format = ParseFormat(body, Invalid);
            else if (id.SequenceEqual("data"u8)) { data = body; haveData = true; }
            // Chunks are padded to an even length.
            position += (int)size + (int)(size & 1);
            if (haveData && format is not null) break;
        }
        if (format is null) throw Invalid("no 'fmt ' chunk before the end of the file");
        if (!haveData) throw Invalid("no 'data' chunk");
        var (kind, channels, rate, blockAlign, bits) = format.Value;
        if (data.Length % blockAlign != 0)
            throw Invalid($"the data chunk holds {data.Length} bytes, not a whole number of {blockAlign}-byte frames");
        int frames = data.Length / blockAlign, bytesPerSample = bits / 8;
        if (frames == 0) throw Invalid("the data chunk holds no samples");
        var mono = new float[frames];
        for (int f = 0; f < frames; f++)
        {
            // Channels are summed in file order in double and divided once: the same value on every machine.
            double sum = 0;
            for (int c = 0; c < channels; c++)
                sum += SampleValue(data.Slice(f * blockAlign + c * bytesPerSample, bytesPerSample), kind == FormatFloat);
            mono[f] = (float)(sum / channels);
        }
        if (kind == FormatFloat && mono.Any(x => !float.IsFinite(x)))
            throw Invalid("a float sample is NaN or infinite");
        return new WavAudio(rate, channels, bits, kind == FormatFloat, mono);
    }

    private static (ushort, int, int, int, int) ParseFormat(ReadOnlySpan<byte> fmt, Func<string, QuantBuildException> invalid)
    {
        if (fmt.Length < 16) throw invalid($"the 'fmt ' chunk has {fmt.Length} bytes, fewer than 16");
        ushort kind = BinaryPrimitives.ReadUInt16LittleEndian(fmt);
        int channels = BinaryPrimitives.ReadUInt16LittleEndian(fmt[2..]);
        uint rate = BinaryPrimitives.ReadUInt32LittleEndian(fmt[4..]);
        int blockAlign = BinaryPrimitives.ReadUInt16LittleEndian(fmt[12..]);
        int bits = BinaryPrimitives.ReadUInt16LittleEndian(fmt[14..]);
        if (kind == FormatExtensible)
        {
            // The sub-format GUID's first two bytes are the plain format code (PCM 1, float 3).
            if (fmt.Length < 40) throw invalid("a WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk shorter than 40 bytes");
            kind = BinaryPrimitives.ReadUInt16LittleEndian(fmt[24..]);
        }
        if (kind != FormatPcm && kind != FormatFloat)
            throw invalid($"format code {kind} is not supported (PCM integer or IEEE float only; compressed WAV such as ADPCM must be converted first)");
        if (kind == FormatPcm && bits is not (8 or 16 or 24 or 32))
            throw invalid($"{bits}-bit PCM is not supported (8, 16, 24 or 32 bits)");
        if (kind == FormatFloat && bits != 32)
            throw invalid($"{bits}-bit float samples are not supported (32-bit float only)");
        if (channels < 1 || channels > MaxChannels) throw invalid($"{channels} channels (1 to {MaxChannels} accepted)");
        if (rate < 1 || rate > MaxSampleRate) throw invalid($"sample rate {rate} Hz (1 to {MaxSampleRate} accepted)");
        if (blockAlign != channels * (bits / 8))
            throw invalid($"block align {blockAlign} does not equal channels × bytes per sample ({channels} × {bits / 8})");
        return (kind, channels, (int)rate, blockAlign, bits);
    }

    /// <summary>One sample as a float in [−1, 1): integers divided by 2^(bits−1), 8-bit unsigned centred on 128 first.</summary>
    private static double SampleValue(ReadOnlySpan<byte> s, bool isFloat) => s.Length switch
    {
        1 => (s[0] - 128) / 128.0,
        2 => BinaryPrimitives.ReadInt16LittleEndian(s) / 32768.0,
        3 => ((s[0] | (s[1] << 8) | (s[2] << 16)) << 8 >> 8) / 8388608.0,
        _ => isFloat ? BinaryPrimitives.ReadSingleLittleEndian(s) : BinaryPrimitives.ReadInt32LittleEndian(s) / 2147483648.0,
    };

    private static string Printable(ReadOnlySpan<byte> id)
    {
        var chars = new char[id.Length];
        for (int i = 0; i < id.Length; i++) chars[i] = id[i] is >= 0x20 and < 0x7F ? (char)id[i] : '?';
        return new string(chars);
    }
}
