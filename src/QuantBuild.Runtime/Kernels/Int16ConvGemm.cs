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
    /// Raw convolution accumulators Σ_k v[k]·w[row, k] for the kernels whose input values do not fit int8 but fit
    /// int16: multipoint layers (v = x − z_x, so padded taps are 0) and log-level inputs (v = the level value, the
    /// zero level in the padding). <see cref="Conv2DInt8"/> only hands out requantized codes, and both of these
    /// layers need the accumulators themselves (a multipoint channel sums several separately scaled rows; a
    /// log-level layer has no zero point to fold away), so they share this blocked GEMM instead.
    /// <para>A chunk of output positions of one group is packed once as int16 pairs in [K/2][position][2] order;
    /// filter rows are stored at prepare time as int16 pairs (one int32 per two taps, the odd tail zero). One
    /// vpmaddwd (SSE2/AVX2) multiplies 8 (or 4) positions' pairs by one row's pair and adds them in int32: exact,
    /// since |v| ≤ 2^15 and |w| ≤ 2^7 make each pair sum at most 2^23. Arm64 forms the same pair sums with
    /// SMULL/SMULL2 and ADDP. Integer addition is exact modulo 2^32 and the callers use this only when their
    /// prepare-time bound keeps every sum inside int32, so any order gives the scalar loop's bits.</para>
    /// Scratch is sized here; nothing allocates afterwards.
    /// </summary>
    internal sealed class Int16ConvGemm
    {
        /// <summary>Output positions per tile (two 8-lane int32 vectors).</summary>
        public const int TilePositions = 16;

        /// <summary>Target size of one packed chunk (bytes): stays in L1/L2 while all rows pass over it.</summary>
        private const int ChunkBytes = 48 * 1024;

        private readonly Conv2DGeometry geometry;
        private readonly int pairs;
        private readonly int[] weightPairs;
        private readonly short[] packed;
        /// <summary>Packing from padded column phases (in <see cref="SharedScratch"/> slot 1), or null: then taps are gathered one by one.</summary>
        private readonly Conv2DPhasedInput phasedInput;

        /// <param name="rows">filter rows (OutChannels or more: multipoint extra rows follow), each FanIn taps</param>
        public Int16ConvGemm(Conv2DGeometry geometry, int rows)
        {
            this.geometry = geometry;
            pairs = (geometry.FanIn + 1) / 2;
            weightPairs = new int[checked(rows * pairs)];
            int outPlane = geometry.OutHeight * geometry.OutWidth;
            int positions = Math.Max(TilePositions, ChunkBytes / (pairs * 4) / TilePositions * TilePositions);
            ChunkPositions = Math.Min((outPlane + TilePositions - 1) / TilePositions * TilePositions, positions);
            packed = new short[pairs * 2 * ChunkPositions];
#pragma warning disable CS8601 // null where the phases do not pay; C# 7.3 source has no nullable annotations
            phasedInput = Conv2DPhasedInput.TryCreateValues(geometry);
#pragma warning restore CS8601
        }

        /// <summary>Output positions per packed chunk, a multiple of <see cref="TilePositions"/>.</summary>
        public int ChunkPositions { get; }

        /// <summary>Stores filter row <paramref name="row"/> (FanIn int8 taps) as int16 pairs.</summary>
        public void SetRow(int row, ReadOnlySpan<sbyte> taps)
        {
            int fanIn = geometry.FanIn;
            int basePair = row * pairs;
            for (int j = 0; j < pairs; j++)
            {
                int k = 2 * j;
                int low = taps[k];
                int high = k + 1 < fanIn ? taps[k + 1] : 0;
                weightPairs[basePair + j] = (low & 0xFFFF) | (high << 16);
            }
        }

        /// <summary>
        /// Writes positions [start, start + count) of one group's receptive fields into the packed chunk, layout
        /// [k / 2][position][k % 2]; taps in the padding get 0. <paramref name="groupValues"/> holds the group's
        /// InChannelsPerGroup input planes as int16 values. A group's chunks must be packed in order, starting at
        /// position 0 (the phased form writes the group's phases there).
        /// </summary>
        public void Pack(ReadOnlySpan<short> groupValues, int start, int count)
        {
            if (phasedInput != null)
            {
                // A group's chunks are packed in order from position 0: its phases are written once, at the first.
                Span<short> phases = MemoryMarshal.Cast<byte, short>(SharedScratch.Bytes(1, 2 * phasedInput.Length).AsSpan());
                if (start == 0)
                {
                    phasedInput.FillValues(groupValues, phases);
                }

                phasedInput.PackValues(phases, start, count, packed, ChunkPositions * 2);
                return;
            }

            Conv2DGeometry g = geometry;
            Span<short> b = packed;
            int inPlane = g.InHeight * g.InWidth;
            int kernelArea = g.KernelHeight * g.KernelWidth;
            int outWidth = g.OutWidth;
            int rowStride = ChunkPositions * 2;
            int end = start + count;
            for (int k = 0; k < g.FanIn; k++)
            {
                int ic = k / kernelArea;
                int ky = (k % kernelArea) / g.KernelWidth;
                int kx = k % g.KernelWidth;
                ReadOnlySpan<short> plane = groupValues.Slice(ic * inPlane, inPlane);
                int dst = (k >> 1) * rowStride + (k & 1);
                int offsetX = kx * g.DilationWidth - g.PadLeft;
                int p = start;
                while (p < end)
                {
                    int oy = p / outWidth;
                    int ox = p - oy * outWidth;
                    int run = Math.Min(outWidth - ox, end - p);
                    int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                    int d = dst + 2 * (p - start);
                    if (iy < 0 || iy >= g.InHeight)
                    {
                        for (int i = 0; i < run; i++, d += 2)
                        {
                            b[d] = 0;
                        }
                    }
                    else
                    {
                        ReadOnlySpan<short> row = plane.Slice(iy * g.InWidth, g.InWidth);
                        int ix = ox * g.StrideWidth + offsetX;
                        for (int i = 0; i < run; i++, d += 2, ix += g.StrideWidth)
                        {
                            b[d] = (uint)ix < (uint)row.Length ? row[ix] : (short)0;
                        }
                    }

                    p += run;
                }
            }
        }

        /// <summary>
        /// acc[i·16 + p] = Σ_k v[k, tile + p]·w[row + i, k] for i &lt; <paramref name="rowCount"/> (4 or 1) and the 16
        /// positions of the tile starting at chunk position <paramref name="tile"/>. Positions past the chunk's
        /// count hold whatever the buffer held: their sums are computed and ignored.
        /// </summary>
        public void Tile(int row, int rowCount, int tile, Span<int> acc)
        {
            ref short b = ref packed[tile * 2];
            int rowStride = ChunkPositions * 2;
#if NET8_0_OR_GREATER
            if (Avx2.IsSupported && rowCount == 4)
            {
                Tile4Avx2(ref b, rowStride, ref weightPairs[row * pairs], acc);
                return;
            }
#endif
            for (int i = 0; i < rowCount; i++)
            {
                Tile1(ref b, rowStride, ref weightPairs[(row + i) * pairs], acc.Slice(i * TilePositions, TilePositions));
            }
        }

        private void Tile1(ref short b, int rowStride, ref int w, Span<int> acc)
        {
            ref int target = ref MemoryMarshal.GetReference(acc);
#if NET8_0_OR_GREATER
            if (Avx2.IsSupported)
            {
                Vector256<int> a0 = Vector256<int>.Zero, a1 = Vector256<int>.Zero;
                for (int j = 0; j < pairs; j++)
                {
                    ref short bq = ref Unsafe.Add(ref b, j * rowStride);
                    Vector256<short> v = Vector256.Create(Unsafe.Add(ref w, j)).AsInt16();
                    a0 += Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bq), v);
                    a1 += Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bq, 16), v);
                }

                a0.StoreUnsafe(ref target, 0);
                a1.StoreUnsafe(ref target, 8);
                return;
            }

            if (Sse2.IsSupported)
            {
                Vector128<int> a0 = Vector128<int>.Zero, a1 = Vector128<int>.Zero, a2 = Vector128<int>.Zero, a3 = Vector128<int>.Zero;
                for (int j = 0; j < pairs; j++)
                {
                    ref short bq = ref Unsafe.Add(ref b, j * rowStride);
                    Vector128<short> v = Vector128.Create(Unsafe.Add(ref w, j)).AsInt16();
                    a0 += Sse2.MultiplyAddAdjacent(Vector128.LoadUnsafe(ref bq), v);
                    a1 += Sse2.MultiplyAddAdjacent(Vector128.LoadUnsafe(ref bq, 8), v);
                    a2 += Sse2.MultiplyAddAdjacent(Vector128.LoadUnsafe(ref bq, 16), v);
                    a3 += Sse2.MultiplyAddAdjacent(Vector128.LoadUnsafe(ref bq, 24), v);
                }

                a0.StoreUnsafe(ref target, 0);
                a1.StoreUnsafe(ref target, 4);
                a2.StoreUnsafe(ref target, 8);
                a3.StoreUnsafe(ref target, 12);
                return;
            }

            if (AdvSimd.Arm64.IsSupported)
            {
                Vector128<int> a0 = Vector128<int>.Zero, a1 = Vector128<int>.Zero, a2 = Vector128<int>.Zero, a3 = Vector128<int>.Zero;
                for (int j = 0; j < pairs; j++)
                {
                    ref short bq = ref Unsafe.Add(ref b, j * rowStride);
                    Vector128<short> v = Vector128.Create(Unsafe.Add(ref w, j)).AsInt16();
                    a0 += PairSumsArm(Vector128.LoadUnsafe(ref bq), v);
                    a1 += PairSumsArm(Vector128.LoadUnsafe(ref bq, 8), v);
                    a2 += PairSumsArm(Vector128.LoadUnsafe(ref bq, 16), v);
                    a3 += PairSumsArm(Vector128.LoadUnsafe(ref bq, 24), v);
                }

                a0.StoreUnsafe(ref target, 0);
                a1.StoreUnsafe(ref target, 4);
                a2.StoreUnsafe(ref target, 8);
                a3.StoreUnsafe(ref target, 12);
                return;
            }
#endif
            for (int p = 0; p < TilePositions; p++)
            {
                int sum = 0;
                for (int j = 0; j < pairs; j++)
                {
                    ref short bq = ref Unsafe.Add(ref b, j * rowStride + 2 * p);
                    int pair = Unsafe.Add(ref w, j);
                    sum += bq * (short)pair + Unsafe.Add(ref bq, 1) * (pair >> 16);
                }

                Unsafe.Add(ref target, p) = sum;
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>4 rows × 16 positions in 8 AVX2 accumulators: each packed load serves four rows.</summary>
        private void Tile4Avx2(ref short b, int rowStride, ref int w0, Span<int> acc)
        {
            ref int w1 = ref Unsafe.Add(ref w0, pairs);
            ref int w2 = ref Unsafe.Add(ref w1, pairs);
            ref int w3 = ref Unsafe.Add(ref w2, pairs);
            Vector256<int> a00 = Vector256<int>.Zero, a01 = Vector256<int>.Zero;
            Vector256<int> a10 = Vector256<int>.Zero, a11 = Vector256<int>.Zero;
            Vector256<int> a20 = Vector256<int>.Zero, a21 = Vector256<int>.Zero;
            Vector256<int> a30 = Vector256<int>.Zero, a31 = Vector256<int>.Zero;
            for (int j = 0; j < pairs; j++)
            {
                ref short bq = ref Unsafe.Add(ref b, j * rowStride);
                Vector256<short> x0 = Vector256.LoadUnsafe(ref bq);
                Vector256<short> x1 = Vector256.LoadUnsafe(ref bq, 16);
                Vector256<short> v = Vector256.Create(Unsafe.Add(ref w0, j)).AsInt16();
                a00 += Avx2.MultiplyAddAdjacent(x0, v); a01 += Avx2.MultiplyAddAdjacent(x1, v);
                v = Vector256.Create(Unsafe.Add(ref w1, j)).AsInt16();
                a10 += Avx2.MultiplyAddAdjacent(x0, v); a11 += Avx2.MultiplyAddAdjacent(x1, v);
                v = Vector256.Create(Unsafe.Add(ref w2, j)).AsInt16();
                a20 += Avx2.MultiplyAddAdjacent(x0, v); a21 += Avx2.MultiplyAddAdjacent(x1, v);
                v = Vector256.Create(Unsafe.Add(ref w3, j)).AsInt16();
                a30 += Avx2.MultiplyAddAdjacent(x0, v); a31 += Avx2.MultiplyAddAdjacent(x1, v);
            }

            ref int target = ref MemoryMarshal.GetReference(acc);
            a00.StoreUnsafe(ref target, 0); a01.StoreUnsafe(ref target, 8);
            a10.StoreUnsafe(ref target, 16); a11.StoreUnsafe(ref target, 24);
            a20.StoreUnsafe(ref target, 32); a21.StoreUnsafe(ref target, 40);
            a30.StoreUnsafe(ref target, 48); a31.StoreUnsafe(ref target, 56);
        }

        /// <summary>
        /// Arm64 has no pmaddwd: SMULL/SMULL2 give the 8 exact int32 products of 4 positions' pairs, [p0k0, p0k1,
        /// p1k0, p1k1] and [p2k0, …], and ADDP adds adjacent lanes into [p0, p1, p2, p3].
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<int> PairSumsArm(Vector128<short> x, Vector128<short> w)
        {
            Vector128<int> low = AdvSimd.MultiplyWideningLower(x.GetLower(), w.GetLower());
            Vector128<int> high = AdvSimd.MultiplyWideningUpper(x, w);
            return AdvSimd.Arm64.AddPairwise(low, high);
        }
#endif

        /// <summary>Which tile code runs on this machine; tests assert it so each ISA setting is known to exercise its own.</summary>
        public static string Path
        {
            get
            {
#if NET8_0_OR_GREATER
                if (Avx2.IsSupported)
                {
                    return "Avx2";
                }

                if (Sse2.IsSupported)
                {
                    return "Sse2";
                }

                if (AdvSimd.Arm64.IsSupported)
                {
                    return "AdvSimd";
                }
#endif
                return "Scalar";
            }
        }
    }
}
