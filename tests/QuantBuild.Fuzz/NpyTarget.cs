using System.Buffers.Binary;
using System.Text;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;

namespace QuantBuild.Fuzz;

/// <summary>.npy bytes → <see cref="NpyFile.Parse"/>, mutated mostly in the header (version, length field, descr, shape, order).</summary>
public sealed class NpyTarget : FuzzTarget
{
    public override string Name => "npy";

    /// <summary>One small array of every supported type, written by our own writer (so they are what numpy writes), plus a 2.0 file.</summary>
    public override IReadOnlyList<byte[]> Seeds { get; } =
    [
        NpyFile.ToBytes(Tensor.FromFloats([1, -2, 3.5f, 0, 5, 6], 2, 3)),
        NpyFile.ToBytes(new Tensor(DataType.Int8, [4], new sbyte[] { -128, -1, 0, 127 })),
        NpyFile.ToBytes(new Tensor(DataType.UInt8, [2, 2], new byte[] { 0, 1, 254, 255 })),
        NpyFile.ToBytes(new Tensor(DataType.Int32, [3], new[] { int.MinValue, 0, int.MaxValue })),
        NpyFile.ToBytes(Tensor.FromInt64([long.MinValue, 7], 2, 1)),
        NpyFile.ToBytes(new Tensor(DataType.Bool, [], new[] { true })),
        NpyFile.ToBytes(Tensor.FromFloats([], 0, 5)),
        Version2(NpyFile.ToBytes(Tensor.FromFloats([1, 2, 3, 4], 1, 4))),
    ];

    /// <summary>The same array as a version 2.0 file (4-byte header length), which our writer only uses for huge headers.</summary>
    private static byte[] Version2(byte[] v1)
    {
        int headerLength = BinaryPrimitives.ReadUInt16LittleEndian(v1.AsSpan(8));
        var result = new byte[v1.Length + 2];
        v1.AsSpan(0, 8).CopyTo(result);
        result[6] = 2;
        BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(8), (uint)headerLength);
        v1.AsSpan(10).CopyTo(result.AsSpan(12));
        return result;
    }

    private static readonly string[] Descrs = ["<f4", "|i1", "|u1", "<i4", "<i8", "|b1", ">f4", ">i1", "=f4", "<f8", "<f2", "|O", "<U3", "S", "<", "", "<i4 ", "'<f4'"];
    private static readonly string[] Dims = ["0", "1", "3", "-1", "2147483647", "2147483648", "4294967296", "9223372036854775807", "99999999999999999999", "7L", "1 ", ""];

    public override byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random)
    {
        // Header edits need a preamble to find the header by; anything shorter or of another version gets byte edits.
        int preamble = input.Length > 6 && input[6] == 1 ? 10 : 12;
        if (random.Chance(4) || input.Length < preamble || input[6] is < 1 or > 3) return ByteMutations.Mutate(input, corpus, random);
        int lengthSize = preamble - 8;
        long declared = lengthSize == 2 ? BinaryPrimitives.ReadUInt16LittleEndian(input.AsSpan(8)) : BinaryPrimitives.ReadUInt32LittleEndian(input.AsSpan(8));
        int headerLength = (int)Math.Min(declared, input.Length - preamble);
        string header = Encoding.Latin1.GetString(input, preamble, headerLength);
        var data = input.AsSpan(preamble + headerLength).ToArray();
        byte version = input[6];
        bool fixLength = true;

        switch (random.Next(7))
        {
            case 0: header = Replace(header, "'descr': '", "'", random.Pick(Descrs)); break;
            case 1: // a new shape tuple of 0..6 dimensions
            {
                var dims = Enumerable.Range(0, random.Next(7)).Select(_ => random.Pick(Dims));
                header = Replace(header, "'shape': (", ")", string.Join(", ", dims) + (random.Chance(2) ? "," : ""));
                break;
            }
            case 2: header = header.Contains("False") ? header.Replace("False", random.Chance(2) ? "True" : "0") : header.Replace("True", "False"); break;
            case 3: // the data: cut short, one element more, or empty
                data = random.Next(3) switch { 0 => data[..random.Next(data.Length + 1)], 1 => [.. data, .. new byte[random.Next(1, 9)]], _ => [] };
                break;
            case 4: version = (byte)random.Pick(new[] { 0, 1, 2, 3, 4, 255 }); break;
            case 5: fixLength = false; break; // keep the old length field over whatever follows
            default: // drop or duplicate a key, or garble the dict text
            {
                string[] keys = ["'descr'", "'fortran_order'", "'shape'"];
                var key = random.Pick(keys);
                header = random.Chance(2) ? header.Replace(key, "'x" + key[1..]) : header.Replace("{", "{" + key + ": 1, ");
                break;
            }
        }
        var headerBytes = Encoding.Latin1.GetBytes(header);
        int newPreamble = version == 1 ? 10 : 12;
        var result = new byte[newPreamble + headerBytes.Length + data.Length];
        input.AsSpan(0, 6).CopyTo(result);
        result[6] = version;
        long length = fixLength ? headerBytes.Length : declared;
        if (version == 1) BinaryPrimitives.WriteUInt16LittleEndian(result.AsSpan(8), (ushort)length);
        else BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(8), (uint)length);
        headerBytes.CopyTo(result, newPreamble);
        data.CopyTo(result, newPreamble + headerBytes.Length);
        return result;
    }

    /// <summary>Replaces the text between <paramref name="open"/> and the next <paramref name="close"/>; the header as it is if <paramref name="open"/> is missing.</summary>
    private static string Replace(string header, string open, string close, string value)
    {
        int start = header.IndexOf(open, StringComparison.Ordinal);
        if (start < 0) return header;
        start += open.Length;
        int end = header.IndexOf(close, start, StringComparison.Ordinal);
        return end < 0 ? header : header[..start] + value + header[end..];
    }

    public override void Execute(byte[] input) => NpyFile.Parse(input, "fuzz.npy");
}
