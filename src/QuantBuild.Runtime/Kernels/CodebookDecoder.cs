using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Codebook weights (LogQuant, WEQ): every weight is an unsigned b-bit index (packed LSB-first with
    /// <see cref="BitPacking"/>, in the kernel's [channels, fanIn] order) into a table of 2^b int8 levels.
    /// There is one table for the whole layer or one per output channel (then table j follows channel j);
    /// the level times the channel's weight scale is the real weight, exactly like an int8 code, so the
    /// kernels decode a row of levels and run the ordinary int8 × int8 → int32 dot product.
    /// </summary>
    public static class CodebookDecoder
    {
        /// <summary>Checks the buffers and returns the number of tables (1 or <paramref name="channels"/>).</summary>
        public static int CheckLayout(int indexBits, int channels, int fanIn, ReadOnlySpan<byte> packedIndices, ReadOnlySpan<sbyte> levels)
        {
            if (indexBits < 1 || indexBits > 8)
            {
                throw new ArgumentOutOfRangeException(nameof(indexBits), indexBits, "Codebook indices have 1 to 8 bits.");
            }

            int tableSize = 1 << indexBits;
            if (levels.Length != tableSize && levels.Length != (long)tableSize * channels)
            {
                throw new ArgumentException("Expected one table of 2^indexBits levels, or one per output channel.", nameof(levels));
            }

            if (packedIndices.Length < BitPacking.PackedLength(checked(channels * fanIn), indexBits))
            {
                throw new ArgumentException("The packed index buffer is too short.", nameof(packedIndices));
            }

            return levels.Length / tableSize;
        }

        /// <summary>The table of <paramref name="channel"/>'s levels.</summary>
        public static ReadOnlySpan<sbyte> Table(ReadOnlySpan<sbyte> levels, int indexBits, int channel)
        {
            int tableSize = 1 << indexBits;
            return levels.Length == tableSize ? levels : levels.Slice(channel * tableSize, tableSize);
        }

        /// <summary>Decodes <paramref name="row"/>.Length levels of <paramref name="channel"/>, starting at weight index <paramref name="firstIndex"/>.</summary>
        public static void DecodeRow(ReadOnlySpan<byte> packedIndices, int indexBits, ReadOnlySpan<sbyte> levels, int channel, int firstIndex, Span<sbyte> row)
        {
            ReadOnlySpan<sbyte> table = Table(levels, indexBits, channel);
            if (indexBits == 8)
            {
                ReadOnlySpan<byte> indices = packedIndices.Slice(firstIndex, row.Length);
                for (int i = 0; i < row.Length; i++)
                {
                    row[i] = table[indices[i]];
                }

                return;
            }

            // A sliding bit window: at most 8 bits are consumed per field, so refilling a byte whenever
            // fewer than 8 bits remain keeps every field inside the window.
            int mask = (1 << indexBits) - 1;
            long bitPosition = (long)firstIndex * indexBits;
            int byteIndex = (int)(bitPosition >> 3);
            int window = 0;
            int available = 0;
            int skip = (int)(bitPosition & 7);
            for (int i = 0; i < row.Length; i++)
            {
                while (available - skip < indexBits)
                {
                    window |= packedIndices[byteIndex++] << available;
                    available += 8;
                }

                if (skip > 0)
                {
                    window >>= skip;
                    available -= skip;
                    skip = 0;
                }

                row[i] = table[window & mask];
                window >>= indexBits;
                available -= indexBits;
            }
        }

        /// <summary>All levels in [channels, fanIn] order (prepare time and reference kernels).</summary>
        public static void DecodeAll(ReadOnlySpan<byte> packedIndices, int indexBits, ReadOnlySpan<sbyte> levels, int channels, int fanIn, Span<sbyte> weights)
        {
            CheckLayout(indexBits, channels, fanIn, packedIndices, levels);
            for (int c = 0; c < channels; c++)
            {
                DecodeRow(packedIndices, indexBits, levels, c, c * fanIn, weights.Slice(c * fanIn, fanIn));
            }
        }
    }
}
