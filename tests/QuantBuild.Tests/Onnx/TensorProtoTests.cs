using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Onnx;

/// <summary>TensorProto decoding through both payload forms (typed repeated fields and raw_data) and the .pb file wrapper.</summary>
[TestClass]
public sealed class TensorProtoTests
{
    private static TensorProto Typed(DataType type, int[] dims, Action<TensorProto> fill)
    {
        var p = new TensorProto { Name = "t", DataType = (int)type };
        foreach (var d in dims) p.Dims.Add(d);
        fill(p);
        return p;
    }

    /// <summary>Each element type read from its typed field must equal the same values written as raw_data and read back.</summary>
    private static void AssertTypedMatchesRaw(TensorProto typed, Array expected)
    {
        var fromTyped = TensorProtoConverter.ToTensor(typed);
        Assert.AreEqual((DataType)typed.DataType, fromTyped.Type);
        CollectionAssert.AreEqual(typed.Dims.Select(d => (int)d).ToArray(), fromTyped.Shape);
        CollectionAssert.AreEqual(expected, fromTyped.Data, $"typed field values for {fromTyped.Type}");

        var raw = TensorProtoConverter.FromTensor(fromTyped, "t");
        Assert.IsFalse(raw.RawData.IsEmpty, "writer uses raw_data");
        Assert.AreEqual(0, raw.FloatData.Count + raw.Int32Data.Count + raw.Int64Data.Count + raw.DoubleData.Count + raw.Uint64Data.Count);
        var fromRaw = TensorProtoConverter.ToTensor(raw);
        Assert.AreEqual(fromTyped.Type, fromRaw.Type);
        CollectionAssert.AreEqual(fromTyped.Shape, fromRaw.Shape);
        CollectionAssert.AreEqual(expected, fromRaw.Data, $"raw_data values for {fromRaw.Type}");
    }

    [TestMethod]
    public void FloatData() =>
        AssertTypedMatchesRaw(Typed(DataType.Float, [2, 2], p => p.FloatData.Add([1.5f, -2f, float.MaxValue, float.Epsilon])), new[] { 1.5f, -2f, float.MaxValue, float.Epsilon });

    [TestMethod]
    public void DoubleData() =>
        AssertTypedMatchesRaw(Typed(DataType.Double, [3], p => p.DoubleData.Add([1e300, -0.25, 3])), new[] { 1e300, -0.25, 3 });

    [TestMethod]
    public void Int64Data() =>
        AssertTypedMatchesRaw(Typed(DataType.Int64, [3], p => p.Int64Data.Add([long.MinValue, -1, long.MaxValue])), new[] { long.MinValue, -1L, long.MaxValue });

    [TestMethod]
    public void Int32Data() =>
        AssertTypedMatchesRaw(Typed(DataType.Int32, [3], p => p.Int32Data.Add([int.MinValue, 0, int.MaxValue])), new[] { int.MinValue, 0, int.MaxValue });

    [TestMethod]
    public void Int8InInt32Data() =>
        AssertTypedMatchesRaw(Typed(DataType.Int8, [3], p => p.Int32Data.Add([-128, 0, 127])), new sbyte[] { -128, 0, 127 });

    [TestMethod]
    public void UInt8InInt32Data() =>
        AssertTypedMatchesRaw(Typed(DataType.UInt8, [3], p => p.Int32Data.Add([0, 128, 255])), new byte[] { 0, 128, 255 });

    [TestMethod]
    public void Int16AndUInt16InInt32Data()
    {
        AssertTypedMatchesRaw(Typed(DataType.Int16, [2], p => p.Int32Data.Add([short.MinValue, short.MaxValue])), new[] { short.MinValue, short.MaxValue });
        AssertTypedMatchesRaw(Typed(DataType.UInt16, [2], p => p.Int32Data.Add([0, ushort.MaxValue])), new[] { (ushort)0, ushort.MaxValue });
    }

    [TestMethod]
    public void BoolInInt32Data() =>
        AssertTypedMatchesRaw(Typed(DataType.Bool, [3], p => p.Int32Data.Add([1, 0, 1])), new[] { true, false, true });

    [TestMethod]
    public void Float16BitsInInt32Data()
    {
        Half[] values = [(Half)1.5f, (Half)(-2f), Half.MaxValue];
        AssertTypedMatchesRaw(Typed(DataType.Float16, [3], p => p.Int32Data.Add(values.Select(h => (int)BitConverter.HalfToUInt16Bits(h)))), values);
    }

    [TestMethod]
    public void UnsignedInUInt64Data()
    {
        AssertTypedMatchesRaw(Typed(DataType.UInt64, [2], p => p.Uint64Data.Add([0UL, ulong.MaxValue])), new[] { 0UL, ulong.MaxValue });
        AssertTypedMatchesRaw(Typed(DataType.UInt32, [2], p => p.Uint64Data.Add([0UL, uint.MaxValue])), new[] { 0u, uint.MaxValue });
    }

    [TestMethod]
    public void RawDataIsLittleEndian()
    {
        var p = new TensorProto { Name = "t", DataType = (int)DataType.Int32, RawData = ByteString.CopyFrom(1, 0, 0, 0, 0, 1, 0, 0) };
        p.Dims.Add(2);
        CollectionAssert.AreEqual(new[] { 1, 256 }, TensorProtoConverter.ToTensor(p).Int32s);
    }

    [TestMethod]
    public void ScalarAndEmptyTensors()
    {
        var scalar = TensorProtoConverter.ToTensor(Typed(DataType.Float, [], p => p.FloatData.Add(3f)));
        Assert.AreEqual(0, scalar.Rank);
        Assert.AreEqual(3f, scalar.Floats[0]);
        var empty = TensorProtoConverter.ToTensor(Typed(DataType.Int64, [0, 4], _ => { }));
        CollectionAssert.AreEqual(new[] { 0, 4 }, empty.Shape);
        Assert.AreEqual(0, empty.Length);
    }

    [TestMethod]
    public void TypedCountMismatchIsInvalidTensorProto()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoConverter.ToTensor(Typed(DataType.Float, [3], p => p.FloatData.Add([1f, 2f]))));
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, e.Code);
    }

    [TestMethod]
    public void RawLengthMismatchIsInvalidTensorProto()
    {
        var p = Typed(DataType.Float, [3], p => p.RawData = ByteString.CopyFrom(new byte[11]));
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoConverter.ToTensor(p)).Code);
    }

    [TestMethod]
    public void MissingPayloadIsInvalidTensorProto()
    {
        var p = Typed(DataType.Float, [2], _ => { });
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoConverter.ToTensor(p)).Code);
    }

    [TestMethod]
    public void NegativeDimensionIsInvalidTensorProto()
    {
        var p = Typed(DataType.Float, [-1], p => p.FloatData.Add(1f));
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoConverter.ToTensor(p)).Code);
    }

    [TestMethod]
    public void ShapesTooLargeToHoldAreInvalidTensorProto()
    {
        // What a sequence or optional message read as a TensorProto looks like: bytes of a name taken for dimensions.
        var p = Typed(DataType.Float, [100000, 100000, 100000], p => p.FloatData.Add(1f));
        var e = Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoConverter.ToTensor(p));
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, e.Code);
    }

    [TestMethod]
    [DataRow(8)]   // string
    [DataRow(16)]  // bfloat16
    [DataRow(22)]  // int4
    [DataRow(0)]   // undefined
    public void UnsupportedElementTypesAreReported(int onnxType)
    {
        var p = new TensorProto { Name = "w", DataType = onnxType, RawData = ByteString.CopyFrom(new byte[4]) };
        p.Dims.Add(2);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoConverter.ToTensor(p, sourceFile: "m.onnx"));
        Assert.AreEqual(DiagnosticCodes.UnsupportedDataType, e.Code);
        StringAssert.Contains(e.Message, "'w'");
    }

    [TestMethod]
    public void PbFileRoundTripKeepsNameTypeShapeAndValues()
    {
        using var folder = new TempFolder();
        var path = folder.File("input_0.pb");
        var t = new Tensor(DataType.Int64, [2, 2], new[] { 1L, -2L, 3L, long.MaxValue });
        TensorProtoFile.Write(path, t, "x:0");
        var (name, back) = TensorProtoFile.ReadNamed(path);
        Assert.AreEqual("x:0", name);
        Assert.AreEqual(DataType.Int64, back.Type);
        CollectionAssert.AreEqual(t.Shape, back.Shape);
        CollectionAssert.AreEqual(t.Data, back.Data);
    }

    [TestMethod]
    public void PbFileWithTypedFieldsAsOnnxTestDataUsesThem()
    {
        using var folder = new TempFolder();
        var path = folder.File("output_0.pb");
        var proto = Typed(DataType.Float, [1, 3], p => p.FloatData.Add([0.5f, 1.5f, 2.5f]));
        File.WriteAllBytes(path, proto.ToByteArray());
        var t = TensorProtoFile.Read(path);
        CollectionAssert.AreEqual(new[] { 0.5f, 1.5f, 2.5f }, t.Floats);
        Assert.AreEqual(proto, TensorProtoFile.ReadProto(path));
    }

    [TestMethod]
    public void PbFileErrors()
    {
        using var folder = new TempFolder();
        var missing = Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoFile.Read(folder.File("none.pb")));
        Assert.AreEqual(DiagnosticCodes.FileNotFound, missing.Code);

        var garbage = folder.File("garbage.pb");
        File.WriteAllBytes(garbage, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoFile.Read(garbage));
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, e.Code);
        StringAssert.Contains(e.Message, "garbage.pb");

        var empty = folder.File("empty.pb");
        File.WriteAllBytes(empty, []);
        // Refused before it is opened: an empty file cannot be told apart from a device or FIFO (both report size 0).
        Assert.AreEqual(DiagnosticCodes.NotARegularFile, Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoFile.Read(empty)).Code);

        // A valid tensor cut short in the middle of its raw_data.
        var truncated = folder.File("truncated.pb");
        var bytes = TensorProtoConverter.FromTensor(Tensor.FromFloats(new float[64], 64), "t").ToByteArray();
        File.WriteAllBytes(truncated, bytes[..(bytes.Length / 2)]);
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, Assert.ThrowsExactly<QuantBuildException>(() => TensorProtoFile.Read(truncated)).Code);
    }
}
