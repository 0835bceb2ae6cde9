using System;
using System.Runtime.CompilerServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// The output stage of a multipoint layer (docs/algorithms/multipoint.md, "Integer inference"). Weights are rows of b-bit codes: rows
    /// 0..C−1 hold each output channel's first point, rows C.. the extra points, sorted by the channel they
    /// belong to. Each row r has its own fixed-point multiplier M_r = s_x·a_r/s_y; a channel's output is
    /// <c>clamp(z_y + Σ_r MBQM(acc_r, M_r), lo, hi)</c> over its rows, where acc_r is the row's integer
    /// dot product (the int32 bias is added to the first row's accumulator, at scale s_x·a_1).
    /// Rows are stored as int8 (one per byte) or packed int4 (two per byte, element 0 in the low nibble),
    /// one continuous stream across rows. Built once at prepare time; nothing allocates afterwards.
    /// </summary>
    public sealed class MultipointRows
    {
        private readonly int[] multipliers;
        private readonly int[] shifts;
        private readonly int[] extraStart;

        public MultipointRows(
            float inputScale,
            float[] firstScales,
            int channels,
            int[] extraChannels,
            float[] extraScales,
            QuantParams output,
            int bits,
            int clampMin,
            int clampMax)
        {
            if (firstScales == null || firstScales.Length != channels)
            {
                throw new ArgumentException("Expected one first-point scale per output channel.", nameof(firstScales));
            }

            if (extraChannels == null || extraScales == null || extraChannels.Length != extraScales.Length)
            {
                throw new ArgumentException("Expected one scale per extra row.", nameof(extraScales));
            }

            if (bits != 4 && bits != 8)
            {
                throw new ArgumentException("Multipoint rows are stored as int4 or int8.", nameof(bits));
            }

            if (clampMin > clampMax || clampMin < sbyte.MinValue || clampMax > sbyte.MaxValue)
            {
                throw new ArgumentException("The clamp range must be a non-empty sub-range of int8.");
            }

            Channels = channels;
            Bits = bits;
            int rows = channels + extraChannels.Length;
            multipliers = new int[rows];
            shifts = new int[rows];
            extraStart = new int[channels + 1];
            for (int r = 0; r < rows; r++)
            {
                float scale = r < channels ? firstScales[r] : extraScales[r - channels];
                // Built in double from the float32 scales, as ChannelRequantizer does.
                double real = (double)inputScale * scale / output.Scale;
                int m0, shift;
                FixedPoint.QuantizeMultiplier(real, out m0, out shift);
                multipliers[r] = m0;
                shifts[r] = shift;
            }

            for (int e = 0; e < extraChannels.Length; e++)
            {
                int c = extraChannels[e];
                if (c < 0 || c >= channels || (e > 0 && c < extraChannels[e - 1]))
                {
                    throw new ArgumentException("Extra rows must name channels in ascending order.", nameof(extraChannels));
                }

                extraStart[c + 1]++;
            }

            for (int c = 0; c < channels; c++)
            {
                extraStart[c + 1] += extraStart[c];
            }

            OutputZeroPoint = output.ZeroPoint;
            ClampMin = clampMin;
            ClampMax = clampMax;
        }

        public int Channels { get; }

        /// <summary>Storage width of a code: 4 or 8.</summary>
        public int Bits { get; }

        public int Rows
        {
            get { return multipliers.Length; }
        }

        public int OutputZeroPoint { get; }

        public int ClampMin { get; }

        public int ClampMax { get; }

        /// <summary>Bytes the stored rows take for a given row length.</summary>
        public int StoredLength(int rowLength)
        {
            long elements = (long)Rows * rowLength;
            return (int)(Bits == 8 ? elements : (elements + 1) / 2);
        }

        /// <summary>First extra row (an index ≥ Channels) of channel <paramref name="channel"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int ExtraBegin(int channel)
        {
            return Channels + extraStart[channel];
        }

        /// <summary>One past the last extra row of channel <paramref name="channel"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int ExtraEnd(int channel)
        {
            return Channels + extraStart[channel + 1];
        }

        /// <summary>acc·M_row rounded once (as the int8 Conv/FullyConnected kernels do): the row's contribution in output code units.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public long Scale(long accumulator, int row)
        {
            return FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(accumulator, multipliers[row], shifts[row]);
        }

        public int GetMultiplier(int row)
        {
            return multipliers[row];
        }

        public int GetShift(int row)
        {
            return shifts[row];
        }

        /// <summary>clamp(z_y + sum, lo, hi).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte Finish(long sum)
        {
            long y = sum + OutputZeroPoint;
            return (sbyte)(y < ClampMin ? ClampMin : (y > ClampMax ? ClampMax : y));
        }

        /// <summary>Code <paramref name="index"/> of the stored row stream.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Code(ReadOnlySpan<byte> weights, int bits, int index)
        {
            return bits == 8 ? (sbyte)weights[index] : BitPacking.GetInt4(weights, index);
        }
    }
}
