using QuantBuild.Tensors;

namespace QuantBuild.Tests.Onnx;

/// <summary>Element values read back through the type-agnostic accessors.</summary>
[TestClass]
public sealed class TensorValueTests
{
    [TestMethod]
    public void UInt8ValuesAboveOneHundredTwentySevenStayUnsigned()
    {
        // The CLR lets a byte[] pass as sbyte[]; reading by array pattern turned 128 into -128 (a uint8
        // zero point of 128 looked like -128 to the QDQ importer).
        var t = new Tensor(DataType.UInt8, [3], new byte[] { 0, 128, 255 });
        CollectionAssert.AreEqual(new long[] { 0, 128, 255 }, t.ToInt64Array());
        CollectionAssert.AreEqual(new float[] { 0, 128, 255 }, t.ToFloatArray());
        var s = new Tensor(DataType.Int8, [3], new sbyte[] { -128, -1, 127 });
        CollectionAssert.AreEqual(new long[] { -128, -1, 127 }, s.ToInt64Array());
    }

    [TestMethod]
    public void EightBitAccessorsRefuseTheOtherSignedness()
    {
        var t = new Tensor(DataType.UInt8, [1], new byte[] { 200 });
        Assert.ThrowsExactly<QuantBuild.Diagnostics.QuantBuildException>(() => _ = t.Int8s);
        var s = new Tensor(DataType.Int8, [1], new sbyte[] { -56 });
        Assert.ThrowsExactly<QuantBuild.Diagnostics.QuantBuildException>(() => _ = s.UInt8s);
    }
}
