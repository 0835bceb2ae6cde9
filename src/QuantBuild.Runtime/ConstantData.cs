using System;
using System.Runtime.InteropServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Decodes constant data that the generated code stores packed (written by QuantBuild.Emit.ConstantDataEncoding):
    /// 32-bit elements (float bits or int32) where a run of one repeated value costs a few bytes instead of
    /// four per element, so a block of padding zeros no longer makes the generated file as large as the tensor.
    /// <para>Layout: varint element count, then blocks until the count is reached, each a varint header
    /// <c>(length &lt;&lt; 1) | kind</c>: kind 0 = <c>length</c> literal elements follow (4 bytes each,
    /// little-endian); kind 1 = one element follows (4 bytes, little-endian), repeated <c>length</c> times.
    /// Varints are unsigned LEB128 (7 bits a byte, low group first). Elements are assembled from bytes with
    /// shifts, so decoding gives the same values on every CPU.</para>
    /// </summary>
    public static class ConstantData
    {
        /// <summary>
        /// The first <paramref name="length"/> bytes of data the generated code stores as little-endian 64-bit
        /// words (eight bytes per literal: far fewer tokens for the compiler than one literal per byte, and still
        /// the data's own bytes in the assembly). On a little-endian CPU this is a view of the words, no copy.
        /// </summary>
        public static ReadOnlySpan<byte> Bytes(ReadOnlySpan<ulong> words, int length)
        {
            if (length < 0 || length > words.Length * 8)
            {
                throw new ArgumentOutOfRangeException("length");
            }

            if (BitConverter.IsLittleEndian)
            {
                return MemoryMarshal.AsBytes(words).Slice(0, length);
            }

            byte[] bytes = new byte[length];
            for (int i = 0; i < length; i++)
            {
                bytes[i] = (byte)(words[i >> 3] >> (8 * (i & 7)));
            }

            return bytes;
        }

        /// <summary>The float32 values of packed data.</summary>
        public static float[] DecodeFloats(byte[] data)
        {
            int[] bits = DecodeInts(data);
            return MemoryMarshal.Cast<int, float>(bits.AsSpan()).ToArray();
        }

        /// <summary>The int32 values of packed data.</summary>
        public static int[] DecodeInts(byte[] data)
        {
            if (data == null)
            {
                throw new ArgumentNullException("data");
            }

            int position = 0;
            int count = ReadVarint(data, ref position);
            int[] values = new int[count];
            int written = 0;
            while (written < count)
            {
                int header = ReadVarint(data, ref position);
                int length = (int)((uint)header >> 1);
                if (length == 0 || length > count - written)
                {
                    throw new FormatException("Packed constant data has a block of an invalid length.");
                }

                if ((header & 1) == 1)
                {
                    int value = ReadWord(data, ref position);
                    for (int i = 0; i < length; i++)
                    {
                        values[written + i] = value;
                    }
                }
                else
                {
                    for (int i = 0; i < length; i++)
                    {
                        values[written + i] = ReadWord(data, ref position);
                    }
                }

                written += length;
            }

            if (position != data.Length)
            {
                throw new FormatException("Packed constant data has trailing bytes.");
            }

            return values;
        }

        private static int ReadVarint(byte[] data, ref int position)
        {
            uint value = 0;
            for (int shift = 0; shift < 35; shift += 7)
            {
                if (position >= data.Length)
                {
                    throw new FormatException("Packed constant data ends inside a length.");
                }

                byte b = data[position++];
                value |= (uint)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    if (value > int.MaxValue)
                    {
                        throw new FormatException("Packed constant data has a length beyond 2^31 - 1.");
                    }

                    return (int)value;
                }
            }

            throw new FormatException("Packed constant data has an overlong length.");
        }

        private static int ReadWord(byte[] data, ref int position)
        {
            if (data.Length - position < 4)
            {
                throw new FormatException("Packed constant data ends inside a value.");
            }

            int value = data[position] | (data[position + 1] << 8) | (data[position + 2] << 16) | (data[position + 3] << 24);
            position += 4;
            return value;
        }
    }
}
