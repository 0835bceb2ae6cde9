using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

[TestClass]
public sealed class ZeroAllocationTests
{
    [TestMethod]
    public void EvalAllocatesNothing()
    {
        var r = new Random(2);
        var x = new QuantParams(0.02f, 3);
        var y = new QuantParams(0.05f, -4);
        var g = new Conv2DGeometry(1, 8, 10, 10, 16, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        sbyte[] w = TestData.RandomCodes(r, g.WeightLength, -127, 127);
        var packed = new byte[BitPacking.PackedLength(g.WeightLength, 4)];
        BitPacking.PackInt4(TestData.RandomCodes(r, g.WeightLength, -8, 7), packed);
        int[] bias = TestData.RandomBias(r, 16, 100);
        float[] sw = TestData.RandomScales(r, 16, 0.01f, 0.02f);
        sbyte[] input = TestData.RandomCodes(r, g.InputLength);
        var output = new sbyte[g.OutputLength];
        var convRef = new Conv2DInt8Reference(g, x, sw, y, w, bias);
        var conv = new Conv2DInt8(g, x, sw, y, w, bias);
        var conv4 = new Conv2DInt4(g, x, sw, y, packed, bias);
        var fc = new FullyConnectedInt8(2, 72, 16, x, sw, y, w, bias);
        var fcRef = new FullyConnectedInt8Reference(2, 72, 16, x, sw, y, w, bias);
        var fc4 = new FullyConnectedInt4(2, 72, 16, x, sw, y, packed, bias);
        var add = new AddInt8(new[] { 1, 8, 10, 10 }, x, new[] { 1, 8, 1, 1 }, y, y);
        var mul = new MulInt8(new[] { 800 }, x, new[] { 800 }, y, y);
        var max = new MaxInt8(new[] { 800 }, x, new[] { 1 }, y, y);
        var lut = LookupTableInt8.HardSwish(x, y);
        var leaky = new LeakyReluInt8(x, y, 0.1f);
        var clip = new ClipInt8(x, y, 0f, 6f);
        var requant = new RequantizeInt8(x, y);
        var pg = new Pool2DGeometry(1, 8, 10, 10, 3, 3, 2, 2, 1, 1, 1, 1);
        var maxPool = new MaxPoolInt8(pg, x, y);
        var avgPool = new AveragePoolInt8(pg, x, y);
        var gap = new GlobalAveragePoolInt8(1, 8, 10, 10, x, y);
        var concat = new ConcatInt8(new[] { new[] { 1, 8, 10, 10 }, new[] { 1, 8, 10, 10 } }, new[] { x, y }, y, 1);
        var quantize = new QuantizeInt8(x);
        var dequantize = new DequantizeInt8(x);
        var floats = new float[800];
        var small = new sbyte[800];
        var concatOut = new sbyte[1600];
        var fcIn = input.AsSpan(0, 144).ToArray();
        var fcOut = new sbyte[32];
        var poolOut = new sbyte[pg.OutputLength];
        var gapOut = new sbyte[8];
        sbyte[] one = { 5 };

        var checks = new (string Name, Action Eval)[]
        {
            ("conv ref", () => convRef.Eval(input, w, output)),
            ("conv", () => conv.Eval(input, w, output)),
            ("conv int4", () => conv4.Eval(input, packed, output)),
            ("fc", () => fc.Eval(fcIn, w, fcOut)),
            ("fc ref", () => fcRef.Eval(fcIn, w, fcOut)),
            ("fc int4", () => fc4.Eval(fcIn, packed, fcOut)),
            ("add", () => add.Eval(input, input.AsSpan(0, 8), small)),
            ("mul", () => mul.Eval(input, input, small)),
            ("max", () => max.Eval(input, one, small)),
            ("lut", () => lut.Eval(input, small)),
            ("leaky", () => leaky.Eval(input, small)),
            ("clip", () => clip.Eval(input, small)),
            ("requantize", () => requant.Eval(input, small)),
            ("maxpool", () => maxPool.Eval(input, poolOut)),
            ("avgpool", () => avgPool.Eval(input, poolOut)),
            ("gap", () => gap.Eval(input, gapOut)),
            ("concat", () => { concat.Eval(0, input, concatOut); concat.Eval(1, input, concatOut); }),
            ("quantize", () => quantize.Eval(floats, small)),
            ("dequantize", () => dequantize.Eval(input, floats)),
        };
        foreach (var (name, eval) in checks)
        {
            Assert.AreEqual(0L, Allocations.PerSteadyPass(eval), name);
        }
    }

    [TestMethod]
    public void TheProbeSeesACallThatAllocates()
    {
        // Guards the measurement itself: a per-call allocation must show in every pass.
        object? kept = null;
        long bytes = Allocations.PerSteadyPass(() => kept = new byte[40]);
        Assert.IsGreaterThanOrEqualTo(20L * 40, bytes);
        Assert.IsNotNull(kept);
    }
}
