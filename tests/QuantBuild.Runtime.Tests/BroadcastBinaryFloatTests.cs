using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// <see cref="BroadcastBinaryFloat"/>'s arithmetic (the float steps of a plan) against numpy broadcasting written out
/// here, bit for bit: the vector rows (contiguous or one-value inputs) must give the scalar operation's bits on every
/// CPU the runtime tests run on.
/// </summary>
[TestClass]
public sealed class BroadcastBinaryFloatTests
{
    [TestMethod]
    [DataRow(new[] { 1, 24, 8, 21 }, new[] { 1, 24, 8, 21 }, DisplayName = "same shape, odd rows")]
    [DataRow(new[] { 2, 3, 5, 19 }, new[] { 1, 3, 1, 1 }, DisplayName = "per-channel value (b one value along the row)")]
    [DataRow(new[] { 1, 1, 1, 37 }, new[] { 4, 2, 6, 37 }, DisplayName = "a broadcast over the outer dimensions")]
    [DataRow(new[] { 3, 1, 13 }, new[] { 3, 7, 1 }, DisplayName = "both broadcast")]
    [DataRow(new[] { 2, 9 }, new int[0], DisplayName = "scalar b")]
    public void ArithmeticMatchesTheDefinitionBitForBit(int[] aShape, int[] bShape)
    {
        int rank = Math.Max(aShape.Length, bShape.Length);
        int[] Pad(int[] s) => Enumerable.Repeat(1, rank - s.Length).Concat(s).ToArray();
        int[] ap = Pad(aShape), bp = Pad(bShape);
        int[] outShape = ap.Zip(bp, Math.Max).ToArray();
        var rng = new Random(aShape.Sum() * 31 + bShape.Length);
        float[] a = Enumerable.Range(0, aShape.Aggregate(1, (x, y) => x * y)).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        float[] b = Enumerable.Range(0, bShape.Aggregate(1, (x, y) => x * y)).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        int length = outShape.Aggregate(1, (x, y) => x * y);

        int Offset(int[] shape, int[] index)
        {
            int offset = 0;
            for (int d = 0; d < rank; d++) offset = offset * shape[d] + (shape[d] == 1 ? 0 : index[d]);
            return offset;
        }

        foreach (var (function, op) in new (BinaryFunction, Func<float, float, float>)[]
                 { (BinaryFunction.Add, (x, z) => x + z), (BinaryFunction.Sub, (x, z) => x - z), (BinaryFunction.Mul, (x, z) => x * z), (BinaryFunction.Div, (x, z) => x / z) })
        {
            var expected = new float[length];
            var index = new int[rank];
            for (int o = 0; o < length; o++)
            {
                for (int d = rank - 1, rest = o; d >= 0; d--) { index[d] = rest % outShape[d]; rest /= outShape[d]; }
                expected[o] = op(a[Offset(ap, index)], b[Offset(bp, index)]);
            }

            var actual = new float[length];
            new BroadcastBinaryFloat(function, aShape, bShape, outShape).Eval(a, b, [], actual);
            for (int i = 0; i < length; i++)
                Assert.AreEqual(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(actual[i]), $"{function} value {i}: {actual[i]} vs {expected[i]}");
        }
    }
}
