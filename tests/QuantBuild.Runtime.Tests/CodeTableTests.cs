using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// The shuffle-based code table behind the unary kernels and MaxPool's rescale: every path must give the
/// table's entry for every code, at every offset and tail; MaxPool must equal its per-window definition
/// (max code, then Int8Rescale; all-padding windows give the lowest code) exactly.
/// </summary>
[TestClass]
public sealed class CodeTableTests
{
    [TestMethod]
    public void Path_IsTheWidestThisCpuSupports()
    {
        string expected = Avx2.IsSupported ? "Avx2" : Ssse3.IsSupported && Sse41.IsSupported ? "Ssse3" : AdvSimd.Arm64.IsSupported ? "AdvSimd" : "Scalar";
        Assert.AreEqual(expected, Int8CodeTable.Path);
    }

    [TestMethod]
    public void Map_GivesEveryCodesEntry_AtEveryOffsetAndTail_AndInPlace()
    {
        var r = new Random(2718);
        for (int trial = 0; trial < 6; trial++)
        {
            var values = new sbyte[256];
            r.NextBytes((byte[])(Array)values);
            var table = new Int8CodeTable(code => values[code + 128]);
            for (int code = -128; code <= 127; code++)
            {
                Assert.AreEqual(values[code + 128], table[code]);
            }

            // Every code in every byte position of a vector, then random runs at odd offsets and lengths.
            var all = new sbyte[256 * 3 + 5];
            for (int i = 0; i < all.Length; i++) all[i] = (sbyte)(i * 37 + trial);
            foreach (int offset in new[] { 0, 1, 3, 17 })
            foreach (int length in new[] { 0, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 200, all.Length - offset })
            {
                var input = all.AsSpan(offset, Math.Min(length, all.Length - offset));
                var output = new sbyte[input.Length + 3];
                table.Map(input, output.AsSpan(1));
                for (int i = 0; i < input.Length; i++)
                {
                    Assert.AreEqual(table[input[i]], output[i + 1], $"offset {offset} length {length} index {i}");
                }

                var inPlace = input.ToArray();
                table.Map(inPlace, inPlace);
                for (int i = 0; i < inPlace.Length; i++) Assert.AreEqual(table[input[i]], inPlace[i]);
            }
        }
    }

    [TestMethod]
    public void ClampTables_MapByMinMax_AndEqualTheirEntries()
    {
        // Identity clamps (ReLU or Clip at an unchanged scale) take the min/max path; a near-clamp does not.
        var all = Enumerable.Range(0, 301).Select(i => (sbyte)(i * 7)).ToArray();
        foreach (var (low, high, off) in new[] { (-128, 127, 0), (-5, 100, 0), (17, 17, 0), (-128, -128, 0), (-5, 100, 1) })
        {
            var table = new Int8CodeTable(code => (sbyte)(code == 50 && off != 0 ? 51 : Math.Clamp(code, low, high)));
            var output = new sbyte[all.Length];
            table.Map(all, output);
            for (int i = 0; i < all.Length; i++)
            {
                Assert.AreEqual(table[all[i]], output[i], $"clamp [{low}, {high}] code {all[i]}");
            }
        }
    }

    [TestMethod]
    public void RescaleTables_MapByMultiplyAdd_AndEqualTheirEntries()
    {
        // Relu and Clip into another scale and plain rescales (Int8Rescale's fixed point) are staircases of one slope:
        // the affine form must reproduce every entry; tables that are not staircases must not take it.
        var r = new Random(99);
        var all = Enumerable.Range(0, 301).Select(i => (sbyte)(i * 7)).ToArray();
        int affine = 0, tables = 0;
        for (int trial = 0; trial < 200; trial++)
        {
            var input = new QuantParams((float)(0.01 + r.NextDouble() * 0.2), r.Next(-128, 128));
            var output = new QuantParams((float)(input.Scale * (0.05 + r.NextDouble() * 3)), r.Next(-128, 128));
            Int8CodeTable table = trial % 2 == 0
                ? new Int8CodeTable(ClipInt8.Relu(input, output).Apply)
                : new Int8CodeTable(new Int8Rescale(input, output).Apply);
            var mapped = new sbyte[all.Length];
            table.Map(all, mapped);
            for (int i = 0; i < all.Length; i++)
            {
                Assert.AreEqual(table[all[i]], mapped[i], $"trial {trial}, code {all[i]}, affine {table.IsAffine}");
            }

            tables++;
            if (table.IsAffine) affine++;
        }

        Assert.IsGreaterThan(tables * 9 / 10, affine, $"{affine} of {tables} rescale tables take the affine form");
        Assert.IsFalse(new Int8CodeTable(code => (sbyte)(code * code / 128)).IsAffine, "a parabola is no staircase");
        Assert.IsFalse(new Int8CodeTable(code => (sbyte)(-code / 2)).IsAffine, "decreasing tables keep the shuffles");
        Assert.IsFalse(new Int8CodeTable(code => (sbyte)Math.Clamp(code, -5, 100)).IsAffine, "identity clamps take min/max instead");
    }

    [TestMethod]
    public void MaxPool_EqualsItsDefinition_WithDilationPaddingAndWideRows()
    {
        var r = new Random(31);
        var geometries = new[]
        {
            new Pool2DGeometry(1, 3, 8, 70, 2, 2, 2, 2),
            // 2x2 stride 2 with padding on the right: vector pairs, then a last window with one column.
            new Pool2DGeometry(1, 2, 6, 65, 2, 2, 2, 2, 0, 0, 1, 1),
            // 1×2 stride 2 over even rows (openWakeWord): one run of pairs across rows and planes.
            new Pool2DGeometry(2, 3, 7, 16, 1, 2, 1, 2),
            new Pool2DGeometry(1, 1, 3, 6, 1, 2, 1, 2),
            new Pool2DGeometry(2, 2, 7, 41, 3, 3, 2, 2, 1, 1, 1, 1),
            new Pool2DGeometry(1, 4, 6, 33, 3, 2, 1, 1, 1, 0, 1, 1, 1, 2),
            new Pool2DGeometry(1, 2, 5, 40, 3, 3, 1, 3, 1, 1, 1, 1, 2, 2),
            // 2x2 stride 2 tiling whole rows (openWakeWord's [72, 28, 8]): rows pair up, then columns, per plane;
            // with an odd height the last row is not read, and with wide rows the vector paths run.
            new Pool2DGeometry(2, 3, 28, 8, 2, 2, 2, 2),
            new Pool2DGeometry(1, 2, 7, 6, 2, 2, 2, 2),
            new Pool2DGeometry(1, 2, 9, 96, 2, 2, 2, 2, 0, 0, 1, 0),
            // Pads wider than the kernel: windows that lie entirely in padding.
            new Pool2DGeometry(1, 2, 4, 5, 2, 2, 1, 1, 3, 3, 3, 3),
        };
        var input = new QuantParams(0.05f, -7);
        foreach (Pool2DGeometry g in geometries)
        {
            sbyte[] x = TestData.RandomCodes(r, g.InputLength);
            foreach (QuantParams output in new[] { input, new QuantParams(0.02f, 11), new QuantParams(0.3f, -100) })
            {
                var rescale = new Int8Rescale(input, output);
                var y = new sbyte[g.OutputLength];
                new MaxPoolInt8(g, input, output).Eval(x, y);
                int o = 0;
                for (int p = 0; p < g.Batch * g.Channels; p++)
                for (int oy = 0; oy < g.OutHeight; oy++)
                for (int ox = 0; ox < g.OutWidth; ox++)
                {
                    int best = int.MinValue;
                    for (int ky = 0; ky < g.KernelHeight; ky++)
                    for (int kx = 0; kx < g.KernelWidth; kx++)
                    {
                        int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                        int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                        if (iy >= 0 && iy < g.InHeight && ix >= 0 && ix < g.InWidth)
                        {
                            best = Math.Max(best, x[(p * g.InHeight + iy) * g.InWidth + ix]);
                        }
                    }

                    sbyte expected = best == int.MinValue ? sbyte.MinValue : rescale.Apply(best);
                    Assert.AreEqual(expected, y[o++], $"plane {p} ({oy},{ox})");
                }
            }
        }
    }
}

/// <summary>TransposeInt8 against direct indexing, over random shapes (rank 1–6) and permutations, with and without a rescale.</summary>
[TestClass]
public sealed class TransposeTests
{
    [TestMethod]
    public void Transpose_EqualsDirectIndexing_ForRandomShapesAndPermutations()
    {
        var r = new Random(1234);
        var input = new QuantParams(0.05f, -3);
        for (int trial = 0; trial < 60; trial++)
        {
            int rank = r.Next(1, 7);
            int[] shape = Enumerable.Range(0, rank).Select(_ => r.Next(1, 6)).ToArray();
            int[] permutation = Enumerable.Range(0, rank).OrderBy(_ => r.Next()).ToArray();
            int length = shape.Aggregate(1, (x, y) => x * y);
            sbyte[] x = TestData.RandomCodes(r, length);
            int[] strides = new int[rank];
            for (int d = rank - 1, s = 1; d >= 0; s *= shape[d], d--) strides[d] = s;
            int[] outShape = permutation.Select(a => shape[a]).ToArray();
            foreach (QuantParams output in new[] { input, new QuantParams(0.02f, 9) })
            {
                var rescale = new Int8Rescale(input, output);
                var y = new sbyte[length];
                new TransposeInt8(shape, permutation, input, output).Eval(x, y);
                var index = new int[rank];
                for (int o = 0; o < length; o++)
                {
                    int source = 0;
                    for (int d = 0; d < rank; d++) source += index[d] * strides[permutation[d]];
                    Assert.AreEqual(rescale.Apply(x[source]), y[o], $"trial {trial} [{string.Join(',', shape)}] perm [{string.Join(',', permutation)}] at {o}");
                    for (int d = rank - 1; d >= 0 && ++index[d] == outShape[d]; d--) index[d] = 0;
                }
            }
        }
    }
}
