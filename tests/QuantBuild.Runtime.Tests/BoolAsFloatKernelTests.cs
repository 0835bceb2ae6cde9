using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// Bool values computed from the data travel through the generated runtime as 0 and 1 floats
/// (docs/control-flow.md): comparisons and logic in BroadcastBinaryFloat, Not and NonZero in
/// ElementwiseFloat, and SelectFloat for a Where on such a condition. Exact on every CPU: plain comparisons.
/// </summary>
[TestClass]
public sealed class BoolAsFloatKernelTests
{
    private static float[] Binary(BinaryFunction f, float[] a, int[] aShape, float[] b, int[] bShape, int[] outShape)
    {
        var y = new float[FloatKernel.Length(outShape)];
        new BroadcastBinaryFloat(f, aShape, bShape, outShape).Eval(a, b, [], y);
        return y;
    }

    [TestMethod]
    public void ComparisonsGiveOneOrZeroWithIeeeNaNAndSignedZero()
    {
        // a [2,3] against b [3]: equal, −0 vs +0, NaN.
        float[] a = [1f, -0f, float.NaN, 2f, 5f, 1f];
        float[] b = [1f, 0f, float.NaN];
        var expected = new Dictionary<BinaryFunction, float[]>
        {
            [BinaryFunction.Equal] = [1, 1, 0, 0, 0, 0],
            [BinaryFunction.Greater] = [0, 0, 0, 1, 1, 0],
            [BinaryFunction.GreaterOrEqual] = [1, 1, 0, 1, 1, 0],
            [BinaryFunction.Less] = [0, 0, 0, 0, 0, 0],
            [BinaryFunction.LessOrEqual] = [1, 1, 0, 0, 0, 0],
        };
        foreach (var (f, values) in expected)
            CollectionAssert.AreEqual(values, Binary(f, a, [2, 3], b, [3], [2, 3]), f.ToString());
    }

    [TestMethod]
    public void LogicTreatsNonZeroAsTrue()
    {
        float[] p = [1f, 0f];            // [2,1]
        float[] q = [1f, 0f, 1f];        // [3]
        CollectionAssert.AreEqual(new float[] { 1, 0, 1, 0, 0, 0 }, Binary(BinaryFunction.And, p, [2, 1], q, [3], [2, 3]));
        CollectionAssert.AreEqual(new float[] { 1, 1, 1, 1, 0, 1 }, Binary(BinaryFunction.Or, p, [2, 1], q, [3], [2, 3]));
        CollectionAssert.AreEqual(new float[] { 0, 1, 0, 1, 0, 1 }, Binary(BinaryFunction.Xor, p, [2, 1], q, [3], [2, 3]));

        var y = new float[4];
        new ElementwiseFloat(ElementwiseFunction.Not, 0f, 0f).Eval([1f, 0f, 1f, 0f], [], [], y);
        CollectionAssert.AreEqual(new float[] { 0, 1, 0, 1 }, y);
        new ElementwiseFloat(ElementwiseFunction.NonZero, 0f, 0f).Eval([-0f, 2.5f, float.NaN, 0f], [], [], y);
        CollectionAssert.AreEqual(new float[] { 0, 1, 1, 0 }, y, "a cast to bool: NaN is true, −0 is false");
    }

    [TestMethod]
    public void SelectBroadcastsConditionAndBothValues()
    {
        // cond [2,1], x [3], z scalar → [2,3].
        var y = new float[6];
        new SelectFloat([2, 1], [3], [], [2, 3]).Eval([1f, 0f], [10f, 20f, 30f], [-1f], y);
        CollectionAssert.AreEqual(new float[] { 10, 20, 30, -1, -1, -1 }, y);
        // A scalar condition (an If turned into a select) picks a whole tensor.
        var whole = new float[4];
        new SelectFloat([], [2, 2], [2, 2], [2, 2]).Eval([0f], [1f, 2f, 3f, 4f], [5f, 6f, 7f, 8f], whole);
        CollectionAssert.AreEqual(new float[] { 5, 6, 7, 8 }, whole);
    }
}
