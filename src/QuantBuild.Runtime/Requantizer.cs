using System;
using System.Runtime.CompilerServices;

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

        /// <summary>Clip(lo, hi) in real units mapped to codes (ReLU: lo = 0, hi = +inf; ReLU6: hi = 6).</summary>
        public static void Clip(QuantParams output, float low, float high, out int clampMin, out int clampMax)
        {
            clampMin = float.IsNegativeInfinity(low) ? sbyte.MinValue : Math.Max((int)sbyte.MinValue, QuantParams.QuantizeLinear(low, output.Scale, output.ZeroPoint, sbyte.MinValue, sbyte.MaxValue));
            clampMax = float.IsPositiveInfinity(high) ? sbyte.MaxValue : Math.Min((int)sbyte.MaxValue, QuantParams.QuantizeLinear(high, output.Scale, output.ZeroPoint, sbyte.MinValue, sbyte.MaxValue));
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
