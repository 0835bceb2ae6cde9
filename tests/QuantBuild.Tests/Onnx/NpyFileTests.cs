using System.Text;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Onnx;

[TestClass]
public sealed class NpyFileTests
{
    /// <summary>A file laid out byte for byte as numpy.save writes np.arange(6, dtype='&lt;f4').reshape(2, 3).</summary>
    private static byte[] NumpyFloat32File()
    {
        const string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        return Build(1, dict, Floats(0, 1, 2, 3, 4, 5));
    }

    private static byte[] Floats(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    /// <summary>Assembles a .npy file: magic, version, header length, dict padded with spaces to a 64-byte boundary, newline, data.</summary>
    private static byte[] Build(int major, string dict, byte[] data, bool pad = true)
    {
        int preamble = major == 1 ? 10 : 12;
        int unpadded = preamble + dict.Length + 1;
        int total = pad ? (unpadded + 63) / 64 * 64 : unpadded;
        var header = dict.PadRight(total - preamble - 1) + "\n";
        var result = new List<byte> { 0x93 };
        result.AddRange("NUMPY"u8.ToArray());
        result.Add((byte)major);
        result.Add(0);
        if (major == 1) result.AddRange(BitConverter.GetBytes((ushort)header.Length));
        else result.AddRange(BitConverter.GetBytes((uint)header.Length));
        result.AddRange(Encoding.UTF8.GetBytes(header));
        result.AddRange(data);
        return result.ToArray();
    }

    [TestMethod]
    public void ReadsAFileLaidOutAsNumpyWritesIt()
    {
        var t = NpyFile.Parse(NumpyFloat32File());
        Assert.AreEqual(DataType.Float, t.Type);
        CollectionAssert.AreEqual(new[] { 2, 3 }, t.Shape);
        CollectionAssert.AreEqual(new float[] { 0, 1, 2, 3, 4, 5 }, t.Floats);
    }

    [TestMethod]
    public void WritesExactlyTheBytesNumpyWrites()
    {
        var t = Tensor.FromFloats([0, 1, 2, 3, 4, 5], 2, 3);
        var bytes = NpyFile.ToBytes(t);
        CollectionAssert.AreEqual(NumpyFloat32File(), bytes);
        Assert.AreEqual(0, (bytes.Length - 24) % 64, "header block must be 64-byte aligned");
    }

    [TestMethod]
    [DataRow(DataType.Float)]
    [DataRow(DataType.Int8)]
    [DataRow(DataType.UInt8)]
    [DataRow(DataType.Int32)]
    [DataRow(DataType.Int64)]
    [DataRow(DataType.Bool)]
    public void RoundTripsEveryDtypeAndShape(DataType type)
    {
        using var folder = new TempFolder();
        int[][] shapes = [[], [5], [2, 3, 4], [0, 3], [1, 1, 1, 7]];
        var rng = new Random(7);
        foreach (var shape in shapes)
        {
            var t = Tensor.Create(type, shape);
            var data = t.Data;
            for (int i = 0; i < data.Length; i++)
            {
                object v = type switch
                {
                    DataType.Float => (object)(float)(rng.NextDouble() * 200 - 100),
                    DataType.Int8 => (sbyte)rng.Next(-128, 128),
                    DataType.UInt8 => (byte)rng.Next(0, 256),
                    DataType.Int32 => rng.Next(int.MinValue, int.MaxValue),
                    DataType.Int64 => rng.NextInt64(long.MinValue, long.MaxValue),
                    DataType.Bool => rng.Next(2) == 1,
                    _ => throw new InvalidOperationException(),
                };
                data.SetValue(v, i);
            }
            var path = folder.File($"t{shape.Length}.npy");
            NpyFile.Write(path, t);
            var back = NpyFile.Read(path);
            Assert.AreEqual(type, back.Type);
            CollectionAssert.AreEqual(t.Shape, back.Shape);
            CollectionAssert.AreEqual(t.Data, back.Data, $"values differ for shape {t.ShapeString}");
        }
    }

    [TestMethod]
    public void PreservesFloatBitPatterns()
    {
        float[] special = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, -0f, float.Epsilon, float.MaxValue];
        var back = NpyFile.Parse(NpyFile.ToBytes(Tensor.FromFloats(special, special.Length)));
        for (int i = 0; i < special.Length; i++)
            Assert.AreEqual(BitConverter.SingleToInt32Bits(special[i]), BitConverter.SingleToInt32Bits(back.Floats[i]));
    }

    [TestMethod]
    [DataRow(2)]
    [DataRow(3)]
    public void ReadsFormatVersions2And3(int major)
    {
        var bytes = Build(major, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", BitConverter.GetBytes(-1L).Concat(BitConverter.GetBytes(2L)).Concat(BitConverter.GetBytes(long.MaxValue)).ToArray());
        var t = NpyFile.Parse(bytes);
        CollectionAssert.AreEqual(new[] { -1L, 2L, long.MaxValue }, t.Int64s);
    }

    [TestMethod]
    public void ReadsHeaderVariantsOtherWritersProduce()
    {
        // Double quotes, another key order, no trailing comma, Python 2 long suffixes, no padding, '<' on a one-byte type.
        var bytes = Build(1, "{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<u1\"}", [7, 200], pad: false);
        var t = NpyFile.Parse(bytes);
        CollectionAssert.AreEqual(new[] { 2, 1 }, t.Shape);
        CollectionAssert.AreEqual(new byte[] { 7, 200 }, t.UInt8s);
    }

    [TestMethod]
    public void WritesVersion2WhenTheHeaderDoesNotFitVersion1()
    {
        // 30000 dimensions of 1 make a shape tuple longer than a 16-bit header length allows.
        var shape = Enumerable.Repeat(1, 30000).ToArray();
        var t = new Tensor(DataType.Float, shape, new[] { 42f });
        var bytes = NpyFile.ToBytes(t);
        Assert.AreEqual(2, bytes[6]);
        var back = NpyFile.Parse(bytes);
        Assert.AreEqual(30000, back.Rank);
        Assert.AreEqual(42f, back.Floats[0]);
    }

    private static QuantBuildException ReadBroken(byte[] bytes, string fileName = "broken.npy")
    {
        using var folder = new TempFolder();
        var path = folder.File(fileName);
        File.WriteAllBytes(path, bytes);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => NpyFile.Read(path));
        Assert.AreEqual(DiagnosticCodes.InvalidNpy, e.Code, e.Message);
        StringAssert.Contains(e.Message, fileName, "the message must name the file");
        Assert.AreEqual(path, e.File);
        return e;
    }

    [TestMethod]
    public void RejectsBadMagic()
    {
        var bytes = NumpyFloat32File();
        bytes[1] = (byte)'X';
        StringAssert.Contains(ReadBroken(bytes).Message, "magic");
    }

    [TestMethod]
    public void RejectsTruncatedData()
    {
        var bytes = NumpyFloat32File();
        StringAssert.Contains(ReadBroken(bytes[..^3]).Message, "truncated");
    }

    [TestMethod]
    public void RejectsTruncatedHeader()
    {
        StringAssert.Contains(ReadBroken(NumpyFloat32File()[..40]).Message, "truncated");
        ReadBroken(NumpyFloat32File()[..9]);
    }

    [TestMethod]
    public void RejectsTrailingBytes()
    {
        StringAssert.Contains(ReadBroken([.. NumpyFloat32File(), 0]).Message, "trailing");
    }

    [TestMethod]
    public void RejectsBigEndian()
    {
        var bytes = Build(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", new byte[8]);
        StringAssert.Contains(ReadBroken(bytes).Message, "big-endian");
    }

    [TestMethod]
    public void RejectsFortranOrder()
    {
        var bytes = Build(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new byte[16]);
        StringAssert.Contains(ReadBroken(bytes).Message, "Fortran");
    }

    [TestMethod]
    [DataRow("<f8")]
    [DataRow("<f2")]
    [DataRow("<c8")]
    [DataRow("<U3")]
    [DataRow("|O")]
    public void RejectsUnsupportedDtypes(string descr)
    {
        var bytes = Build(1, $"{{'descr': '{descr}', 'fortran_order': False, 'shape': (1,), }}", new byte[8]);
        var e = ReadBroken(bytes);
        StringAssert.Contains(e.Message, descr);
    }

    [TestMethod]
    public void RejectsUnknownVersionAndMalformedHeader()
    {
        var v4 = NumpyFloat32File();
        v4[6] = 4;
        StringAssert.Contains(ReadBroken(v4).Message, "version 4.0");
        ReadBroken(Build(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", new byte[8]));
        ReadBroken(Build(1, "{'descr': '<f4', 'shape': (2,), }", new byte[8]));
        ReadBroken(Build(1, "not a dict", []));
    }

    [TestMethod]
    public void MissingFileIsFileNotFound()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => NpyFile.Read(Path.Combine(Path.GetTempPath(), "no-such-folder-qb", "x.npy")));
        Assert.AreEqual(DiagnosticCodes.FileNotFound, e.Code);
    }

    [TestMethod]
    public void WritingAnUnsupportedTypeIsInvalidNpy()
    {
        var t = new Tensor(DataType.Double, [1], new[] { 1.0 });
        var e = Assert.ThrowsExactly<QuantBuildException>(() => NpyFile.ToBytes(t, "out.npy"));
        Assert.AreEqual(DiagnosticCodes.InvalidNpy, e.Code);
    }
}
