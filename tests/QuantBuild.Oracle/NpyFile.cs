using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using QuantBuild.Tensors;

namespace QuantBuild.Oracle;

/// <summary>
/// Minimal .npy reader/writer for the oracle exchange (little-endian, C order; reads format 1-3,
/// writes 1.0). Kept on the test side so the harness does not depend on the product's own .npy code,
/// which it is meant to check.
/// </summary>
public static partial class NpyFile
{
    private static readonly (string Descr, DataType Type)[] Types =
    [
        ("<f4", DataType.Float), ("<i8", DataType.Int64), ("<i4", DataType.Int32),
        ("|i1", DataType.Int8), ("|u1", DataType.UInt8), ("|b1", DataType.Bool),
    ];

    public static Tensor Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.Latin1.GetString(bytes, 1, 5) != "NUMPY")
            throw new InvalidDataException($"{path}: not a .npy file");
        int major = bytes[6];
        (int headerLength, int offset) = major switch
        {
            1 => ((int)BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)), 10),
            2 or 3 => ((int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8)), 12),
            _ => throw new InvalidDataException($"{path}: unsupported .npy version {major}"),
        };
        var header = Encoding.Latin1.GetString(bytes, offset, headerLength);
        var descr = DescrPattern().Match(header);
        var fortran = FortranPattern().Match(header);
        var shapeMatch = ShapePattern().Match(header);
        if (!descr.Success || !fortran.Success || !shapeMatch.Success)
            throw new InvalidDataException($"{path}: malformed .npy header {header.Trim()}");
        if (fortran.Groups[1].Value == "True")
            throw new InvalidDataException($"{path}: Fortran-order arrays are not supported");
        var descrText = descr.Groups[1].Value.Replace('=', '<');
        var type = Types.FirstOrDefault(t => t.Descr == descrText || t.Descr == "|" + descrText[1..]).Type;
        if (type == DataType.Undefined)
            throw new InvalidDataException($"{path}: unsupported dtype '{descrText}'");
        var shape = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();

        var tensor = Tensor.Create(type, shape);
        var payload = bytes.AsSpan(offset + headerLength);
        int expected = tensor.Length * DataTypes.SizeInBytes(type);
        if (payload.Length != expected)
            throw new InvalidDataException($"{path}: shape [{string.Join(",", shape)}] needs {expected} data bytes, the file has {payload.Length}");
        if (type == DataType.Bool)
        {
            var bools = tensor.Bools;
            for (int i = 0; i < bools.Length; i++) bools[i] = payload[i] != 0;
        }
        else
        {
            payload.CopyTo(RawBytes(tensor.Data));
        }
        return tensor;
    }

    public static void Write(string path, Tensor tensor)
    {
        var descr = Types.FirstOrDefault(t => t.Type == tensor.Type).Descr
            ?? throw new NotSupportedException($"cannot write a {DataTypes.Name(tensor.Type)} tensor as .npy");
        var shape = tensor.Rank == 1 ? $"({tensor.Shape[0]},)" : "(" + string.Join(", ", tensor.Shape) + ")";
        var header = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        header += new string(' ', (64 - (10 + header.Length + 1) % 64) % 64) + "\n";
        using var stream = File.Create(path);
        Span<byte> preamble = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, 0, 0];
        BinaryPrimitives.WriteUInt16LittleEndian(preamble[8..], (ushort)header.Length);
        stream.Write(preamble);
        stream.Write(Encoding.Latin1.GetBytes(header));
        if (tensor.Type == DataType.Bool) stream.Write(tensor.Bools.Select(b => b ? (byte)1 : (byte)0).ToArray());
        else stream.Write(RawBytes(tensor.Data));
    }

    // .npy payloads and .NET arrays are both little-endian on every platform .NET runs on.
    private static Span<byte> RawBytes(Array data) => data switch
    {
        float[] f => MemoryMarshal.AsBytes(f.AsSpan()),
        long[] l => MemoryMarshal.AsBytes(l.AsSpan()),
        int[] i => MemoryMarshal.AsBytes(i.AsSpan()),
        sbyte[] s => MemoryMarshal.AsBytes(s.AsSpan()),
        byte[] b => b,
        _ => throw new NotSupportedException($"no .npy mapping for {data.GetType().Name}"),
    };

    [GeneratedRegex(@"'descr'\s*:\s*'([^']+)'")] private static partial Regex DescrPattern();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")] private static partial Regex FortranPattern();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")] private static partial Regex ShapePattern();
}
