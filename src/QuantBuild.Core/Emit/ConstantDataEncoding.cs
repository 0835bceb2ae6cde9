using System.Runtime.InteropServices;
using QuantBuild.Runtime;

namespace QuantBuild.Emit;

/// <summary>
/// The encoder of <see cref="ConstantData"/> (its summary has the layout): float32 or int32 constants for the
/// generated code with runs of one repeated value stored once. A run pays off from three equal elements
/// (a repeat block is 5–6 bytes, three literals 12); data without runs costs its 4 bytes an element plus
/// about ten bytes of headers. Deterministic: the same values always give the same bytes.
/// </summary>
public static class ConstantDataEncoding
{
    /// <summary>Shortest run stored as a repeat block.</summary>
    private const int MinRun = 3;

    /// <summary>Longest block: its header (length · 2 + kind) must fit the decoder's int32 varint.</summary>
    private const int MaxBlock = (1 << 30) - 1;

    /// <summary>Packed bytes of float32 values (bit patterns kept exactly: −0, NaN payloads).</summary>
    public static byte[] Encode(float[] values) => Encode(MemoryMarshal.Cast<float, int>(values.AsSpan()));

    /// <summary>Packed bytes of int32 values.</summary>
    public static byte[] Encode(int[] values) => Encode(values.AsSpan());

    /// <summary>Float32 values of packed bytes (the runtime's decoder).</summary>
    public static float[] DecodeFloats(byte[] data) => ConstantData.DecodeFloats(data);

    /// <summary>Int32 values of packed bytes (the runtime's decoder).</summary>
    public static int[] DecodeInts(byte[] data) => ConstantData.DecodeInts(data);

    private static byte[] Encode(ReadOnlySpan<int> words)
    {
        var output = new List<byte>(16 + words.Length);
        WriteVarint(output, words.Length);
        int literalStart = 0, i = 0;
        while (i < words.Length)
        {
            int run = 1;
            while (i + run < words.Length && run < MaxBlock && words[i + run] == words[i]) run++;
            if (run >= MinRun)
            {
                WriteLiterals(output, words[literalStart..i]);
                WriteVarint(output, (run << 1) | 1);
                WriteWord(output, words[i]);
                i += run;
                literalStart = i;
            }
            else i += run;
        }
        WriteLiterals(output, words[literalStart..]);
        return output.ToArray();
    }

    private static void WriteLiterals(List<byte> output, ReadOnlySpan<int> words)
    {
        for (int start = 0; start < words.Length; start += MaxBlock)
        {
            var block = words.Slice(start, Math.Min(MaxBlock, words.Length - start));
            WriteVarint(output, block.Length << 1);
            foreach (var w in block) WriteWord(output, w);
        }
    }

    private static void WriteVarint(List<byte> output, int value)
    {
        uint v = checked((uint)value);
        while (v >= 0x80)
        {
            output.Add((byte)(v | 0x80));
            v >>= 7;
        }
        output.Add((byte)v);
    }

    private static void WriteWord(List<byte> output, int w)
    {
        output.Add((byte)w);
        output.Add((byte)(w >> 8));
        output.Add((byte)(w >> 16));
        output.Add((byte)(w >> 24));
    }
}
