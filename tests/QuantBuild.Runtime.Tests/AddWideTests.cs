using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>AddWide (a 16-bit operand): the vector path against the definition written here, and against the real sum.</summary>
[TestClass]
public sealed class AddWideTests
{
    /// <summary>The definition: R = round(s/s_y·2^S) with the most S ≤ 40 keeping both below 2^31; one floor of the offset sum.</summary>
    private static int[] Definition(int[] a, QuantParams qa, int[] b, QuantParams qb, QuantParams qy, int lo, int hi)
    {
        double ra = (double)qa.Scale / qy.Scale, rb = (double)qb.Scale / qy.Scale;
        int s = 40;
        while (s > 1 && Math.Max(ra, rb) * Math.Pow(2, s) >= int.MaxValue) s--;
        long fa = (long)Math.Round(ra * Math.Pow(2, s), MidpointRounding.AwayFromZero), fb = (long)Math.Round(rb * Math.Pow(2, s), MidpointRounding.AwayFromZero);
        return a.Select((v, i) => (int)Math.Clamp((((v - qa.ZeroPoint) * fa + (b[i] - qb.ZeroPoint) * fb + (1L << (s - 1))) >> s) + qy.ZeroPoint, lo, hi)).ToArray();
    }

    [TestMethod]
    public void EveryWidthMatchesTheDefinitionAndTheRealSum()
    {
        var r = new Random(21);
        foreach (int length in new[] { 1, 7, 8, 31, 1000 })
        foreach (var (bBits, outBits) in new[] { (8, 8), (8, 16), (16, 8), (16, 16) })
        {
            var qa = new QuantParams(0.0004f + (float)r.NextDouble() * 0.001f, r.Next(-20000, 20000));
            var qb = bBits == 8 ? new QuantParams(0.05f, r.Next(-50, 50)) : new QuantParams(0.0007f, r.Next(-20000, 20000));
            var qy = outBits == 8 ? new QuantParams(0.1f, r.Next(-30, 30)) : new QuantParams(0.001f, r.Next(-3000, 3000));
            int lo = outBits == 8 ? -128 : short.MinValue, hi = outBits == 8 ? 127 : short.MaxValue;
            if (r.Next(2) == 0) lo = qy.ZeroPoint; // a fused ReLU
            var a = Enumerable.Range(0, length).Select(_ => r.Next(short.MinValue, short.MaxValue + 1)).ToArray();
            var b = Enumerable.Range(0, length).Select(_ => bBits == 8 ? r.Next(-128, 128) : r.Next(short.MinValue, short.MaxValue + 1)).ToArray();
            var kernel = new AddWide(length, qa, qb, bBits, qy, outBits, lo, hi);
            var wideA = a.Select(v => (short)v).ToArray();
            int[] got;
            switch ((bBits, outBits))
            {
                case (8, 8): { var y = new sbyte[length]; kernel.Eval(wideA, b.Select(v => (sbyte)v).ToArray(), y); got = y.Select(v => (int)v).ToArray(); break; }
                case (8, 16): { var y = new short[length]; kernel.Eval(wideA, b.Select(v => (sbyte)v).ToArray(), y); got = y.Select(v => (int)v).ToArray(); break; }
                case (16, 8): { var y = new sbyte[length]; kernel.Eval(wideA, b.Select(v => (short)v).ToArray(), y); got = y.Select(v => (int)v).ToArray(); break; }
                default: { var y = new short[length]; kernel.Eval(wideA, b.Select(v => (short)v).ToArray(), y); got = y.Select(v => (int)v).ToArray(); break; }
            }
            string what = $"length {length}, b {bBits} bits, output {outBits} bits";
            CollectionAssert.AreEqual(Definition(a, qa, b, qb, qy, lo, hi), got, what);
            for (int i = 0; i < length; i++)
            {
                double real = (a[i] - qa.ZeroPoint) * (double)qa.Scale + (b[i] - qb.ZeroPoint) * (double)qb.Scale;
                double code = Math.Clamp(Math.Round(real / qy.Scale) + qy.ZeroPoint, lo, hi);
                Assert.IsLessThanOrEqualTo(1.0, Math.Abs(code - got[i]), what + " at " + i);
            }
        }
    }

    [TestMethod]
    public void ReferenceAndVectorPathAgreeOnAWholeResidual()
    {
        var r = new Random(4);
        int n = 98304;
        var qa = new QuantParams(0.0043f, -1200);
        var qb = new QuantParams(0.047f, -128);
        var qy = new QuantParams(0.051f, -128);
        var kernel = new AddWide(n, qa, qb, 8, qy, 8, -128, 127);
        var a = Enumerable.Range(0, n).Select(_ => (short)r.Next(short.MinValue, short.MaxValue + 1)).ToArray();
        var b = TestData.RandomCodes(r, n);
        var fast = new sbyte[n];
        var reference = new sbyte[n];
        kernel.Eval(a, b, fast);
        kernel.EvalReference(a, b, reference);
        CollectionAssert.AreEqual(reference, fast);
        Assert.AreEqual(0, Allocations.PerSteadyPass(() => kernel.Eval(a, b, fast)));
    }

    [TestMethod]
    public void ResultsPastInt32TakeTheDefinition()
    {
        // s_a/s_y = 2^16: a deviation of 65535 scales to about 2^32, far past the int8 clamp but also past int32.
        var qa = new QuantParams(65536f, 0);
        var qb = new QuantParams(1f, 0);
        var qy = new QuantParams(1f, 0);
        var a = new short[] { 32767, -32768, 1, -1, 0, 20000, -20000, 3, 32767, -32768, 7, -7, 0, 1, 2, 3 };
        var b = new sbyte[] { -128, 127, -128, 127, 5, 0, 0, -4, 127, -128, 1, -1, 0, 0, 0, 0 };
        var kernel = new AddWide(a.Length, qa, qb, 8, qy, 8, -128, 127);
        var fast = new sbyte[a.Length];
        var reference = new sbyte[a.Length];
        kernel.Eval(a, b, fast);
        kernel.EvalReference(a, b, reference);
        CollectionAssert.AreEqual(reference, fast);
        CollectionAssert.AreEqual(Definition(a.Select(v => (int)v).ToArray(), qa, b.Select(v => (int)v).ToArray(), qb, qy, -128, 127).Select(v => (sbyte)v).ToArray(), fast);
    }

    [TestMethod]
    public void WrongWidthsAreRefused()
    {
        var q = new QuantParams(0.01f, 0);
        Assert.ThrowsExactly<ArgumentException>(() => new AddWide(4, q, q, 8, q, 8, -129, 127));
        var kernel = new AddWide(4, q, q, 8, q, 8, -128, 127);
        Assert.ThrowsExactly<ArgumentException>(() => kernel.Eval(new short[4], new short[4], new sbyte[4]));
        Assert.ThrowsExactly<ArgumentException>(() => kernel.Eval(new short[3], new sbyte[4], new sbyte[4]));
    }
}
