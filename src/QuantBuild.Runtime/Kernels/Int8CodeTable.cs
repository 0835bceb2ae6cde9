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

        /// <summary>
        /// The table is clamp((c·<see cref="affineMultiplier"/> + <see cref="affineOffset"/>) >> <see cref="affineShift"/>,
        /// entry(−128), entry(127)) at every code: a rescale staircase (Relu or Clip into another scale, a requantize)
        /// that AVX2 computes with a multiply, an add and a shift per eight codes instead of sixteen shuffles.
        /// </summary>
        private bool isAffine;
        private int affineMultiplier;
        private int affineOffset;
        private int affineShift;

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
            isAffine = !isClamp && FitAffine(out affineMultiplier, out affineOffset, out affineShift);
        }

        /// <summary>
        /// Looks for m ≤ 2^23, |q| &lt; 2^30 and a shift s ≤ 22 with clamp((c·m + q) >> s, first, last) = entry(c) for every
        /// code c (first = entry(−128), last = entry(127)); c·m + q then always fits int32. The slope m/2^s is taken in the
        /// middle of the window every two codes strictly between the ends allow, q from the intersection of what every code
        /// allows, and every candidate is checked at all 256 codes. False for tables that are not such a staircase.
        /// </summary>
        private bool FitAffine(out int multiplier, out int offset, out int shift)
        {
            multiplier = offset = shift = 0;
            int first = (sbyte)entries[0x80], last = (sbyte)entries[0x7F];
            int low = int.MaxValue, high = int.MinValue;
            for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
            {
                int entry = (sbyte)entries[(byte)code];
                if (code > sbyte.MinValue && entry < (sbyte)entries[(byte)(code - 1)])
                {
                    return false; // non-decreasing tables only
                }

                if (entry > first && entry < last)
                {
                    low = Math.Min(low, code);
                    high = Math.Max(high, code);
                }
            }

            if (first >= last || low > high)
            {
                return false;
            }

            // A line through the staircase has a slope in every pair's window (e_j − e_i ∓ 1)/(j − i).
            double lowerSlope = 0.0, upperSlope = 256.0;
            for (int a = low; a <= high; a++)
            {
                for (int b = a + 1; b <= high; b++)
                {
                    int rise = (sbyte)entries[(byte)b] - (sbyte)entries[(byte)a];
                    lowerSlope = Math.Max(lowerSlope, (rise - 1.0) / (b - a));
                    upperSlope = Math.Min(upperSlope, (rise + 1.0) / (b - a));
                }
            }

            for (int s = 22; s >= 0; s--)
            {
                long middle = (long)Math.Round((lowerSlope + upperSlope) / 2 * (1L << s));
                for (long m = middle - 2; m <= middle + 2; m++)
                {
                    if (m < 0 || m > 1 << 23)
                    {
                        continue;
                    }

                    // Each code bounds q: inside the ends, entry·2^s ≤ c·m + q < (entry + 1)·2^s; at an end, only one side.
                    long qLow = long.MinValue, qHigh = long.MaxValue;
                    for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
                    {
                        long entry = (sbyte)entries[(byte)code];
                        long product = code * m;
                        if (entry > first)
                        {
                            qLow = Math.Max(qLow, (entry << s) - product);
                        }

                        if (entry < last)
                        {
                            qHigh = Math.Min(qHigh, ((entry + 1) << s) - 1 - product);
                        }
                    }

                    long q = Math.Max(qLow, -(1L << 30) + 1);
                    if (q <= qHigh && q < 1L << 30 && AffineMatches((int)m, (int)q, s, first, last))
                    {
                        multiplier = (int)m;
                        offset = (int)q;
                        shift = s;
                        return true;
                    }
                }
            }

            return false;
        }

        /// <summary>The affine form's value at every code equals the table (the check the fit relies on).</summary>
        private bool AffineMatches(int m, int q, int s, int first, int last)
        {
            for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
            {
                int value = Math.Min(Math.Max((code * m + q) >> s, first), last);
                if (value != (sbyte)entries[(byte)code])
                {
                    return false;
                }
            }

            return true;
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
            isAffine = false;
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

        /// <summary>Whether the table is a rescale staircase that AVX2 maps by multiply-add (tests check which tables are).</summary>
        internal bool IsAffine
        {
            get { return isAffine; }
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
            else if (isAffine && Avx2.IsSupported)
            {
                i = MapAffine(input, output);
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
        /// 32 codes at a time on the affine form: four runs of eight codes widened to int32, c·m + q (exact: it fits int32 by
        /// the fit's bounds), an arithmetic shift, then the saturating packs and the clamp to the table's ends on bytes
        /// (<see cref="SingleRoundingVector.NarrowClamped"/>). Returns how many codes it wrote.
        /// </summary>
        private int MapAffine(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {

            ref sbyte from = ref MemoryMarshal.GetReference(input);
            ref sbyte to = ref MemoryMarshal.GetReference(output);
            Vector256<int> m = Vector256.Create(affineMultiplier), q = Vector256.Create(affineOffset);
            Vector256<sbyte> low = Vector256.Create((sbyte)entries[0x80]), high = Vector256.Create((sbyte)entries[0x7F]);
            int shift = affineShift;
            int n = input.Length;
            int i = 0;
            for (; i <= n - 32; i += 32)
            {
                Vector256<int> a = Vector256.ShiftRightArithmetic(Eight(ref from, i) * m + q, shift);
                Vector256<int> b = Vector256.ShiftRightArithmetic(Eight(ref from, i + 8) * m + q, shift);
                Vector256<int> c = Vector256.ShiftRightArithmetic(Eight(ref from, i + 16) * m + q, shift);
                Vector256<int> d = Vector256.ShiftRightArithmetic(Eight(ref from, i + 24) * m + q, shift);
                SingleRoundingVector.NarrowClamped(a, b, c, d, low, high).StoreUnsafe(ref to, (nuint)i);
            }

            return i;
        }

        /// <summary>Eight codes from one 8-byte load (a 16-byte load would read past the last run's end), widened to int32.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> Eight(ref sbyte from, int at)
        {
            return Avx2.ConvertToVector256Int32(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref from, at)))).AsSByte());
        }

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
