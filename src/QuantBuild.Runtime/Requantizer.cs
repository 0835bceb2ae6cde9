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
    /// The output stage shared by Conv and FullyConnected: per-output-channel fixed-point multipliers,
    /// output zero point and the fused activation clamp (docs/algorithms/requantization.md, "Conv and fully-connected layers"). Built once at prepare time.
    /// </summary>
    public sealed class ChannelRequantizer
    {
        private readonly int[] multipliers;
        private readonly int[] shifts;

        /// <summary>Builds M_j = s_x·s_w[j]/s_y for each channel (weightScales.Length = 1 means per-tensor).</summary>
        public ChannelRequantizer(float inputScale, float[] weightScales, int channels, QuantParams output, int clampMin, int clampMax, RoundingMode rounding = RoundingMode.SingleRounding)
        {
            if (weightScales == null || (weightScales.Length != 1 && weightScales.Length != channels))
            {
                throw new ArgumentException("Expected one weight scale or one per output channel.", nameof(weightScales));
            }

            if (clampMin > clampMax || clampMin < sbyte.MinValue || clampMax > sbyte.MaxValue)
            {
                throw new ArgumentException("The clamp range must be a non-empty sub-range of int8.");
            }

            multipliers = new int[channels];
            shifts = new int[channels];
            for (int c = 0; c < channels; c++)
            {
                float weightScale = weightScales[weightScales.Length == 1 ? 0 : c];
                // The real multiplier is formed in double: it is a build-time constant, and double keeps
                // the product of two float32 scales exact before the Q31 rounding.
                double real = (double)inputScale * weightScale / output.Scale;
                int m0, shift;
                FixedPoint.QuantizeMultiplier(real, out m0, out shift);
                multipliers[c] = m0;
                shifts[c] = shift;
            }

            OutputZeroPoint = output.ZeroPoint;
            ClampMin = clampMin;
            ClampMax = clampMax;
            Rounding = rounding;
        }

        public int OutputZeroPoint { get; }

        public int ClampMin { get; }

        public int ClampMax { get; }

        public RoundingMode Rounding { get; }

        public int Channels
        {
            get { return multipliers.Length; }
        }

        public int GetMultiplier(int channel)
        {
            return multipliers[channel];
        }

        public int GetShift(int channel)
        {
            return shifts[channel];
        }

        /// <summary>y = clamp(z_y + MBQM(acc, M0_c, shift_c), lo, hi).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte Apply(int accumulator, int channel)
        {
            int scaled = FixedPoint.MultiplyByQuantizedMultiplier(accumulator, multipliers[channel], shifts[channel], Rounding);
            return (sbyte)QuantParams.Clamp(scaled + OutputZeroPoint, ClampMin, ClampMax);
        }

        /// <summary>
        /// output[i] = Apply(accumulators[i] + addend, channel) for a run of one channel's accumulators (the
        /// addend wraps modulo 2^32 as in the scalar form). Vectorized for single rounding; bit-identical to
        /// <see cref="Apply(int, int)"/>, which stays the definition.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        public void ApplyRow(ReadOnlySpan<int> accumulators, int addend, int channel, Span<sbyte> output)
        {
            if (output.Length < accumulators.Length)
            {
                throw new ArgumentException("Output is shorter than the accumulator row.", nameof(output));
            }

            int i = 0;
#if NET8_0_OR_GREATER
            if (Rounding == RoundingMode.SingleRounding && SingleRoundingVector.IsAccelerated && SingleRoundingVector.Constants.Supported(shifts[channel]))
            {
                i = ApplyRowVector(accumulators, addend, new SingleRoundingVector.Constants(multipliers[channel], shifts[channel]), output);
            }
#endif
            for (; i < accumulators.Length; i++)
            {
                output[i] = Apply(unchecked(accumulators[i] + addend), channel);
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>The vector body of <see cref="ApplyRow"/>: whole groups of 16 values (AVX2, or four 128-bit vectors on SSE4.1 and Arm64); returns how many it wrote.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private int ApplyRowVector(ReadOnlySpan<int> accumulators, int addend, in SingleRoundingVector.Constants constants, Span<sbyte> output)
        {
            ref int source = ref MemoryMarshal.GetReference(accumulators);
            ref sbyte target = ref MemoryMarshal.GetReference(output);
            int n = accumulators.Length;
            int i = 0;
            if (Avx2.IsSupported)
            {
                var add = Vector256.Create(addend);
                var zero = Vector256.Create(OutputZeroPoint);
                var low = Vector256.Create((sbyte)ClampMin);
                var high = Vector256.Create((sbyte)ClampMax);
                var c = new SingleRoundingVector.Broadcast256(constants);
                // M0 = 2^t: (x·2^t + 2^(t−1)) >> t is x itself, so only the zero point and the clamp remain.
                bool identity = constants.IsIdentity;
                for (; i <= n - 32; i += 32)
                {
                    Vector256<int> a = Vector256.LoadUnsafe(ref source, (nuint)i) + add;
                    Vector256<int> b = Vector256.LoadUnsafe(ref source, (nuint)(i + 8)) + add;
                    Vector256<int> d = Vector256.LoadUnsafe(ref source, (nuint)(i + 16)) + add;
                    Vector256<int> e = Vector256.LoadUnsafe(ref source, (nuint)(i + 24)) + add;
                    if (!identity)
                    {
                        a = SingleRoundingVector.Apply(a, c);
                        b = SingleRoundingVector.Apply(b, c);
                        d = SingleRoundingVector.Apply(d, c);
                        e = SingleRoundingVector.Apply(e, c);
                    }

                    SingleRoundingVector.NarrowClamped(a + zero, b + zero, d + zero, e + zero, low, high).StoreUnsafe(ref target, (nuint)i);
                }

                if (i <= n - 16)
                {
                    Vector256<int> a = Vector256.LoadUnsafe(ref source, (nuint)i) + add;
                    Vector256<int> b = Vector256.LoadUnsafe(ref source, (nuint)(i + 8)) + add;
                    if (!identity)
                    {
                        a = SingleRoundingVector.Apply(a, c);
                        b = SingleRoundingVector.Apply(b, c);
                    }

                    SingleRoundingVector.NarrowClamped(a + zero, b + zero, a + zero, b + zero, low, high).GetLower().StoreUnsafe(ref target, (nuint)i);
                    i += 16;
                }

                return i;
            }

            var add128 = Vector128.Create(addend);
            var zero128 = Vector128.Create(OutputZeroPoint);
            var low128 = Vector128.Create(ClampMin);
            var high128 = Vector128.Create(ClampMax);
            for (; i <= n - 16; i += 16)
            {
                var r0 = SingleRoundingVector.Apply128(Vector128.LoadUnsafe(ref source, (nuint)i) + add128, constants) + zero128;
                var r1 = SingleRoundingVector.Apply128(Vector128.LoadUnsafe(ref source, (nuint)(i + 4)) + add128, constants) + zero128;
                var r2 = SingleRoundingVector.Apply128(Vector128.LoadUnsafe(ref source, (nuint)(i + 8)) + add128, constants) + zero128;
                var r3 = SingleRoundingVector.Apply128(Vector128.LoadUnsafe(ref source, (nuint)(i + 12)) + add128, constants) + zero128;
                r0 = Vector128.Min(Vector128.Max(r0, low128), high128);
                r1 = Vector128.Min(Vector128.Max(r1, low128), high128);
                r2 = Vector128.Min(Vector128.Max(r2, low128), high128);
                r3 = Vector128.Min(Vector128.Max(r3, low128), high128);
                Vector128.Narrow(
                    Vector128.Narrow(r0, r1),
                    Vector128.Narrow(r2, r3)).StoreUnsafe(ref target, (nuint)i);
            }

            return i;
        }

#endif

        /// <summary>
        /// output[i] = Apply((long)accumulators[i] + addend, channel): a channel whose int32 sums are exact but whose bias
        /// (a saturated one, say) takes the total past int32. Scalar: such channels are rare and the 64-bit form is the
        /// definition itself.
        /// </summary>
        public void ApplyRowWide(ReadOnlySpan<int> accumulators, long addend, int channel, Span<sbyte> output)
        {
            if (output.Length < accumulators.Length)
            {
                throw new ArgumentException("Output is shorter than the accumulator row.", nameof(output));
            }

            for (int i = 0; i < accumulators.Length; i++)
            {
                output[i] = Apply(accumulators[i] + addend, channel);
            }
        }

        /// <summary>The int64-accumulator variant for layers whose bound exceeds int32.</summary>
        public sbyte Apply(long accumulator, int channel)
        {
            int scaled = accumulator >= int.MinValue && accumulator <= int.MaxValue
                ? FixedPoint.MultiplyByQuantizedMultiplier((int)accumulator, multipliers[channel], shifts[channel], Rounding)
                : FixedPoint.MultiplyByQuantizedMultiplier(accumulator, multipliers[channel], shifts[channel]);
            long shifted = (long)scaled + OutputZeroPoint;
            return (sbyte)(shifted < ClampMin ? ClampMin : (shifted > ClampMax ? ClampMax : shifted));
        }
    }

    /// <summary>Helpers to derive fused-activation clamp bounds in the output's code space (docs/algorithms/requantization.md, "Fused activations").</summary>
    public static class FusedActivation
    {
        /// <summary>No activation: the full int8 range.</summary>
        public static void None(out int clampMin, out int clampMax)
        {
            clampMin = sbyte.MinValue;
            clampMax = sbyte.MaxValue;
        }

        /// <summary>Clip(lo, hi) in real units mapped to int8 codes (ReLU: lo = 0, hi = +inf; ReLU6: hi = 6).</summary>
        public static void Clip(QuantParams output, float low, float high, out int clampMin, out int clampMax)
        {
            Clip(output, low, high, sbyte.MinValue, sbyte.MaxValue, out clampMin, out clampMax);
        }

        /// <summary>Clip(lo, hi) in real units mapped to codes of the grid [<paramref name="qmin"/>, <paramref name="qmax"/>] (int8, or 16-bit activations).</summary>
        public static void Clip(QuantParams output, float low, float high, int qmin, int qmax, out int clampMin, out int clampMax)
        {
            clampMin = float.IsNegativeInfinity(low) ? qmin : Math.Max(qmin, QuantParams.QuantizeLinear(low, output.Scale, output.ZeroPoint, qmin, qmax));
            clampMax = float.IsPositiveInfinity(high) ? qmax : Math.Min(qmax, QuantParams.QuantizeLinear(high, output.Scale, output.ZeroPoint, qmin, qmax));
        }
    }

    /// <summary>
    /// Accumulator bounds (docs/algorithms/requantization.md, "Accumulator bound"): decides at prepare time whether a dot product can overflow int32.
    /// </summary>
    public static class AccumulatorBound
    {
        /// <summary>
        /// Largest |acc| for acc = Σ (x − z_x)·w + bias over <paramref name="fanIn"/> terms, given the largest
        /// |w| of the channel. Exact upper bound: every |x − z_x| ≤ max(127 − z_x, z_x + 128).
        /// </summary>
        public static long Bound(int fanIn, int inputZeroPoint, int maxAbsWeight, long absBias)
        {
            long maxDeviation = Math.Max(sbyte.MaxValue - inputZeroPoint, inputZeroPoint - sbyte.MinValue);
            return fanIn * maxDeviation * maxAbsWeight + absBias;
        }

        /// <summary>True when the bound fits in int32.</summary>
        public static bool FitsInt32(long bound)
        {
            return bound <= int.MaxValue;
        }
    }
}
