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
    /// Level indices (the unsigned byte of each int8 slot, <see cref="LogLevelEncoder"/>) to their int16 level values,
    /// the first step of the log-level Conv and FullyConnected kernels. On depthwise layers this pass costs as much
    /// as the taps themselves, so tables of at most 16 levels (level widths up to 4 bits) are looked up 16 indices
    /// at a time with a byte shuffle (SSSE3 pshufb, Arm64 TBL) into the levels' low and high bytes; larger tables,
    /// and machines without either, read the table one index at a time. Same values either way.
    /// </summary>
    internal static class LogLevelValues
    {
        /// <summary>values[i] = levels[indices[i] &amp; 0xFF]; an index outside the table is an <see cref="ArgumentException"/>.</summary>
        public static void Decode(ReadOnlySpan<sbyte> indices, ReadOnlySpan<short> levels, Span<short> values)
        {
            int i = 0;
#if NET8_0_OR_GREATER
            if (levels.Length <= 16 && (Ssse3.IsSupported || AdvSimd.Arm64.IsSupported))
            {
                i = DecodeSmallTable(indices, levels, values);
            }
#endif
            int levelCount = levels.Length;
            for (; i < indices.Length; i++)
            {
                int index = indices[i] & 0xFF;
                if ((uint)index >= (uint)levelCount)
                {
                    throw OutsideTheTable();
                }

                values[i] = levels[index];
            }
        }

        private static ArgumentException OutsideTheTable()
        {
            return new ArgumentException("A level index is outside the level table.");
        }

#if NET8_0_OR_GREATER
        /// <summary>Whole groups of 16 indices; returns how many it decoded.</summary>
        private static int DecodeSmallTable(ReadOnlySpan<sbyte> indices, ReadOnlySpan<short> levels, Span<short> values)
        {
            // Byte j of lowBytes / highBytes is the low / high byte of level j (zero past the table).
            Span<byte> lowBytes = stackalloc byte[16];
            Span<byte> highBytes = stackalloc byte[16];
            lowBytes.Clear();
            highBytes.Clear();
            for (int j = 0; j < levels.Length; j++)
            {
                lowBytes[j] = (byte)levels[j];
                highBytes[j] = (byte)(levels[j] >> 8);
            }

            Vector128<byte> low = Vector128.Create((ReadOnlySpan<byte>)lowBytes);
            Vector128<byte> high = Vector128.Create((ReadOnlySpan<byte>)highBytes);
            Vector128<byte> count = Vector128.Create((byte)levels.Length);
            ref byte source = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(indices));
            ref short target = ref MemoryMarshal.GetReference(values);
            int n = indices.Length;
            int i = 0;
            for (; i <= n - 16; i += 16)
            {
                Vector128<byte> index = Vector128.LoadUnsafe(ref source, (nuint)i);
                if (Vector128.GreaterThanOrEqualAny(index, count))
                {
                    throw OutsideTheTable();
                }

                // Every index is below 16 here, so neither lookup meets its out-of-range rule.
                Vector128<byte> lowPart = Ssse3.IsSupported ? Ssse3.Shuffle(low, index) : AdvSimd.Arm64.VectorTableLookup(low, index);
                Vector128<byte> highPart = Ssse3.IsSupported ? Ssse3.Shuffle(high, index) : AdvSimd.Arm64.VectorTableLookup(high, index);
                (Vector128<ushort> low0, Vector128<ushort> low1) = Vector128.Widen(lowPart);
                (Vector128<ushort> high0, Vector128<ushort> high1) = Vector128.Widen(highPart);
                (low0 | (high0 << 8)).AsInt16().StoreUnsafe(ref target, (nuint)i);
                (low1 | (high1 << 8)).AsInt16().StoreUnsafe(ref target, (nuint)(i + 8));
            }

            return i;
        }
#endif
    }
}
