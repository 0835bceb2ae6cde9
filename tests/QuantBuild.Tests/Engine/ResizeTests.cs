using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Engine;

/// <summary>Resize/Upsample forward values for the coordinate modes and rounding rules, checked against hand-computed results.</summary>
[TestClass]
public sealed class ResizeTests
{
    private static readonly Tensor EmptyRoi = Tensor.FromFloats(Array.Empty<float>(), 0);

    private static Tensor Row(params float[] v) => Tensor.FromFloats(v, 1, 1, 1, v.Length);

    private static Tensor Resize(Tensor x, float[]? scales, long[]? sizes, Action<QuantBuild.Graph.Node> configure, int opset = 13, Tensor? roi = null) =>
        OpTester.Run("Resize", new Tensor?[]
        {
            x, roi ?? EmptyRoi, scales is null ? null : Tensor.FromFloats(scales, scales.Length), sizes is null ? null : Tensor.FromInt64(sizes, sizes.Length),
        }, configure: configure, opset: opset)[0];

    [TestMethod]
    public void Linear_HalfPixelUpsample_ClampsAtEdges()
    {
        var y = Resize(Row(0, 4), new float[] { 1, 1, 1, 2 }, null, n => n.SetString("mode", "linear"));
        // x_original = (x+0.5)/2-0.5 = -0.25, 0.25, 0.75, 1.25 -> clamped to [0,1]
        CollectionAssert.AreEqual(new float[] { 0, 1, 3, 4 }, y.Floats);
    }

    [TestMethod]
    public void Linear_AlignCornersAndAsymmetric()
    {
        var a = Resize(Row(0, 3), null, new long[] { 1, 1, 1, 4 }, n => { n.SetString("mode", "linear"); n.SetString("coordinate_transformation_mode", "align_corners"); });
        CollectionAssert.AreEqual(new float[] { 0, 1, 2, 3 }, a.Floats);
        var b = Resize(Row(0, 4), new float[] { 1, 1, 1, 2 }, null, n => { n.SetString("mode", "linear"); n.SetString("coordinate_transformation_mode", "asymmetric"); });
        CollectionAssert.AreEqual(new float[] { 0, 2, 4, 4 }, b.Floats);
    }

    [TestMethod]
    public void Nearest_RoundingModes()
    {
        var x = Row(10, 20, 30, 40);
        // sizes 3 with asymmetric: x_original = 0, 4/3, 8/3
        float[] Run(string mode) => Resize(x, null, new long[] { 1, 1, 1, 3 }, n =>
        {
            n.SetString("coordinate_transformation_mode", "asymmetric");
            n.SetString("nearest_mode", mode);
        }).Floats;
        CollectionAssert.AreEqual(new float[] { 10, 20, 40 }, Run("round_prefer_floor"));
        CollectionAssert.AreEqual(new float[] { 10, 20, 30 }, Run("floor"));
        CollectionAssert.AreEqual(new float[] { 10, 30, 40 }, Run("ceil"));
        // x_original = 0, 0.5, 1, 1.5 with scale 2: the halves decide floor vs ceil
        var up = Row(1, 2);
        float[] Half(string mode) => Resize(up, new float[] { 1, 1, 1, 2 }, null, n =>
        {
            n.SetString("coordinate_transformation_mode", "asymmetric");
            n.SetString("nearest_mode", mode);
        }).Floats;
        CollectionAssert.AreEqual(new float[] { 1, 1, 2, 2 }, Half("round_prefer_floor"));
        CollectionAssert.AreEqual(new float[] { 1, 2, 2, 2 }, Half("round_prefer_ceil"));
    }

    [TestMethod]
    public void Nearest_Int64Input_And2DNchw()
    {
        var x = new Tensor(DataType.Int64, new[] { 1, 1, 2, 2 }, new long[] { 1, 2, 3, 4 });
        var y = Resize(x, new float[] { 1, 1, 2, 2 }, null, _ => { });
        CollectionAssert.AreEqual(new[] { 1, 1, 4, 4 }, y.Shape);
        CollectionAssert.AreEqual(new long[] { 1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4 }, y.Int64s);
    }

    [TestMethod]
    public void Opset10_ScalesOnly_IsUpsampleLike()
    {
        var y = OpTester.Run("Resize", new Tensor?[] { Row(1, 2), Tensor.FromFloats(new float[] { 1, 1, 1, 2 }, 4) }, opset: 10)[0];
        CollectionAssert.AreEqual(new float[] { 1, 1, 2, 2 }, y.Floats);
        var lin = OpTester.Run("Resize", new Tensor?[] { Row(0, 4), Tensor.FromFloats(new float[] { 1, 1, 1, 2 }, 4) }, configure: n => n.SetString("mode", "linear"), opset: 10)[0];
        CollectionAssert.AreEqual(new float[] { 0, 2, 4, 4 }, lin.Floats);
    }

    [TestMethod]
    public void Upsample_Opset7AttributeAndOpset9Input()
    {
        var a = OpTester.Run("Upsample", new Tensor?[] { Row(1, 2) }, configure: n => n.Attributes["scales"] = Floats("scales", 1, 1, 1, 3), opset: 7)[0];
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 2, 2, 2 }, a.Floats);
        var b = OpTester.Run("Upsample", new Tensor?[] { Row(1, 2), Tensor.FromFloats(new float[] { 1, 1, 1, 2 }, 4) }, opset: 9)[0];
        CollectionAssert.AreEqual(new float[] { 1, 1, 2, 2 }, b.Floats);
    }

    [TestMethod]
    public void PytorchHalfPixel_SingleOutputReadsFirstElement()
    {
        var y = Resize(Row(5, 6, 7), null, new long[] { 1, 1, 1, 1 }, n => { n.SetString("mode", "linear"); n.SetString("coordinate_transformation_mode", "pytorch_half_pixel"); });
        CollectionAssert.AreEqual(new float[] { 5 }, y.Floats);
        var h = Resize(Row(5, 6, 7), null, new long[] { 1, 1, 1, 1 }, n => n.SetString("mode", "linear"));
        CollectionAssert.AreEqual(new float[] { 6 }, h.Floats); // half_pixel: centre
    }

    [TestMethod]
    public void TfHalfPixelForNn_ShiftsByHalfPixel()
    {
        // x_original = (x + 0.5) / 0.5 = 1, 3 -> elements 1 and 3
        var y = Resize(Row(0, 1, 2, 3), new float[] { 1, 1, 1, 0.5f }, null, n => n.SetString("coordinate_transformation_mode", "tf_half_pixel_for_nn"));
        CollectionAssert.AreEqual(new float[] { 1, 3 }, y.Floats);
    }

    private static QuantBuild.Onnx.Proto.AttributeProto Floats(string name, params float[] v)
    {
        var a = new QuantBuild.Onnx.Proto.AttributeProto { Name = name, Type = QuantBuild.Onnx.Proto.AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(v);
        return a;
    }
}
