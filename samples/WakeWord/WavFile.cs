using System.Buffers.Binary;

namespace WakeWord;

/// <summary>
/// Reads what a 16 kHz microphone app records: a RIFF/WAVE file of 16-bit PCM mono samples. Other chunks are
/// skipped; anything else (another rate, stereo, 8/24/32-bit, float, compressed) is refused with a message, since
/// the models expect exactly this and resampling is not this sample's subject (QuantBuild's calibration recipe
/// does resample, see docs/calibration-data.md).
/// </summary>
public static class WavFile
{
    private const long MaxBytes = 64L << 20;

    /// <summary>The samples as int16 values in floats (openWakeWord's models take that scale).</summary>
    public static float[] ReadPcm16Mono(string path, int sampleRate)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new InvalidDataException($"{path}: no such file");
        if (info.Length > MaxBytes) throw new InvalidDataException($"{path}: {info.Length} bytes, more than the {MaxBytes} this sample reads");
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 12 || !Tag(bytes, 0, "RIFF") || !Tag(bytes, 8, "WAVE")) throw new InvalidDataException($"{path}: not a RIFF/WAVE file");
        bool haveFormat = false;
        for (long at = 12; at + 8 <= bytes.Length;)
        {
            long size = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)at + 4));
            long body = at + 8;
            if (size > bytes.Length - body) throw new InvalidDataException($"{path}: chunk at byte {at} claims {size} bytes, past the end of the file");
            var data = bytes.AsSpan((int)body, (int)size);
            if (Tag(bytes, (int)at, "fmt "))
            {
                if (size < 16) throw new InvalidDataException($"{path}: fmt chunk of {size} bytes");
                int format = BinaryPrimitives.ReadUInt16LittleEndian(data), channels = BinaryPrimitives.ReadUInt16LittleEndian(data[2..]);
                long rate = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
                int bits = BinaryPrimitives.ReadUInt16LittleEndian(data[14..]);
                if (format != 1 || bits != 16 || channels != 1 || rate != sampleRate)
                    throw new InvalidDataException($"{path}: format {format}, {bits}-bit, {channels} channel(s), {rate} Hz; this sample reads 16-bit PCM mono at {sampleRate} Hz " +
                                                   $"(convert with e.g. `sox IN.wav -r {sampleRate} -c 1 -b 16 OUT.wav`)");
                haveFormat = true;
            }
            else if (Tag(bytes, (int)at, "data"))
            {
                if (!haveFormat) throw new InvalidDataException($"{path}: data chunk before the fmt chunk");
                if (size % 2 != 0) throw new InvalidDataException($"{path}: data chunk of {size} bytes is not whole 16-bit samples");
                var samples = new float[size / 2];
                for (int i = 0; i < samples.Length; i++) samples[i] = BinaryPrimitives.ReadInt16LittleEndian(data[(2 * i)..]);
                return samples;
            }
            at = body + size + (size & 1);  // chunks are padded to even sizes
        }
        throw new InvalidDataException($"{path}: no {(haveFormat ? "data" : "fmt")} chunk");
    }

    private static bool Tag(byte[] bytes, int at, string tag) =>
        bytes[at] == tag[0] && bytes[at + 1] == tag[1] && bytes[at + 2] == tag[2] && bytes[at + 3] == tag[3];
}
