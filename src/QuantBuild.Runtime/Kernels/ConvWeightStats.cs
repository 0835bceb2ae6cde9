using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Per-output-channel facts about a constant weight matrix [channels, fanIn], computed at prepare
    /// time: Σ_k w[j,k] (for the zero-point correction b'_j = b_j − z_x·Σ_k w[j,k]) and the accumulator
    /// bound that decides between int32 and int64 accumulation (docs/algorithms/requantization.md, "Accumulator bound").
    /// </summary>
    public static class ConvWeightStats
    {
        /// <summary>Returns the bias with the input zero-point correction folded in, as int64 per channel.</summary>
        public static long[] FoldedBias(ReadOnlySpan<sbyte> weights, int channels, int fanIn, ReadOnlySpan<int> bias, int inputZeroPoint)
        {
            var folded = new long[channels];
            for (int c = 0; c < channels; c++)
            {
                long sum = 0;
                ReadOnlySpan<sbyte> row = weights.Slice(c * fanIn, fanIn);
                for (int k = 0; k < row.Length; k++)
                {
                    sum += row[k];
                }

                folded[c] = (bias.IsEmpty ? 0 : bias[c]) - (long)inputZeroPoint * sum;
            }

            return folded;
        }

        /// <summary>
        /// True when every channel's accumulator fits in int32 in both forms used by the kernels:
        /// Σ (x − z_x)·w + b (reference) and Σ x·w + b' (optimized). Both sums end at the same value;
        /// int32 wrap-around is exact modulo 2^32, so the final value fitting is what matters, and it is
        /// bounded by the reference form.
        /// </summary>
        public static bool AccumulatorFitsInt32(ReadOnlySpan<sbyte> weights, int channels, int fanIn, ReadOnlySpan<int> bias, int inputZeroPoint)
        {
            if (!bias.IsEmpty && bias.Length != channels)
            {
                throw new ArgumentException("Expected one bias per output channel.", nameof(bias));
            }

            if (weights.Length < (long)channels * fanIn)
            {
                throw new ArgumentException("The weight buffer is too short.", nameof(weights));
            }

            for (int c = 0; c < channels; c++)
            {
                int maxAbs = 0;
                ReadOnlySpan<sbyte> row = weights.Slice(c * fanIn, fanIn);
                for (int k = 0; k < row.Length; k++)
                {
                    int a = Math.Abs((int)row[k]);
                    if (a > maxAbs)
                    {
                        maxAbs = a;
                    }
                }

                long absBias = bias.IsEmpty ? 0 : Math.Abs((long)bias[c]);
                if (!AccumulatorBound.FitsInt32(AccumulatorBound.Bound(fanIn, inputZeroPoint, maxAbs, absBias)))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
