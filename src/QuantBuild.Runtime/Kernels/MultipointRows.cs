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
        private readonly ChannelRequantizer firstRows;
        private readonly ChannelRequantizer sums;

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

            // A channel without extra rows is an int8 channel: its requantizer has the same M_c (same formula).
            firstRows = new ChannelRequantizer(inputScale, firstScales, channels, output, clampMin, clampMax);
            // M = 1 exactly (M0 = 2^30, shift 1): MBQM is then the identity on int32, so ApplyRow of this requantizer
            // is clamp(z_y + sum) with the vector clamp and narrowing the int8 kernels use.
            sums = new ChannelRequantizer(1f, new[] { 1f }, 1, new QuantParams(1f, output.ZeroPoint), clampMin, clampMax);
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

        /// <summary>
        /// True when the int32 output stage (<see cref="FinishRow"/>) gives <see cref="Finish"/>'s bits for these
        /// rows: every row's |acc| (plus the bias on a first row) stays inside int32 for inputs with
        /// |x − z_x| ≤ <paramref name="maxAbsInput"/>, and every channel's Σ |scaled row| + |z_y| stays inside int32
        /// (so neither the scaled values nor their sum wrap, where the definition sums in int64).
        /// </summary>
        /// <param name="decodedRows">all rows, one int8 code per element, [Rows, rowLength]</param>
        public bool FitsInt32(ReadOnlySpan<sbyte> decodedRows, int rowLength, int maxAbsInput, ReadOnlySpan<int> bias)
        {
            for (int c = 0; c < Channels; c++)
            {
                double total = Math.Abs(OutputZeroPoint) + ScaledBound(decodedRows, rowLength, maxAbsInput, c, Math.Abs((long)bias[c]));
                for (int r = ExtraBegin(c); r < ExtraEnd(c); r++)
                {
                    total += ScaledBound(decodedRows, rowLength, maxAbsInput, r, 0);
                }

                // Also false when a row's own accumulator could leave int32 (ScaledBound is then infinite).
                if (total >= int.MaxValue - 1024.0)
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>Bound on |MBQM(acc_r + addend)| (∞ when acc_r + addend may leave int32).</summary>
        private double ScaledBound(ReadOnlySpan<sbyte> decodedRows, int rowLength, int maxAbsInput, int row, long absAddend)
        {
            int maxAbs = 0;
            ReadOnlySpan<sbyte> codes = decodedRows.Slice(row * rowLength, rowLength);
            for (int k = 0; k < codes.Length; k++)
            {
                maxAbs = Math.Max(maxAbs, Math.Abs((int)codes[k]));
            }

            long bound = (long)rowLength * maxAbsInput * maxAbs + absAddend;
            if (bound > int.MaxValue)
            {
                return double.PositiveInfinity;
            }

            // |MBQM(a)| ≤ |a|·M0·2^(shift − 31) + 1; doubles hold these magnitudes with room to spare.
            return bound * (multipliers[row] * Math.Pow(2, shifts[row] - 31)) + 1;
        }

        /// <summary>
        /// output[i] = Finish(Scale(first[i] + bias, channel) + Σ_r Scale(extra_r[i], r)) over the channel's extra
        /// rows r, where extra_r starts at extras[(r − ExtraBegin(channel))·extraStride]. Valid only when
        /// <see cref="FitsInt32"/> holds; then it equals the scalar definition bit for bit. <paramref name="scratch"/>
        /// holds the int32 sums (at least output.Length).
        /// </summary>
        public void FinishRow(int channel, ReadOnlySpan<int> first, int bias, ReadOnlySpan<int> extras, int extraStride, Span<int> scratch, Span<sbyte> output)
        {
            int n = output.Length;
            int begin = ExtraBegin(channel);
            int end = ExtraEnd(channel);
            if (begin == end)
            {
                firstRows.ApplyRow(first.Slice(0, n), bias, channel, output);
                return;
            }

            Span<int> total = scratch.Slice(0, n);
            total.Clear();
            AddScaledRow(first.Slice(0, n), bias, channel, total);
            for (int r = begin; r < end; r++)
            {
                AddScaledRow(extras.Slice((r - begin) * extraStride, n), 0, r, total);
            }

            sums.ApplyRow(total, 0, 0, output);
        }

        /// <summary>total[i] += MBQM_single(acc[i] + addend, M_row) (the int32 form of <see cref="Scale"/>).</summary>
        private void AddScaledRow(ReadOnlySpan<int> accumulators, int addend, int row, Span<int> total)
        {
            int m = multipliers[row];
            int shift = shifts[row];
            int i = 0;
#if NET8_0_OR_GREATER
            if (SingleRoundingVector.IsAccelerated && SingleRoundingVector.Constants.Supported(shift))
            {
                var constants = new SingleRoundingVector.Constants(m, shift);
                ref int source = ref MemoryMarshal.GetReference(accumulators);
                ref int target = ref MemoryMarshal.GetReference(total);
                int n = accumulators.Length;
                if (Avx2.IsSupported)
                {
                    var add = Vector256.Create(addend);
                    var broadcast = new SingleRoundingVector.Broadcast256(constants);
                    for (; i <= n - 16; i += 16)
                    {
                        Vector256<int> low = SingleRoundingVector.Apply(Vector256.LoadUnsafe(ref source, (nuint)i) + add, broadcast);
                        Vector256<int> high = SingleRoundingVector.Apply(Vector256.LoadUnsafe(ref source, (nuint)(i + 8)) + add, broadcast);
                        (Vector256.LoadUnsafe(ref target, (nuint)i) + low).StoreUnsafe(ref target, (nuint)i);
                        (Vector256.LoadUnsafe(ref target, (nuint)(i + 8)) + high).StoreUnsafe(ref target, (nuint)(i + 8));
                    }

                    for (; i <= n - 8; i += 8)
                    {
                        (Vector256.LoadUnsafe(ref target, (nuint)i) + SingleRoundingVector.Apply(Vector256.LoadUnsafe(ref source, (nuint)i) + add, broadcast)).StoreUnsafe(ref target, (nuint)i);
                    }
                }
                else
                {
                    var add = Vector128.Create(addend);
                    for (; i <= n - 4; i += 4)
                    {
                        Vector128<int> x = Vector128.LoadUnsafe(ref source, (nuint)i) + add;
                        Vector128<int> scaled = Sse41.IsSupported ? SingleRoundingVector.ApplySse41(x, constants) : SingleRoundingVector.ApplyArm(x, constants);
                        (Vector128.LoadUnsafe(ref target, (nuint)i) + scaled).StoreUnsafe(ref target, (nuint)i);
                    }
                }
            }
#endif
            for (; i < accumulators.Length; i++)
            {
                total[i] += FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(unchecked(accumulators[i] + addend), m, shift);
            }
        }

        /// <summary>Decodes stored rows (int8, or int4 packed two per byte) into one int8 code per element.</summary>
        public void Decode(ReadOnlySpan<byte> weights, Span<sbyte> codes)
        {
            if (Bits == 4)
            {
                BitPacking.UnpackInt4(weights, 0, codes);
                return;
            }

            MemoryMarshal.Cast<byte, sbyte>(weights).Slice(0, codes.Length).CopyTo(codes);
        }
    }
}
