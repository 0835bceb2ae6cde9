using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// int8·int8 dot products with int32 accumulation. Effectively computes
    /// <c>Σ a[i]·b[i]</c> in int32 with two's-complement wrap-around. Integer addition is associative
    /// modulo 2^32, so every path below returns the same bits as <see cref="Scalar"/> for any
    /// reduction order; callers guarantee (prepare-time bound) that the true result fits in int32.
    /// </summary>
    public static class Int8Dot
    {
        /// <summary>Dispatches to the widest available path.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Dot(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
        {
#if NET8_0_OR_GREATER
            if (a.Length >= 64 && Avx512BW.IsSupported)
            {
                return Avx512(a, b);
            }

            if (a.Length >= 32 && Avx2.IsSupported)
            {
                return Avx2Path(a, b);
            }

            if (a.Length >= 16 && AdvSimd.Arm64.IsSupported)
            {
                return AdvSimdPath(a, b);
            }

            if (a.Length >= 16 && Vector128.IsHardwareAccelerated)
            {
                return Portable128(a, b);
            }
#endif
            return Scalar(a, b);
        }

        /// <summary>
        /// The path <see cref="Dot"/> takes on this machine for long spans (64 elements or more). Tests assert it
        /// so that a run on an Arm64 board or emulator is known to exercise the Arm code, not the scalar fallback.
        /// </summary>
        public static string ActivePath
        {
            get
            {
#if NET8_0_OR_GREATER
                if (Avx512BW.IsSupported)
                {
                    return "Avx512BW";
                }

                if (Avx2.IsSupported)
                {
                    return "Avx2";
                }

                if (AdvSimd.Arm64.IsSupported)
                {
                    return Dp.IsSupported ? "AdvSimd.Dp" : "AdvSimd";
                }

                if (Vector128.IsHardwareAccelerated)
                {
                    return "Vector128";
                }
#endif
                return "Scalar";
            }
        }

        /// <summary>The reference semantics.</summary>
        public static int Scalar(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
        {
            if (b.Length < a.Length)
            {
                throw new ArgumentException("Spans must have the same length.");
            }

            int sum = 0;
            for (int i = 0; i < a.Length; i++)
            {
                sum += a[i] * b[i];
            }

            return sum;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int ScalarTail(ref sbyte a, ref sbyte b, int start, int length)
        {
            int sum = 0;
            for (int i = start; i < length; i++)
            {
                sum += Unsafe.Add(ref a, i) * Unsafe.Add(ref b, i);
            }

            return sum;
        }

#if NET8_0_OR_GREATER
        /// <summary>AVX-512BW: sign-extend 32 bytes to 32 int16 lanes, vpmaddwd pairs into int32.</summary>
        public static int Avx512(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
        {
            if (b.Length < a.Length)
            {
                throw new ArgumentException("Spans must have the same length.");
            }

            if (!Avx512BW.IsSupported)
            {
                return Avx2Path(a, b);
            }

            ref sbyte pa = ref MemoryMarshal.GetReference(a);
            ref sbyte pb = ref MemoryMarshal.GetReference(b);
            int length = a.Length;
            Vector512<int> acc0 = Vector512<int>.Zero;
            Vector512<int> acc1 = Vector512<int>.Zero;
            int i = 0;
            for (; i <= length - 64; i += 64)
            {
                Vector512<sbyte> va = Vector512.LoadUnsafe(ref pa, (nuint)i);
                Vector512<sbyte> vb = Vector512.LoadUnsafe(ref pb, (nuint)i);
                // |x·w| ≤ 2^14, so a pair sum ≤ 2^15 fits the int32 lanes of vpmaddwd exactly.
                acc0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(va.GetLower()), Avx512BW.ConvertToVector512Int16(vb.GetLower()));
                acc1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(va.GetUpper()), Avx512BW.ConvertToVector512Int16(vb.GetUpper()));
            }

            int sum = Vector512.Sum(acc0 + acc1);
            if (i <= length - 32)
            {
                Vector256<sbyte> va = Vector256.LoadUnsafe(ref pa, (nuint)i);
                Vector256<sbyte> vb = Vector256.LoadUnsafe(ref pb, (nuint)i);
                sum += Vector512.Sum(Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(va), Avx512BW.ConvertToVector512Int16(vb)));
                i += 32;
            }

            return sum + ScalarTail(ref pa, ref pb, i, length);
        }

        /// <summary>AVX2: sign-extend 16 bytes to 16 int16 lanes, vpmaddwd pairs into int32.</summary>
        public static int Avx2Path(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
        {
            if (b.Length < a.Length)
            {
                throw new ArgumentException("Spans must have the same length.");
            }

            if (!Avx2.IsSupported)
            {
                return Portable128(a, b);
            }

            ref sbyte pa = ref MemoryMarshal.GetReference(a);
            ref sbyte pb = ref MemoryMarshal.GetReference(b);
            int length = a.Length;
            Vector256<int> acc0 = Vector256<int>.Zero;
            Vector256<int> acc1 = Vector256<int>.Zero;
            int i = 0;
            for (; i <= length - 32; i += 32)
            {
                Vector256<sbyte> va = Vector256.LoadUnsafe(ref pa, (nuint)i);
                Vector256<sbyte> vb = Vector256.LoadUnsafe(ref pb, (nuint)i);
                acc0 = Avx2.Add(acc0, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(va.GetLower()), Avx2.ConvertToVector256Int16(vb.GetLower())));
                acc1 = Avx2.Add(acc1, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(va.GetUpper()), Avx2.ConvertToVector256Int16(vb.GetUpper())));
            }

            if (i <= length - 16)
            {
                Vector128<sbyte> va = Vector128.LoadUnsafe(ref pa, (nuint)i);
                Vector128<sbyte> vb = Vector128.LoadUnsafe(ref pb, (nuint)i);
                acc0 = Avx2.Add(acc0, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(va), Avx2.ConvertToVector256Int16(vb)));
                i += 16;
            }

            return Vector256.Sum(Avx2.Add(acc0, acc1)) + ScalarTail(ref pa, ref pb, i, length);
        }

        /// <summary>
        /// Arm64: SDOT (4-way int8 dot product into each int32 lane, exact, wraps like the scalar sum) where the
        /// dot-product extension exists (ARMv8.2+ cores such as Cortex-A55/A76); otherwise SMULL/SMULL2 (int8·int8
        /// into int16, exact since |a·b| ≤ 2^14) and SADALP, which adds adjacent int16 products into int32 lanes.
        /// </summary>
        public static int AdvSimdPath(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
        {
            if (b.Length < a.Length)
            {
                throw new ArgumentException("Spans must have the same length.");
            }

            if (!AdvSimd.Arm64.IsSupported)
            {
                return Portable128(a, b);
            }

            ref sbyte pa = ref MemoryMarshal.GetReference(a);
            ref sbyte pb = ref MemoryMarshal.GetReference(b);
            int length = a.Length;
            Vector128<int> acc0 = Vector128<int>.Zero;
            Vector128<int> acc1 = Vector128<int>.Zero;
            int i = 0;
            if (Dp.IsSupported)
            {
                // Two accumulators hide SDOT's latency; the last 16-byte block goes into the first.
                for (; i <= length - 32; i += 32)
                {
                    acc0 = Dp.DotProduct(acc0, Vector128.LoadUnsafe(ref pa, (nuint)i), Vector128.LoadUnsafe(ref pb, (nuint)i));
                    acc1 = Dp.DotProduct(acc1, Vector128.LoadUnsafe(ref pa, (nuint)(i + 16)), Vector128.LoadUnsafe(ref pb, (nuint)(i + 16)));
                }

                if (i <= length - 16)
                {
                    acc0 = Dp.DotProduct(acc0, Vector128.LoadUnsafe(ref pa, (nuint)i), Vector128.LoadUnsafe(ref pb, (nuint)i));
                    i += 16;
                }
            }
            else
            {
                for (; i <= length - 16; i += 16)
                {
                    Vector128<sbyte> va = Vector128.LoadUnsafe(ref pa, (nuint)i);
                    Vector128<sbyte> vb = Vector128.LoadUnsafe(ref pb, (nuint)i);
                    acc0 = AdvSimd.AddPairwiseWideningAndAdd(acc0, AdvSimd.MultiplyWideningLower(va.GetLower(), vb.GetLower()));
                    acc1 = AdvSimd.AddPairwiseWideningAndAdd(acc1, AdvSimd.MultiplyWideningUpper(va, vb));
                }
            }

            return Vector128.Sum(acc0 + acc1) + ScalarTail(ref pa, ref pb, i, length);
        }

        /// <summary>Portable Vector256 (any ISA with 256-bit support): widen to int16, multiply, widen to int32.</summary>
        public static int Portable256(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
        {
            if (b.Length < a.Length)
            {
                throw new ArgumentException("Spans must have the same length.");
            }

            ref sbyte pa = ref MemoryMarshal.GetReference(a);
            ref sbyte pb = ref MemoryMarshal.GetReference(b);
            int length = a.Length;
            Vector256<int> acc = Vector256<int>.Zero;
            int i = 0;
            for (; i <= length - 32; i += 32)
            {
                Vector256<sbyte> va = Vector256.LoadUnsafe(ref pa, (nuint)i);
                Vector256<sbyte> vb = Vector256.LoadUnsafe(ref pb, (nuint)i);
                (Vector256<short> aLow, Vector256<short> aHigh) = Vector256.Widen(va);
                (Vector256<short> bLow, Vector256<short> bHigh) = Vector256.Widen(vb);
                // int8·int8 products are within ±2^14: the int16 multiply is exact.
                (Vector256<int> p0, Vector256<int> p1) = Vector256.Widen(aLow * bLow);
                (Vector256<int> p2, Vector256<int> p3) = Vector256.Widen(aHigh * bHigh);
                acc += (p0 + p1) + (p2 + p3);
            }

            return Vector256.Sum(acc) + ScalarTail(ref pa, ref pb, i, length);
        }

        /// <summary>Portable Vector128 (SSE, AdvSimd, WASM SIMD): widen to int16, multiply, widen to int32.</summary>
        public static int Portable128(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b)
        {
            if (b.Length < a.Length)
            {
                throw new ArgumentException("Spans must have the same length.");
            }

            ref sbyte pa = ref MemoryMarshal.GetReference(a);
            ref sbyte pb = ref MemoryMarshal.GetReference(b);
            int length = a.Length;
            Vector128<int> acc = Vector128<int>.Zero;
            int i = 0;
            for (; i <= length - 16; i += 16)
            {
                Vector128<sbyte> va = Vector128.LoadUnsafe(ref pa, (nuint)i);
                Vector128<sbyte> vb = Vector128.LoadUnsafe(ref pb, (nuint)i);
                (Vector128<short> aLow, Vector128<short> aHigh) = Vector128.Widen(va);
                (Vector128<short> bLow, Vector128<short> bHigh) = Vector128.Widen(vb);
                (Vector128<int> p0, Vector128<int> p1) = Vector128.Widen(aLow * bLow);
                (Vector128<int> p2, Vector128<int> p3) = Vector128.Widen(aHigh * bHigh);
                acc += (p0 + p1) + (p2 + p3);
            }

            return Vector128.Sum(acc) + ScalarTail(ref pa, ref pb, i, length);
        }
#endif
    }
}
