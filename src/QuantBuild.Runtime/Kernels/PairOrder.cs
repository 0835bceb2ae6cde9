using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// An order of a GEMM layer's fan-in, shared by all its filters, that puts weights into pairs (2i, 2i + 1) whose
    /// same-sign sums stay within ±128 in as many filters as it can. vpmaddubsw sums each pair in int16, so a pair
    /// past ±128 in some filter costs that filter a residual pass (docs/algorithms/requantization.md, "Pair order").
    /// Reordering the fan-in changes nothing but the order of an exact integer sum.
    /// <para>Greedy and deterministic: the taps that take part in any over-wide pair, most conflicts first, each take
    /// the unpaired partner with the fewest conflicts against them (then the partner with the fewest conflicts
    /// overall, then the lowest index); the rest stay in their order. The result is kept only when it has fewer
    /// over-wide pairs than the layer's own order.</para>
    /// </summary>
    internal static class PairOrder
    {
        /// <summary>Largest fan-in whose K×K conflict table (4·K² bytes) is built; larger layers keep their order.</summary>
        public const int MaxFanIn = 1024;

        /// <summary>
        /// The order (a permutation of 0..fanIn−1), or null when no pair of the layer's order goes past ±128 or the
        /// fan-in is over <see cref="MaxFanIn"/>.
        /// </summary>
#pragma warning disable CS8603 // null means "keep the layer's order"; C# 7.3 source has no nullable annotations
        public static int[] Choose(ReadOnlySpan<sbyte> weights, int filters, int fanIn)
        {
#pragma warning disable CS8625 // null: the layer's own order
            int before = fanIn < 2 || fanIn > MaxFanIn ? 0 : CountOverWide(weights, filters, fanIn, null);
#pragma warning restore CS8625
            if (before == 0)
            {
                return null;
            }

            // conflicts[i·K + j]: filters in which taps i and j would overflow a pair. A pair overflows only when one
            // weight is 65 or more in magnitude, so each filter visits only its large weights' rows.
            var conflicts = new int[fanIn * fanIn];
            for (int f = 0; f < filters; f++)
            {
                ReadOnlySpan<sbyte> filter = weights.Slice(f * fanIn, fanIn);
                for (int i = 0; i < fanIn; i++)
                {
                    int a = filter[i];
                    if (a > -65 && a < 65)
                    {
                        continue;
                    }

                    for (int j = 0; j < fanIn; j++)
                    {
                        int b = filter[j];
                        bool bothLarge = b <= -65 || b >= 65;
                        if (j != i && (!bothLarge || j > i) && OverWide(a, b))
                        {
                            conflicts[i * fanIn + j]++;
                            conflicts[j * fanIn + i]++;
                        }
                    }
                }
            }

            var total = new long[fanIn];
            for (int i = 0; i < fanIn; i++)
            {
                long sum = 0;
                for (int j = 0; j < fanIn; j++)
                {
                    sum += conflicts[i * fanIn + j];
                }

                total[i] = sum;
            }

            // Taps with conflicts, most first (then by index): they choose their partners while most are free.
            int[] hot = new int[fanIn];
            int hotCount = 0;
            for (int i = 0; i < fanIn; i++)
            {
                if (total[i] > 0)
                {
                    hot[hotCount++] = i;
                }
            }

            long[] keys = new long[hotCount];
            for (int h = 0; h < hotCount; h++)
            {
                keys[h] = ((long)(int.MaxValue - Math.Min(total[hot[h]], int.MaxValue)) << 20) | (long)hot[h];
            }

            Array.Sort(keys);
            var used = new bool[fanIn];
            var order = new int[fanIn];
            int placed = 0;
            for (int h = 0; h < hotCount; h++)
            {
                int i = (int)(keys[h] & 0xFFFFF);
                if (used[i])
                {
                    continue;
                }

                int best = -1;
                for (int j = 0; j < fanIn; j++)
                {
                    if (j == i || used[j])
                    {
                        continue;
                    }

                    if (best < 0 || conflicts[i * fanIn + j] < conflicts[i * fanIn + best]
                        || (conflicts[i * fanIn + j] == conflicts[i * fanIn + best] && total[j] < total[best]))
                    {
                        best = j;
                    }
                }

                if (best < 0)
                {
                    break; // i is the last free tap: it goes at the end, beside the zero-extended tail
                }

                used[i] = true;
                used[best] = true;
                order[placed++] = i;
                order[placed++] = best;
            }

            for (int i = 0; i < fanIn; i++)
            {
                if (!used[i])
                {
                    order[placed++] = i;
                }
            }

            // Greedy pairing is not optimal: keep the layer's order unless this one has fewer over-wide pairs.
            return CountOverWide(weights, filters, fanIn, order) < before ? order : null;
        }
#pragma warning restore CS8603

        /// <summary>Pairs (2i, 2i + 1) past ±128 over all filters, in <paramref name="order"/> (null: the layer's own).</summary>
        private static int CountOverWide(ReadOnlySpan<sbyte> weights, int filters, int fanIn, int[] order)
        {
            int count = 0;
            for (int f = 0; f < filters; f++)
            {
                for (int k = 0; k + 1 < fanIn; k += 2)
                {
                    int first = order == null ? k : order[k];
                    int second = order == null ? k + 1 : order[k + 1];
                    if (OverWide(weights[f * fanIn + first], weights[f * fanIn + second]))
                    {
                        count++;
                    }
                }
            }

            return count;
        }

        /// <summary>Same-sign weights whose sum passes ±128: 255·|w0 + w1| no longer fits int16.</summary>
        public static bool OverWide(int w0, int w1)
        {
            return (w0 > 0 && w1 > 0 && w0 + w1 > 128) || (w0 < 0 && w1 < 0 && w0 + w1 < -128);
        }

        /// <summary>Each filter's weights in <paramref name="order"/>: result[f·K + k] = weights[f·K + order[k]].</summary>
        public static sbyte[] Permute(ReadOnlySpan<sbyte> weights, int filters, int fanIn, int[] order)
        {
            var result = new sbyte[filters * fanIn];
            for (int f = 0; f < filters; f++)
            {
                for (int k = 0; k < fanIn; k++)
                {
                    result[f * fanIn + k] = weights[f * fanIn + order[k]];
                }
            }

            return result;
        }

        /// <summary>values[k] = old values[order[k]], in place (per-tap tables of the layer's own order).</summary>
        public static void PermuteInPlace(int[] values, int[] order)
        {
            var copy = (int[])values.Clone();
            for (int k = 0; k < order.Length; k++)
            {
                values[k] = copy[order[k]];
            }
        }
    }
}
