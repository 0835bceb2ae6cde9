using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// Add, Max and LeakyRelu tabulate what depends on one code at prepare time; these tests pin the
/// tabulated kernels to the per-element fixed-point formulas over every code (pair).
/// </summary>
[TestClass]
public sealed class ElementwiseTableTests
{
    private static readonly sbyte[] AllCodes = Enumerable.Range(-128, 256).Select(c => (sbyte)c).ToArray();

    private static (sbyte[] A, sbyte[] B) AllPairs()
    {
        var a = new sbyte[256 * 256];
        var b = new sbyte[256 * 256];
        for (int i = 0; i < 256; i++)
        for (int j = 0; j < 256; j++)
        {
            a[i * 256 + j] = (sbyte)(i - 128);
            b[i * 256 + j] = (sbyte)(j - 128);
        }

        return (a, b);
    }

    [TestMethod]
    public void Add_IsTheExactlyRoundedSum_OverAllCodePairs()
    {
        var (a, b) = AllPairs();
        // Scales without short decimal expansions, so exact halves are rare and the check is nearly everywhere exact.
        var qa = new QuantParams(0.03137f, -7);
        var qb = new QuantParams(0.017093f, 45);
        var qy = new QuantParams(0.049871f, 3);
        var output = new sbyte[a.Length];
        new AddInt8([a.Length], qa, [b.Length], qb, qy, -100, 120).Eval(a, b, output);
        int nearTies = 0;
        for (int i = 0; i < a.Length; i++)
        {
            // The real sum in output code units, in double; the kernel's fixed point (2^-20) may only
            // differ from its rounding within a hair of a half.
            double exact = ((a[i] - qa.ZeroPoint) * (double)qa.Scale + (b[i] - qb.ZeroPoint) * (double)qb.Scale) / qy.Scale;
            double fraction = exact - Math.Floor(exact);
            if (Math.Abs(fraction - 0.5) < 1e-5)
            {
                nearTies++;
                Assert.IsTrue(Math.Abs(output[i] - qy.ZeroPoint - exact) <= 0.5 + 1e-5 || output[i] is -100 or 120, $"a {a[i]} b {b[i]}");
                continue;
            }

            int y = Math.Clamp((int)Math.Round(exact, MidpointRounding.AwayFromZero) + qy.ZeroPoint, -100, 120);
            Assert.AreEqual((sbyte)y, output[i], $"a {a[i]} b {b[i]}");
        }

        Assert.IsLessThan(a.Length / 100, nearTies, $"the check must cover nearly every pair exactly ({nearTies} near ties)");
    }

    [TestMethod]
    public void Max_EqualsTheRescaleFormula_OverAllCodePairs_AndTheScalarPathMatchesTheBroadcastPath()
    {
        var (a, b) = AllPairs();
        var qa = new QuantParams(0.031f, -7);
        var qb = new QuantParams(0.017f, 45);
        var qy = new QuantParams(0.029f, -20);
        var output = new sbyte[a.Length];
        new MaxInt8([a.Length], qa, [b.Length], qb, qy).Eval(a, b, output);
        var ra = new Int8Rescale(qa, qy);
        var rb = new Int8Rescale(qb, qy);
        for (int i = 0; i < a.Length; i++)
        {
            int y = Math.Clamp(Math.Max(ra.ApplyUnclamped(a[i]), rb.ApplyUnclamped(b[i])), -128, 127);
            Assert.AreEqual((sbyte)y, output[i], $"a {a[i]} b {b[i]}");
        }

        var scalarKernel = new MaxInt8([1, 2, 8, 16], qa, [1, 1, 1, 1], qb, qy);
        var broadcastKernel = new MaxInt8([1, 2, 8, 16], qa, [1, 2, 8, 16], qb, qy);
        foreach (sbyte value in new sbyte[] { -128, -3, 45, 127 })
        {
            var scalarOut = new sbyte[256];
            var fullOut = new sbyte[256];
            scalarKernel.Eval(AllCodes, new[] { value }, scalarOut);
            broadcastKernel.Eval(AllCodes, Enumerable.Repeat(value, 256).ToArray(), fullOut);
            CollectionAssert.AreEqual(fullOut, scalarOut, $"b = {value}");
        }
    }

    [TestMethod]
    public void LeakyRelu_TableEqualsTheFormula_ForEveryCode()
    {
        foreach (float alpha in new[] { 0.01f, 0.2f, -0.5f, 1.7f })
        {
            var kernel = new LeakyReluInt8(new QuantParams(0.02f, 11), new QuantParams(0.015f, -30), alpha);
            var output = new sbyte[256];
            kernel.Eval(AllCodes, output);
            for (int i = 0; i < 256; i++)
            {
                Assert.AreEqual(kernel.Apply(AllCodes[i]), output[i], $"alpha {alpha} code {AllCodes[i]}");
            }
        }
    }
}
