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
    /// Σ a[i]·b[i] of int16 values (log levels) and int8 weights in int32 with two's-complement wrap-around, as
    /// <see cref="Int8Dot"/> is for int8 × int8. Every product is exact in int32 (|a·b| ≤ 2^22) and integer
    /// addition is associative modulo 2^32, so every path returns <see cref="Scalar"/>'s bits; callers guarantee
    /// (prepare-time bound) that the true result fits int32.
    /// </summary>
    public static class Int16Int8Dot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Dot(ReadOnlySpan<short> a, ReadOnlySpan<sbyte> b)
        {
            if (b.Length < a.Length)
            {
                throw new ArgumentException("Spans must have the same length.");
            }

#if NET8_0_OR_GREATER
            if (a.Length >= 16 && (Avx2.IsSupported || Sse41.IsSupported || AdvSimd.Arm64.IsSupported))
            {
                return Vector(a, b);
            }
#endif
            return Scalar(a, b);
        }

        /// <summary>The reference semantics.</summary>
        public static int Scalar(ReadOnlySpan<short> a, ReadOnlySpan<sbyte> b)
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

#if NET8_0_OR_GREATER
        /// <summary>
        /// x64: the int8 weights sign-extended to int16 (vpmovsxbw), then vpmaddwd adds adjacent products into int32
        /// lanes (|pair| ≤ 2^23: exact). Arm64: SMLAL/SMLAL2 multiply-add the int16 lanes into int32 directly.
        /// </summary>
        private static int Vector(ReadOnlySpan<short> a, ReadOnlySpan<sbyte> b)
        {
            ref short pa = ref MemoryMarshal.GetReference(a);
            ref sbyte pb = ref MemoryMarshal.GetReference(b);
            int length = a.Length;
            int i = 0;
            int sum;
            if (Avx2.IsSupported)
            {
                Vector256<int> acc = Vector256<int>.Zero;
                for (; i <= length - 16; i += 16)
                {
                    Vector256<short> w = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref pb, (nuint)i));
                    acc += Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref pa, (nuint)i), w);
                }

                sum = Vector256.Sum(acc);
            }
            else if (Sse41.IsSupported)
            {
                Vector128<int> acc = Vector128<int>.Zero;
                for (; i <= length - 8; i += 8)
                {
                    Vector128<short> w = Sse41.ConvertToVector128Int16(Vector64.LoadUnsafe(ref pb, (nuint)i).ToVector128Unsafe());
                    acc += Sse2.MultiplyAddAdjacent(Vector128.LoadUnsafe(ref pa, (nuint)i), w);
                }

                sum = Vector128.Sum(acc);
            }
            else
            {
                Vector128<int> acc = Vector128<int>.Zero;
                for (; i <= length - 8; i += 8)
                {
                    Vector128<short> w = AdvSimd.SignExtendWideningLower(Vector64.LoadUnsafe(ref pb, (nuint)i));
                    Vector128<short> x = Vector128.LoadUnsafe(ref pa, (nuint)i);
                    acc = AdvSimd.MultiplyWideningLowerAndAdd(acc, x.GetLower(), w.GetLower());
                    acc = AdvSimd.MultiplyWideningUpperAndAdd(acc, x, w);
                }

                sum = Vector128.Sum(acc);
            }

            for (; i < length; i++)
            {
                sum += Unsafe.Add(ref pa, i) * Unsafe.Add(ref pb, i);
            }

            return sum;
        }
#endif
    }
}
