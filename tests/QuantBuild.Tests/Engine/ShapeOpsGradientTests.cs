using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

/// <summary>Finite-difference checks of every differentiable layout operator's backward pass over its main variants.</summary>
[TestClass]
public sealed class ShapeOpsGradientTests
{
    private static Tensor R(int seed, params int[] shape) => OpTester.Random(new Random(seed), 1f, shape);
    private static Tensor I64(params long[] v) => Tensor.FromInt64(v, v.Length);

    [TestMethod]
    public void ViewOps()
    {
        GradientCheck.Check("Reshape", new Tensor?[] { R(1, 2, 3, 4), I64(0, -1) }, new[] { 0 }, constantInputs: new[] { 1 });
        GradientCheck.Check("Flatten", new Tensor?[] { R(2, 2, 3, 4) }, new[] { 0 }, n => n.SetInt("axis", -2));
        GradientCheck.Check("Squeeze", new Tensor?[] { R(3, 1, 3, 1), I64(-1) }, new[] { 0 }, opset: 13, constantInputs: new[] { 1 });
        GradientCheck.Check("Squeeze", new Tensor?[] { R(3, 1, 3, 1) }, new[] { 0 }, n => n.SetInts("axes", new long[] { 0 }), opset: 11);
        GradientCheck.Check("Unsqueeze", new Tensor?[] { R(4, 3, 2), I64(0, -1) }, new[] { 0 }, opset: 13, constantInputs: new[] { 1 });
    }

    [TestMethod]
    public void Transpose_GenericAndFastPaths()
    {
        GradientCheck.Check("Transpose", new Tensor?[] { R(5, 2, 3, 4) }, new[] { 0 }, n => n.SetInts("perm", new long[] { 1, 2, 0 }));
        GradientCheck.Check("Transpose", new Tensor?[] { R(6, 2, 3, 2, 2) }, new[] { 0 }, n => n.SetInts("perm", new long[] { 0, 2, 3, 1 }));
        GradientCheck.Check("Transpose", new Tensor?[] { R(7, 2, 2, 2, 3) }, new[] { 0 }, n => n.SetInts("perm", new long[] { 0, 3, 1, 2 }));
        GradientCheck.Check("Transpose", new Tensor?[] { R(8, 3, 4) }, new[] { 0 });
    }

    [TestMethod]
    public void ConcatAndSplit()
    {
        GradientCheck.Check("Concat", new Tensor?[] { R(9, 2, 3), R(10, 2, 1), R(11, 2, 2) }, new[] { 0, 1, 2 }, n => n.SetInt("axis", 1));
        GradientCheck.Check("Concat", new Tensor?[] { R(12, 1, 3), R(13, 2, 3) }, new[] { 0, 1 }, n => n.SetInt("axis", -2));
        GradientCheck.Check("Split", new Tensor?[] { R(14, 2, 6) }, new[] { 0 }, n => n.SetInt("axis", 1), outputCount: 3);
        GradientCheck.Check("Split", new Tensor?[] { R(15, 5, 2), I64(1, 4) }, new[] { 0 }, outputCount: 2, opset: 13, constantInputs: new[] { 1 });
        GradientCheck.Check("Split", new Tensor?[] { R(16, 2, 5) }, new[] { 0 }, n => { n.SetInt("axis", 1); n.SetInt("num_outputs", 2); }, outputCount: 2, opset: 18);
    }

    [TestMethod]
    public void Slice_PositiveNegativeStepsAndOpset9()
    {
        GradientCheck.Check("Slice", new Tensor?[] { R(17, 4, 6), I64(1, -1), I64(3, 0), I64(0, 1), I64(1, -2) }, new[] { 0 }, constantInputs: new[] { 1, 2, 3, 4 });
        GradientCheck.Check("Slice", new Tensor?[] { R(18, 3, 5), I64(0, 1), I64(2, 100) }, new[] { 0 }, constantInputs: new[] { 1, 2 });
        GradientCheck.Check("Slice", new Tensor?[] { R(19, 3, 5) }, new[] { 0 }, n => { n.SetInts("starts", new long[] { 1 }); n.SetInts("ends", new long[] { 4 }); n.SetInts("axes", new long[] { 1 }); }, opset: 9);
    }

    [TestMethod]
    public void Pad_AllModes()
    {
        var x = R(20, 1, 2, 3, 4);
        foreach (var mode in new[] { "constant", "reflect", "edge" })
            GradientCheck.Check("Pad", new Tensor?[] { x, I64(0, 0, 2, 1, 0, 0, 1, 3) }, new[] { 0 }, n => n.SetString("mode", mode), constantInputs: new[] { 1 });
        GradientCheck.Check("Pad", new Tensor?[] { x, I64(0, 0, -1, 1, 0, 0, 1, -2) }, new[] { 0 }, constantInputs: new[] { 1 });
        GradientCheck.Check("Pad", new Tensor?[] { x, I64(0, 0, 2, 5, 0, 0, 2, 1) }, new[] { 0 }, n => n.SetString("mode", "wrap"), opset: 19, constantInputs: new[] { 1 });
        GradientCheck.Check("Pad", new Tensor?[] { x }, new[] { 0 }, n => { n.SetString("mode", "reflect"); n.SetInts("pads", new long[] { 0, 0, 1, 2, 0, 0, 1, 2 }); }, opset: 9);
    }

    [TestMethod]
    public void Gather_RepeatedAndNegativeIndicesAccumulate()
    {
        GradientCheck.Check("Gather", new Tensor?[] { R(21, 4, 3), I64(0, -1, 0, 2) }, new[] { 0 }, constantInputs: new[] { 1 });
        var idx = new Tensor(DataType.Int32, new[] { 2, 2 }, new[] { 1, 1, -3, 2 });
        GradientCheck.Check("Gather", new Tensor?[] { R(22, 2, 3, 2), idx }, new[] { 0 }, n => n.SetInt("axis", 1), constantInputs: new[] { 1 });
    }

    [TestMethod]
    public void ExpandTileWhere()
    {
        GradientCheck.Check("Expand", new Tensor?[] { R(23, 3, 1), I64(2, 3, 4) }, new[] { 0 }, constantInputs: new[] { 1 });
        GradientCheck.Check("Tile", new Tensor?[] { R(24, 2, 3), I64(2, 3) }, new[] { 0 }, constantInputs: new[] { 1 });
        var cond = new Tensor(DataType.Bool, new[] { 2, 3 }, new[] { true, false, true, false, false, true });
        GradientCheck.Check("Where", new Tensor?[] { cond, R(25, 2, 3), R(26, 3) }, new[] { 1, 2 }, constantInputs: new[] { 0 });
    }

    [TestMethod]
    public void DepthToSpaceAndSpaceToDepth()
    {
        GradientCheck.Check("DepthToSpace", new Tensor?[] { R(27, 1, 8, 2, 3) }, new[] { 0 }, n => n.SetInt("blocksize", 2));
        GradientCheck.Check("DepthToSpace", new Tensor?[] { R(28, 1, 8, 2, 3) }, new[] { 0 }, n => { n.SetInt("blocksize", 2); n.SetString("mode", "CRD"); });
        GradientCheck.Check("SpaceToDepth", new Tensor?[] { R(29, 1, 2, 4, 6) }, new[] { 0 }, n => n.SetInt("blocksize", 2));
    }

    [TestMethod]
    public void Resize_LinearNearestCubic_AcrossCoordinateModes()
    {
        var roi = Tensor.FromFloats(Array.Empty<float>(), 0);
        var x = R(30, 1, 2, 3, 4);
        var up = Tensor.FromFloats(new float[] { 1, 1, 2, 1.5f }, 4);
        var down = Tensor.FromFloats(new float[] { 1, 1, 0.6f, 0.5f }, 4);
        foreach (var coord in new[] { "half_pixel", "align_corners", "asymmetric", "pytorch_half_pixel" })
            foreach (var scales in new[] { up, down })
                GradientCheck.Check("Resize", new Tensor?[] { x, roi, scales }, new[] { 0 },
                    n => { n.SetString("mode", "linear"); n.SetString("coordinate_transformation_mode", coord); }, opset: 13, constantInputs: new[] { 1, 2 });
        foreach (var nearest in new[] { "round_prefer_floor", "round_prefer_ceil", "floor", "ceil" })
            GradientCheck.Check("Resize", new Tensor?[] { x, roi, up }, new[] { 0 },
                n => { n.SetString("nearest_mode", nearest); n.SetString("coordinate_transformation_mode", "asymmetric"); }, opset: 13, constantInputs: new[] { 1, 2 });
        GradientCheck.Check("Resize", new Tensor?[] { x, roi, null, I64(1, 2, 5, 3) }, new[] { 0 },
            n => n.SetString("coordinate_transformation_mode", "tf_half_pixel_for_nn"), opset: 13, constantInputs: new[] { 1, 3 });
        GradientCheck.Check("Resize", new Tensor?[] { x, roi, up }, new[] { 0 }, n => n.SetString("mode", "cubic"), opset: 13, constantInputs: new[] { 1, 2 });
        GradientCheck.Check("Resize", new Tensor?[] { x, roi, down }, new[] { 0 }, n => { n.SetString("mode", "linear"); n.SetInt("antialias", 1); }, opset: 18, constantInputs: new[] { 1, 2 });
        var crop = Tensor.FromFloats(new float[] { 0, 0, 0.2f, -0.3f, 1, 1, 0.9f, 1.2f }, 8);
        GradientCheck.Check("Resize", new Tensor?[] { x, crop, null, I64(1, 2, 3, 5) }, new[] { 0 },
            n => { n.SetString("mode", "linear"); n.SetString("coordinate_transformation_mode", "tf_crop_and_resize"); }, opset: 13, constantInputs: new[] { 1, 3 });
    }

    [TestMethod]
    public void Upsample_LinearAndNearest()
    {
        var scales = Tensor.FromFloats(new float[] { 1, 1, 2, 3 }, 4);
        GradientCheck.Check("Upsample", new Tensor?[] { R(31, 1, 1, 2, 3), scales }, new[] { 0 }, n => n.SetString("mode", "linear"), opset: 9, constantInputs: new[] { 1 });
        GradientCheck.Check("Upsample", new Tensor?[] { R(32, 1, 1, 2, 3), scales }, new[] { 0 }, opset: 9, constantInputs: new[] { 1 });
    }
}
