using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

[TestClass]
public sealed class ElementwiseAndPoolTests
{
    private static readonly QuantParams A = new(0.031f, -7);
    private static readonly QuantParams B = new(0.0123f, 20);

    private static int[] Broadcasted(int[] shapeA, int[] shapeB, sbyte[] a, sbyte[] b, QuantParams output, Func<double, double, double> f)
    {
        // Reference broadcasting for rank-4 shapes, computed independently of Broadcast4D.
        int[] pa = Enumerable.Repeat(1, 4 - shapeA.Length).Concat(shapeA).ToArray();
        int[] pb = Enumerable.Repeat(1, 4 - shapeB.Length).Concat(shapeB).ToArray();
        int[] po = pa.Zip(pb, Math.Max).ToArray();
        var result = new List<int>();
        for (int i0 = 0; i0 < po[0]; i0++)
        for (int i1 = 0; i1 < po[1]; i1++)
        for (int i2 = 0; i2 < po[2]; i2++)
        for (int i3 = 0; i3 < po[3]; i3++)
        {
            int Index(int[] s) => (((i0 % s[0]) * s[1] + i1 % s[1]) * s[2] + i2 % s[2]) * s[3] + i3 % s[3];
            result.Add(TestData.FakeQuantCode(f(A.Dequantize(a[Index(pa)]), B.Dequantize(b[Index(pb)])), output));
        }

        return result.ToArray();
    }

    private static IEnumerable<(int[] A, int[] B)> Shapes()
    {
        yield return (new[] { 2, 3, 4, 5 }, new[] { 2, 3, 4, 5 });
        yield return (new[] { 1, 6, 3, 3 }, new[] { 1, 6, 1, 1 }); // per-channel
        yield return (new[] { 4, 7 }, new[] { 7 });
        yield return (new[] { 3, 1, 5 }, new[] { 1, 4, 1 });
        yield return (new[] { 1 }, new[] { 2, 2, 3 });
    }

    [TestMethod]
    public void AddMulMax_WithinOneCodeOfFloat_WithBroadcasting()
    {
        var r = new Random(8);
        foreach (var (shapeA, shapeB) in Shapes())
        {
            sbyte[] a = TestData.RandomCodes(r, shapeA.Aggregate(1, (x, y) => x * y));
            sbyte[] b = TestData.RandomCodes(r, shapeB.Aggregate(1, (x, y) => x * y));
            var addOut = new QuantParams(0.04f, 3);
            var add = new AddInt8(shapeA, A, shapeB, B, addOut);
            var output = new sbyte[add.OutputLength];
            add.Eval(a, b, output);
            TestData.AssertWithinOneCode(Broadcasted(shapeA, shapeB, a, b, addOut, (x, y) => x + y), output, "add");

            var mulOut = new QuantParams(0.05f, -2);
            new MulInt8(shapeA, A, shapeB, B, mulOut).Eval(a, b, output);
            TestData.AssertWithinOneCode(Broadcasted(shapeA, shapeB, a, b, mulOut, (x, y) => x * y), output, "mul");

            var maxOut = new QuantParams(0.03f, -30);
            new MaxInt8(shapeA, A, shapeB, B, maxOut).Eval(a, b, output);
            TestData.AssertWithinOneCode(Broadcasted(shapeA, shapeB, a, b, maxOut, Math.Max), output, "max");
        }

        Assert.ThrowsExactly<ArgumentException>(() => new AddInt8(new[] { 2, 3 }, A, new[] { 4 }, B, A));
    }

    [TestMethod]
    public void Add_ExhaustiveOverAllCodePairs()
    {
        var a = new sbyte[256 * 256];
        var b = new sbyte[256 * 256];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (sbyte)(i / 256 - 128);
            b[i] = (sbyte)(i % 256 - 128);
        }

        var output = new QuantParams(0.045f, 5);
        var y = new sbyte[a.Length];
        new AddInt8(new[] { a.Length }, A, new[] { b.Length }, B, output).Eval(a, b, y);
        var expected = a.Select((x, i) => TestData.FakeQuantCode((double)A.Dequantize(x) + B.Dequantize(b[i]), output)).ToArray();
        TestData.AssertWithinOneCode(expected, y, "add exhaustive");
    }

    [TestMethod]
    public void ClipReluLeakyRelu_WithinOneCode()
    {
        sbyte[] codes = Enumerable.Range(-128, 256).Select(c => (sbyte)c).ToArray();
        var y = new sbyte[256];
        var sameParams = A;
        ClipInt8.Relu(A, sameParams).Eval(codes, y);
        CollectionAssert.AreEqual(codes.Select(c => (sbyte)Math.Max((int)c, A.ZeroPoint)).ToArray(), y, "relu on codes is max(x, z)");

        var output = new QuantParams(0.02f, -100);
        new ClipInt8(A, output, -0.5f, 1.5f).Eval(codes, y);
        TestData.AssertWithinOneCode(codes.Select(c => TestData.FakeQuantCode(Math.Clamp(A.Dequantize(c), -0.5, 1.5), output)).ToArray(), y, "clip");

        foreach (float alpha in new[] { 0.1f, 0.01f, -0.3f, 1.5f })
        {
            var outLeaky = new QuantParams(0.035f, 10);
            new LeakyReluInt8(A, outLeaky, alpha).Eval(codes, y);
            TestData.AssertWithinOneCode(codes.Select(c => { double x = A.Dequantize(c); return TestData.FakeQuantCode(x >= 0 ? x : alpha * x, outLeaky); }).ToArray(), y, $"leaky {alpha}");
        }
    }

    [TestMethod]
    public void LookupTables_ExactAgainstFloatFunction()
    {
        sbyte[] codes = Enumerable.Range(-128, 256).Select(c => (sbyte)c).ToArray();
        var input = new QuantParams(0.05f, 3);
        var output = new QuantParams(1f / 255f, -128);
        var y = new sbyte[256];
        LookupTableInt8.HardSigmoid(input, output).Eval(codes, y);
        CollectionAssert.AreEqual(codes.Select(c => output.QuantizeInt8(Math.Max(0f, Math.Min(1f, 0.2f * input.Dequantize(c) + 0.5f)))).ToArray(), y);
        Assert.AreEqual(-128, y[0]);
        Assert.AreEqual(127, y[255]);

        var swishOut = new QuantParams(0.04f, -30);
        LookupTableInt8.HardSwish(input, swishOut).Eval(codes, y);
        CollectionAssert.AreEqual(codes.Select(c => { float x = input.Dequantize(c); return swishOut.QuantizeInt8(x * Math.Max(0f, Math.Min(1f, x / 6f + 0.5f))); }).ToArray(), y);

        LookupTableInt8.Sigmoid(input, output).Eval(codes, y);
        CollectionAssert.AreEqual(codes.Select(c => output.QuantizeInt8((float)(1 / (1 + Math.Exp(-input.Dequantize(c)))))).ToArray(), y);

        var tanhOut = new QuantParams(1f / 128f, 0);
        LookupTableInt8.Tanh(input, tanhOut).Eval(codes, y);
        CollectionAssert.AreEqual(codes.Select(c => tanhOut.QuantizeInt8((float)Math.Tanh(input.Dequantize(c)))).ToArray(), y);
        Assert.AreEqual((sbyte)0, y[3 + 128]); // tanh(0) = 0 exactly at the input zero point
    }

    [TestMethod]
    public void Requantize_WithinOneCode()
    {
        sbyte[] codes = Enumerable.Range(-128, 256).Select(c => (sbyte)c).ToArray();
        var y = new sbyte[256];
        var output = new QuantParams(0.017f, 40);
        new RequantizeInt8(A, output).Eval(codes, y);
        TestData.AssertWithinOneCode(codes.Select(c => TestData.FakeQuantCode(A.Dequantize(c), output)).ToArray(), y, "requantize");
        new RequantizeInt8(A, A).Eval(codes, y);
        CollectionAssert.AreEqual(codes, y);
    }

    private static int[] FloatPool(Pool2DGeometry g, QuantParams x, QuantParams y, sbyte[] input, bool max, bool includePad)
    {
        var result = new List<int>();
        for (int p = 0; p < g.Batch * g.Channels; p++)
        for (int oy = 0; oy < g.OutHeight; oy++)
        for (int ox = 0; ox < g.OutWidth; ox++)
        {
            double acc = max ? double.NegativeInfinity : 0;
            int count = 0;
            for (int ky = 0; ky < g.KernelHeight; ky++)
            for (int kx = 0; kx < g.KernelWidth; kx++)
            {
                int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                if (iy < 0 || iy >= g.InHeight || ix < 0 || ix >= g.InWidth)
                {
                    continue;
                }

                double v = x.Dequantize(input[(p * g.InHeight + iy) * g.InWidth + ix]);
                acc = max ? Math.Max(acc, v) : acc + v;
                count++;
            }

            result.Add(TestData.FakeQuantCode(max ? acc : acc / (includePad ? g.KernelHeight * g.KernelWidth : count), y));
        }

        return result.ToArray();
    }

    [TestMethod]
    public void Pools_WithinOneCodeOfFloat()
    {
        var r = new Random(12);
        var geometries = new[]
        {
            new Pool2DGeometry(1, 3, 8, 8, 2, 2, 2, 2),
            new Pool2DGeometry(2, 2, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1),
            new Pool2DGeometry(1, 4, 6, 6, 3, 2, 1, 1, 1, 0, 1, 1, 1, 2),
        };
        foreach (Pool2DGeometry g in geometries)
        {
            sbyte[] input = TestData.RandomCodes(r, g.InputLength);
            var y = new sbyte[g.OutputLength];
            foreach (QuantParams output in new[] { A, new QuantParams(0.02f, 11) })
            {
                new MaxPoolInt8(g, A, output).Eval(input, y);
                TestData.AssertWithinOneCode(FloatPool(g, A, output, input, true, false), y, "maxpool");
                foreach (bool includePad in new[] { false, true })
                {
                    new AveragePoolInt8(g, A, output, includePad).Eval(input, y);
                    TestData.AssertWithinOneCode(FloatPool(g, A, output, input, false, includePad), y, $"avgpool pad {includePad}");
                }
            }
        }

        Assert.AreEqual(2, AveragePoolInt8.DivideRoundingHalfAwayFromZero(3, 2));
        Assert.AreEqual(-2, AveragePoolInt8.DivideRoundingHalfAwayFromZero(-3, 2));
        Assert.AreEqual(-1, AveragePoolInt8.DivideRoundingHalfAwayFromZero(-4, 3));
    }

    [TestMethod]
    public void GlobalAveragePool_WithinOneCode()
    {
        var r = new Random(13);
        sbyte[] input = TestData.RandomCodes(r, 2 * 5 * 7 * 3);
        foreach (QuantParams output in new[] { A, new QuantParams(0.004f, -9) })
        {
            var y = new sbyte[10];
            new GlobalAveragePoolInt8(2, 5, 7, 3, A, output).Eval(input, y);
            var expected = Enumerable.Range(0, 10).Select(p => TestData.FakeQuantCode(input.Skip(p * 21).Take(21).Average(c => (double)A.Dequantize(c)), output)).ToArray();
            TestData.AssertWithinOneCode(expected, y, "gap");
        }
    }

    /// <summary>
    /// The exact definition (int64 sum of deviations, then the division or the single-rounding rescale) on planes long
    /// enough for the vector sum, with every code at its extreme and a tail past the last 32 bytes.
    /// </summary>
    [TestMethod]
    public void GlobalAveragePool_EqualsItsDefinition_OnLongPlanesAndExtremeCodes()
    {
        var r = new Random(15);
        const int channels = 6, height = 9, width = 37;
        int plane = height * width;
        sbyte[] input = TestData.RandomCodes(r, channels * plane);
        Array.Fill(input, sbyte.MinValue, 0, plane);
        Array.Fill(input, sbyte.MaxValue, plane, plane);
        foreach (QuantParams output in new[] { A, new QuantParams(0.004f, -9), new QuantParams(0.5f, 100) })
        {
            var y = new sbyte[channels];
            new GlobalAveragePoolInt8(1, channels, height, width, A, output).Eval(input, y);
            FixedPoint.QuantizeMultiplier((double)A.Scale / ((double)output.Scale * plane), out int multiplier, out int shift);
            for (int c = 0; c < channels; c++)
            {
                long sum = input.Skip(c * plane).Take(plane).Sum(v => (long)(v - A.ZeroPoint));
                long expected = A.Scale == output.Scale
                    ? output.ZeroPoint + (sum >= 0 ? (sum + plane / 2) / plane : (sum - plane / 2) / plane)
                    : output.ZeroPoint + FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(sum, multiplier, shift);
                Assert.AreEqual((sbyte)Math.Clamp(expected, -128, 127), y[c], $"channel {c}, output scale {output.Scale}");
            }
        }
    }

    [TestMethod]
    public void Concat_RequantizesEachInput()
    {
        var r = new Random(14);
        sbyte[] a = TestData.RandomCodes(r, 2 * 3 * 4);
        sbyte[] b = TestData.RandomCodes(r, 2 * 1 * 4);
        var output = new QuantParams(0.03f, 2);
        var concat = new ConcatInt8(new[] { new[] { 2, 3, 4 }, new[] { 2, 1, 4 } }, new[] { A, output }, output, 1);
        var y = new sbyte[concat.OutputLength];
        concat.Eval(0, a, y);
        concat.Eval(1, b, y);
        var expected = new List<int>();
        for (int n = 0; n < 2; n++)
        {
            expected.AddRange(a.Skip(n * 12).Take(12).Select(c => TestData.FakeQuantCode(A.Dequantize(c), output)));
            expected.AddRange(b.Skip(n * 4).Take(4).Select(c => (int)c));
        }

        TestData.AssertWithinOneCode(expected, y, "concat");
        for (int n = 0; n < 2; n++)
        {
            CollectionAssert.AreEqual(b.Skip(n * 4).Take(4).ToArray(), y.Skip(n * 16 + 12).Take(4).ToArray(), "same-parameter input is copied exactly");
        }
    }
}
