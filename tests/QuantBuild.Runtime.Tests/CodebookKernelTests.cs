using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>Codebook (LogQuant/WEQ) kernels: decoding, and optimized vs reference bit-identity over many shapes and widths.</summary>
[TestClass]
public sealed class CodebookKernelTests
{
    private static (byte[] Packed, sbyte[] Levels, sbyte[] Decoded) RandomCodebook(Random r, int channels, int fanIn, int bits, bool perChannel)
    {
        int tableSize = 1 << bits;
        int tables = perChannel ? channels : 1;
        var levels = TestData.RandomCodes(r, tables * tableSize, -127, 127);
        var indices = new int[channels * fanIn];
        for (int i = 0; i < indices.Length; i++) indices[i] = r.Next(tableSize);
        var packed = new byte[BitPacking.PackedLength(indices.Length, bits)];
        BitPacking.Pack(indices, bits, isSigned: false, packed);
        var decoded = new sbyte[indices.Length];
        for (int i = 0; i < indices.Length; i++) decoded[i] = levels[(perChannel ? i / fanIn : 0) * tableSize + indices[i]];
        return (packed, levels, decoded);
    }

    [TestMethod]
    public void DecodeRowMatchesBitPackingAtEveryWidthAndOffset()
    {
        var r = new Random(1);
        for (int bits = 1; bits <= 8; bits++)
            for (int trial = 0; trial < 20; trial++)
            {
                int channels = r.Next(1, 5), fanIn = r.Next(1, 40);
                var (packed, levels, decoded) = RandomCodebook(r, channels, fanIn, bits, trial % 2 == 0);
                var all = new sbyte[channels * fanIn];
                CodebookDecoder.DecodeAll(packed, bits, levels, channels, fanIn, all);
                CollectionAssert.AreEqual(decoded, all, $"{bits} bits");
            }
    }

    [TestMethod]
    public void ConvCodebookBitIdenticalToReferenceOverManyShapes()
    {
        var r = new Random(2024);
        for (int trial = 0; trial < 150; trial++)
        {
            int bits = 2 + trial % 7;
            int groups = r.Next(3) == 0 ? r.Next(1, 4) : 1;
            int icPerGroup = r.Next(1, 20);
            int ocPerGroup = r.Next(1, 9);
            int k = r.Next(1, 5), kw = r.Next(1, 5);
            int pad = r.Next(0, k);
            var g = new Conv2DGeometry(r.Next(1, 3), icPerGroup * groups, r.Next(2 * k, 10), r.Next(kw, 9), ocPerGroup * groups, k, kw,
                r.Next(1, 3), r.Next(1, 3), pad, r.Next(0, 2), r.Next(0, 2), pad, 1, 1, groups);
            var (packed, levels, decoded) = RandomCodebook(r, g.OutChannels, g.FanIn, bits, r.Next(2) == 0);
            var x = new QuantParams((float)(0.01 + r.NextDouble() * 0.05), r.Next(-40, 41));
            float[] sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
            var y = new QuantParams((float)(x.Scale * (Math.Sqrt(g.FanIn) + 2) * (0.7 + r.NextDouble())), r.Next(-20, 21));
            int[] bias = TestData.RandomBias(r, g.OutChannels, 3000);
            sbyte[] input = TestData.RandomCodes(r, g.InputLength);
            var int8 = new sbyte[g.OutputLength];
            var reference = new sbyte[g.OutputLength];
            var actual = new sbyte[g.OutputLength];
            new Conv2DInt8Reference(g, x, sw, y, decoded, bias).Eval(input, decoded, int8);
            new Conv2DCodebookReference(g, x, sw, y, packed, bits, levels, bias).Eval(input, packed, levels, reference);
            new Conv2DCodebook(g, x, sw, y, packed, bits, levels, bias, -100, 90).Eval(input, packed, levels, actual);
            TestData.AssertSameCodes(int8, reference, $"trial {trial}: reference = decode + int8 reference");
            var clamped = new sbyte[g.OutputLength];
            new Conv2DCodebookReference(g, x, sw, y, packed, bits, levels, bias, -100, 90).Eval(input, packed, levels, clamped);
            TestData.AssertSameCodes(clamped, actual, $"trial {trial}");
        }
    }

    [TestMethod]
    public void ConvCodebookBlocksLargeFiltersAndUsesInt64WhenNeeded()
    {
        // Fan-in 3 000: a long GEMM row over several packed chunks; fan-in 70 000 at full levels needs int64.
        var r = new Random(5);
        foreach (var (ic, oc) in new[] { (3000, 9), (70000, 2) })
        {
            var g = new Conv2DGeometry(1, ic, 1, 2, oc, 1, 1);
            var (packed, levels, decoded) = RandomCodebook(r, oc, ic, 3, perChannel: false);
            // Push a level to the int8 limit so the 70 000-tap bound exceeds int32.
            Array.Fill(levels, (sbyte)127, 0, 4);
            CodebookDecoder.DecodeAll(packed, 3, levels, oc, ic, decoded);
            var x = new QuantParams(0.01f, -128);
            float[] sw = TestData.RandomScales(r, oc, 1e-5f, 2e-5f);
            var y = new QuantParams(0.5f, 0);
            sbyte[] input = TestData.RandomCodes(r, g.InputLength);
            var expected = new sbyte[g.OutputLength];
            var actual = new sbyte[g.OutputLength];
            new Conv2DInt8Reference(g, x, sw, y, decoded, default).Eval(input, decoded, expected);
            var kernel = new Conv2DCodebook(g, x, sw, y, packed, 3, levels, default);
            kernel.Eval(input, packed, levels, actual);
            TestData.AssertSameCodes(expected, actual, $"fan-in {ic}");
            Assert.AreEqual(ic == 70000, kernel.UsesInt64Accumulator);
        }
    }

    [TestMethod]
    public void FullyConnectedCodebookBitIdenticalToReference()
    {
        var r = new Random(77);
        for (int trial = 0; trial < 100; trial++)
        {
            int bits = 2 + trial % 7;
            int batch = r.Next(1, 4), k = r.Next(1, 300), units = r.Next(1, 20);
            var (packed, levels, decoded) = RandomCodebook(r, units, k, bits, r.Next(2) == 0);
            var x = new QuantParams((float)(0.01 + r.NextDouble() * 0.05), r.Next(-40, 41));
            float[] sw = TestData.RandomScales(r, units, 0.002f, 0.02f);
            var y = new QuantParams((float)(x.Scale * (Math.Sqrt(k) + 2)), r.Next(-20, 21));
            int[] bias = TestData.RandomBias(r, units, 3000);
            sbyte[] input = TestData.RandomCodes(r, batch * k);
            var expected = new sbyte[batch * units];
            var reference = new sbyte[batch * units];
            var actual = new sbyte[batch * units];
            new FullyConnectedInt8Reference(batch, k, units, x, sw, y, decoded, bias).Eval(input, decoded, expected);
            new FullyConnectedCodebookReference(batch, k, units, x, sw, y, packed, bits, levels, bias).Eval(input, packed, levels, reference);
            new FullyConnectedCodebook(batch, k, units, x, sw, y, packed, bits, levels, bias).Eval(input, packed, levels, actual);
            TestData.AssertSameCodes(expected, reference, $"trial {trial}");
            TestData.AssertSameCodes(expected, actual, $"trial {trial}");
        }
    }

    [TestMethod]
    public void CodebookEvalAllocatesNothing()
    {
        var r = new Random(3);
        var g = new Conv2DGeometry(1, 8, 10, 10, 16, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        var (packed, levels, _) = RandomCodebook(r, 16, g.FanIn, 3, perChannel: true);
        var x = new QuantParams(0.02f, 3);
        var y = new QuantParams(0.05f, -4);
        float[] sw = TestData.RandomScales(r, 16, 0.01f, 0.02f);
        var input = TestData.RandomCodes(r, g.InputLength);
        var output = new sbyte[g.OutputLength];
        var conv = new Conv2DCodebook(g, x, sw, y, packed, 3, levels, default);
        var fc = new FullyConnectedCodebook(1, 72, 16, x, sw, y, packed, 3, levels, default);
        var fcOut = new sbyte[16];
        Assert.AreEqual(0, Allocations.PerSteadyPass(() => { conv.Eval(input, packed, levels, output); fc.Eval(input.AsSpan(0, 72), packed, levels, fcOut); }));
    }
}
