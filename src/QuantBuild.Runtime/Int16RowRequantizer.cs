using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// <see cref="Conv2DWide"/>'s output stage for 16-bit codes, on int32 accumulators:
    /// <c>y = clamp(z_y + ((acc·M0_c + 2^(t−1)) >> t), lo, hi)</c> with t = 31 − shift_c (docs/wide-activations.md,
    /// "Integer kernels"). The owner proves, from the layer's weights, that every scaled value it can meet fits int32
    /// with room for z_y; the int32 lanes below then hold the definition's 64-bit values exactly.
    /// </summary>
    internal sealed class Int16RowRequantizer
    {
        private readonly int[] multipliers;
        private readonly int[] shifts;
        private readonly int zeroPoint;
        private readonly int clampMin;
        private readonly int clampMax;

        public Int16RowRequantizer(int[] multipliers, int[] shifts, int zeroPoint, int clampMin, int clampMax)
        {
            if (clampMin > clampMax || clampMin < short.MinValue || clampMax > short.MaxValue)
            {
                throw new ArgumentException("The clamp range must be a non-empty sub-range of int16.");
            }

            this.multipliers = multipliers;
            this.shifts = shifts;
            this.zeroPoint = zeroPoint;
            this.clampMin = clampMin;
            this.clampMax = clampMax;
        }

        /// <summary>One output, the definition (the scaled value fits int32 by the owner's bound, so the int32 form is exact).</summary>
        public short Apply(int accumulator, int channel)
        {
            long y = (long)FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(accumulator, multipliers[channel], shifts[channel]) + zeroPoint;
            return (short)(y < clampMin ? clampMin : (y > clampMax ? clampMax : y));
        }

        /// <summary>output[i] = Apply(accumulators[i] + addend, channel), the addend wrapping modulo 2^32 as the accumulator does.</summary>
        [MethodImpl(KernelJit.Optimize)]
        public void ApplyRow(ReadOnlySpan<int> accumulators, int addend, int channel, Span<short> output)
        {
            if (output.Length < accumulators.Length)
            {
                throw new ArgumentException("Output is shorter than the accumulator row.", nameof(output));
            }

            int i = 0;
#if NET8_0_OR_GREATER
            if (Avx2.IsSupported && SingleRoundingVector.Constants.Supported(shifts[channel]))
            {
                ref int source = ref MemoryMarshal.GetReference(accumulators);
                ref short target = ref MemoryMarshal.GetReference(output);
                var c = new SingleRoundingVector.Broadcast256(new SingleRoundingVector.Constants(multipliers[channel], shifts[channel]));
                Vector256<int> add = Vector256.Create(addend), zero = Vector256.Create(zeroPoint);
                Vector256<short> low = Vector256.Create((short)clampMin), high = Vector256.Create((short)clampMax);
                for (; i <= accumulators.Length - 16; i += 16)
                {
                    Vector256<int> a = SingleRoundingVector.Apply(Vector256.LoadUnsafe(ref source, (nuint)i) + add, c) + zero;
                    Vector256<int> b = SingleRoundingVector.Apply(Vector256.LoadUnsafe(ref source, (nuint)(i + 8)) + add, c) + zero;
                    // vpackssdw saturates to int16 (the clamp is inside int16) and interleaves 64-bit quarters: vpermq restores the order.
                    Vector256<short> words = Avx2.Permute4x64(Avx2.PackSignedSaturate(a, b).AsInt64(), 0b11011000).AsInt16();
                    Vector256.Min(Vector256.Max(words, low), high).StoreUnsafe(ref target, (nuint)i);
                }
            }
#endif
            for (; i < accumulators.Length; i++)
            {
                output[i] = Apply(unchecked(accumulators[i] + addend), channel);
            }
        }
    }
}
