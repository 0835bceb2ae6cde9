using QuantBuild.Emit;

namespace QuantBuild.Tests.Emit;

/// <summary>Packed constant data (ConstantDataEncoding → Runtime ConstantData): exact round trips, runs costing a few bytes, refused corruption.</summary>
[TestClass]
public sealed class ConstantDataEncodingTests
{
    /// <summary>Byte data as the generated code stores it, in little-endian 64-bit words: every length, partial last word included.</summary>
    [TestMethod]
    public void BytesFromWordsAreTheBytesInOrder()
    {
        var r = new Random(8);
        for (int length = 0; length <= 25; length++)
        {
            var bytes = new byte[length];
            r.NextBytes(bytes);
            var words = new ulong[(length + 7) / 8];
            for (int i = 0; i < length; i++) words[i / 8] |= (ulong)bytes[i] << (8 * (i % 8));
            CollectionAssert.AreEqual(bytes, QuantBuild.Runtime.ConstantData.Bytes(words, length).ToArray(), $"length {length}");
        }
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => QuantBuild.Runtime.ConstantData.Bytes(new ulong[1], 9).ToArray());
    }

    [TestMethod]
    public void FloatsRoundTripBitForBit()
    {
        var rng = new Random(5);
        var values = new List<float> { 0f, -0f, float.NaN, BitConverter.Int32BitsToSingle(0x7FC01234), float.PositiveInfinity, float.Epsilon, 1.5f, 1.5f };
        values.AddRange(Enumerable.Repeat(0f, 1000));
        values.AddRange(Enumerable.Range(0, 300).Select(_ => (float)(rng.NextDouble() * 2 - 1)));
        values.AddRange(Enumerable.Repeat(-2.25f, 3));
        values.AddRange(Enumerable.Repeat(7f, 2));
        var data = values.ToArray();
        var decoded = ConstantDataEncoding.DecodeFloats(ConstantDataEncoding.Encode(data));
        CollectionAssert.AreEqual(data.Select(BitConverter.SingleToInt32Bits).ToArray(), decoded.Select(BitConverter.SingleToInt32Bits).ToArray());
        foreach (var edge in new[] { Array.Empty<float>(), [3f], [0f, 0f], [0f, 0f, 0f] })
            CollectionAssert.AreEqual(edge, ConstantDataEncoding.DecodeFloats(ConstantDataEncoding.Encode(edge)));
    }

    [TestMethod]
    public void IntsRoundTripAndRunsCostAFewBytes()
    {
        var ints = Enumerable.Range(-50, 200).Concat(Enumerable.Repeat(int.MinValue, 77)).Concat([int.MaxValue]).ToArray();
        CollectionAssert.AreEqual(ints, ConstantDataEncoding.DecodeInts(ConstantDataEncoding.Encode(ints)));
        // BlazeFace's largest padding block: 32·64·64 float zeros are 524,288 bytes raw, 9 packed.
        var zeros = ConstantDataEncoding.Encode(new float[32 * 64 * 64]);
        Assert.IsLessThanOrEqualTo(10, zeros.Length, $"{zeros.Length} bytes");
        // Data without runs: 4 bytes an element plus a few header bytes.
        var noise = Enumerable.Range(0, 1000).Select(i => (float)i).ToArray();
        Assert.IsLessThanOrEqualTo(4000 + 8, ConstantDataEncoding.Encode(noise).Length);
        CollectionAssert.AreEqual(ConstantDataEncoding.Encode(noise), ConstantDataEncoding.Encode(noise), "deterministic");
    }

    [TestMethod]
    public void CorruptDataIsRefused()
    {
        var good = ConstantDataEncoding.Encode(new float[] { 1f, 2f, 3f, 0f, 0f, 0f });
        Assert.ThrowsExactly<FormatException>(() => ConstantDataEncoding.DecodeFloats(good[..^1]));
        Assert.ThrowsExactly<FormatException>(() => ConstantDataEncoding.DecodeFloats([.. good, 0]));
        Assert.ThrowsExactly<FormatException>(() => ConstantDataEncoding.DecodeFloats([5, 0x03, 0, 0, 0, 0])); // a block of length 1 repeat, then nothing for 4 more
        Assert.ThrowsExactly<FormatException>(() => ConstantDataEncoding.DecodeInts([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]));
    }
}
