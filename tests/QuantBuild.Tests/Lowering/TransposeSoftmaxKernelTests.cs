using QuantBuild.Runtime;

namespace QuantBuild.Tests.Lowering;

/// <summary>The two runtime kernels added for lowering: TransposeInt8 and SoftmaxInt8.</summary>
[TestClass]
public sealed class TransposeSoftmaxKernelTests
{
    [TestMethod]
    [DataRow(new[] { 2, 3, 4 }, new[] { 2, 0, 1 })]
    [DataRow(new[] { 1, 4, 5, 6 }, new[] { 0, 2, 3, 1 })]
    [DataRow(new[] { 3, 5 }, new[] { 1, 0 })]
    [DataRow(new[] { 2, 1, 3, 1, 2, 2 }, new[] { 5, 4, 3, 2, 1, 0 })]
    public void TransposeMovesEveryCodeWhereNumpyWould(int[] shape, int[] perm)
    {
        int length = shape.Aggregate(1, (a, b) => a * b);
        var input = Enumerable.Range(0, length).Select(i => (sbyte)(i % 251 - 125)).ToArray();
        var q = new QuantParams(0.1f, 3);
        var output = new sbyte[length];
        new TransposeInt8(shape, perm, q, q).Eval(input, output);
        var outShape = perm.Select(p => shape[p]).ToArray();
        var inStrides = Strides(shape);
        var outStrides = Strides(outShape);
        for (int o = 0; o < length; o++)
        {
            int rest = o, source = 0;
            for (int d = 0; d < outShape.Length; d++)
            {
                int idx = rest / outStrides[d];
                rest %= outStrides[d];
                source += idx * inStrides[perm[d]];
            }
            Assert.AreEqual(input[source], output[o], $"output {o}");
        }
    }

    private static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        int run = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = run; run *= shape[d]; }
        return s;
    }

    [TestMethod]
    public void TransposeRescalesWhenParametersDiffer()
    {
        var input = new sbyte[] { -128, -1, 0, 1, 50, 127 };
        var output = new sbyte[6];
        var qin = new QuantParams(0.05f, 0);
        var qout = new QuantParams(0.1f, -10);
        new TransposeInt8([2, 3], [1, 0], qin, qout).Eval(input, output);
        int[] order = [0, 3, 1, 4, 2, 5];
        for (int i = 0; i < 6; i++)
        {
            float real = qin.Dequantize(input[order[i]]);
            Assert.IsLessThanOrEqualTo(1, Math.Abs(qout.QuantizeInt8(real) - output[i]));
        }
    }

    [TestMethod]
    public void SoftmaxRowsMatchFloatWithinOneCode()
    {
        var rng = new Random(7);
        const int rows = 3, n = 17;
        var input = new sbyte[rows * n];
        for (int i = 0; i < input.Length; i++) input[i] = (sbyte)rng.Next(-128, 128);
        var qin = new QuantParams(0.07f, -4);
        var qout = new QuantParams(1f / 255f, -128);
        var output = new sbyte[input.Length];
        var kernel = new SoftmaxInt8(rows, n, qin, qout);
        kernel.Eval(input, output);
        for (int r = 0; r < rows; r++)
        {
            var x = Enumerable.Range(0, n).Select(i => (double)qin.Dequantize(input[r * n + i])).ToArray();
            double max = x.Max(), sum = x.Sum(v => Math.Exp(v - max));
            for (int i = 0; i < n; i++)
                Assert.IsLessThanOrEqualTo(1, Math.Abs(qout.QuantizeInt8((float)(Math.Exp(x[i] - max) / sum)) - output[r * n + i]));
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        kernel.Eval(input, output);
        Assert.AreEqual(0, GC.GetAllocatedBytesForCurrentThread() - before, "Eval must not allocate");
    }

    [TestMethod]
    public void SoftmaxIsTheFloat32FormulaBitForBit()
    {
        // The kernel's own definition, written out: exp of each code difference times s_x in float, summed in order
        // in float32, times 1/sum, quantized. Its exp table must give exactly these codes, every difference included.
        var rng = new Random(11);
        foreach (var (scale, zero) in new[] { (0.07f, -4), (0.17959508f, 70), (0.9f, 0), (0.001f, 127) })
        {
            const int rows = 4, n = 700;
            var input = new sbyte[rows * n];
            for (int i = 0; i < input.Length; i++) input[i] = (sbyte)rng.Next(-128, 128);
            input[0] = sbyte.MinValue; input[1] = sbyte.MaxValue; // a row with the full difference of 255
            var qin = new QuantParams(scale, zero);
            var qout = new QuantParams(0.003906954f, -128);
            var output = new sbyte[input.Length];
            new SoftmaxInt8(rows, n, qin, qout).Eval(input, output);
            for (int r = 0; r < rows; r++)
            {
                var row = input.AsSpan(r * n, n).ToArray();
                int max = row.Max(v => (int)v);
                var e = row.Select(v => (float)Math.Exp((v - max) * qin.Scale)).ToArray();
                float sum = 0f;
                foreach (float v in e) sum += v;
                float inverse = 1f / sum;
                for (int i = 0; i < n; i++)
                    Assert.AreEqual(qout.QuantizeInt8(e[i] * inverse), output[r * n + i], $"scale {scale}, row {r}, column {i}");
            }
        }
    }
}
