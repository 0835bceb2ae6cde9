using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// Fused code maps (docs/algorithms/requantization.md, "Fused code maps"): the composed table is the stages applied
/// one after another to every code, and a convolution that maps its rows gives exactly the convolution followed by the
/// separate elementwise kernels, on every path (blocked GEMM, depthwise planes, the int64 reference, int4 weights).
/// </summary>
[TestClass]
public sealed class CodeMapTests
{
    private static readonly QuantParams ConvOut = new(0.05f, -11);
    private static readonly QuantParams LeakyOut = new(0.04f, -60);
    private static readonly QuantParams ConstantParams = new(0.01f, 0);
    private static readonly QuantParams MaxOut = new(0.035f, -90);

    [TestMethod]
    public void ComposedTable_IsTheStagesOneAfterAnother_ForEveryCode()
    {
        var leaky = new LeakyReluInt8(ConvOut, LeakyOut, 0.2f);
        var max = new ConstantOperandInt8(new MaxInt8([1], LeakyOut, [1], ConstantParams, MaxOut), -37, false);
        var swish = LookupTableInt8.HardSwish(MaxOut, new QuantParams(0.03f, -20));
        var map = new Int8CodeMap(leaky, max, swish);
        var maxKernel = new MaxInt8([1], LeakyOut, [1], ConstantParams, MaxOut);
        for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
        {
            sbyte afterMax = maxKernel.Invoke(leaky.Apply(code), -37);
            Assert.AreEqual(max.Apply(leaky.Apply(code)), afterMax, $"code {code}: the constant-operand map is MaxInt8 with the constant");
            Assert.AreEqual(swish.Apply(afterMax), map[code], $"code {code}");
        }

        Assert.IsTrue(Int8CodeMap.Identity.IsIdentity);
        Assert.IsFalse(map.IsIdentity);
    }

    [TestMethod]
    public void ConvolutionWithCodeMaps_EqualsTheConvolutionThenTheSeparateKernels()
    {
        var r = new Random(4242);
        var shapes = new[]
        {
            (new Conv2DGeometry(1, 24, 18, 20, 28, 1, 3, padLeft: 1, padRight: 1), "GEMM tiles, filter tail"),
            (new Conv2DGeometry(1, 12, 16, 16, 12, 3, 3, groups: 12, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "depthwise planes"),
            (new Conv2DGeometry(1, 1, 20, 21, 3, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1), "single-channel stem (depthwise path)"),
        };
        foreach (var (g, name) in shapes)
        {
            foreach (bool int4 in new[] { false, true })
            {
                var x = new QuantParams(0.03f, 7);
                float[] sw = TestData.RandomScales(r, g.OutChannels, 0.002f, 0.02f);
                sbyte[] w = int4 ? TestData.RandomCodes(r, g.WeightLength, -8, 7) : TestData.RandomCodes(r, g.WeightLength);
                int[] bias = TestData.RandomBias(r, g.OutChannels, 3000);
                sbyte[] input = TestData.RandomCodes(r, g.InputLength);
                var convOut = new QuantParams((float)(x.Scale * 0.01 * Math.Sqrt(g.FanIn) * (int4 ? 0.2 : 3)), -11);
                // The maps' parameters follow the convolution's, so the codes stay spread (the test checks they do).
                var leakyOut = new QuantParams(convOut.Scale * 1.3f, -60);
                var constantParams = new QuantParams(convOut.Scale, 0);
                var maxOut = new QuantParams(convOut.Scale * 1.5f, -90);
                var leaky = new LeakyReluInt8(convOut, leakyOut, 0.1f);
                var constant = (sbyte)r.Next(-60, 0);
                var max = new MaxInt8([1, g.OutChannels, g.OutHeight, g.OutWidth], leakyOut, [1, 1, 1, 1], constantParams, maxOut);

                var conv = new sbyte[g.OutputLength];
                var leaked = new sbyte[g.OutputLength];
                var expected = new sbyte[g.OutputLength];
                var actual = new sbyte[g.OutputLength];
                var map = new Int8CodeMap(new LeakyReluInt8(convOut, leakyOut, 0.1f), new ConstantOperandInt8(new MaxInt8([1], leakyOut, [1], constantParams, maxOut), constant, false));
                if (int4)
                {
                    var packed = new byte[BitPacking.PackedLength(w.Length, 4)];
                    BitPacking.PackInt4(w, packed);
                    new Conv2DInt4(g, x, sw, convOut, packed, bias).Eval(input, packed, conv);
                    new Conv2DInt4(g, x, sw, convOut, packed, bias, -128, 127, map).Eval(input, packed, actual);
                }
                else
                {
                    new Conv2DInt8(g, x, sw, convOut, w, bias).Eval(input, w, conv);
                    new Conv2DInt8(g, x, sw, convOut, w, bias, -128, 127, map).Eval(input, w, actual);
                }

                leaky.Eval(conv, leaked);
                max.Eval(leaked, new[] { constant }, expected);
                TestData.AssertSameCodes(expected, actual, $"{name}, {(int4 ? "int4" : "int8")}");
                Assert.IsTrue(expected.Distinct().Count() > 8, $"{name}: the outputs must not collapse to a few codes");
            }
        }
    }

    [TestMethod]
    public void ConvolutionWithCodeMaps_OnTheInt64Path_MapsTheReferenceOutput()
    {
        // Fan-in 70,000 with extreme codes: the accumulator bound exceeds int32, so the reference's int64 path runs.
        var g = new Conv2DGeometry(1, 70_000, 1, 1, 2, 1, 1);
        var x = new QuantParams(0.02f, -128);
        var sw = new[] { 0.001f, 0.002f };
        var w = Enumerable.Repeat((sbyte)-128, g.WeightLength).ToArray();
        var input = Enumerable.Repeat((sbyte)127, g.InputLength).ToArray();
        var bias = new[] { 0, 5 };
        var convOut = new QuantParams(200f, 0);
        var plain = new Conv2DInt8(g, x, sw, convOut, w, bias);
        Assert.IsTrue(plain.UsesInt64Accumulator);
        var conv = new sbyte[g.OutputLength];
        plain.Eval(input, w, conv);
        var clip = new ClipInt8(convOut, LeakyOut, -1f, 2f);
        var expected = new sbyte[g.OutputLength];
        clip.Eval(conv, expected);
        var actual = new sbyte[g.OutputLength];
        new Conv2DInt8(g, x, sw, convOut, w, bias, -128, 127, new Int8CodeMap(clip)).Eval(input, w, actual);
        TestData.AssertSameCodes(expected, actual, "int64 path");
    }

    /// <summary>
    /// Add and Mul by a one-element constant as code maps (PP-OCRv4's learnable affine blocks): for every code and
    /// the constant on either side, the map gives what the broadcasting kernel writes for a whole tensor (its
    /// vector rows included), with and without a clamp or a fused Relu.
    /// </summary>
    [TestMethod]
    public void AddAndMulByAConstant_AsCodeMaps_AreTheBroadcastingKernels()
    {
        var r = new Random(515);
        sbyte[] every = Enumerable.Range(sbyte.MinValue, 256).Select(c => (sbyte)c).ToArray();
        // Every code, then again shuffled and in a length that leaves tails for the 32- and 16-code rows.
        sbyte[] input = [.. every, .. every.OrderBy(_ => r.Next()).Take(203)];
        for (int trial = 0; trial < 24; trial++)
        {
            var x = new QuantParams((float)(0.002 + r.NextDouble() * 0.2), r.Next(-128, 128));
            var c = new QuantParams((float)(0.001 + r.NextDouble() * 0.05), r.Next(-20, 21));
            var y = new QuantParams((float)(0.002 + r.NextDouble() * 0.2), r.Next(-128, 128));
            var constant = new[] { (sbyte)r.Next(-128, 128) };
            bool constantFirst = trial % 2 == 1;
            int lo = trial % 3 == 0 ? -100 : sbyte.MinValue, hi = trial % 3 == 0 ? 90 : sbyte.MaxValue;
            int[] one = [1], shape = [1, input.Length];
            var (shapeA, qa, shapeB, qb) = constantFirst ? (one, c, shape, x) : (shape, x, one, c);
            string what = $"trial {trial}: x {x.Scale}/{x.ZeroPoint}, constant {constant[0]} at {c.Scale}/{c.ZeroPoint} ({(constantFirst ? "first" : "second")}), y {y.Scale}/{y.ZeroPoint}";

            var mul = new MulInt8(shapeA, qa, shapeB, qb, y, lo, hi);
            var mulMap = new ConstantOperandInt8(new MulInt8(one, qa, one, qb, y, lo, hi), constant[0], constantFirst);
            AssertMapIsKernel(mulMap, input, output => Eval(mul.Eval, constantFirst, constant, input, output), "Mul " + what);

            var add = new AddInt8(shapeA, qa, shapeB, qb, y, lo, hi);
            var addMap = new ConstantOperandInt8(new AddInt8(one, qa, one, qb, y, lo, hi), constant[0], constantFirst);
            AssertMapIsKernel(addMap, input, output => Eval(add.Eval, constantFirst, constant, input, output), "Add " + what);

            var relu = new QuantParams(y.Scale * 0.7f, -128);
            var addRelu = new AddInt8(shapeA, qa, shapeB, qb, y, lo, hi, new ClipInt8(y, relu, 0f, float.PositiveInfinity));
            var addReluMap = new ConstantOperandInt8(new AddInt8(one, qa, one, qb, y, lo, hi, new ClipInt8(y, relu, 0f, float.PositiveInfinity)), constant[0], constantFirst);
            AssertMapIsKernel(addReluMap, input, output => Eval(addRelu.Eval, constantFirst, constant, input, output), "Add+Relu " + what);
        }
    }

    /// <summary>A chain of more than three stages nests (a composed map is a stage): still the stages one after another.</summary>
    [TestMethod]
    public void NestedCodeMaps_AreTheStagesOneAfterAnother()
    {
        QuantParams a = new(0.05f, -11), b = new(0.04f, 3), c = new(0.03f, -20), d = new(0.045f, 7), e = new(0.02f, -128);
        QuantParams k = new(0.01f, 0);
        var scale = new ConstantOperandInt8(new MulInt8([1], a, [1], k, b), 87, false);
        var shift = new ConstantOperandInt8(new AddInt8([1], k, [1], b, c), -40, true);
        var swish = LookupTableInt8.HardSwish(c, d);
        var scale2 = new ConstantOperandInt8(new MulInt8([1], k, [1], d, e), 120, true);
        var shift2 = new ConstantOperandInt8(new AddInt8([1], e, [1], k, a), 15, false);
        var nested = new Int8CodeMap(new Int8CodeMap(scale, shift, swish), scale2, shift2);
        var distinct = new HashSet<sbyte>();
        for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
        {
            sbyte expected = shift2.Apply(scale2.Apply(swish.Apply(shift.Apply(scale.Apply(code)))));
            Assert.AreEqual(expected, nested.Apply(code), $"code {code}");
            Assert.AreEqual(expected, nested[code], $"code {code}");
            distinct.Add(expected);
        }

        Assert.IsGreaterThan(20, distinct.Count, "the chain must not collapse to a few codes");
    }

    private delegate void BinaryEval(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output);

    private static void Eval(BinaryEval eval, bool constantFirst, sbyte[] constant, sbyte[] input, sbyte[] output)
    {
        if (constantFirst)
        {
            eval(constant, input, output);
        }
        else
        {
            eval(input, constant, output);
        }
    }

    private static void AssertMapIsKernel(IInt8CodeMap map, sbyte[] input, Action<sbyte[]> kernel, string what)
    {
        var expected = new sbyte[input.Length];
        kernel(expected);
        var actual = input.Select(code => map.Apply(code)).ToArray();
        TestData.AssertSameCodes(expected, actual, what);
        var composed = new Int8CodeMap(map);
        var viaTable = input.Select(code => composed[code]).ToArray();
        TestData.AssertSameCodes(expected, viaTable, what + " (composed table)");
    }
}

