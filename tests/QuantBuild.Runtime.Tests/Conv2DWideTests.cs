using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// Conv2DWide (16-bit activation codes on either side): every path against the definition written here in
/// 64-bit integers, over pointwise, depthwise and general shapes with tails, padding, strides and dilation.
/// </summary>
[TestClass]
public sealed class Conv2DWideTests
{
    /// <summary>The kernel's definition, independently: 64-bit sums over in-bounds taps, one rounding of acc·M0/2^t.</summary>
    private static int[] Definition(Conv2DGeometry g, int[] x, int zx, float sx, float[] sw, float sy, int zy, sbyte[] w, int[] bias, int lo, int hi)
    {
        var y = new int[g.OutputLength];
        int cinG = g.InChannels / g.Groups, coutG = g.OutChannels / g.Groups;
        for (int b = 0; b < g.Batch; b++)
        for (int co = 0; co < g.OutChannels; co++)
        {
            FixedPoint.QuantizeMultiplier((double)sx * sw[sw.Length == 1 ? 0 : co] / sy, out int m0, out int shift);
            for (int oy = 0; oy < g.OutHeight; oy++)
            for (int ox = 0; ox < g.OutWidth; ox++)
            {
                long acc = bias[co];
                for (int ci = 0; ci < cinG; ci++)
                for (int ky = 0; ky < g.KernelHeight; ky++)
                for (int kx = 0; kx < g.KernelWidth; kx++)
                {
                    int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                    int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                    if (iy < 0 || iy >= g.InHeight || ix < 0 || ix >= g.InWidth) continue;
                    int c = (co / coutG) * cinG + ci;
                    acc += (long)(x[((b * g.InChannels + c) * g.InHeight + iy) * g.InWidth + ix] - zx) * w[((co * cinG + ci) * g.KernelHeight + ky) * g.KernelWidth + kx];
                }
                int t = 31 - shift;
                long scaled = acc >= int.MinValue && acc <= int.MaxValue
                    ? (acc * m0 + (1L << (t - 1))) >> t
                    : FixedPoint.MultiplyByQuantizedMultiplier(acc, m0, shift);
                y[((b * g.OutChannels + co) * g.OutHeight + oy) * g.OutWidth + ox] = (int)Math.Clamp(scaled + zy, lo, hi);
            }
        }
        return y;
    }

    private static IEnumerable<(string Name, Conv2DGeometry Geometry)> Shapes()
    {
        // Pointwise: odd and even input channels, output channels off a multiple of four, pixel tails.
        yield return ("pointwise 24→24 64×64", new Conv2DGeometry(1, 24, 64, 64, 24, 1, 1));
        yield return ("pointwise 7→6 5×7", new Conv2DGeometry(1, 7, 5, 7, 6, 1, 1));
        yield return ("pointwise 3→5 4×9 batch 2", new Conv2DGeometry(2, 3, 4, 9, 5, 1, 1));
        // Depthwise: kernel 3 and 5, strides 1 and 2, padding on each side, dilation.
        yield return ("depthwise 5×5 s1 p2", new Conv2DGeometry(1, 6, 16, 16, 6, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 6));
        yield return ("depthwise 3×3 s2 p(0,0,1,1)", new Conv2DGeometry(1, 4, 15, 17, 4, 3, 3, 2, 2, 0, 0, 1, 1, 1, 1, 4));
        yield return ("depthwise 3×3 s1 dilation 2", new Conv2DGeometry(1, 3, 9, 11, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 3));
        yield return ("depthwise 5×5 s2 p2 batch 2", new Conv2DGeometry(2, 5, 8, 8, 5, 5, 5, 2, 2, 2, 2, 2, 2, 1, 1, 5));
        yield return ("depthwise 3×3 s1 p1 16×40 (16- and 8-wide blocks and a tail)", new Conv2DGeometry(1, 3, 16, 43, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3));
        // Neither: the definition's own loop.
        yield return ("general 3×3 4→5 p1", new Conv2DGeometry(1, 4, 6, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1));
        yield return ("general 5×5 s2 3→24 p(1,1,2,2) (a stem: strided phases, fan-in tail)", new Conv2DGeometry(1, 3, 32, 32, 24, 5, 5, 2, 2, 1, 1, 2, 2, 1, 1, 1));
        yield return ("grouped 2 groups 1×1 s2", new Conv2DGeometry(1, 4, 6, 6, 6, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 2));
    }

    private static int[] RandomWide(Random r, int length) => Enumerable.Range(0, length).Select(_ => r.Next(short.MinValue, short.MaxValue + 1)).ToArray();

    [TestMethod]
    public void EveryPathMatchesTheDefinition()
    {
        var r = new Random(16);
        foreach (var (name, g) in Shapes())
        foreach (var (inBits, outBits) in new[] { (16, 8), (8, 16), (16, 16) })
        {
            int zx = inBits == 8 ? r.Next(-128, 128) : r.Next(-30000, 30000);
            int zy = outBits == 8 ? r.Next(-20, 20) : r.Next(-3000, 3000);
            float sx = inBits == 8 ? 0.05f : 0.0004f, sy = outBits == 8 ? 0.08f : 0.0005f;
            float[] sw = TestData.RandomScales(r, g.OutChannels, 0.001f, 0.004f);
            sbyte[] w = TestData.RandomCodes(r, g.WeightLength, -127, 127);
            int[] bias = TestData.RandomBias(r, g.OutChannels, 5000);
            int[] x = inBits == 8 ? TestData.RandomCodes(r, g.InputLength).Select(v => (int)v).ToArray() : RandomWide(r, g.InputLength);
            int lo = outBits == 8 ? -128 : -32768, hi = outBits == 8 ? 127 : 32767;
            if (r.Next(2) == 0) lo = zy; // a fused ReLU
            var kernel = new Conv2DWide(g, new QuantParams(sx, zx), inBits, sw, new QuantParams(sy, zy), outBits, w, bias, lo, hi);
            Assert.AreEqual(inBits == 8 && !g.IsDepthwise, kernel.UsesInt8Gemm, $"{name}, {inBits}→{outBits} bits: int8 codes in take the int8 GEMM");
            int[] expected = Definition(g, x, zx, sx, sw, sy, zy, w, bias, lo, hi);
            int[] fast = Run(kernel, x, inBits, outBits, g, reference: false);
            int[] reference = Run(kernel, x, inBits, outBits, g, reference: true);
            string what = $"{name}, {inBits}→{outBits} bits";
            CollectionAssert.AreEqual(expected, reference, what + " (reference)");
            CollectionAssert.AreEqual(expected, fast, what);
            Assert.IsTrue(expected.Distinct().Count() > 8, what + ": outputs must spread over the grid for the comparison to mean something");
        }
    }

    private static int[] Run(Conv2DWide kernel, int[] x, int inBits, int outBits, Conv2DGeometry g, bool reference)
    {
        var wideIn = x.Select(v => (short)v).ToArray();
        var narrowIn = x.Select(v => (sbyte)v).ToArray();
        var wideOut = new short[g.OutputLength];
        var narrowOut = new sbyte[g.OutputLength];
        switch ((inBits, outBits, reference))
        {
            case (16, 8, false): kernel.Eval(wideIn, narrowOut); break;
            case (16, 8, true): kernel.EvalReference(wideIn, narrowOut); break;
            case (8, 16, false): kernel.Eval(narrowIn, wideOut); break;
            case (8, 16, true): kernel.EvalReference(narrowIn, wideOut); break;
            case (16, 16, false): kernel.Eval(wideIn, wideOut); break;
            default: kernel.EvalReference(wideIn, wideOut); break;
        }
        return outBits == 8 ? narrowOut.Select(v => (int)v).ToArray() : wideOut.Select(v => (int)v).ToArray();
    }

    [TestMethod]
    public void FastPathsRunWhereTheMachineHasThem()
    {
        var q = new QuantParams(0.001f, 0);
        var pointwise = new Conv2DWide(new Conv2DGeometry(1, 8, 4, 4, 8, 1, 1), q, 16, [0.01f], new QuantParams(0.05f, 0), 8, new sbyte[64], new int[8], -128, 127);
        var depthwise = new Conv2DWide(new Conv2DGeometry(1, 8, 4, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 8), q, 16, [0.01f], new QuantParams(0.05f, 0), 8, new sbyte[72], new int[8], -128, 127);
        Assert.AreEqual(Avx2.IsSupported, pointwise.UsesPointwisePath);
        Assert.AreEqual(!Avx2.IsSupported && Vector128.IsHardwareAccelerated, pointwise.UsesPointwiseLanes);
        Assert.AreEqual(Vector128.IsHardwareAccelerated || Avx2.IsSupported, depthwise.UsesDepthwisePath);
        Assert.AreEqual(Avx2.IsSupported, depthwise.UsesDepthwisePairs);
    }

    [TestMethod]
    public void SumsThatCouldPassInt32TakeTheDefinition()
    {
        // 600 input channels of |w| = 127 against int16 codes: 600·127·32768 > 2^31, so no int32 path may run.
        var g = new Conv2DGeometry(1, 600, 2, 8, 2, 1, 1);
        var r = new Random(5);
        var w = Enumerable.Repeat((sbyte)127, g.WeightLength).ToArray();
        var kernel = new Conv2DWide(g, new QuantParams(0.0001f, 0), 16, [0.0001f], new QuantParams(0.5f, 0), 16, w, new int[2], short.MinValue, short.MaxValue);
        Assert.IsFalse(kernel.UsesPointwisePath);
        var x = Enumerable.Range(0, g.InputLength).Select(i => i % 16 < 8 ? 32767 : r.Next(-32768, 32768)).ToArray();
        CollectionAssert.AreEqual(Definition(g, x, 0, 0.0001f, [0.0001f], 0.5f, 0, w, new int[2], short.MinValue, short.MaxValue),
            Run(kernel, x, 16, 16, g, reference: false));
    }

    [TestMethod]
    public void WrongWidthsAreRefused()
    {
        var g = new Conv2DGeometry(1, 2, 2, 2, 2, 1, 1);
        var q = new QuantParams(0.01f, 0);
        Assert.ThrowsExactly<ArgumentException>(() => new Conv2DWide(g, q, 8, [0.01f], q, 8, new sbyte[4], new int[2], -128, 127));
        Assert.ThrowsExactly<ArgumentException>(() => new Conv2DWide(g, q, 16, [0.01f], q, 8, new sbyte[4], new int[2], -129, 127));
        var kernel = new Conv2DWide(g, q, 16, [0.01f], q, 8, new sbyte[4], new int[2], -128, 127);
        Assert.ThrowsExactly<ArgumentException>(() => kernel.Eval(new short[8], new short[8]));
    }

    [TestMethod]
    public void EvalAllocatesNothing()
    {
        var g = new Conv2DGeometry(1, 8, 10, 10, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 8);
        var p = new Conv2DGeometry(1, 8, 10, 10, 8, 1, 1);
        var q = new QuantParams(0.001f, 3);
        var depthwise = new Conv2DWide(g, q, 16, [0.01f], new QuantParams(0.05f, 0), 8, new sbyte[72], new int[8], -128, 127);
        var pointwise = new Conv2DWide(p, new QuantParams(0.05f, 1), 8, [0.01f], q, 16, new sbyte[64], new int[8], short.MinValue, short.MaxValue);
        var wide = new short[800];
        var narrow = new sbyte[800];
        Assert.AreEqual(0, Allocations.PerSteadyPass(() => { depthwise.Eval(wide, narrow); pointwise.Eval(narrow, wide); }));
    }
}
