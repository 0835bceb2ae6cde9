using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Optimized int8 2-D convolution (NCHW, OIHW weights as given), bit-identical to <see cref="Conv2DInt8Reference"/>.
    /// Two paths, both exact integer arithmetic ending at the reference's int32 accumulator:
    /// <list type="bullet">
    /// <item>One input channel per group (depthwise, and single-channel stems): per output row, each tap
    /// adds w·(x − z_x) over the valid output columns (vectorized along a row when the column stride is 1).</item>
    /// <item>Otherwise a blocked GEMM per group: a chunk of output positions is packed once as unsigned
    /// codes x + 128 in [K/4][positions][4] order (padded taps hold z_x + 128), then each tile of
    /// 4 filters × 16 positions is a run of u8·s8 4-way dot products (AVX-VNNI, or an exact AVX2
    /// emulation) reading the OIHW weights in place. The shift by 128 and the input zero point are
    /// removed with the prepare-time weight sums: Σ (x − z_x)·w = Σ (x + 128)·w − (z_x + 128)·Σ w.</item>
    /// </list>
    /// Integer addition is exact modulo 2^32 and the prepare-time bound guarantees the final value fits
    /// int32, so every reduction order gives the reference's bits. Layers whose bound exceeds int32 run
    /// the reference's int64 path instead. Scratch buffers are sized here; Eval allocates nothing.
    /// </summary>
    public sealed class Conv2DInt8
    {
        /// <summary>Output positions per GEMM tile (two 8-lane int32 vectors).</summary>
        private const int TilePositions = 16;

        /// <summary>Target size of one packed chunk of the input (bytes): stays in L1/L2 while all filters pass over it.</summary>
        private const int ChunkBytes = 48 * 1024;

        private readonly Conv2DGeometry geometry;
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly int[] shiftedBias;
        private readonly int[] tailWeights;
        private readonly ChannelRequantizer requantizer;
        private readonly Conv2DInt8Reference reference;
        private readonly bool useWideAccumulator;
        private readonly bool singleInputChannel;
        private readonly int chunkPositions;
        private readonly byte[] packed;
        private readonly int[] accumulators;

        public Conv2DInt8(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.SingleRounding)
        {
            var reference = new Conv2DInt8Reference(geometry, input, weightScales, output, weights, bias, clampMin, clampMax, rounding);
            this.geometry = geometry;
            requantizer = reference.Requantizer;
            KernelArguments.RequireInt8ZeroPoint(input);

            inputZeroPoint = input.ZeroPoint;
            this.reference = reference;
            useWideAccumulator = reference.UsesInt64Accumulator;
            this.bias = bias.IsEmpty ? new int[geometry.OutChannels] : bias.ToArray();
            singleInputChannel = geometry.InChannelsPerGroup == 1;
            int fanIn = geometry.FanIn;
            int outPlane = geometry.OutHeight * geometry.OutWidth;
            shiftedBias = new int[geometry.OutChannels];
            tailWeights = new int[geometry.OutChannels];
            if (useWideAccumulator)
            {
                packed = new byte[0];
                accumulators = new int[0];
                return;
            }

            if (singleInputChannel)
            {
                packed = new byte[0];
                accumulators = new int[RoundUp(geometry.OutWidth, TilePositions)];
                return;
            }

            // b'_j = b_j − (z_x + 128)·Σ_k w[j,k]; wraps modulo 2^32 like the accumulator itself.
            long[] folded = ConvWeightStats.FoldedBias(weights, geometry.OutChannels, fanIn, bias, input.ZeroPoint + 128);
            int fullGroups = fanIn / 4;
            for (int c = 0; c < folded.Length; c++)
            {
                shiftedBias[c] = unchecked((int)folded[c]);
                // The last, partial group of four weights, zero-extended, so the inner loop never reads past a filter.
                int tail = 0;
                for (int k = fullGroups * 4; k < fanIn; k++)
                {
                    tail |= (weights[c * fanIn + k] & 0xFF) << (8 * (k - fullGroups * 4));
                }

                tailWeights[c] = tail;
            }

            int groupsOfFour = (fanIn + 3) / 4;
            int positions = Math.Max(TilePositions, ChunkBytes / (groupsOfFour * 4) / TilePositions * TilePositions);
            chunkPositions = Math.Min(RoundUp(outPlane, TilePositions), positions);
            packed = new byte[groupsOfFour * 4 * chunkPositions];
            accumulators = new int[4 * TilePositions];
        }

        public Conv2DGeometry Geometry
        {
            get { return geometry; }
        }

        public bool UsesInt64Accumulator
        {
            get { return useWideAccumulator; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            if (useWideAccumulator)
            {
                reference.Eval(input, weights, output);
                return;
            }

            Conv2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength || weights.Length != g.WeightLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            if (singleInputChannel)
            {
                EvalSingleInputChannel(input, weights, output);
            }
            else
            {
                EvalGemm(input, weights, output);
            }
        }

        private static int RoundUp(int value, int multiple)
        {
            return (value + multiple - 1) / multiple * multiple;
        }

        // ---------------------------------------------------------------- one input channel per group

        private void EvalSingleInputChannel(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int taps = g.KernelHeight * g.KernelWidth;
            int ocPerGroup = g.OutChannelsPerGroup;
            Span<int> acc = accumulators;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int oc = 0; oc < g.OutChannels; oc++)
                {
                    ReadOnlySpan<sbyte> plane = input.Slice((n * g.InChannels + oc / ocPerGroup) * inPlane, inPlane);
                    ReadOnlySpan<sbyte> filter = weights.Slice(oc * taps, taps);
                    int outBase = (n * g.OutChannels + oc) * outPlane;
                    int channelBias = bias[oc];
                    for (int oy = 0; oy < g.OutHeight; oy++)
                    {
                        acc.Slice(0, g.OutWidth).Clear();
                        for (int ky = 0; ky < g.KernelHeight; ky++)
                        {
                            int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                            if (iy < 0 || iy >= g.InHeight)
                            {
                                continue; // padded rows hold z_x: they add 0
                            }

                            ReadOnlySpan<sbyte> row = plane.Slice(iy * g.InWidth, g.InWidth);
                            for (int kx = 0; kx < g.KernelWidth; kx++)
                            {
                                int w = filter[ky * g.KernelWidth + kx];
                                if (w != 0)
                                {
                                    AddTap(row, acc, w, kx * g.DilationWidth - g.PadLeft);
                                }
                            }
                        }

                        Span<sbyte> outRow = output.Slice(outBase + oy * g.OutWidth, g.OutWidth);
                        for (int ox = 0; ox < outRow.Length; ox++)
                        {
                            outRow[ox] = requantizer.Apply(acc[ox] + channelBias, oc);
                        }
                    }
                }
            }
        }

        /// <summary>acc[ox] += w·(row[ox·stride + offset] − z_x) for every ox whose tap lies inside the row.</summary>
        private void AddTap(ReadOnlySpan<sbyte> row, Span<int> acc, int w, int offset)
        {
            int stride = geometry.StrideWidth;
            int outWidth = geometry.OutWidth;
            // Valid columns: 0 ≤ ox·stride + offset < width.
            int first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
            int lastInput = row.Length - 1 - offset;
            if (lastInput < 0)
            {
                return;
            }

            int end = Math.Min(outWidth, lastInput / stride + 1);
            int ox = first;
            if (stride == 1)
            {
#if NET8_0_OR_GREATER
                if (Vector256.IsHardwareAccelerated)
                {
                    ref sbyte source = ref MemoryMarshal.GetReference(row);
                    ref int target = ref MemoryMarshal.GetReference(acc);
                    Vector256<short> zero = Vector256.Create((short)inputZeroPoint);
                    Vector256<short> weight = Vector256.Create((short)w);
                    for (; ox <= end - 16; ox += 16)
                    {
                        Vector256<short> x = Vector256.WidenLower(Vector128.LoadUnsafe(ref source, (nuint)(ox + offset)).ToVector256Unsafe());
                        // |x − z_x| ≤ 255 and |w| ≤ 128: the int16 product (≤ 32640) is exact.
                        Vector256<short> product = (x - zero) * weight;
                        Vector256<int> low = Vector256.WidenLower(product);
                        Vector256<int> high = Vector256.WidenUpper(product);
                        (Vector256.LoadUnsafe(ref target, (nuint)ox) + low).StoreUnsafe(ref target, (nuint)ox);
                        (Vector256.LoadUnsafe(ref target, (nuint)(ox + 8)) + high).StoreUnsafe(ref target, (nuint)(ox + 8));
                    }
                }
#endif
                for (; ox < end; ox++)
                {
                    acc[ox] += w * (row[ox + offset] - inputZeroPoint);
                }

                return;
            }

            for (; ox < end; ox++)
            {
                acc[ox] += w * (row[ox * stride + offset] - inputZeroPoint);
            }
        }

        // ---------------------------------------------------------------- blocked GEMM

        private void EvalGemm(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int ocPerGroup = g.OutChannelsPerGroup;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int group = 0; group < g.Groups; group++)
                {
                    ReadOnlySpan<sbyte> groupInput = input.Slice((n * g.InChannels + group * g.InChannelsPerGroup) * inPlane, g.InChannelsPerGroup * inPlane);
                    for (int start = 0; start < outPlane; start += chunkPositions)
                    {
                        int count = Math.Min(chunkPositions, outPlane - start);
                        Pack(groupInput, start, count);
                        int firstChannel = group * ocPerGroup;
                        int oc = firstChannel;
                        for (; oc <= firstChannel + ocPerGroup - 4; oc += 4)
                        {
                            ComputeTiles(weights, output, n, oc, 4, start, count);
                        }

                        for (; oc < firstChannel + ocPerGroup; oc++)
                        {
                            ComputeTiles(weights, output, n, oc, 1, start, count);
                        }
                    }
                }
            }
        }

        /// <summary>
        /// Writes positions [start, start + count) of one group's receptive fields into <see cref="packed"/> as
        /// x + 128, layout [k / 4][position][k % 4]; taps in the padding get z_x + 128 (real 0).
        /// </summary>
        private void Pack(ReadOnlySpan<sbyte> groupInput, int start, int count)
        {
            Conv2DGeometry g = geometry;
            Span<byte> b = packed;
            int inPlane = g.InHeight * g.InWidth;
            int kernelArea = g.KernelHeight * g.KernelWidth;
            int outWidth = g.OutWidth;
            byte padCode = (byte)(inputZeroPoint + 128);
            int rowStride = chunkPositions * 4;
            for (int k = 0; k < g.FanIn; k++)
            {
                int ic = k / kernelArea;
                int ky = (k % kernelArea) / g.KernelWidth;
                int kx = k % g.KernelWidth;
                ReadOnlySpan<sbyte> plane = groupInput.Slice(ic * inPlane, inPlane);
                int dst = (k >> 2) * rowStride + (k & 3);
                int p = start;
                int end = start + count;
                int offsetX = kx * g.DilationWidth - g.PadLeft;
                while (p < end)
                {
                    int oy = p / outWidth;
                    int ox = p - oy * outWidth;
                    int run = Math.Min(outWidth - ox, end - p);
                    int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                    if (iy < 0 || iy >= g.InHeight)
                    {
                        for (int i = 0; i < run; i++)
                        {
                            b[dst + 4 * (p - start + i)] = padCode;
                        }
                    }
                    else
                    {
                        ReadOnlySpan<sbyte> row = plane.Slice(iy * g.InWidth, g.InWidth);
                        int d = dst + 4 * (p - start);
                        for (int i = 0; i < run; i++, d += 4)
                        {
                            int ix = (ox + i) * g.StrideWidth + offsetX;
                            b[d] = (uint)ix < (uint)row.Length ? (byte)(row[ix] + 128) : padCode;
                        }
                    }

                    p += run;
                }
            }
        }

        /// <summary>Output channels [oc, oc + channels) (channels = 4 or 1) over the packed chunk, then requantization.</summary>
        private void ComputeTiles(ReadOnlySpan<sbyte> weights, Span<sbyte> output, int n, int oc, int channels, int start, int count)
        {
            Conv2DGeometry g = geometry;
            int outPlane = g.OutHeight * g.OutWidth;
            Span<int> acc = accumulators;
            for (int tile = 0; tile < count; tile += TilePositions)
            {
                if (channels == 4)
                {
                    Tile4(weights, oc, tile, acc);
                }
                else
                {
                    Tile1(weights, oc, tile, acc);
                }

                int valid = Math.Min(TilePositions, count - tile);
                for (int c = 0; c < channels; c++)
                {
                    int channel = oc + c;
                    int channelBias = shiftedBias[channel];
                    Span<sbyte> outRow = output.Slice((n * g.OutChannels + channel) * outPlane + start + tile, valid);
                    Span<int> row = acc.Slice(c * TilePositions, TilePositions);
                    for (int i = 0; i < valid; i++)
                    {
                        outRow[i] = requantizer.Apply(unchecked(row[i] + channelBias), channel);
                    }
                }
            }
        }

        /// <summary>Raw Σ (x + 128)·w of 4 filters × 16 positions into acc[c·16 + position].</summary>
        private void Tile4(ReadOnlySpan<sbyte> weights, int oc, int tile, Span<int> acc)
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            bool hasTail = fanIn % 4 != 0;
            int rowStride = chunkPositions * 4;
            ref byte b = ref packed[tile * 4];
            ref byte w0 = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(weights.Slice(oc * fanIn)));
            ref byte w1 = ref Unsafe.Add(ref w0, fanIn);
            ref byte w2 = ref Unsafe.Add(ref w1, fanIn);
            ref byte w3 = ref Unsafe.Add(ref w2, fanIn);
#if NET8_0_OR_GREATER
            if (Avx2.IsSupported)
            {
                Vector256<int> a00 = Vector256<int>.Zero, a01 = Vector256<int>.Zero;
                Vector256<int> a10 = Vector256<int>.Zero, a11 = Vector256<int>.Zero;
                Vector256<int> a20 = Vector256<int>.Zero, a21 = Vector256<int>.Zero;
                Vector256<int> a30 = Vector256<int>.Zero, a31 = Vector256<int>.Zero;
                for (int q = 0; q < fullGroups; q++)
                {
                    ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                    Vector256<byte> x0 = Vector256.LoadUnsafe(ref bq);
                    Vector256<byte> x1 = Vector256.LoadUnsafe(ref bq, 32);
                    Vector256<sbyte> v0 = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w0, q * 4))).AsSByte();
                    Vector256<sbyte> v1 = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w1, q * 4))).AsSByte();
                    Vector256<sbyte> v2 = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w2, q * 4))).AsSByte();
                    Vector256<sbyte> v3 = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w3, q * 4))).AsSByte();
                    a00 = MultiplyAdd(a00, x0, v0); a01 = MultiplyAdd(a01, x1, v0);
                    a10 = MultiplyAdd(a10, x0, v1); a11 = MultiplyAdd(a11, x1, v1);
                    a20 = MultiplyAdd(a20, x0, v2); a21 = MultiplyAdd(a21, x1, v2);
                    a30 = MultiplyAdd(a30, x0, v3); a31 = MultiplyAdd(a31, x1, v3);
                }

                if (hasTail)
                {
                    ref byte bq = ref Unsafe.Add(ref b, fullGroups * rowStride);
                    Vector256<byte> x0 = Vector256.LoadUnsafe(ref bq);
                    Vector256<byte> x1 = Vector256.LoadUnsafe(ref bq, 32);
                    Vector256<sbyte> v0 = Vector256.Create(tailWeights[oc]).AsSByte();
                    Vector256<sbyte> v1 = Vector256.Create(tailWeights[oc + 1]).AsSByte();
                    Vector256<sbyte> v2 = Vector256.Create(tailWeights[oc + 2]).AsSByte();
                    Vector256<sbyte> v3 = Vector256.Create(tailWeights[oc + 3]).AsSByte();
                    a00 = MultiplyAdd(a00, x0, v0); a01 = MultiplyAdd(a01, x1, v0);
                    a10 = MultiplyAdd(a10, x0, v1); a11 = MultiplyAdd(a11, x1, v1);
                    a20 = MultiplyAdd(a20, x0, v2); a21 = MultiplyAdd(a21, x1, v2);
                    a30 = MultiplyAdd(a30, x0, v3); a31 = MultiplyAdd(a31, x1, v3);
                }

                ref int target = ref MemoryMarshal.GetReference(acc);
                a00.StoreUnsafe(ref target, 0); a01.StoreUnsafe(ref target, 8);
                a10.StoreUnsafe(ref target, 16); a11.StoreUnsafe(ref target, 24);
                a20.StoreUnsafe(ref target, 32); a21.StoreUnsafe(ref target, 40);
                a30.StoreUnsafe(ref target, 48); a31.StoreUnsafe(ref target, 56);
                return;
            }
#endif
            Tile1(weights, oc, tile, acc);
            Tile1(weights, oc + 1, tile, acc.Slice(TilePositions));
            Tile1(weights, oc + 2, tile, acc.Slice(2 * TilePositions));
            Tile1(weights, oc + 3, tile, acc.Slice(3 * TilePositions));
        }

        /// <summary>Raw Σ (x + 128)·w of one filter × 16 positions into acc[position].</summary>
        private void Tile1(ReadOnlySpan<sbyte> weights, int oc, int tile, Span<int> acc)
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            bool hasTail = fanIn % 4 != 0;
            int rowStride = chunkPositions * 4;
            ref byte b = ref packed[tile * 4];
            ref byte w = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(weights.Slice(oc * fanIn)));
#if NET8_0_OR_GREATER
            if (Avx2.IsSupported)
            {
                Vector256<int> a0 = Vector256<int>.Zero, a1 = Vector256<int>.Zero;
                for (int q = 0; q < fullGroups; q++)
                {
                    ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                    Vector256<sbyte> v = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w, q * 4))).AsSByte();
                    a0 = MultiplyAdd(a0, Vector256.LoadUnsafe(ref bq), v);
                    a1 = MultiplyAdd(a1, Vector256.LoadUnsafe(ref bq, 32), v);
                }

                if (hasTail)
                {
                    ref byte bq = ref Unsafe.Add(ref b, fullGroups * rowStride);
                    Vector256<sbyte> v = Vector256.Create(tailWeights[oc]).AsSByte();
                    a0 = MultiplyAdd(a0, Vector256.LoadUnsafe(ref bq), v);
                    a1 = MultiplyAdd(a1, Vector256.LoadUnsafe(ref bq, 32), v);
                }

                ref int target = ref MemoryMarshal.GetReference(acc);
                a0.StoreUnsafe(ref target, 0);
                a1.StoreUnsafe(ref target, 8);
                return;
            }
#endif
            for (int p = 0; p < TilePositions; p++)
            {
                int sum = 0;
                for (int q = 0; q < fullGroups; q++)
                {
                    ref byte bq = ref Unsafe.Add(ref b, q * rowStride + p * 4);
                    ref byte wq = ref Unsafe.Add(ref w, q * 4);
                    sum += bq * (sbyte)wq
                        + Unsafe.Add(ref bq, 1) * (sbyte)Unsafe.Add(ref wq, 1)
                        + Unsafe.Add(ref bq, 2) * (sbyte)Unsafe.Add(ref wq, 2)
                        + Unsafe.Add(ref bq, 3) * (sbyte)Unsafe.Add(ref wq, 3);
                }

                if (hasTail)
                {
                    int tail = tailWeights[oc];
                    ref byte bq = ref Unsafe.Add(ref b, fullGroups * rowStride + p * 4);
                    sum += bq * (sbyte)tail
                        + Unsafe.Add(ref bq, 1) * (sbyte)(tail >> 8)
                        + Unsafe.Add(ref bq, 2) * (sbyte)(tail >> 16)
                        + Unsafe.Add(ref bq, 3) * (sbyte)(tail >> 24);
                }

                acc[p] = sum;
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>
        /// acc + Σ of 4 adjacent u8·s8 products per int32 lane (vpdpbusd, no saturation). Without AVX-VNNI the
        /// same sums come from two vpmaddwd on the even and odd bytes widened to int16 (|pair| ≤ 65280: exact).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> MultiplyAdd(Vector256<int> acc, Vector256<byte> x, Vector256<sbyte> w)
        {
            if (AvxVnni.IsSupported)
            {
                return AvxVnni.MultiplyWideningAndAdd(acc, x, w);
            }

            Vector256<short> xEven = Avx2.And(x.AsInt16(), Vector256.Create((short)0xFF));
            Vector256<short> xOdd = Avx2.ShiftRightLogical(x.AsInt16(), 8);
            Vector256<short> wEven = Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(w.AsInt16(), 8), 8);
            Vector256<short> wOdd = Avx2.ShiftRightArithmetic(w.AsInt16(), 8);
            return Avx2.Add(acc, Avx2.Add(Avx2.MultiplyAddAdjacent(xEven, wEven), Avx2.MultiplyAddAdjacent(xOdd, wOdd)));
        }
#endif
    }
}
