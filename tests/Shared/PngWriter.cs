using System.Buffers.Binary;
using System.IO.Compression;

namespace QuantBuild.TestData;

/// <summary>
/// Writes 8-bit grey or RGB PNG files (no filtering, zlib-compressed rows): the MNIST sample's calibration
/// images, the tests' image fixtures and the image fuzz seeds (internal: each project compiles its own copy).
/// Deterministic: the same pixels give the same bytes.
/// </summary>
internal static class PngWriter
{
    /// <param name="pixels">rows top to bottom, <paramref name="channels"/> bytes per pixel (1 = grey, 3 = RGB)</param>
    public static byte[] Encode(int width, int height, int channels, ReadOnlySpan<byte> pixels)
    {
        if (channels is not (1 or 3)) throw new ArgumentOutOfRangeException(nameof(channels));
        if (pixels.Length != width * height * channels) throw new ArgumentException("pixel count does not match the size", nameof(pixels));
        using var output = new MemoryStream();
        output.Write([0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), height);
        header[8] = 8; // bits per channel
        header[9] = channels == 1 ? (byte)0 : (byte)2; // colour type: grey or truecolour
        WriteChunk(output, "IHDR", header);
        using (var raw = new MemoryStream())
        {
            using (var zlib = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
            {
                int stride = width * channels;
                for (int y = 0; y < height; y++)
                {
                    zlib.WriteByte(0); // filter type None
                    zlib.Write(pixels.Slice(y * stride, stride));
                }
            }
            WriteChunk(output, "IDAT", raw.ToArray());
        }
        WriteChunk(output, "IEND", []);
        return output.ToArray();
    }

    public static void Write(string path, int width, int height, int channels, ReadOnlySpan<byte> pixels) =>
        File.WriteAllBytes(path, Encode(width, height, channels, pixels));

    private static void WriteChunk(Stream output, string type, byte[] data)
    {
        var typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(word, data.Length);
        output.Write(word);
        output.Write(typeBytes);
        output.Write(data);
        uint crc = Crc32(Crc32(0xFFFFFFFFu, typeBytes), data) ^ 0xFFFFFFFFu;
        BinaryPrimitives.WriteUInt32BigEndian(word, crc);
        output.Write(word);
    }

    /// <summary>CRC-32 (polynomial 0xEDB88320, bitwise) as PNG chunks require; the caller inverts the final value.</summary>
    private static uint Crc32(uint crc, byte[] data)
    {
        foreach (byte b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return crc;
    }
}
