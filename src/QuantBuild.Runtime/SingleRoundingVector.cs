using System.Runtime.CompilerServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
#endif

namespace QuantBuild.Runtime
{
#if NET8_0_OR_GREATER
    /// <summary>
    /// <see cref="FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(int, int, int)"/> on every int32 lane:
    /// (int)(((long)x·M0 + 2^(t−1)) >> t) with t = 31 − shift, bit for bit. The scalar method is the definition;
    /// these forms only reorder nothing and round nothing differently (docs/algorithms/requantization.md,
    /// "Vector requantization").
    /// <para>x64 has no 64-bit arithmetic right shift below AVX-512, so the 64-bit product is first offset by
    /// 2^62 (|x·M0| &lt; 2^62 because M0 &lt; 2^31): the sum is then non-negative, a logical shift equals the
    /// arithmetic one, and the offset leaves exactly 2^(62−t) after the shift (t ≤ 62), which is subtracted.
    /// Arm64's SRSHL with a negative count is the rounding shift itself. The (int) cast keeps the low 32 bits
    /// of each 64-bit result on every path.</para>
    /// </summary>
    internal static class SingleRoundingVector
    {
        /// <summary>The shift t = 31 − shift, and the two 64-bit constants the x64 forms add and subtract.</summary>
        internal readonly struct Constants
        {
            public readonly int Multiplier;
            public readonly int TotalShift;
            public readonly long Offset;
            public readonly long Removed;

            public Constants(int multiplier, int shift)
            {
                Multiplier = multiplier;
                TotalShift = 31 - shift;
                Offset = (1L << 62) + (1L << (TotalShift - 1));
                Removed = 1L << (62 - TotalShift);
            }

            /// <summary>M0 = 2^t (a real multiplier of exactly 1): then (x·M0 + 2^(t−1)) >> t = x for every int32 x.</summary>
            public bool IsIdentity
            {
                get { return TotalShift >= 1 && TotalShift <= 30 && Multiplier == 1 << TotalShift; }
            }

            /// <summary>The vector forms need 1 ≤ t ≤ 62, which every multiplier QuantizeMultiplier makes satisfies.</summary>
            public static bool Supported(int shift)
            {
                int t = 31 - shift;
                return t >= 1 && t <= 62;
            }
        }

        /// <summary>
        /// The AVX2 form, on constants already broadcast: a loop builds <see cref="Broadcast256"/> once, before it starts
        /// (through an <c>in</c> parameter the JIT reloads and re-broadcasts the constants every iteration, since the
        /// loop's stores might alias them).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<int> Apply(Vector256<int> x, Broadcast256 c)
        {
            if (c.HighWord)
            {
                // t ≥ 32: (x·M0 + 2^(t−1)) >> t is the high dword of the 64-bit sum (its floor division by 2^32, as a
                // signed int32) shifted right arithmetically by t − 32. No 64-bit shift is needed, so no 2^62 offset either;
                // |x·M0| < 2^62 keeps the sum in int64 and the result inside int32.
                Vector256<long> evenSum = Avx2.Multiply(x, c.Multiplier) + c.Round;
                Vector256<long> oddSum = Avx2.Multiply(Avx2.ShiftRightLogical(x.AsInt64(), 32).AsInt32(), c.Multiplier) + c.Round;
                Vector256<int> high = Avx2.Blend(Avx2.ShiftRightLogical(evenSum, 32).AsInt32(), oddSum.AsInt32(), 0b10101010);
                return Vector256.ShiftRightArithmetic(high, c.HighShift);
            }

            Vector256<long> even = Avx2.Multiply(x, c.Multiplier) + c.Offset;
            Vector256<long> odd = Avx2.Multiply(Avx2.ShiftRightLogical(x.AsInt64(), 32).AsInt32(), c.Multiplier) + c.Offset;
            even = Vector256.ShiftRightLogical(even, c.TotalShift) - c.Removed;
            odd = Vector256.ShiftRightLogical(odd, c.TotalShift) - c.Removed;
            return Avx2.Blend(even.AsInt32(), Avx2.ShiftLeftLogical(odd, 32).AsInt32(), 0b10101010);
        }

        /// <summary><see cref="Constants"/> broadcast to 256-bit lanes, built once per row.</summary>
        internal readonly struct Broadcast256
        {
            public readonly Vector256<int> Multiplier;
            public readonly Vector256<long> Offset;
            public readonly Vector256<long> Removed;
            public readonly int TotalShift;
            /// <summary>t ≥ 32 (every multiplier below 1/2): the high-dword form applies, with <see cref="Round"/> = 2^(t−1).</summary>
            public readonly bool HighWord;
            public readonly Vector256<long> Round;
            public readonly int HighShift;

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public Broadcast256(in Constants c)
            {
                Multiplier = Vector256.Create(c.Multiplier);
                Offset = Vector256.Create(c.Offset);
                Removed = Vector256.Create(c.Removed);
                TotalShift = c.TotalShift;
                HighWord = c.TotalShift >= 32;
                Round = Vector256.Create(1L << (c.TotalShift - 1));
                HighShift = c.TotalShift - 32;
            }
        }

        /// <summary>
        /// Four vectors of int32 (lanes 0–31 in order) to 32 int8 codes clamped to [low, high] (both within int8).
        /// The saturating packs clamp to int16 and then to int8, which for bounds inside int8 is the same clamp; the
        /// packs interleave 128-bit halves, and one dword permutation puts the 4-byte groups back in order.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<sbyte> NarrowClamped(Vector256<int> a, Vector256<int> b, Vector256<int> c, Vector256<int> d, Vector256<sbyte> low, Vector256<sbyte> high)
        {
            Vector256<sbyte> bytes = Avx2.PackSignedSaturate(Avx2.PackSignedSaturate(a, b), Avx2.PackSignedSaturate(c, d));
            bytes = Avx2.PermuteVar8x32(bytes.AsInt32(), Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).AsSByte();
            return Vector256.Min(Vector256.Max(bytes, low), high);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> ApplySse41(Vector128<int> x, in Constants c)
        {
            Vector128<int> m = Vector128.Create(c.Multiplier);
            Vector128<long> offset = Vector128.Create(c.Offset);
            Vector128<long> removed = Vector128.Create(c.Removed);
            Vector128<long> even = Sse41.Multiply(x, m) + offset;
            Vector128<long> odd = Sse41.Multiply(Sse2.ShiftRightLogical(x.AsInt64(), 32).AsInt32(), m) + offset;
            even = Vector128.ShiftRightLogical(even, c.TotalShift) - removed;
            odd = Vector128.ShiftRightLogical(odd, c.TotalShift) - removed;
            return Sse41.Blend(even.AsInt16(), Sse2.ShiftLeftLogical(odd, 32).AsInt16(), 0b11001100).AsInt32();
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> ApplyArm(Vector128<int> x, in Constants c)
        {
            Vector64<int> m = Vector64.Create(c.Multiplier);
            Vector128<long> count = Vector128.Create((long)-c.TotalShift);
            Vector128<long> low = AdvSimd.ShiftArithmeticRounded(AdvSimd.MultiplyWideningLower(x.GetLower(), m), count);
            Vector128<long> high = AdvSimd.ShiftArithmeticRounded(AdvSimd.MultiplyWideningUpper(x, Vector128.Create(c.Multiplier)), count);
            return AdvSimd.ExtractNarrowingUpper(AdvSimd.ExtractNarrowingLower(low), high);
        }

        /// <summary>The 128-bit form of this machine (Arm64 or SSE4.1).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<int> Apply128(Vector128<int> x, in Constants c)
        {
            return AdvSimd.Arm64.IsSupported ? ApplyArm(x, c) : ApplySse41(x, c);
        }

        /// <summary>True when one of the forms above runs on this machine.</summary>
        public static bool IsAccelerated
        {
            get { return Avx2.IsSupported || Sse41.IsSupported || AdvSimd.Arm64.IsSupported; }
        }

        /// <summary>Which form runs here; tests assert it so each CPU configuration is known to exercise its own.</summary>
        public static string Path
        {
            get
            {
                if (Avx2.IsSupported)
                {
                    return "Avx2";
                }

                if (Sse41.IsSupported)
                {
                    return "Sse41";
                }

                return AdvSimd.Arm64.IsSupported ? "AdvSimd" : "Scalar";
            }
        }
    }
#endif
}
