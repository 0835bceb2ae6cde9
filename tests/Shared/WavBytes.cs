using System.Buffers.Binary;

namespace QuantBuild.TestData;

/// <summary>
/// Builds WAV files byte by byte for the tests and the wav fuzz seeds: the header fields are the caller's to choose, lies
/// included (internal: each project compiles its own copy).
/// </summary>
internal static class WavBytes
{
    /// <param name="format">1 PCM, 3 IEEE float, 0xFFFE extensible (sub-format <paramref name="subFormat"/>)</param>
    public static byte[] Build(int format, int channels, int sampleRate, int bits, byte[] data, int subFormat = 1, int? dataSizeOverride = null)
    {
        int fmtSize = format == 0xFFFE ? 40 : 16;
        using var s = new MemoryStream();
        void U16(int v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); s.Write(b); }
        void U32(long v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)v); s.Write(b); }
        s.Write("RIFF"u8); U32(4 + 8 + fmtSize + 8 + data.Length); s.Write("WAVE"u8);
        // A chunk the reader must skip, with an odd size (padded to even).
        s.Write("LIST"u8); U32(3); s.Write("abc"u8); s.WriteByte(0);
        s.Write("fmt "u8); U32(fmtSize);
        U16(format); U16(channels); U32(sampleRate); U32((long)sampleRate * channels * bits / 8); U16(channels * bits / 8); U16(bits);
        if (format == 0xFFFE)
        {
            U16(22); U16(bits); U32(0);
            U16(subFormat); s.Write(new byte[] { 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71 });
        }
        s.Write("data"u8); U32(dataSizeOverride ?? data.Length); s.Write(data);
        return s.ToArray();
    }

    public static byte[] Int16(params short[] samples)
    {
        var b = new byte[samples.Length * 2];
        for (int i = 0; i < samples.Length; i++) BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(2 * i), samples[i]);
        return b;
    }

    public static byte[] Pcm16(int sampleRate, int channels, params short[] interleaved) => Build(1, channels, sampleRate, 16, Int16(interleaved));
}
