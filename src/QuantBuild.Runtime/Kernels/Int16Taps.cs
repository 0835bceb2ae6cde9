using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// One tap of a convolution with a single input channel per group (depthwise) on int16 input values: a weight
    /// times a run of one input row, added into a row of int32 accumulators. Packing a receptive field per output
    /// position (<see cref="Int16ConvGemm"/>) would cost as much as the multiply-adds themselves there, so those
    /// layers accumulate tap by tap instead, as <see cref="Conv2DInt8"/> does for int8 values. The products are
    /// formed in int32 (level values reach 2^15), so any order of the additions gives the scalar loop's bits
    /// wherever the callers' prepare-time bound keeps the sums inside int32.
    /// </summary>
    internal static class Int16Taps
    {
        /// <summary>acc[ox] += w·row[ox·stride + offset] for every ox &lt; acc.Length whose tap lies inside the row.</summary>
        public static void Add(ReadOnlySpan<short> row, Span<int> acc, int w, int offset, int stride)
        {
            // Valid columns: 0 ≤ ox·stride + offset < row.Length.
            int first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
            int lastInput = row.Length - 1 - offset;
            if (lastInput < 0)
            {
                return;
            }

            int end = Math.Min(acc.Length, lastInput / stride + 1);
            int ox = first;
            if (stride == 1)
            {
#if NET8_0_OR_GREATER
                ref short source = ref MemoryMarshal.GetReference(row);
                ref int target = ref MemoryMarshal.GetReference(acc);
                if (Vector256.IsHardwareAccelerated)
                {
                    Vector256<int> weight = Vector256.Create(w);
                    for (; ox <= end - 16; ox += 16)
                    {
                        (Vector256<int> low, Vector256<int> high) = Vector256.Widen(Vector256.LoadUnsafe(ref source, (nuint)(ox + offset)));
                        (Vector256.LoadUnsafe(ref target, (nuint)ox) + low * weight).StoreUnsafe(ref target, (nuint)ox);
                        (Vector256.LoadUnsafe(ref target, (nuint)(ox + 8)) + high * weight).StoreUnsafe(ref target, (nuint)(ox + 8));
                    }
                }
                else if (Vector128.IsHardwareAccelerated)
                {
                    // x64 without AVX2 and Arm64 (SXTL + MUL + ADD): the same arithmetic 8 columns at a time.
                    Vector128<int> weight = Vector128.Create(w);
                    for (; ox <= end - 8; ox += 8)
                    {
                        (Vector128<int> low, Vector128<int> high) = Vector128.Widen(Vector128.LoadUnsafe(ref source, (nuint)(ox + offset)));
                        (Vector128.LoadUnsafe(ref target, (nuint)ox) + low * weight).StoreUnsafe(ref target, (nuint)ox);
                        (Vector128.LoadUnsafe(ref target, (nuint)(ox + 4)) + high * weight).StoreUnsafe(ref target, (nuint)(ox + 4));
                    }
                }
#endif
                for (; ox < end; ox++)
                {
                    acc[ox] += w * row[ox + offset];
                }

                return;
            }

#if NET8_0_OR_GREATER
            if (stride == 2 && BitConverter.IsLittleEndian)
            {
                ox = AddStrideTwo(row, acc, w, offset, ox, end);
            }
#endif
            for (; ox < end; ox++)
            {
                acc[ox] += w * row[ox * stride + offset];
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>
        /// Column stride 2 from <paramref name="ox"/>: read as int32 lanes, the row holds (x[2i], x[2i+1]) pairs with the
        /// first in the low half (little-endian), so shifting left then arithmetically right by 16 leaves exactly the
        /// columns the taps use, sign-extended. Stops before a load would pass the row's end; returns where it stopped.
        /// </summary>
        private static int AddStrideTwo(ReadOnlySpan<short> row, Span<int> acc, int w, int offset, int ox, int end)
        {
            ref short source = ref MemoryMarshal.GetReference(row);
            ref int target = ref MemoryMarshal.GetReference(acc);
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<int> weight = Vector256.Create(w);
                for (; ox + 8 <= end && 2 * ox + offset + 16 <= row.Length; ox += 8)
                {
                    Vector256<int> pairs = Vector256.LoadUnsafe(ref Unsafe.As<short, int>(ref Unsafe.Add(ref source, 2 * ox + offset)));
                    Vector256<int> x = Vector256.ShiftRightArithmetic(Vector256.ShiftLeft(pairs, 16), 16);
                    (Vector256.LoadUnsafe(ref target, (nuint)ox) + x * weight).StoreUnsafe(ref target, (nuint)ox);
                }
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                Vector128<int> weight = Vector128.Create(w);
                for (; ox + 4 <= end && 2 * ox + offset + 8 <= row.Length; ox += 4)
                {
                    Vector128<int> pairs = Vector128.LoadUnsafe(ref Unsafe.As<short, int>(ref Unsafe.Add(ref source, 2 * ox + offset)));
                    Vector128<int> x = Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(pairs, 16), 16);
                    (Vector128.LoadUnsafe(ref target, (nuint)ox) + x * weight).StoreUnsafe(ref target, (nuint)ox);
                }
            }

            return ox;
        }
#endif
    }
}
