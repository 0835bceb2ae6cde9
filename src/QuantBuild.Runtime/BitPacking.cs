using System;
using System.Runtime.CompilerServices;
#if NET8_0_OR_GREATER
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Sub-byte packing (docs/algorithms/linear.md, "Sub-byte storage"): b-bit fields packed LSB-first, little-endian across bytes. For b = 4 this
    /// is ONNX's INT4 layout: two codes per byte, element 0 in the low nibble.
    /// </summary>
    public static class BitPacking
    {
        /// <summary>Bytes needed for <paramref name="count"/> fields of <paramref name="bits"/> bits.</summary>
        public static int PackedLength(int count, int bits)
        {
            CheckBits(bits);
            return (int)(((long)count * bits + 7) / 8);
        }

        /// <summary>Packs signed int4 codes in [-8, 7], two per byte, element 0 in the low nibble.</summary>
        public static void PackInt4(ReadOnlySpan<sbyte> codes, Span<byte> packed)
        {
            int needed = PackedLength(codes.Length, 4);
            if (packed.Length < needed)
            {
                throw new ArgumentException("Destination is too short.", nameof(packed));
            }

            for (int i = 0; i < codes.Length; i += 2)
            {
                int low = codes[i];
                int high = i + 1 < codes.Length ? codes[i + 1] : 0;
                if (low < -8 || low > 7 || high < -8 || high > 7)
                {
                    throw new ArgumentOutOfRangeException(nameof(codes), "int4 codes must be in [-8, 7].");
                }

                packed[i >> 1] = (byte)((low & 0xF) | ((high & 0xF) << 4));
            }
        }

        /// <summary>Reads signed int4 element <paramref name="index"/> (sign-extended).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int GetInt4(ReadOnlySpan<byte> packed, int index)
        {
            int b = packed[index >> 1];
            int nibble = (index & 1) == 0 ? b & 0xF : b >> 4;
            // Sign-extend the 4-bit field: shift it to the top of an int and arithmetic-shift back.
            return (nibble << 28) >> 28;
        }

        /// <summary>Unpacks <paramref name="codes"/>.Length signed int4 codes starting at element <paramref name="firstIndex"/>.</summary>
        public static void UnpackInt4(ReadOnlySpan<byte> packed, int firstIndex, Span<sbyte> codes)
        {
            if (firstIndex < 0 || PackedLength(firstIndex + codes.Length, 4) > packed.Length)
            {
                throw new ArgumentException("The packed buffer is too short.", nameof(packed));
            }

            int i = 0;
            int index = firstIndex;
            if ((index & 1) != 0 && codes.Length > 0)
            {
                codes[0] = (sbyte)GetInt4(packed, index);
                i = 1;
                index++;
            }

#if NET8_0_OR_GREATER
            if (Sse2.IsSupported)
            {
                // 16 packed bytes → 32 codes: sign-extend each nibble in place, then interleave low/high.
                ref byte source = ref MemoryMarshal.GetReference(packed);
                ref sbyte target = ref MemoryMarshal.GetReference(codes);
                for (; i + 32 <= codes.Length; i += 32, index += 32)
                {
                    var bytes = Vector128.LoadUnsafe(ref source, (nuint)(index >> 1));
                    var low = (bytes << 4).AsSByte() >> 4;
                    var high = bytes.AsSByte() >> 4;
                    Sse2.UnpackLow(low, high).StoreUnsafe(ref target, (nuint)i);
                    Sse2.UnpackHigh(low, high).StoreUnsafe(ref target, (nuint)(i + 16));
                }
            }
#endif
            for (; i + 1 < codes.Length; i += 2, index += 2)
            {
                int b = packed[index >> 1];
                codes[i] = (sbyte)((b << 28) >> 28);
                codes[i + 1] = (sbyte)((b << 24) >> 28);
            }

            if (i < codes.Length)
            {
                codes[i] = (sbyte)GetInt4(packed, index);
            }
        }

        /// <summary>
        /// Packs the low <paramref name="bits"/> bits of each code LSB-first. Signed codes are stored in
        /// two's complement; the range check uses <paramref name="isSigned"/>.
        /// </summary>
        public static void Pack(ReadOnlySpan<int> codes, int bits, bool isSigned, Span<byte> packed)
        {
            int needed = PackedLength(codes.Length, bits);
            if (packed.Length < needed)
            {
                throw new ArgumentException("Destination is too short.", nameof(packed));
            }

            int min = isSigned ? -(1 << (bits - 1)) : 0;
            int max = isSigned ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
            int mask = (1 << bits) - 1;
            packed.Slice(0, needed).Clear();
            long bitPosition = 0;
            for (int i = 0; i < codes.Length; i++, bitPosition += bits)
            {
                int code = codes[i];
                if (code < min || code > max)
                {
                    throw new ArgumentOutOfRangeException(nameof(codes), "Code " + code.ToString(System.Globalization.CultureInfo.InvariantCulture) + " does not fit in " + bits.ToString(System.Globalization.CultureInfo.InvariantCulture) + " bits.");
                }

                int field = code & mask;
                int byteIndex = (int)(bitPosition >> 3);
                int offset = (int)(bitPosition & 7);
                // A field of at most 8 bits spans at most two bytes.
                int spread = field << offset;
                packed[byteIndex] |= (byte)spread;
                if (offset + bits > 8)
                {
                    packed[byteIndex + 1] |= (byte)(spread >> 8);
                }
            }
        }

        /// <summary>Reads field <paramref name="index"/> of a b-bit LSB-first packed buffer.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Get(ReadOnlySpan<byte> packed, int bits, bool isSigned, int index)
        {
            long bitPosition = (long)index * bits;
            int byteIndex = (int)(bitPosition >> 3);
            int offset = (int)(bitPosition & 7);
            int window = packed[byteIndex];
            if (offset + bits > 8)
            {
                window |= packed[byteIndex + 1] << 8;
            }

            int field = (window >> offset) & ((1 << bits) - 1);
            return isSigned ? (field << (32 - bits)) >> (32 - bits) : field;
        }

        /// <summary>Unpacks <paramref name="codes"/>.Length fields starting at field 0.</summary>
        public static void Unpack(ReadOnlySpan<byte> packed, int bits, bool isSigned, Span<int> codes)
        {
            CheckBits(bits);
            if (PackedLength(codes.Length, bits) > packed.Length)
            {
                throw new ArgumentException("The packed buffer is too short.", nameof(packed));
            }

            for (int i = 0; i < codes.Length; i++)
            {
                codes[i] = Get(packed, bits, isSigned, i);
            }
        }

        private static void CheckBits(int bits)
        {
            if (bits < 1 || bits > 8)
            {
                throw new ArgumentOutOfRangeException(nameof(bits), bits, "Bit width must be 1..8.");
            }
        }
    }
}
