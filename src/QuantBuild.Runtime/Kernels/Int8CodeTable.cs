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
    /// the code's low nibble and kept where the high nibble names that slice. Arm64's TBL looks up 64 bytes at a
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
                Vector256<byte> nibble = Vector256.Create((byte)0x0F);
                for (; i <= n - 32; i += 32)
                {
                    Vector256<byte> codes = Vector256.LoadUnsafe(ref source, (nuint)i);
                    Vector256<byte> low = codes & nibble;
                    Vector256<byte> high = Vector256.ShiftRightLogical(codes.AsUInt16(), 4).AsByte() & nibble;
                    Vector256<byte> result = Vector256<byte>.Zero;
                    for (int slice = 0; slice < 16; slice++)
                    {
                        Vector256<byte> looked = Avx2.Shuffle(Vector256.LoadUnsafe(ref slices, (nuint)(slice * 32)), low);
                        result = Avx2.BlendVariable(result, looked, Vector256.Equals(high, Vector256.Create((byte)slice)));
                    }

                    result.StoreUnsafe(ref target, (nuint)i);
                }
            }
            else if (Ssse3.IsSupported && Sse41.IsSupported)
            {
                ref byte slices = ref laneSlices[0];
                Vector128<byte> nibble = Vector128.Create((byte)0x0F);
                for (; i <= n - 16; i += 16)
                {
                    Vector128<byte> codes = Vector128.LoadUnsafe(ref source, (nuint)i);
                    Vector128<byte> low = codes & nibble;
                    Vector128<byte> high = Vector128.ShiftRightLogical(codes.AsUInt16(), 4).AsByte() & nibble;
                    Vector128<byte> result = Vector128<byte>.Zero;
                    for (int slice = 0; slice < 16; slice++)
                    {
                        Vector128<byte> looked = Ssse3.Shuffle(Vector128.LoadUnsafe(ref slices, (nuint)(slice * 32)), low);
                        result = Sse41.BlendVariable(result, looked, Vector128.Equals(high, Vector128.Create((byte)slice)));
                    }

                    result.StoreUnsafe(ref target, (nuint)i);
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
    }
}
