using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// The broadcast driver's row form: Mul's vector rows must equal its per-element definition exactly, for every
/// way an operand can be broadcast along the innermost axis (contiguous, broadcast a, broadcast b, both), row
/// lengths that leave every tail, and every code pair.
/// </summary>
[TestClass]
public sealed class BroadcastRowTests
{
    private static sbyte MulDefinition(int a, int b, QuantParams qa, QuantParams qb, QuantParams qy, int low, int high)
    {
        FixedPoint.QuantizeMultiplier((double)qa.Scale * qb.Scale / qy.Scale, out int m, out int shift);
        int y = FixedPoint.MultiplyByQuantizedMultiplierSingleRounding((a - qa.ZeroPoint) * (b - qb.ZeroPoint), m, shift) + qy.ZeroPoint;
        return (sbyte)Math.Clamp(y, low, high);
    }

    [TestMethod]
    public void Mul_EqualsItsDefinition_ForEveryBroadcastOfTheInnermostAxis()
    {
        var r = new Random(606);
        var qa = new QuantParams(0.0371f, -9);
        var qb = new QuantParams(0.0123f, 17);
        var cases = new List<(int[] A, int[] B)>();
        foreach (int width in new[] { 1, 7, 8, 15, 16, 17, 33, 96 })
        {
            cases.Add(([3, 2, width], [3, 2, width]));   // same shape: one long row
            cases.Add(([1, 5, 2, width], [1, 5, 1, 1])); // b per channel (squeeze-excitation)
            cases.Add(([1, 5, 1, 1], [1, 5, 2, width])); // a per channel
            cases.Add(([2, 1, width], [1, 3, width]));   // both rows contiguous, outer broadcast
            cases.Add(([2, 3, 1], [2, 3, 1]));
        }

        foreach (QuantParams qy in new[] { new QuantParams(0.02f, 3), new QuantParams(0.5f, -120), new QuantParams(1e-4f, 0) })
        foreach (var (shapeA, shapeB) in cases)
        {
            sbyte[] a = TestData.RandomCodes(r, shapeA.Aggregate(1, (x, y) => x * y));
            sbyte[] b = TestData.RandomCodes(r, shapeB.Aggregate(1, (x, y) => x * y));
            var shape = new Broadcast4D(shapeA, shapeB);
            var output = new sbyte[shape.OutputLength];
            new MulInt8(shapeA, qa, shapeB, qb, qy, -100, 120).Eval(a, b, output);
            int[] outShape = Enumerable.Range(0, 4).Select(shape.OutputDimension).ToArray();
            int o = 0;
            for (int d0 = 0; d0 < outShape[0]; d0++)
            for (int d1 = 0; d1 < outShape[1]; d1++)
            for (int d2 = 0; d2 < outShape[2]; d2++)
            for (int d3 = 0; d3 < outShape[3]; d3++)
            {
                int ia = d0 * shape.StrideA(0) + d1 * shape.StrideA(1) + d2 * shape.StrideA(2) + d3 * shape.StrideA(3);
                int ib = d0 * shape.StrideB(0) + d1 * shape.StrideB(1) + d2 * shape.StrideB(2) + d3 * shape.StrideB(3);
                Assert.AreEqual(MulDefinition(a[ia], b[ib], qa, qb, qy, -100, 120), output[o++], $"{string.Join('x', shapeA)} * {string.Join('x', shapeB)} at {o - 1}");
            }
        }
    }

    [TestMethod]
    public void Mul_EqualsItsDefinition_OverAllCodePairs()
    {
        var (a, b) = AllCodePairs();

        var qa = new QuantParams(0.0813f, 40);
        var qb = new QuantParams(0.0291f, -77);
        var qy = new QuantParams(0.0517f, -2);
        var output = new sbyte[a.Length];
        new MulInt8([a.Length], qa, [b.Length], qb, qy).Eval(a, b, output);
        for (int i = 0; i < a.Length; i++)
        {
            Assert.AreEqual(MulDefinition(a[i], b[i], qa, qb, qy, -128, 127), output[i], $"a {a[i]} b {b[i]}");
        }
    }

    /// <summary>Every (a, b) pair of int8 codes once: a[i] = i / 256 − 128, b[i] = i % 256 − 128.</summary>
    private static (sbyte[] A, sbyte[] B) AllCodePairs()
    {
        var a = new sbyte[256 * 256];
        var b = new sbyte[256 * 256];
        for (int i = 0; i < a.Length; i++)
        {
            a[i] = (sbyte)(i / 256 - 128);
            b[i] = (sbyte)(i % 256 - 128);
        }

        return (a, b);
    }

    /// <summary>Add's definition: per-operand terms rounded to 2^-20 in double, one rounding of their sum.</summary>
    private static sbyte AddDefinition(int a, int b, QuantParams qa, QuantParams qb, QuantParams qy, int low, int high)
    {
        long Term(int code, QuantParams q) => (long)Math.Round((code - q.ZeroPoint) * ((double)q.Scale / qy.Scale * (1L << AddInt8.LeftShift)), MidpointRounding.AwayFromZero);
        long y = ((Term(a, qa) + Term(b, qb) + (1L << (AddInt8.LeftShift - 1))) >> AddInt8.LeftShift) + qy.ZeroPoint;
        return (sbyte)Math.Clamp(y, low, high);
    }

    [TestMethod]
    public void Add_EqualsItsDefinition_OnInt32RowsAndOnTheInt64Path()
    {
        var r = new Random(707);
        // Ratios ~2 (int32 rows) and ~5000 (terms beyond int32: the int64 definition runs).
        foreach (var (qa, qb, qy) in new[]
        {
            (new QuantParams(0.0371f, -9), new QuantParams(0.0123f, 17), new QuantParams(0.02f, 3)),
            (new QuantParams(50f, 4), new QuantParams(0.01f, -3), new QuantParams(0.01f, 0)),
        })
        foreach (var (shapeA, shapeB) in new (int[], int[])[] { ([2, 3, 37], [2, 3, 37]), ([1, 4, 2, 19], [1, 4, 1, 1]), ([1, 4, 1, 1], [1, 4, 2, 19]) })
        {
            sbyte[] a = TestData.RandomCodes(r, shapeA.Aggregate(1, (x, y) => x * y));
            sbyte[] b = TestData.RandomCodes(r, shapeB.Aggregate(1, (x, y) => x * y));
            var shape = new Broadcast4D(shapeA, shapeB);
            var output = new sbyte[shape.OutputLength];
            new AddInt8(shapeA, qa, shapeB, qb, qy, -110, 125).Eval(a, b, output);
            for (int o = 0; o < output.Length; o++)
            {
                int ia = shapeA.Aggregate(1, (x, y) => x * y) == output.Length ? o : o / (output.Length / a.Length);
                int ib = shapeB.Aggregate(1, (x, y) => x * y) == output.Length ? o : o / (output.Length / b.Length);
                Assert.AreEqual(AddDefinition(a[ia], b[ib], qa, qb, qy, -110, 125), output[o], $"{qa.Scale} at {o}");
            }
        }
    }

    /// <summary>
    /// Add with a fused Relu/Clip gives, for every pair of codes, what Add's codes then ClipInt8 give; over scale ratios
    /// whose sums span a few codes, about 2^12 codes (the folded row tables' limit) and far more (the int64 definition).
    /// </summary>
    [TestMethod]
    public void AddThenClip_EqualsAddFollowedByClip_OverAllCodePairs()
    {
        var (a, b) = AllCodePairs();

        foreach (var (qa, qb, qy, qRelu, low, high, rowTables) in new[]
        {
            (new QuantParams(0.0371f, -9), new QuantParams(0.0123f, 17), new QuantParams(0.05f, 3), new QuantParams(0.021f, -128), 0f, float.PositiveInfinity, true),
            (new QuantParams(0.31f, 100), new QuantParams(0.29f, -100), new QuantParams(0.0041f, 0), new QuantParams(0.002f, -128), 0f, 0.25f, false),
            (new QuantParams(0.52f, 0), new QuantParams(0.47f, 5), new QuantParams(0.07f, -20), new QuantParams(0.03f, -128), 0f, 6f, true),
            (new QuantParams(50f, 4), new QuantParams(0.01f, -3), new QuantParams(0.01f, 0), new QuantParams(0.5f, 7), -1f, 60f, false),
        })
        {
            var sums = new sbyte[a.Length];
            var expected = new sbyte[a.Length];
            var fused = new sbyte[a.Length];
            new AddInt8([a.Length], qa, [b.Length], qb, qy).Eval(a, b, sums);
            new ClipInt8(qy, qRelu, low, high).Eval(sums, expected);
            var add = new AddInt8([a.Length], qa, [b.Length], qb, qy, -128, 127, new ClipInt8(qy, qRelu, low, high));
            Assert.AreEqual(rowTables, add.HasRowTables, $"scales {qa.Scale}, {qb.Scale} -> {qy.Scale}: row tables");
            add.Eval(a, b, fused);
            CollectionAssert.AreEqual(expected, fused, $"scales {qa.Scale}, {qb.Scale} -> {qy.Scale} -> {qRelu.Scale}");
        }
    }

    /// <summary>
    /// The vector rows' straight-line form (AddInt8.LineForm) gives every pair of codes exactly what the definition
    /// gives, over random scale ratios, with no activation and with a fused Relu (at the sum's scale or its own), on full rows and with either operand
    /// broadcast; blocks with a lane near a bucket edge take the tables, and all pairs include such lanes.
    /// </summary>
    [TestMethod]
    public void Add_LineFormRows_EqualTheDefinition_OverAllCodePairs()
    {
        var (a, b) = AllCodePairs();

        var r = new Random(4242);
        int lineForms = 0;
        string missing = "";
        for (int trial = 0; trial < 24; trial++)
        {
            var qy = new QuantParams((float)(0.01 + r.NextDouble() * 0.1), r.Next(-128, 128));
            var qa = new QuantParams((float)(qy.Scale * (0.05 + r.NextDouble() * 3)), r.Next(-128, 128));
            var qb = new QuantParams((float)(qy.Scale * (0.05 + r.NextDouble() * 3)), r.Next(-128, 128));
            // No activation; Relu at the sum's scale (a clamp); Relu at its own, finer scale (a rescale staircase).
            ClipInt8? relu = (trial % 3) switch
            {
                0 => null,
                1 => ClipInt8.Relu(qy, qy),
                _ => ClipInt8.Relu(qy, new QuantParams((float)(qy.Scale * (0.3 + r.NextDouble() * 0.7)), -128)),
            };
            var add = relu is null ? new AddInt8([a.Length], qa, [b.Length], qb, qy) : new AddInt8([a.Length], qa, [b.Length], qb, qy, -128, 127, relu);
            lineForms += add.HasLineForm ? 1 : 0;
            missing += add.HasLineForm ? "" : $" {trial} ({qa.Scale / qy.Scale:F3}, {qb.Scale / qy.Scale:F3}, relu {relu?.ClampMin})";
            var output = new sbyte[a.Length];
            add.Eval(a, b, output);
            for (int o = 0; o < output.Length; o++)
            {
                sbyte sum = AddDefinition(a[o], b[o], qa, qb, qy, -128, 127);
                sbyte expected = relu is null ? sum : relu.Apply(sum);
                if (expected != output[o])
                {
                    Assert.Fail($"trial {trial}: a={a[o]} b={b[o]}: {output[o]}, definition {expected}");
                }
            }

            // One operand broadcast along the row (a per-channel bias-like Add).
            var row = new sbyte[1000];
            var rowOut = new sbyte[1000];
            for (int i = 0; i < row.Length; i++)
            {
                row[i] = (sbyte)r.Next(-128, 128);
            }

            sbyte single = (sbyte)r.Next(-128, 128);
            new AddInt8([1, 1, 1, row.Length], qa, [1, 1, 1, 1], qb, qy).Eval(row, [single], rowOut);
            for (int i = 0; i < row.Length; i++)
            {
                Assert.AreEqual(AddDefinition(row[i], single, qa, qb, qy, -128, 127), rowOut[i], $"trial {trial}: broadcast b at {i}");
            }

            new AddInt8([1, 1, 1, 1], qa, [1, 1, 1, row.Length], qb, qy).Eval([single], row, rowOut);
            for (int i = 0; i < row.Length; i++)
            {
                Assert.AreEqual(AddDefinition(single, row[i], qa, qb, qy, -128, 127), rowOut[i], $"trial {trial}: broadcast a at {i}");
            }
        }

        Assert.AreEqual(24, lineForms, "trials without a line form:" + missing);
    }
}
