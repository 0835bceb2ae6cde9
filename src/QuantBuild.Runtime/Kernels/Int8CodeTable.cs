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
    /// Any int8 → int8 function of one code, tabulated once at prepare time from the kernel's own scalar
    /// definition, then applied to whole tensors with byte shuffles: the unary kernels (Clip/ReLU, Requantize,
    /// LeakyReLU, the float-function tables) and pooling's output rescale share it. The table is the semantics, so
    /// every path gives the definition's bits (docs/algorithms/requantization.md, "Code tables").
    /// <para>x64 (SSSE3/AVX2) shuffles select within 16 bytes: each of the 16 slices of the table is looked up by
    /// an index that keeps the code's low nibble where the high nibble names that slice and has bit 7 set (the shuffle
    /// yields 0) everywhere else. Arm64's TBL looks up 64 bytes at a
    /// time and yields 0 out of range, so four lookups of (code − 64·i) are OR-ed.</para>
    /// </summary>
    public sealed class Int8CodeTable
    {
        /// <summary>Entry for code c at index (byte)c.</summary>
        private readonly byte[] entries = new byte[256];
#if NET8_0_OR_GREATER
        /// <summary>The 16 slices of 16 entries, each twice (both 128-bit lanes of a 256-bit shuffle).</summary>
        private readonly byte[] laneSlices = new byte[512];
#endif

        private bool isClamp;
        private sbyte clampLow;
        private sbyte clampHigh;

        public Int8CodeTable(Func<int, sbyte> function)
        {
            if (function == null)
            {
                throw new ArgumentNullException(nameof(function));
            }

            for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
            {
                entries[(byte)code] = (byte)function(code);
            }

            SliceForShuffles();
        }

        /// <summary>
        /// Replaces every entry (index (byte)code) without allocating: for kernels whose function is only known per
        /// call, such as Max against a one-element input.
        /// </summary>
        public void Update(ReadOnlySpan<sbyte> entriesByCode)
        {
            if (entriesByCode.Length != 256)
            {
                throw new ArgumentException("A code table has 256 entries.", nameof(entriesByCode));
            }

            MemoryMarshal.AsBytes(entriesByCode).CopyTo(entries);
            SliceForShuffles();
        }

        private void SliceForShuffles()
        {
            // A table that is the identity clamped to [lo, hi] (ReLU or Clip at an unchanged scale) maps by min/max.
            clampLow = (sbyte)entries[0x80];
            clampHigh = (sbyte)entries[0x7F];
            isClamp = clampLow <= clampHigh;
            for (int code = sbyte.MinValue; code <= sbyte.MaxValue && isClamp; code++)
            {
                isClamp = (sbyte)entries[(byte)code] == Math.Min(Math.Max(code, clampLow), clampHigh);
            }

#if NET8_0_OR_GREATER
            for (int slice = 0; slice < 16; slice++)
            {
                Array.Copy(entries, slice * 16, laneSlices, slice * 32, 16);
                Array.Copy(entries, slice * 16, laneSlices, slice * 32 + 16, 16);
            }
#endif
        }

        public sbyte this[int code]
        {
            get { return (sbyte)entries[(byte)code]; }
        }

        /// <summary>Which code runs <see cref="Map"/> here; tests assert it per CPU configuration.</summary>
        public static string Path
        {
            get
            {
#if NET8_0_OR_GREATER
                if (Avx2.IsSupported)
                {
                    return "Avx2";
                }

                if (Ssse3.IsSupported && Sse41.IsSupported)
                {
                    return "Ssse3";
                }

                if (AdvSimd.Arm64.IsSupported)
                {
                    return "AdvSimd";
                }
#endif
                return "Scalar";
            }
        }

        /// <summary>output[i] = table[input[i]] for i &lt; input.Length.</summary>
        [MethodImpl(KernelJit.Optimize)]
        public void Map(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            if (output.Length < input.Length)
            {
                throw new ArgumentException("Output is too short.", nameof(output));
            }

            int n = input.Length;
            ref byte source = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(input));
            ref byte target = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(output));
            int i = 0;
#if NET8_0_OR_GREATER
            if (isClamp && Vector128.IsHardwareAccelerated)
            {
                ref sbyte from = ref MemoryMarshal.GetReference(input);
                ref sbyte to = ref MemoryMarshal.GetReference(output);
                if (Vector256.IsHardwareAccelerated)
                {
                    Vector256<sbyte> low256 = Vector256.Create(clampLow), high256 = Vector256.Create(clampHigh);
                    for (; i <= n - 32; i += 32)
                    {
                        Vector256.Min(Vector256.Max(Vector256.LoadUnsafe(ref from, (nuint)i), low256), high256).StoreUnsafe(ref to, (nuint)i);
                    }
                }

                Vector128<sbyte> low = Vector128.Create(clampLow), high = Vector128.Create(clampHigh);
                for (; i <= n - 16; i += 16)
                {
                    Vector128.Min(Vector128.Max(Vector128.LoadUnsafe(ref from, (nuint)i), low), high).StoreUnsafe(ref to, (nuint)i);
                }
            }
            else if (Avx2.IsSupported)
            {
                ref byte slices = ref laneSlices[0];
                for (; i <= n - 32; i += 32)
                {
                    Lookup256(Vector256.LoadUnsafe(ref source, (nuint)i), ref slices).StoreUnsafe(ref target, (nuint)i);
                }
            }
            else if (Ssse3.IsSupported && Sse41.IsSupported)
            {
                ref byte slices = ref laneSlices[0];
                for (; i <= n - 16; i += 16)
                {
                    Lookup128(Vector128.LoadUnsafe(ref source, (nuint)i), ref slices).StoreUnsafe(ref target, (nuint)i);
                }
            }
            else if (AdvSimd.Arm64.IsSupported)
            {
                ref byte table = ref entries[0];
                var quarter0 = (Vector128.LoadUnsafe(ref table, 0), Vector128.LoadUnsafe(ref table, 16), Vector128.LoadUnsafe(ref table, 32), Vector128.LoadUnsafe(ref table, 48));
                var quarter1 = (Vector128.LoadUnsafe(ref table, 64), Vector128.LoadUnsafe(ref table, 80), Vector128.LoadUnsafe(ref table, 96), Vector128.LoadUnsafe(ref table, 112));
                var quarter2 = (Vector128.LoadUnsafe(ref table, 128), Vector128.LoadUnsafe(ref table, 144), Vector128.LoadUnsafe(ref table, 160), Vector128.LoadUnsafe(ref table, 176));
                var quarter3 = (Vector128.LoadUnsafe(ref table, 192), Vector128.LoadUnsafe(ref table, 208), Vector128.LoadUnsafe(ref table, 224), Vector128.LoadUnsafe(ref table, 240));
                Vector128<byte> step = Vector128.Create((byte)64);
                for (; i <= n - 16; i += 16)
                {
                    Vector128<byte> index = Vector128.LoadUnsafe(ref source, (nuint)i);
                    Vector128<byte> result = AdvSimd.Arm64.VectorTableLookup(quarter0, index);
                    index -= step;
                    result |= AdvSimd.Arm64.VectorTableLookup(quarter1, index);
                    index -= step;
                    result |= AdvSimd.Arm64.VectorTableLookup(quarter2, index);
                    index -= step;
                    result |= AdvSimd.Arm64.VectorTableLookup(quarter3, index);
                    result.StoreUnsafe(ref target, (nuint)i);
                }
            }
#endif
            ref byte lookup = ref entries[0];
            for (; i < n; i++)
            {
                Unsafe.Add(ref target, i) = Unsafe.Add(ref lookup, Unsafe.Add(ref source, i));
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>
        /// 32 codes through the 16 slices. Step k looks slice k up at index u − 16k (u the code as a byte), raised by
        /// 0x70 with unsigned saturation: codes of slice k land on 0x70–0x7F (bit 7 clear, low nibble kept), every other
        /// code on 0x80 or above, where the shuffle yields 0. The 16 results OR together; two chains halve the latency.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<byte> Lookup256(Vector256<byte> index, ref byte slices)
        {
            Vector256<byte> sixteen = Vector256.Create((byte)16), raise = Vector256.Create((byte)0x70);
            Vector256<byte> even = Avx2.Shuffle(Vector256.LoadUnsafe(ref slices, 0), Avx2.AddSaturate(index, raise));
            index -= sixteen;
            Vector256<byte> odd = Avx2.Shuffle(Vector256.LoadUnsafe(ref slices, 32), Avx2.AddSaturate(index, raise));
            for (int slice = 2; slice < 16; slice += 2)
            {
                index -= sixteen;
                even |= Avx2.Shuffle(Vector256.LoadUnsafe(ref slices, (nuint)(slice * 32)), Avx2.AddSaturate(index, raise));
                index -= sixteen;
                odd |= Avx2.Shuffle(Vector256.LoadUnsafe(ref slices, (nuint)(slice * 32 + 32)), Avx2.AddSaturate(index, raise));
            }

            return even | odd;
        }

        /// <summary>The 128-bit form of <see cref="Lookup256"/> (SSSE3).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<byte> Lookup128(Vector128<byte> index, ref byte slices)
        {
            Vector128<byte> sixteen = Vector128.Create((byte)16), raise = Vector128.Create((byte)0x70);
            Vector128<byte> even = Ssse3.Shuffle(Vector128.LoadUnsafe(ref slices, 0), Sse2.AddSaturate(index, raise));
            index -= sixteen;
            Vector128<byte> odd = Ssse3.Shuffle(Vector128.LoadUnsafe(ref slices, 32), Sse2.AddSaturate(index, raise));
            for (int slice = 2; slice < 16; slice += 2)
            {
                index -= sixteen;
                even |= Ssse3.Shuffle(Vector128.LoadUnsafe(ref slices, (nuint)(slice * 32)), Sse2.AddSaturate(index, raise));
                index -= sixteen;
                odd |= Ssse3.Shuffle(Vector128.LoadUnsafe(ref slices, (nuint)(slice * 32 + 32)), Sse2.AddSaturate(index, raise));
            }

            return even | odd;
        }
#endif
    }
}
