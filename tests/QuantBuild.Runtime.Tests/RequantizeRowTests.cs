using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// ChannelRequantizer.ApplyRow (the vector output stage of every conv/FC kernel) against the scalar Apply that
/// defines it: every shift the multiplier encoding can produce, accumulators at the int32 edges, row lengths that
/// leave every tail, clamps narrower than int8. Run on each CPU configuration of tests/run-tests.sh.
/// </summary>
[TestClass]
public sealed class RequantizeRowTests
{
    [TestMethod]
    public void Path_IsTheWidestThisCpuSupports()
    {
        string expected = Avx2.IsSupported ? "Avx2" : Sse41.IsSupported ? "Sse41" : AdvSimd.Arm64.IsSupported ? "AdvSimd" : "Scalar";
        Assert.AreEqual(expected, SingleRoundingVector.Path);
    }

    [TestMethod]
    public void ApplyRow_EqualsApply_ForEveryShiftAndEdgeAccumulator()
    {
        var r = new Random(8128);
        int[] edges = [int.MinValue, int.MinValue + 1, -1, 0, 1, int.MaxValue, int.MaxValue - 1, 1 << 30, -(1 << 30)];
        int checkedValues = 0;
        // Real multipliers from 2^-33 to just under 2^30 (the largest QuantizeMultiplier accepts): shifts −31…30,
        // and 0 for the multipliers that round to zero.
        // Exact powers of two too: a real multiplier of 1 is M0 = 2^30 with shift 1, the identity ApplyRow skips.
        var reals = Enumerable.Range(-33, 63).Select(e => (Name: $"2^{e}·m", Value: Math.Pow(2, e) * (1 + r.NextDouble() * 0.999)))
            .Concat(Enumerable.Range(-3, 7).Select(e => (Name: $"2^{e}", Value: Math.Pow(2, e))));
        foreach (var (exponent, real) in reals)
        {
            var output = new QuantParams(1f, r.Next(-128, 128));
            int low = r.Next(-128, 0), high = r.Next(0, 128);
            var requantizer = new ChannelRequantizer((float)real, [1f], 1, output, low, high);
            foreach (int length in new[] { 1, 7, 15, 16, 17, 31, 33, 64, 100 })
            {
                var acc = new int[length];
                for (int i = 0; i < length; i++)
                {
                    acc[i] = r.Next(4) switch
                    {
                        0 => edges[r.Next(edges.Length)],
                        1 => r.Next(-1000, 1000),
                        _ => r.Next(int.MinValue, int.MaxValue),
                    };
                }

                int addend = r.Next(3) == 0 ? int.MaxValue : r.Next(-100000, 100000);
                var row = new sbyte[length];
                requantizer.ApplyRow(acc, addend, 0, row);
                for (int i = 0; i < length; i++)
                {
                    Assert.AreEqual(requantizer.Apply(unchecked(acc[i] + addend), 0), row[i], $"{exponent} acc {acc[i]} + {addend}");
                    checkedValues++;
                }
            }
        }

        Assert.IsGreaterThan(10000, checkedValues);
        var identity = new ChannelRequantizer(1f, [1f], 1, new QuantParams(1f, 5), -128, 127);
        Assert.AreEqual(1 << 30, identity.GetMultiplier(0));
        Assert.AreEqual(1, identity.GetShift(0));
    }

    [TestMethod]
    public void ApplyRow_UsesEachChannelsOwnMultiplier_AndDoubleRoundingStaysExact()
    {
        var r = new Random(77);
        float[] scales = Enumerable.Range(0, 8).Select(_ => (float)(r.NextDouble() * 0.02 + 1e-4)).ToArray();
        foreach (RoundingMode mode in new[] { RoundingMode.SingleRounding, RoundingMode.DoubleRounding })
        {
            var requantizer = new ChannelRequantizer(0.05f, scales, scales.Length, new QuantParams(0.1f, -3), -128, 127, mode);
            var acc = Enumerable.Range(0, 40).Select(_ => r.Next(-2000000, 2000000)).ToArray();
            for (int c = 0; c < scales.Length; c++)
            {
                var row = new sbyte[acc.Length];
                requantizer.ApplyRow(acc, c * 1000, c, row);
                for (int i = 0; i < acc.Length; i++)
                {
                    Assert.AreEqual(requantizer.Apply(acc[i] + c * 1000, c), row[i], $"{mode} channel {c}");
                }
            }
        }
    }
}
