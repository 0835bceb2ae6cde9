using QuantBuild.Diagnostics;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

/// <summary>Forward semantics of the layout operators (Reshape, Transpose, Slice, Pad, Gather...) including int64 shape tensors.</summary>
[TestClass]
public sealed class ShapeOpsTests
{
    private static Tensor Seq(params int[] shape)
    {
        var data = new float[(int)Tensor.ElementCount(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = i;
        return Tensor.FromFloats(data, shape);
    }

    private static Tensor I64(params long[] v) => Tensor.FromInt64(v, v.Length);

    [TestMethod]
    public void Reshape_ZeroCopiesDimensionAndMinusOneInfers_SharingTheBuffer()
    {
        var x = Seq(2, 3, 4);
        var g = OpTester.SingleNodeGraph("Reshape", new Tensor?[] { x, I64(0, -1) }, constants: new Dictionary<int, Tensor> { [1] = I64(0, -1) });
        var y = new QuantBuild.Engine.InferenceEngine(g).Run(new Dictionary<string, Tensor> { ["in0"] = x })["out0"];
        CollectionAssert.AreEqual(new[] { 2, 12 }, y.Shape);
        Assert.AreSame(x.Data, y.Data, "Reshape must be a view");
    }

    [TestMethod]
    public void Reshape_AllowZero_KeepsRealZeroDimension()
    {
        var x = Tensor.Create(DataType.Float, new[] { 0, 3 });
        var y = OpTester.Run("Reshape", new Tensor?[] { x, I64(3, 0) }, configure: n => n.SetInt("allowzero", 1), opset: 14)[0];
        CollectionAssert.AreEqual(new[] { 3, 0 }, y.Shape);
    }

    [TestMethod]
    public void Reshape_WrongElementCount_Throws()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Reshape", new Tensor?[] { Seq(2, 3), I64(4, 2) }));
        Assert.AreEqual(DiagnosticCodes.ShapeMismatch, e.Code);
    }

    [TestMethod]
    public void Flatten_NegativeAxis_CountsFromRank()
    {
        var y = OpTester.Run("Flatten", new Tensor?[] { Seq(2, 3, 4, 5) }, configure: n => n.SetInt("axis", -1))[0];
        CollectionAssert.AreEqual(new[] { 24, 5 }, y.Shape);
        var z = OpTester.Run("Flatten", new Tensor?[] { Seq(2, 3, 4, 5) }, configure: n => n.SetInt("axis", 0))[0];
        CollectionAssert.AreEqual(new[] { 1, 120 }, z.Shape);
    }

    [TestMethod]
    public void SqueezeUnsqueeze_AttributeBefore13_InputFrom13_NegativeAxes()
    {
        var x = Seq(1, 3, 1, 2);
        var a = OpTester.Run("Squeeze", new Tensor?[] { x }, configure: n => n.SetInts("axes", new long[] { -2 }), opset: 11)[0];
        CollectionAssert.AreEqual(new[] { 1, 3, 2 }, a.Shape);
        var b = OpTester.Run("Squeeze", new Tensor?[] { x, I64(0, 2) }, opset: 13)[0];
        CollectionAssert.AreEqual(new[] { 3, 2 }, b.Shape);
        var all = OpTester.Run("Squeeze", new Tensor?[] { x }, opset: 13)[0];
        CollectionAssert.AreEqual(new[] { 3, 2 }, all.Shape);
        var c = OpTester.Run("Unsqueeze", new Tensor?[] { Seq(3, 2), I64(-1, 0) }, opset: 13)[0];
        CollectionAssert.AreEqual(new[] { 1, 3, 2, 1 }, c.Shape);
        var d = OpTester.Run("Unsqueeze", new Tensor?[] { Seq(3, 2) }, configure: n => n.SetInts("axes", new long[] { 1 }), opset: 11)[0];
        CollectionAssert.AreEqual(new[] { 3, 1, 2 }, d.Shape);
        Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Squeeze", new Tensor?[] { x, I64(1) }, opset: 13));
    }

    [TestMethod]
    public void Unsqueeze_Int64ScalarBecomesVector()
    {
        var s = new Tensor(DataType.Int64, Array.Empty<int>(), new long[] { 7 });
        var y = OpTester.Run("Unsqueeze", new Tensor?[] { s, I64(0) }, opset: 13)[0];
        CollectionAssert.AreEqual(new[] { 1 }, y.Shape);
        CollectionAssert.AreEqual(new long[] { 7 }, y.Int64s);
    }

    [TestMethod]
    public void Transpose_MatchesNaiveIndexingForEveryPermutationOfRank4()
    {
        var x = Seq(2, 3, 4, 5);
        foreach (var perm in Permutations(new[] { 0, 1, 2, 3 }))
        {
            var y = OpTester.Run("Transpose", new Tensor?[] { x }, configure: n => n.SetInts("perm", perm.Select(p => (long)p)))[0];
            var outShape = perm.Select(p => x.Shape[p]).ToArray();
            CollectionAssert.AreEqual(outShape, y.Shape);
            var idx = new int[4];
            for (int k = 0; k < y.Length; k++)
            {
                int rem = k;
                for (int d = 3; d >= 0; d--) { idx[perm[d]] = rem % outShape[d]; rem /= outShape[d]; }
                float expected = ((idx[0] * 3 + idx[1]) * 4 + idx[2]) * 5 + idx[3];
                Assert.AreEqual(expected, y.Floats[k], $"perm [{string.Join(",", perm)}] element {k}");
            }
        }
    }

    [TestMethod]
    public void Transpose_LargeNchwToNhwc_ParallelFastPathMatchesNaive()
    {
        var x = Seq(2, 37, 19, 23); // big enough for the parallel tiled path, odd sizes for tile tails
        var y = OpTester.Run("Transpose", new Tensor?[] { x }, configure: n => n.SetInts("perm", new long[] { 0, 2, 3, 1 }))[0];
        CollectionAssert.AreEqual(new[] { 2, 19, 23, 37 }, y.Shape);
        for (int n = 0; n < 2; n++)
            for (int h = 0; h < 19; h++)
                for (int w = 0; w < 23; w++)
                    for (int c = 0; c < 37; c++)
                        Assert.AreEqual(x.Floats[((n * 37 + c) * 19 + h) * 23 + w], y.Floats[((n * 19 + h) * 23 + w) * 37 + c]);
        var back = OpTester.Run("Transpose", new Tensor?[] { y }, configure: n => n.SetInts("perm", new long[] { 0, 3, 1, 2 }))[0];
        CollectionAssert.AreEqual(x.Floats, back.Floats);
    }

    [TestMethod]
    public void Transpose_DefaultReversesAxes_Int64()
    {
        var x = Tensor.FromInt64(new long[] { 1, 2, 3, 4, 5, 6 }, 2, 3);
        var y = OpTester.Run("Transpose", new Tensor?[] { x })[0];
        CollectionAssert.AreEqual(new[] { 3, 2 }, y.Shape);
        CollectionAssert.AreEqual(new long[] { 1, 4, 2, 5, 3, 6 }, y.Int64s);
    }

    [TestMethod]
    public void Concat_Int64ShapeVectors_AndFloatAxis1()
    {
        var y = OpTester.Run("Concat", new Tensor?[] { I64(1, 2), I64(-1), I64(7, 8, 9) }, configure: n => n.SetInt("axis", 0))[0];
        CollectionAssert.AreEqual(new long[] { 1, 2, -1, 7, 8, 9 }, y.Int64s);
        var a = Tensor.FromFloats(new float[] { 1, 2, 3, 4 }, 2, 2);
        var b = Tensor.FromFloats(new float[] { 5, 6 }, 2, 1);
        var z = OpTester.Run("Concat", new Tensor?[] { a, b }, configure: n => n.SetInt("axis", -1))[0];
        CollectionAssert.AreEqual(new float[] { 1, 2, 5, 3, 4, 6 }, z.Floats);
    }

    [TestMethod]
    public void Split_AttributeInputAndNumOutputs()
    {
        var x = Seq(2, 5);
        var a = OpTester.Run("Split", new Tensor?[] { x }, 2, n => { n.SetInt("axis", 1); n.SetInts("split", new long[] { 2, 3 }); }, opset: 11);
        CollectionAssert.AreEqual(new float[] { 0, 1, 5, 6 }, a[0].Floats);
        CollectionAssert.AreEqual(new float[] { 2, 3, 4, 7, 8, 9 }, a[1].Floats);
        var b = OpTester.Run("Split", new Tensor?[] { x, I64(4, 1) }, 2, n => n.SetInt("axis", -1), opset: 13);
        CollectionAssert.AreEqual(new[] { 2, 4 }, b[0].Shape);
        var c = OpTester.Run("Split", new Tensor?[] { x }, 3, n => { n.SetInt("axis", 1); n.SetInt("num_outputs", 3); }, opset: 18);
        CollectionAssert.AreEqual(new[] { 2, 2 }, c[0].Shape);
        CollectionAssert.AreEqual(new[] { 2, 2 }, c[1].Shape);
        CollectionAssert.AreEqual(new float[] { 4, 9 }, c[2].Floats);
        Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Split", new Tensor?[] { x }, 2, n => n.SetInt("axis", 1)));
    }

    [TestMethod]
    public void Slice_NegativeStepAndClampingFollowTheSpec()
    {
        var x = Seq(10);
        Tensor Run(long start, long end, long step) =>
            OpTester.Run("Slice", new Tensor?[] { x, I64(start), I64(end), I64(0), I64(step) })[0];
        CollectionAssert.AreEqual(new float[] { 9, 8, 7, 6, 5, 4, 3, 2, 1, 0 }, Run(-1, long.MinValue, -1).Floats);
        CollectionAssert.AreEqual(new float[] { 9, 7, 5, 3, 1 }, Run(100, -100, -2).Floats);
        CollectionAssert.AreEqual(new float[] { 2, 5, 8 }, Run(2, long.MaxValue, 3).Floats);
        Assert.AreEqual(0, Run(5, 2, 1).Length);
        Assert.AreEqual(0, Run(2, 5, -1).Length);
        CollectionAssert.AreEqual(new float[] { 8, 9 }, Run(-2, 1000, 1).Floats);
    }

    [TestMethod]
    public void Slice_Opset9Attributes_And2DInt64()
    {
        var x = Seq(3, 4);
        var y = OpTester.Run("Slice", new Tensor?[] { x }, configure: n => { n.SetInts("starts", new long[] { 1, 1 }); n.SetInts("ends", new long[] { 3, -1 }); }, opset: 9)[0];
        CollectionAssert.AreEqual(new float[] { 5, 6, 9, 10 }, y.Floats);
        var shape = I64(1, 3, 224, 224);
        var tail = OpTester.Run("Slice", new Tensor?[] { shape, I64(-2), I64(long.MaxValue) })[0];
        CollectionAssert.AreEqual(new long[] { 224, 224 }, tail.Int64s);
    }

    [TestMethod]
    public void Pad_ModesAndNegativePads()
    {
        var x = Tensor.FromFloats(new float[] { 1, 2, 3 }, 1, 3);
        Tensor Run(string mode, long[] pads, Tensor? value = null, int opset = 13) =>
            OpTester.Run("Pad", new Tensor?[] { x, I64(pads), value }, configure: n => n.SetString("mode", mode), opset: opset)[0];
        CollectionAssert.AreEqual(new float[] { 9, 9, 1, 2, 3, 9 }, Run("constant", new long[] { 0, 2, 0, 1 }, Tensor.Scalar(9)).Floats);
        CollectionAssert.AreEqual(new float[] { 3, 2, 1, 2, 3, 2, 1 }, Run("reflect", new long[] { 0, 2, 0, 2 }).Floats);
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 2, 3, 3 }, Run("edge", new long[] { 0, 2, 0, 1 }).Floats);
        CollectionAssert.AreEqual(new float[] { 3, 1, 2, 3, 1 }, Run("wrap", new long[] { 0, 1, 0, 1 }, opset: 19).Floats);
        CollectionAssert.AreEqual(new float[] { 2 }, Run("constant", new long[] { 0, -1, 0, -1 }).Floats);
        var old = OpTester.Run("Pad", new Tensor?[] { x }, configure: n => { n.SetInts("pads", new long[] { 1, 0, 0, 0 }); n.SetFloat("value", 5); }, opset: 9)[0];
        CollectionAssert.AreEqual(new[] { 2, 3 }, old.Shape);
        CollectionAssert.AreEqual(new float[] { 5, 5, 5, 1, 2, 3 }, old.Floats);
        var axes = OpTester.Run("Pad", new Tensor?[] { x, I64(1, 1), null, I64(-1) }, opset: 18)[0];
        CollectionAssert.AreEqual(new float[] { 0, 1, 2, 3, 0 }, axes.Floats);
        var crop = Run("constant", new long[] { 0, -1, 0, 0 });
        CollectionAssert.AreEqual(new float[] { 2, 3 }, crop.Floats);
    }

    [TestMethod]
    public void Gather_NegativeInt32Indices_OnAxis1_AndShapeVector()
    {
        var x = Seq(2, 3);
        var idx = new Tensor(DataType.Int32, new[] { 2 }, new[] { -1, 0 });
        var y = OpTester.Run("Gather", new Tensor?[] { x, idx }, configure: n => n.SetInt("axis", 1))[0];
        CollectionAssert.AreEqual(new[] { 2, 2 }, y.Shape);
        CollectionAssert.AreEqual(new float[] { 2, 0, 5, 3 }, y.Floats);
        var scalar = new Tensor(DataType.Int64, Array.Empty<int>(), new long[] { 1 });
        var d = OpTester.Run("Gather", new Tensor?[] { I64(1, 3, 224, 224), scalar })[0];
        Assert.AreEqual(0, d.Rank);
        Assert.AreEqual(3L, d.Int64s[0]);
        Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Gather", new Tensor?[] { x, I64(2) }));
    }

    [TestMethod]
    public void ShapeAndConstantOfShape()
    {
        var x = Seq(2, 3, 4, 5);
        CollectionAssert.AreEqual(new long[] { 3, 4 }, OpTester.Run("Shape", new Tensor?[] { x }, configure: n => { n.SetInt("start", 1); n.SetInt("end", -1); }, opset: 15)[0].Int64s);
        CollectionAssert.AreEqual(new long[] { 2, 3, 4, 5 }, OpTester.Run("Shape", new Tensor?[] { x }, configure: n => n.SetInt("start", -10), opset: 15)[0].Int64s);
        var zeros = OpTester.Run("ConstantOfShape", new Tensor?[] { I64(2, 3) })[0];
        Assert.AreEqual(DataType.Float, zeros.Type);
        CollectionAssert.AreEqual(new float[6], zeros.Floats);
        var sevens = OpTester.Run("ConstantOfShape", new Tensor?[] { I64(3) }, configure: n =>
            n.Attributes["value"] = new QuantBuild.Onnx.Proto.AttributeProto
            {
                Name = "value", Type = QuantBuild.Onnx.Proto.AttributeProto.Types.AttributeType.Tensor,
                T = QuantBuild.Onnx.IO.TensorProtoConverter.FromTensor(Tensor.FromInt64(new long[] { 7 }, 1), "value"),
            })[0];
        CollectionAssert.AreEqual(new long[] { 7, 7, 7 }, sevens.Int64s);
    }

    [TestMethod]
    public void ExpandTileRangeWhereEqual()
    {
        var x = Tensor.FromFloats(new float[] { 1, 2, 3 }, 3, 1);
        var e = OpTester.Run("Expand", new Tensor?[] { x, I64(2, 1, 2) })[0];
        CollectionAssert.AreEqual(new[] { 2, 3, 2 }, e.Shape);
        CollectionAssert.AreEqual(new float[] { 1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3 }, e.Floats);
        var t = OpTester.Run("Tile", new Tensor?[] { Tensor.FromFloats(new float[] { 1, 2 }, 1, 2), I64(2, 2) })[0];
        CollectionAssert.AreEqual(new float[] { 1, 2, 1, 2, 1, 2, 1, 2 }, t.Floats);
        var r = OpTester.Run("Range", new Tensor?[] { Tensor.FromInt64(new long[] { 10 }), Tensor.FromInt64(new long[] { 4 }), Tensor.FromInt64(new long[] { -3 }) })[0];
        CollectionAssert.AreEqual(new long[] { 10, 7 }, r.Int64s);
        var cond = new Tensor(DataType.Bool, new[] { 2 }, new[] { true, false });
        var w = OpTester.Run("Where", new Tensor?[] { cond, Tensor.FromFloats(new float[] { 1, 2, 3, 4 }, 2, 2), Tensor.Scalar(-1) })[0];
        CollectionAssert.AreEqual(new float[] { 1, -1, 3, -1 }, w.Floats);
        var eq = OpTester.Run("Equal", new Tensor?[] { I64(1, 2, 3), Tensor.FromInt64(new long[] { 2 }, 1) })[0];
        CollectionAssert.AreEqual(new[] { false, true, false }, eq.Bools);
    }

    [TestMethod]
    public void DepthToSpace_CrdAndDcr_RoundTripWithSpaceToDepth()
    {
        var x = Seq(1, 8, 2, 3);
        var dcr = OpTester.Run("DepthToSpace", new Tensor?[] { x }, configure: n => n.SetInt("blocksize", 2))[0];
        CollectionAssert.AreEqual(new[] { 1, 2, 4, 6 }, dcr.Shape);
        // DCR: out[0, c, 2h+i, 2w+j] = in[0, (i*2+j)*2 + c, h, w]
        Assert.AreEqual(x.Floats[((1 * 2 + 1) * 2 + 1) * 6 + 1 * 3 + 2], dcr.Floats[(1 * 4 + 3) * 6 + 5]);
        var back = OpTester.Run("SpaceToDepth", new Tensor?[] { dcr }, configure: n => n.SetInt("blocksize", 2))[0];
        CollectionAssert.AreEqual(x.Floats, back.Floats);
        var crd = OpTester.Run("DepthToSpace", new Tensor?[] { x }, configure: n => { n.SetInt("blocksize", 2); n.SetString("mode", "CRD"); })[0];
        // CRD: out[0, c, 2h+i, 2w+j] = in[0, c*4 + i*2 + j, h, w]
        Assert.AreEqual(x.Floats[(1 * 4 + 1 * 2 + 1) * 6 + 1 * 3 + 2], crd.Floats[(1 * 4 + 3) * 6 + 5]);
    }

    private static IEnumerable<int[]> Permutations(int[] items)
    {
        if (items.Length <= 1) { yield return items; yield break; }
        for (int i = 0; i < items.Length; i++)
            foreach (var rest in Permutations(items.Where((_, k) => k != i).ToArray()))
                yield return new[] { items[i] }.Concat(rest).ToArray();
    }
}
