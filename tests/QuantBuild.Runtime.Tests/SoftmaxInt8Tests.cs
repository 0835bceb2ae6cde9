using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// SoftmaxInt8's semantics, written out here as the scalar loop it defines: the row's largest code, exp of each code
/// difference (the table holds (float)Math.Exp(d·s_x)), one float sum in element order, each value times 1 / sum, then
/// QuantizeLinear per value. The kernel's vector max, scale and quantize must give these bits for every row length
/// (tails below and past a vector) and parameter set.
/// </summary>
[TestClass]
public sealed class SoftmaxInt8Tests
{
    [TestMethod]
    public void Softmax_IsTheScalarDefinition_OnEveryRowLength()
    {
        var r = new Random(6625);
        foreach (int length in new[] { 1, 3, 15, 16, 17, 31, 40, 100, 6625 })
        {
            for (int trial = 0; trial < 4; trial++)
            {
                int rows = 1 + r.Next(3);
                var input = new QuantParams((float)(0.01 + r.NextDouble() * 0.3), r.Next(-128, 128));
                var output = trial % 2 == 0 ? new QuantParams(1f / 255, -128) : new QuantParams((float)(0.0005 + r.NextDouble() * 0.01), r.Next(-128, -100));
                sbyte[] x = TestData.RandomCodes(r, rows * length);
                if (trial == 3)
                {
                    Array.Fill(x, (sbyte)-128); // every code the smallest: the max is the row's only value
                }

                var expected = Reference(x, rows, length, input, output);
                var actual = new sbyte[x.Length];
                new SoftmaxInt8(rows, length, input, output).Eval(x, actual);
                TestData.AssertSameCodes(expected, actual, $"length {length}, trial {trial}");
            }
        }
    }

    private static sbyte[] Reference(sbyte[] x, int rows, int length, QuantParams input, QuantParams output)
    {
        var y = new sbyte[x.Length];
        for (int row = 0; row < rows; row++)
        {
            int max = sbyte.MinValue;
            for (int i = 0; i < length; i++)
            {
                max = Math.Max(max, x[row * length + i]);
            }

            var e = new float[length];
            float sum = 0f;
            for (int i = 0; i < length; i++)
            {
                e[i] = (float)Math.Exp((x[row * length + i] - max) * input.Scale);
                sum += e[i];
            }

            float inverse = 1f / sum;
            for (int i = 0; i < length; i++)
            {
                y[row * length + i] = output.QuantizeInt8(e[i] * inverse);
            }
        }

        return y;
    }
}
