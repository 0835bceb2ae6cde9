using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// SeparableGatherFloat (per-axis offset tables) against a direct index computation, its guards, and
/// ConcatInt8's single-code constant input. Pure copies: the same bytes on every CPU and intrinsic setting.
/// </summary>
[TestClass]
public sealed class MovementKernelTests
{
    [TestMethod]
    public void TransposeIntoARegionWithFillMatchesDirectIndexing()
    {
        // x [2,3,4]; y is [4,2,5] (row stride 5, written from column 1): y[k, i, 1 + j] = x[i, j, k] for j < 3,
        // and the last output row of each block is the fill (a table entry of Outside on axis 2).
        var x = Enumerable.Range(0, 24).Select(v => (float)v).ToArray();
        int[] shape = [4, 2, 4];
        int[] tables = [.. new[] { 0, 1, 2, 3 }, .. new[] { 0, 12 }, .. new[] { 0, 4, 8, SeparableGatherFloat.Outside }];
        var kernel = new SeparableGatherFloat(shape, tables, [10, 5, 1], 1, -1f);
        var y = new float[40];
        Array.Fill(y, float.NaN);
        kernel.Eval(x, [], [], y);
        for (int k = 0; k < 4; k++)
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 4; j++)
                    Assert.AreEqual(j < 3 ? x[i * 12 + j * 4 + k] : -1f, y[k * 10 + i * 5 + 1 + j], $"[{k},{i},{j}]");
        Assert.IsTrue(float.IsNaN(y[0]) && float.IsNaN(y[5]), "columns outside the region are untouched");
    }

    [TestMethod]
    public void ContiguousRowsAndScalarsCopy()
    {
        var x = Enumerable.Range(0, 15).Select(v => (float)v).ToArray(); // [3, 5]
        var rows = new SeparableGatherFloat([2, 3], [10, 0, 2, 3, 4], [], 0, 0f); // rows 2 and 0, columns 2..4
        var y = new float[6];
        rows.Eval(x, [], [], y);
        CollectionAssert.AreEqual(new float[] { 12, 13, 14, 2, 3, 4 }, y);
        var scalar = new SeparableGatherFloat([], [5], [], 0, 0f);
        var one = new float[1];
        scalar.Eval(x, [], [], one);
        Assert.AreEqual(5f, one[0]);
    }

    [TestMethod]
    public void GuardsRefuseBadTablesAndShortBuffers()
    {
        Assert.ThrowsExactly<ArgumentException>(() => new SeparableGatherFloat([2], [0], [], 0, 0f));
        Assert.ThrowsExactly<ArgumentException>(() => new SeparableGatherFloat([2], [0, 1, 2], [], 0, 0f));
        Assert.ThrowsExactly<ArgumentException>(() => new SeparableGatherFloat([2], [0, -4], [], 0, 0f));
        Assert.ThrowsExactly<ArgumentException>(() => new SeparableGatherFloat(new int[9], [], [], 0, 0f));
        var k = new SeparableGatherFloat([3], [0, 2, 9], [], 0, 0f);
        Assert.ThrowsExactly<ArgumentException>(() => k.Eval(new float[9], [], [], new float[3]));
        Assert.ThrowsExactly<ArgumentException>(() => k.Eval(new float[10], [], [], new float[2]));
    }

    [TestMethod]
    public void ConcatRepeatsASingleCodeInput()
    {
        var input = new QuantParams(0.05f, -3);
        var output = new QuantParams(0.1f, 4);
        var concat = new ConcatInt8([[1, 2, 3], [1, 3, 3]], [input, input], output, 1);
        var x = new sbyte[] { 10, -20, 30, 7, 8, 9 };
        var y = new sbyte[concat.OutputLength];
        concat.Eval(0, x, y);
        concat.Eval(1, new sbyte[] { -3 }, y); // real value 0 at the input's parameters: the output's zero point
        CollectionAssert.AreEqual(Enumerable.Repeat((sbyte)4, 9).ToArray(), y.Skip(6).ToArray());
        var same = new ConcatInt8([[2, 2], [2, 1]], [output, output], output, 1);
        var z = new sbyte[6];
        same.Eval(1, new sbyte[] { 11 }, z);
        CollectionAssert.AreEqual(new sbyte[] { 0, 0, 11, 0, 0, 11 }, z);
    }
}
