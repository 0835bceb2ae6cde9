using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// Which vector code the kernels run on this CPU, and the shapes that reach the edges of the 16-byte (Arm64
/// AdvSimd, x64 without AVX2) paths. The path assertions make an Arm64 run (a board, or qemu with and without
/// the dot-product extension) prove it exercised the Arm code rather than the scalar fallback, which the
/// reference comparisons alone would not show.
/// </summary>
[TestClass]
public sealed class VectorPathTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void ActivePaths_AreTheWidestThisCpuSupports()
    {
        TestContext.WriteLine($"Int8Dot {Int8Dot.ActivePath}, conv GEMM {Conv2DInt8.GemmPath}, depthwise {Conv2DInt8.DepthwisePath}");
        Console.WriteLine($"vector paths: Int8Dot {Int8Dot.ActivePath}, conv GEMM {Conv2DInt8.GemmPath}, depthwise {Conv2DInt8.DepthwisePath}");
        if (AdvSimd.Arm64.IsSupported)
        {
            string arm = Dp.IsSupported ? "AdvSimd.Dp" : "AdvSimd";
            Assert.AreEqual(arm, Int8Dot.ActivePath);
            Assert.AreEqual(arm, Conv2DInt8.GemmPath);
            Assert.AreEqual("AdvSimd", Conv2DInt8.DepthwisePath);
        }
        else if (Avx2.IsSupported)
        {
            Assert.AreEqual(Avx512BW.IsSupported ? "Avx512BW" : "Avx2", Int8Dot.ActivePath);
            Assert.AreEqual(AvxVnni.IsSupported ? "AvxVnni" : "Avx2", Conv2DInt8.GemmPath);
            Assert.AreEqual("Avx2", Conv2DInt8.DepthwisePath);
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            // x64 with DOTNET_EnableAVX2=0 (and a default NativeAOT binary): 128-bit portable code, SSE2 tap pairs in
            // depthwise, pmaddubsw GEMM half-tiles.
            Assert.AreEqual("Vector128", Int8Dot.ActivePath);
            Assert.AreEqual(Ssse3.IsSupported ? "Ssse3" : "Scalar", Conv2DInt8.GemmPath);
            Assert.AreEqual(Sse2.IsSupported ? "Sse2" : "Scalar", Conv2DInt8.DepthwisePath);
        }
        else
        {
            Assert.AreEqual("Scalar", Int8Dot.ActivePath);
            Assert.AreEqual("Scalar", Conv2DInt8.GemmPath);
            Assert.AreEqual("Scalar", Conv2DInt8.DepthwisePath);
        }
    }

    /// <summary>
    /// For runs that know the CPU they emulate (qemu -cpu max has the dot-product extension, -cpu cortex-a53 does
    /// not): QUANTBUILD_EXPECT_GEMM_PATH=AdvSimd.Dp or AdvSimd must match. Unset, this checks nothing.
    /// </summary>
    [TestMethod]
    public void ActivePath_MatchesTheExpectationOfTheRun_WhenGiven()
    {
        string? expected = Environment.GetEnvironmentVariable("QUANTBUILD_EXPECT_GEMM_PATH");
        if (!string.IsNullOrEmpty(expected))
        {
            Assert.AreEqual(expected, Conv2DInt8.GemmPath);
            if (expected.StartsWith("AdvSimd", StringComparison.Ordinal))
            {
                Assert.AreEqual(expected, Int8Dot.ActivePath);
            }
        }
    }

    /// <summary>The shared reference check; the vector tiles, not the int64 fallback, must have run.</summary>
    private static void AssertConvMatchesReference(Random r, Conv2DGeometry g, int inputZeroPoint, string context, int weightMin = -128, int weightMax = 127) =>
        Assert.IsFalse(ConvKernelPathTests.AssertMatchesReference(r, g, inputZeroPoint, context, weightMin, weightMax).UsesInt64Accumulator, context);

    [TestMethod]
    public void Gemm_FanInTails_PositionTails_FilterTails()
    {
        var r = new Random(4242);
        // Fan-in 1..40 covers every remainder mod 4 and mod 16 (the SDOT group and the 16-byte vector); plane sizes
        // cover position tails of the 16-position tile, filter counts the 4-filter tile plus single filters.
        foreach (int inChannels in new[] { 2, 3, 5, 7, 13, 17, 33, 40 })
        {
            foreach (var (kh, kw) in new[] { (1, 1), (1, 3), (3, 1), (3, 3) })
            {
                foreach (var (h, wd) in new[] { (1, 1), (3, 5), (4, 4), (5, 7), (9, 9) })
                {
                    int outChannels = 1 + r.Next(9);
                    var g = new Conv2DGeometry(1, inChannels, h + kh - 1, wd + kw - 1, outChannels, kh, kw);
                    AssertConvMatchesReference(r, g, r.Next(-128, 128), $"ic {inChannels} k{kh}x{kw} out {h}x{wd} oc {outChannels}");
                }
            }
        }
    }

    [TestMethod]
    public void Gemm_ExtremeCodesAndZeroPoints()
    {
        var r = new Random(77);
        // b − 128 = x at its ends (−128, 127) against weights at theirs: the signed flip and the 128·Σw correction
        // must still give the unsigned tiles' sums, including fan-in tails (27, 45) and long sums (288).
        foreach (int inChannels in new[] { 3, 5, 32 })
        {
            var g = new Conv2DGeometry(1, inChannels, 7, 19, 6, 3, 3, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
            foreach (int z in new[] { -128, 127 })
            {
                AssertConvMatchesReference(r, g, z, $"ic {inChannels} z {z} w -128", -128, -128);
                AssertConvMatchesReference(r, g, z, $"ic {inChannels} z {z} w 127", 127, 127);
                AssertConvMatchesReference(r, g, z, $"ic {inChannels} z {z} w mixed ends", -128, 127);
            }
        }
    }

    [TestMethod]
    public void Depthwise_WidthsAroundVectorMultiples_StridesAndPads()
    {
        var r = new Random(1601);
        foreach (int outWidth in new[] { 1, 7, 15, 16, 17, 31, 32, 33, 47, 64, 70 })
        {
            foreach (int kw in new[] { 1, 3, 5 })
            {
                foreach (int pad in new[] { 0, 1, kw - 1 })
                {
                    foreach (int stride in new[] { 1, 2 })
                    {
                        // Input width chosen so the output has outWidth columns: (inW + 2·pad − kw) / stride + 1.
                        int inWidth = Math.Max(1, (outWidth - 1) * stride + kw - 2 * pad);
                        if (inWidth + 2 * pad < kw)
                        {
                            continue;
                        }

                        var g = new Conv2DGeometry(1, 3, 4, inWidth, 6, 3, kw, strideWidth: stride, groups: 3,
                            padTop: 1, padLeft: pad, padBottom: 1, padRight: pad);
                        AssertConvMatchesReference(r, g, r.Next(-128, 128), $"depthwise inW {inWidth} k{kw} pad {pad} stride {stride}");
                    }
                }
            }
        }
    }

    [TestMethod]
    public void Depthwise_ExtremeCodes()
    {
        var r = new Random(99);
        var g = new Conv2DGeometry(1, 2, 5, 37, 2, 3, 3, groups: 2, padTop: 1, padLeft: 1, padBottom: 1, padRight: 1);
        foreach (int z in new[] { -128, 127 })
        {
            AssertConvMatchesReference(r, g, z, $"z {z} w -128", -128, -128);
            AssertConvMatchesReference(r, g, z, $"z {z} w 127", 127, 127);
        }
    }
}
