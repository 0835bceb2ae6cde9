using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

[TestClass]
public sealed class Int8DotTests
{
    [TestMethod]
    public void EveryVectorPathMatchesScalarForLengths0To300()
    {
        var r = new Random(20230828);
        var paths = new List<(string Name, Func<sbyte[], sbyte[], int> Dot)>
        {
            ("dispatch", (a, b) => Int8Dot.Dot(a, b)),
            ("portable128", (a, b) => Int8Dot.Portable128(a, b)),
            // Falls back to portable128 off Arm64; on Arm64 it is SDOT or SMULL + SADALP, whichever the CPU has.
            ("advsimd", (a, b) => Int8Dot.AdvSimdPath(a, b)),
        };
        if (Vector256.IsHardwareAccelerated)
        {
            paths.Add(("portable256", (a, b) => Int8Dot.Portable256(a, b)));
        }

        if (Avx2.IsSupported)
        {
            paths.Add(("avx2", (a, b) => Int8Dot.Avx2Path(a, b)));
        }

        if (Avx512BW.IsSupported)
        {
            paths.Add(("avx512", (a, b) => Int8Dot.Avx512(a, b)));
        }

        for (int length = 0; length <= 300; length++)
        {
            for (int rep = 0; rep < 3; rep++)
            {
                // rep 2 uses the extremes (−128·−128 is the largest product) to probe int16 overflow.
                sbyte[] a = rep == 2 ? Enumerable.Repeat(sbyte.MinValue, length).ToArray() : TestData.RandomCodes(r, length);
                sbyte[] b = rep == 2 ? Enumerable.Repeat(sbyte.MinValue, length).ToArray() : TestData.RandomCodes(r, length);
                int expected = Int8Dot.Scalar(a, b);
                foreach (var (name, dot) in paths)
                {
                    Assert.AreEqual(expected, dot(a, b), $"{name} length {length} rep {rep}");
                }
            }
        }
    }

    [TestMethod]
    public void WorksOnUnalignedSlices()
    {
        var r = new Random(1);
        sbyte[] a = TestData.RandomCodes(r, 200);
        sbyte[] b = TestData.RandomCodes(r, 200);
        for (int offset = 0; offset < 9; offset++)
        {
            var sa = new ReadOnlySpan<sbyte>(a, offset, 150);
            var sb = new ReadOnlySpan<sbyte>(b, 8 - offset, 150);
            Assert.AreEqual(Int8Dot.Scalar(sa, sb), Int8Dot.Dot(sa, sb));
        }
    }
}
