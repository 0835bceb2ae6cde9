using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// <see cref="WideActivationGrid.Round"/> against ONNX QuantizeLinear → DequantizeLinear written out per value with the
/// runtime's scalar definitions, bit for bit, on every CPU the runtime tests run on: ties at half a step, values that
/// saturate either end, NaN, infinities, signed zeros, and lengths that leave a scalar tail.
/// </summary>
[TestClass]
public sealed class WideActivationGridTests
{
    [TestMethod]
    [DataRow(0.0125f, 0, -32768, 32767)]
    [DataRow(0.003f, 1234, -32768, 32767)]
    [DataRow(0.5f, -7, -8, 7)]
    public void RoundIsQuantizeThenDequantizeBitForBit(float scale, int zeroPoint, int qmin, int qmax)
    {
        var rng = new Random(zeroPoint + qmax);
        var values = new List<float> { float.NaN, float.PositiveInfinity, float.NegativeInfinity, 0f, -0f, 1e30f, -1e30f, float.Epsilon, -float.Epsilon };
        // Exact ties k + 1/2 steps (where half-to-even decides), both signs, and the steps next to them.
        for (int k = -40; k < 40; k++)
        {
            float tie = (k + 0.5f) * scale;
            values.Add(tie);
            values.Add(MathF.BitIncrement(tie));
            values.Add(MathF.BitDecrement(tie));
        }
        // Around both ends of the code range, and random values over (and past) it.
        foreach (int edge in new[] { qmin - zeroPoint, qmax - zeroPoint })
            for (int d = -3; d <= 3; d++) values.Add((edge + d * 0.5f) * scale);
        for (int i = 0; i < 300; i++) values.Add((float)((rng.NextDouble() * 2.4 - 1.2) * (qmax - qmin) * scale));
        values.Add(1f); // an odd count: the last values take the scalar tail

        float[] actual = values.ToArray();
        WideActivationGrid.Round(actual, scale, zeroPoint, qmin, qmax);
        for (int i = 0; i < values.Count; i++)
        {
            float expected = QuantParams.DequantizeLinear(QuantParams.QuantizeLinear(values[i], scale, zeroPoint, qmin, qmax), scale, zeroPoint);
            Assert.AreEqual(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(actual[i]), $"x = {values[i]:R}: {actual[i]:R} vs {expected:R}");
        }
    }
}
