using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

[TestClass]
public sealed class BroadcastTests
{
    [TestMethod]
    public void Shape_FollowsNumpyRules()
    {
        CollectionAssert.AreEqual(new[] { 2, 3, 4, 5 }, Broadcast.Shape(new[] { 2, 3, 4, 5 }, Array.Empty<int>()));
        CollectionAssert.AreEqual(new[] { 2, 3, 4, 5 }, Broadcast.Shape(new[] { 2, 3, 4, 5 }, new[] { 5 }));
        CollectionAssert.AreEqual(new[] { 2, 3, 4, 5 }, Broadcast.Shape(new[] { 4, 5 }, new[] { 2, 3, 4, 5 }));
        CollectionAssert.AreEqual(new[] { 2, 3, 4, 5 }, Broadcast.Shape(new[] { 1, 4, 5 }, new[] { 2, 3, 1, 1 }));
        CollectionAssert.AreEqual(new[] { 3, 4, 0 }, Broadcast.Shape(new[] { 3, 4, 0 }, new[] { 1, 1 }));
    }

    [TestMethod]
    public void Shape_RejectsIncompatibleDimensions()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => Broadcast.Shape(new[] { 2, 3 }, new[] { 4 }));
        Assert.AreEqual(DiagnosticCodes.ShapeMismatch, e.Code);
    }

    private static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>Straightforward per-element broadcast read, the reference every fast path is checked against.</summary>
    private static float At(float[] data, int[] shape, int[] outShape, int flat)
    {
        var outStrides = Strides(outShape);
        var strides = Strides(shape);
        int offset = 0;
        for (int d = 0; d < outShape.Length; d++)
        {
            int coord = flat / outStrides[d] % outShape[d];
            int k = d - (outShape.Length - shape.Length);
            if (k >= 0 && shape[k] != 1) offset += coord * strides[k];
        }
        return data[offset];
    }

    public static IEnumerable<object[]> ShapePairs => new[]
    {
        new object[] { new[] { 2, 3, 4 }, new[] { 2, 3, 4 } },           // same shape
        new object[] { new[] { 2, 3, 4 }, Array.Empty<int>() },          // scalar
        new object[] { Array.Empty<int>(), new[] { 2, 3, 4 } },          // scalar on the left
        new object[] { new[] { 2, 8, 5, 7 }, new[] { 8, 1, 1 } },        // per-channel against NCHW
        new object[] { new[] { 1, 8, 1, 1 }, new[] { 2, 8, 5, 7 } },     // per-channel on the left
        new object[] { new[] { 3, 4, 6 }, new[] { 6 } },                 // trailing vector
        new object[] { new[] { 3, 1, 6 }, new[] { 1, 5, 1 } },           // both sides stretch
        new object[] { new[] { 4, 1 }, new[] { 3, 1, 5 } },
    };

    [TestMethod]
    [DynamicData(nameof(ShapePairs))]
    public void Apply_MatchesElementwiseReference(int[] aShape, int[] bShape)
    {
        var rng = new Random(7);
        var a = OpTester.Random(rng, 2f, aShape).Floats;
        var b = OpTester.Random(rng, 2f, bShape).Floats;
        var outShape = Broadcast.Shape(aShape, bShape);
        var r = Broadcast.Apply<float, SubOp<float>>(a, aShape, b, bShape, outShape);
        for (int i = 0; i < r.Length; i++)
            Assert.AreEqual(At(a, aShape, outShape, i) - At(b, bShape, outShape, i), r[i], $"element {i}");
    }

    [TestMethod]
    [DynamicData(nameof(ShapePairs))]
    public void ReduceTo_SumsOverBroadcastAxes(int[] aShape, int[] bShape)
    {
        var outShape = Broadcast.Shape(aShape, bShape);
        var g = OpTester.Random(new Random(3), 1f, outShape).Floats;
        foreach (var target in new[] { aShape, bShape })
        {
            var reduced = Broadcast.ReduceTo(g, outShape, target);
            var expected = new double[reduced.Length];
            // Scatter every gradient element to the target element it was broadcast from.
            var index = Enumerable.Range(0, reduced.Length).Select(i => (float)i).ToArray();
            for (int i = 0; i < g.Length; i++) expected[(int)At(index, target, outShape, i)] += g[i];
            for (int i = 0; i < reduced.Length; i++) Assert.AreEqual(expected[i], reduced[i], 1e-4, $"target [{string.Join(",", target)}] element {i}");
        }
    }

    [TestMethod]
    public void Apply_IsBitIdenticalWhateverTheThreadCount()
    {
        var rng = new Random(11);
        int[] aShape = { 4, 32, 24, 24 }, bShape = { 32, 1, 1 };
        var a = OpTester.Random(rng, 3f, aShape).Floats;
        var b = OpTester.Random(rng, 3f, bShape).Floats;
        var outShape = Broadcast.Shape(aShape, bShape);
        var serial = Broadcast.Apply<float, DivOp<float>>(a, aShape, b, bShape, outShape, new ParallelOptions { MaxDegreeOfParallelism = 1 });
        var parallel = Broadcast.Apply<float, DivOp<float>>(a, aShape, b, bShape, outShape, new ParallelOptions { MaxDegreeOfParallelism = 4 });
        CollectionAssert.AreEqual(serial, parallel);
        Assert.AreEqual(a[1000] / b[(1000 / (24 * 24)) % 32], serial[1000]);
    }

    [TestMethod]
    public void Expand_RepeatsAlongStretchedAxes()
    {
        var r = Broadcast.Expand(new long[] { 1, 2 }, new[] { 2, 1 }, new[] { 2, 3 });
        CollectionAssert.AreEqual(new long[] { 1, 1, 1, 2, 2, 2 }, r);
    }
}
