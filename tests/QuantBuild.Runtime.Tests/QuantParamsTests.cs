using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

[TestClass]
public sealed class QuantParamsTests
{
    [TestMethod]
    public void FromRange_WorkedVectors()
    {
        var p = QuantParams.FromRange(-1f, 3f, 0, 255, symmetric: false);
        Assert.AreEqual(4f / 255f, p.Scale);
        Assert.AreEqual(64, p.ZeroPoint);

        p = QuantParams.FromRange(-1f, 3f, -128, 127, symmetric: false);
        Assert.AreEqual(4f / 255f, p.Scale);
        Assert.AreEqual(-64, p.ZeroPoint);

        p = QuantParams.FromRange(-1f, 3f, -127, 127, symmetric: true);
        Assert.AreEqual(6f / 254f, p.Scale);
        Assert.AreEqual(3f / 127f, p.Scale, 1e-9f);
        Assert.AreEqual(0, p.ZeroPoint);

        p = QuantParams.FromRange(-1f, 3f, 0, 255, symmetric: true);
        Assert.AreEqual(6f / 255f, p.Scale);
        Assert.AreEqual(128, p.ZeroPoint);

        p = QuantParams.FromRange(0f, 0f, 0, 255, symmetric: false);
        Assert.AreEqual(1f, p.Scale);
        Assert.AreEqual(0, p.ZeroPoint);

        p = QuantParams.FromRange(0.5f, 2f, 0, 255, symmetric: false);
        Assert.AreEqual(2f / 255f, p.Scale);
        Assert.AreEqual(0, p.ZeroPoint);

        p = QuantParams.FromRange(-2f, -0.5f, 0, 255, symmetric: false);
        Assert.AreEqual(2f / 255f, p.Scale);
        Assert.AreEqual(255, p.ZeroPoint);
    }

    [TestMethod]
    public void FromRange_ConstantPositiveMapsToQmax()
    {
        var p = QuantParams.FromRange(0.7f, 0.7f, 0, 255, symmetric: false);
        Assert.AreEqual(255, QuantParams.QuantizeLinear(0.7f, p.Scale, p.ZeroPoint, 0, 255));
    }

    [TestMethod]
    public void FromRange_MinRealRangeAndErrors()
    {
        var p = QuantParams.FromRange(0f, 0.001f, 0, 255, symmetric: false, minRealRange: 1f);
        Assert.AreEqual(1f / 255f, p.Scale);
        Assert.ThrowsExactly<ArgumentException>(() => QuantParams.FromRange(float.NaN, 1f, 0, 255, false));
        Assert.ThrowsExactly<ArgumentException>(() => QuantParams.FromRange(0f, 1f, 1, 255, false));
    }

    [TestMethod]
    public void QuantizeLinear_TiesToEvenAndSaturates()
    {
        Assert.AreEqual(2, QuantParams.QuantizeLinear(2.5f, 1f, 0, -128, 127));
        Assert.AreEqual(4, QuantParams.QuantizeLinear(3.5f, 1f, 0, -128, 127));
        Assert.AreEqual(-2, QuantParams.QuantizeLinear(-2.5f, 1f, 0, -128, 127));
        Assert.AreEqual(127, QuantParams.QuantizeLinear(1e9f, 0.1f, 0, -128, 127));
        Assert.AreEqual(-128, QuantParams.QuantizeLinear(-1e30f, 0.1f, 5, -128, 127));
        Assert.AreEqual(255, QuantParams.QuantizeLinear(300f, 1f, 0, 0, 255));
        Assert.AreEqual(10, QuantParams.QuantizeLinear(0.5f, 0.25f, 8, -128, 127));
        // Division, not multiplication by the reciprocal: find inputs where the two disagree and check
        // that the division wins (the sweep must find some, or the check would prove nothing).
        int disagreements = 0;
        foreach (float scale in new[] { 0.1f, 0.3f, 0.7f, 0.013f, 0.0235f, 3f / 127f, 4f / 255f })
        {
        float reciprocal = 1f / scale;
        for (int i = -127; i <= 127; i++)
        {
            float x = (i + 0.5f) * scale;
            int byDivision = (int)Math.Round(x / scale, MidpointRounding.ToEven);
            int byReciprocal = (int)Math.Round(x * reciprocal, MidpointRounding.ToEven);
            Assert.AreEqual(Math.Clamp(byDivision, -128, 127), QuantParams.QuantizeLinear(x, scale, 0, -128, 127), $"x={x}");
            if (byDivision != byReciprocal && Math.Abs(byDivision) < 128)
            {
                disagreements++;
            }
        }
        }

        Assert.IsTrue(disagreements > 0);
    }

    [TestMethod]
    public void DequantizeOfQuantize_ErrorAtMostHalfScale()
    {
        var random = new Random(3);
        var p = QuantParams.FromRange(-2.3f, 5.1f, -128, 127, symmetric: false);
        for (int i = 0; i < 10000; i++)
        {
            float x = (float)(-2.3 + random.NextDouble() * 7.4);
            float back = p.Dequantize(p.QuantizeInt8(x));
            Assert.IsTrue(Math.Abs(back - x) <= p.Scale / 2 * 1.0001f, $"x={x} back={back}");
        }
    }

    [TestMethod]
    public void SpanQuantizeDequantize_MatchScalar()
    {
        var input = new float[] { -1f, -0.01f, 0f, 0.3f, 2.5f, 100f };
        var codes = new sbyte[input.Length];
        var back = new float[input.Length];
        new QuantizeInt8(new QuantParams(0.02f, 3)).Eval(input, codes);
        new DequantizeInt8(new QuantParams(0.02f, 3)).Eval(codes, back);
        for (int i = 0; i < input.Length; i++)
        {
            Assert.AreEqual(QuantParams.QuantizeLinear(input[i], 0.02f, 3, -128, 127), codes[i]);
            Assert.AreEqual((codes[i] - 3) * 0.02f, back[i]);
        }
    }

    [TestMethod]
    public void Grids()
    {
        QuantGrid.SignedFull(4, out int lo, out int hi);
        Assert.AreEqual((-8, 7), (lo, hi));
        QuantGrid.SignedRestricted(8, out lo, out hi);
        Assert.AreEqual((-127, 127), (lo, hi));
        QuantGrid.SignedRestricted(2, out lo, out hi);
        Assert.AreEqual((-1, 1), (lo, hi));
        QuantGrid.Unsigned(1, out lo, out hi);
        Assert.AreEqual((0, 1), (lo, hi));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => QuantGrid.SignedRestricted(1, out _, out _));
    }
}

[TestClass]
public sealed class BitPackingTests
{
    [TestMethod]
    public void Int4_ElementZeroInLowNibble()
    {
        var packed = new byte[2];
        BitPacking.PackInt4(new sbyte[] { 1, -2, 7 }, packed);
        Assert.AreEqual(0xE1, packed[0]);
        Assert.AreEqual(0x07, packed[1]);
        Assert.AreEqual(-2, BitPacking.GetInt4(packed, 1));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => BitPacking.PackInt4(new sbyte[] { 8 }, new byte[1]));
    }

    [TestMethod]
    public void Int4_RoundTripAllLengthsAndOffsets()
    {
        var random = new Random(5);
        for (int length = 0; length <= 100; length++)
        {
            sbyte[] codes = TestData.RandomCodes(random, length, -8, 7);
            var packed = new byte[BitPacking.PackedLength(length, 4)];
            BitPacking.PackInt4(codes, packed);
            var back = new sbyte[length];
            BitPacking.UnpackInt4(packed, 0, back);
            CollectionAssert.AreEqual(codes, back);
            for (int first = 0; first < length; first++)
            {
                var part = new sbyte[length - first];
                BitPacking.UnpackInt4(packed, first, part);
                CollectionAssert.AreEqual(codes.Skip(first).ToArray(), part, $"length {length} first {first}");
            }
        }
    }

    [TestMethod]
    public void Generic_RoundTripForEveryBitWidth()
    {
        var random = new Random(6);
        for (int bits = 1; bits <= 8; bits++)
        {
            foreach (bool signed in new[] { false, true })
            {
                int min = signed ? -(1 << (bits - 1)) : 0;
                int max = signed ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
                for (int length = 0; length <= 40; length++)
                {
                    int[] codes = Enumerable.Range(0, length).Select(_ => random.Next(min, max + 1)).ToArray();
                    var packed = new byte[BitPacking.PackedLength(length, bits)];
                    BitPacking.Pack(codes, bits, signed, packed);
                    var back = new int[length];
                    BitPacking.Unpack(packed, bits, signed, back);
                    CollectionAssert.AreEqual(codes, back, $"bits {bits} signed {signed} length {length}");
                }
            }
        }
    }

    [TestMethod]
    public void Generic_FourBitSignedMatchesInt4Layout()
    {
        var codes = new sbyte[] { -8, 7, 0, -1, 3 };
        var a = new byte[3];
        var b = new byte[3];
        BitPacking.PackInt4(codes, a);
        BitPacking.Pack(codes.Select(c => (int)c).ToArray(), 4, true, b);
        CollectionAssert.AreEqual(a, b);
        // 3-bit fields straddle bytes: 5 fields = 15 bits, LSB-first.
        var three = new byte[2];
        BitPacking.Pack(new[] { 1, 2, 3, 4, 5 }, 3, false, three);
        Assert.AreEqual(0b10_011_010_001 & 0xFF, three[0]);
        Assert.AreEqual((5 << 12 | 4 << 9 | 3 << 6 | 2 << 3 | 1) >> 8, three[1]);
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => BitPacking.Pack(new[] { 4 }, 3, true, new byte[1]));
    }

    /// <summary>The span forms (vector groups and a scalar tail) give each value's scalar result: ties, saturation, NaN, infinities, signed zeros.</summary>
    [TestMethod]
    [DataRow(0.02f, 0)]
    [DataRow(0.0037f, -17)]
    [DataRow(1.5f, 100)]
    public void SpanQuantizeAndDequantize_AreTheScalarDefinitionPerValue(float scale, int zeroPoint)
    {
        var rng = new Random(zeroPoint + 500);
        var values = new List<float> { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 1e30f, -1e30f, float.Epsilon };
        for (int k = -140; k < 140; k++)
        {
            float tie = (k + 0.5f) * scale;
            values.AddRange(new[] { tie, MathF.BitIncrement(tie), MathF.BitDecrement(tie) });
        }
        for (int i = 0; i < 200; i++) values.Add((float)((rng.NextDouble() * 600 - 300) * scale));
        values.Add(0.25f * scale); // a count that leaves a scalar tail
        var codes = new sbyte[values.Count];
        QuantParams.QuantizeLinear(values.ToArray(), codes, scale, zeroPoint);
        for (int i = 0; i < values.Count; i++)
            Assert.AreEqual((sbyte)QuantParams.QuantizeLinear(values[i], scale, zeroPoint, -128, 127), codes[i], $"x = {values[i]:R}");

        var all = Enumerable.Range(-128, 256).Select(c => (sbyte)c).Concat(codes).ToArray();
        var back = new float[all.Length];
        QuantParams.DequantizeLinear(all, back, scale, zeroPoint);
        for (int i = 0; i < all.Length; i++)
            Assert.AreEqual(BitConverter.SingleToInt32Bits(QuantParams.DequantizeLinear(all[i], scale, zeroPoint)), BitConverter.SingleToInt32Bits(back[i]), $"code {all[i]}");
    }
}
