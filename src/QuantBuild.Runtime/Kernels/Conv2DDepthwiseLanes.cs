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
    /// Depthwise layers on small planes with the channels in the vector lanes, bit-identical to
    /// <see cref="Conv2DInt8Reference"/>. <see cref="Conv2DDepthwise"/> walks one channel plane at a time; on a 16x16 or
    /// 8x8 plane its per-channel set-up (plane fill, bands, one requantization call per row run) costs more than the
    /// 9·64 multiply-adds themselves. Here the input is written once into a zero-padded cell grid [row][column][channel]
    /// of int16 differences d = x − z_x, eight channels per vector: each output sums its taps as eight channels at once
    /// (one widening load, one multiply, one add per tap), the accumulators are requantized with each lane's own
    /// multiplier and shift, and the codes go back to the channel planes.
    /// <para>Every product |d·w| ≤ 255·128 and the layer's accumulator bound fits int32 (otherwise the reference's int64
    /// path runs), so the sums are the same integers in any order; requantization is
    /// <see cref="FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(int, int, int)"/> per lane, as in
    /// <see cref="SingleRoundingVector"/> (docs/algorithms/requantization.md, "Depthwise with channels in lanes").</para>
    /// </summary>
    internal sealed class Conv2DDepthwiseLanes
    {
#if NET8_0_OR_GREATER
        private const int Lanes = 8;

        /// <summary>Largest output plane (OutHeight·OutWidth) this form takes; larger planes amortize the plane kernel's set-up.</summary>
        public const int MaxOutputPlane = 1024;

        private readonly Conv2DGeometry geometry;
        private readonly int inputZeroPoint;
        private readonly ChannelRequantizer requantizer;
        private readonly Int8CodeMap then;
        private readonly int paddedChannels;
        private readonly int cellRows;
        private readonly int cellColumns;

        /// <summary>
        /// Lengths, in elements, of the three scratch arrays, all in <see cref="SharedScratch"/> for the length of one Eval:
        /// the cell grid [row][column][channel] of int16 differences (its padding columns are cleared each Eval; padding rows
        /// are never read, see <see cref="rowFirstTap"/>), the [tap][channel] int32 weights, and one output row's codes
        /// [column][channel] before they go back to the channel planes.
        /// </summary>
        private readonly int cellsLength;
        private readonly int tapWeightsLength;
        private readonly int rowCodesLength;

        /// <summary>Cell offset of each tap from an output's first cell.</summary>
        private readonly int[] tapOffsets;

        /// <summary>
        /// Per output row, the taps [rowFirstTap, rowEndTap) of the kernel rows that meet input rows: the others read only
        /// padding (on PaddleOCR's 2-row planes a 5x5 kernel reads 3 of its 5 rows) and add nothing.
        /// </summary>
        private readonly int[] rowFirstTap;
        private readonly int[] rowEndTap;

        /// <summary>Per lane (channel): bias, and the single-rounding constants split into even and odd lanes.</summary>
        private readonly int[] laneBias;
        private readonly int[] laneMultiplierEven;
        private readonly int[] laneMultiplierOdd;
        private readonly long[] laneOffsetEven;
        private readonly long[] laneOffsetOdd;
        private readonly long[] laneShiftEven;
        private readonly long[] laneShiftOdd;
        private readonly long[] laneRemovedEven;
        private readonly long[] laneRemovedOdd;

        private Conv2DDepthwiseLanes(Conv2DGeometry geometry, int inputZeroPoint, int[] bias, ChannelRequantizer requantizer, Int8CodeMap then)
        {
            Conv2DGeometry g = geometry;
            this.geometry = geometry;
            this.inputZeroPoint = inputZeroPoint;
            this.requantizer = requantizer;
            this.then = then;
            paddedChannels = PaddedChannels(g);
            long rows, columns;
            CellGrid(g, out rows, out columns);
            cellRows = (int)rows;
            cellColumns = (int)columns;
            cellsLength = (int)CellCount(g);
            int taps = g.KernelHeight * g.KernelWidth;
            tapWeightsLength = taps * paddedChannels;
            tapOffsets = new int[taps];
            for (int t = 0; t < taps; t++)
            {
                int row = (t / g.KernelWidth) * g.DilationHeight;
                int column = (t % g.KernelWidth) * g.DilationWidth;
                tapOffsets[t] = (row * cellColumns + column) * paddedChannels;
            }

            rowFirstTap = new int[g.OutHeight];
            rowEndTap = new int[g.OutHeight];
            for (int oy = 0; oy < g.OutHeight; oy++)
            {
                int first = g.KernelHeight, end = 0;
                for (int ky = 0; ky < g.KernelHeight; ky++)
                {
                    int iy = oy * g.StrideHeight + ky * g.DilationHeight - g.PadTop;
                    if (iy >= 0 && iy < g.InHeight)
                    {
                        first = Math.Min(first, ky);
                        end = ky + 1;
                    }
                }

                rowFirstTap[oy] = Math.Min(first, end) * g.KernelWidth;
                rowEndTap[oy] = end * g.KernelWidth;
            }

            rowCodesLength = g.OutWidth * paddedChannels;
            laneBias = new int[paddedChannels];
            int pairs = paddedChannels / 2;
            laneMultiplierEven = new int[paddedChannels];
            laneMultiplierOdd = new int[paddedChannels];
            laneOffsetEven = new long[pairs];
            laneOffsetOdd = new long[pairs];
            laneShiftEven = new long[pairs];
            laneShiftOdd = new long[pairs];
            laneRemovedEven = new long[pairs];
            laneRemovedOdd = new long[pairs];
            for (int c = 0; c < paddedChannels; c++)
            {
                // Padding lanes get a harmless multiplier; their codes are never written out.
                int channel = Math.Min(c, g.OutChannels - 1);
                laneBias[c] = c < g.OutChannels ? bias[c] : 0;
                var constants = new SingleRoundingVector.Constants(requantizer.GetMultiplier(channel), requantizer.GetShift(channel));
                // vpmuldq multiplies lanes 0, 2, 4, 6: even channels sit there as they are, odd channels after a 32-bit shift.
                int pair = c / 2;
                if (c % 2 == 0)
                {
                    laneMultiplierEven[c] = constants.Multiplier;
                    laneOffsetEven[pair] = constants.Offset;
                    laneShiftEven[pair] = constants.TotalShift;
                    laneRemovedEven[pair] = constants.Removed;
                }
                else
                {
                    laneMultiplierOdd[c - 1] = constants.Multiplier;
                    laneOffsetOdd[pair] = constants.Offset;
                    laneShiftOdd[pair] = constants.TotalShift;
                    laneRemovedOdd[pair] = constants.Removed;
                }
            }
        }

        /// <summary>
        /// The lanes form for this layer, or null: it needs AVX2, one filter per input channel, at least one full vector
        /// of channels, a small output plane, single rounding and shifts the vector requantization supports.
        /// </summary>
#pragma warning disable CS8603 // null means "not this form"; C# 7.3 source has no nullable annotations
        public static Conv2DDepthwiseLanes TryCreate(Conv2DGeometry geometry, int inputZeroPoint, int[] bias, ChannelRequantizer requantizer, Int8CodeMap then)
        {
            Conv2DGeometry g = geometry;
            if (!Avx2.IsSupported || g.InChannelsPerGroup != 1 || g.OutChannelsPerGroup != 1 || g.OutChannels < Lanes
                || (long)g.OutHeight * g.OutWidth > MaxOutputPlane || requantizer.Rounding != RoundingMode.SingleRounding)
            {
                return null;
            }

            // The cell grid covers the padded input the outputs read; with large strides or dilations it can outgrow any
            // sensible scratch (computed in 64 bits), and the plane kernel takes the layer.
            if (CellCount(g) > MaxCells)
            {
                return null;
            }

            for (int c = 0; c < g.OutChannels; c++)
            {
                if (!SingleRoundingVector.Constants.Supported(requantizer.GetShift(c)))
                {
                    return null;
                }
            }

            return new Conv2DDepthwiseLanes(geometry, inputZeroPoint, bias, requantizer, then);
        }
#pragma warning restore CS8603

        /// <summary>Most int16 cells the grid may hold (8 MiB of scratch).</summary>
        private const long MaxCells = 4L << 20;

        private static int PaddedChannels(Conv2DGeometry g)
        {
            return (g.OutChannels + Lanes - 1) / Lanes * Lanes;
        }

        /// <summary>The padded rows and columns some output reads, in 64 bits.</summary>
        private static void CellGrid(Conv2DGeometry g, out long rows, out long columns)
        {
            rows = (long)(g.OutHeight - 1) * g.StrideHeight + (long)(g.KernelHeight - 1) * g.DilationHeight + 1;
            columns = (long)(g.OutWidth - 1) * g.StrideWidth + (long)(g.KernelWidth - 1) * g.DilationWidth + 1;
        }

        /// <summary>Cells of the grid: its rows times columns times the padded channel count.</summary>
        private static long CellCount(Conv2DGeometry g)
        {
            long rows, columns;
            CellGrid(g, out rows, out columns);
            return rows * columns * PaddedChannels(g);
        }

        [MethodImpl(KernelJit.Optimize)]
        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int taps = g.KernelHeight * g.KernelWidth;
            int channels = g.OutChannels;
            ref short cells = ref MemoryMarshal.GetReference(MemoryMarshal.Cast<byte, short>(SharedScratch.Bytes(0, 2 * cellsLength).AsSpan(0, 2 * cellsLength)));
            Span<int> tapWeights = MemoryMarshal.Cast<byte, int>(SharedScratch.Bytes(1, 4 * tapWeightsLength).AsSpan(0, 4 * tapWeightsLength));
            ref int rowCodes = ref MemoryMarshal.GetArrayDataReference(SharedScratch.Ints(rowCodesLength));
            for (int c = 0; c < paddedChannels; c++)
            {
                for (int t = 0; t < taps; t++)
                {
                    tapWeights[t * paddedChannels + c] = c < channels ? weights[c * taps + t] : 0;
                }
            }

            ref int tapWeight = ref MemoryMarshal.GetReference(tapWeights);

            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            for (int n = 0; n < g.Batch; n++)
            {
                FillCells(input.Slice(n * channels * inPlane, channels * inPlane), ref cells);
                Span<sbyte> batchOutput = output.Slice(n * channels * outPlane, channels * outPlane);
                for (int oy = 0; oy < g.OutHeight; oy++)
                {
                    SumRow(oy, ref cells, ref tapWeight, ref rowCodes);
                    WriteRow(oy, ref rowCodes, batchOutput);
                }

                then.MapInPlace(batchOutput);
            }
        }

        /// <summary>
        /// Writes d = x − z_x of every input cell some output reads at (iy + padTop, ix + padLeft), and 0 in the padding
        /// columns of those rows. Eight channels by eight columns at a time: eight widened row pieces, transposed so each
        /// column's eight channels are one store.
        /// </summary>
        private void FillCells(ReadOnlySpan<sbyte> input, ref short cell)
        {
            Conv2DGeometry g = geometry;
            int firstRow = Math.Max(0, -g.PadTop), endRow = Math.Min(g.InHeight, cellRows - g.PadTop);
            int firstColumn = Math.Max(0, -g.PadLeft), endColumn = Math.Min(g.InWidth, cellColumns - g.PadLeft);
            int zero = inputZeroPoint;
            int inPlane = g.InHeight * g.InWidth;
            int channels = g.OutChannels;
            ref sbyte source = ref MemoryMarshal.GetReference(input);
            int rowLength = cellColumns * paddedChannels;
            for (int iy = firstRow; iy < endRow; iy++)
            {
                int rowStart = (iy + g.PadTop) * rowLength;
                int leftPad = Math.Min(g.PadLeft, cellColumns) * paddedChannels;
                int rightPad = Math.Max(leftPad, Math.Min(cellColumns, g.PadLeft + Math.Max(0, endColumn)) * paddedChannels);
                MemoryMarshal.CreateSpan(ref Unsafe.Add(ref cell, rowStart), leftPad).Clear();
                MemoryMarshal.CreateSpan(ref Unsafe.Add(ref cell, rowStart + rightPad), rowLength - rightPad).Clear();
            }

            var z = Vector128.Create((short)zero);
            for (int group = 0; group < channels; group += Lanes)
            {
                int live = Math.Min(Lanes, channels - group);
                for (int iy = firstRow; iy < endRow; iy++)
                {
                    int cellRow = ((iy + g.PadTop) * cellColumns + g.PadLeft) * paddedChannels + group;
                    int ix = firstColumn;
                    for (; ix <= endColumn - Lanes; ix += Lanes)
                    {
                        int at = group * inPlane + iy * g.InWidth + ix;
                        Vector128<short> v0 = Piece(ref source, at, z);
                        Vector128<short> v1 = live > 1 ? Piece(ref source, at + inPlane, z) : Vector128<short>.Zero;
                        Vector128<short> v2 = live > 2 ? Piece(ref source, at + 2 * inPlane, z) : Vector128<short>.Zero;
                        Vector128<short> v3 = live > 3 ? Piece(ref source, at + 3 * inPlane, z) : Vector128<short>.Zero;
                        Vector128<short> v4 = live > 4 ? Piece(ref source, at + 4 * inPlane, z) : Vector128<short>.Zero;
                        Vector128<short> v5 = live > 5 ? Piece(ref source, at + 5 * inPlane, z) : Vector128<short>.Zero;
                        Vector128<short> v6 = live > 6 ? Piece(ref source, at + 6 * inPlane, z) : Vector128<short>.Zero;
                        Vector128<short> v7 = live > 7 ? Piece(ref source, at + 7 * inPlane, z) : Vector128<short>.Zero;
                        Transpose8x8(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
                        int target = cellRow + ix * paddedChannels;
                        v0.StoreUnsafe(ref cell, (nuint)target);
                        v1.StoreUnsafe(ref cell, (nuint)(target + paddedChannels));
                        v2.StoreUnsafe(ref cell, (nuint)(target + 2 * paddedChannels));
                        v3.StoreUnsafe(ref cell, (nuint)(target + 3 * paddedChannels));
                        v4.StoreUnsafe(ref cell, (nuint)(target + 4 * paddedChannels));
                        v5.StoreUnsafe(ref cell, (nuint)(target + 5 * paddedChannels));
                        v6.StoreUnsafe(ref cell, (nuint)(target + 6 * paddedChannels));
                        v7.StoreUnsafe(ref cell, (nuint)(target + 7 * paddedChannels));
                    }

                    for (; ix < endColumn; ix++)
                    {
                        for (int k = 0; k < live; k++)
                        {
                            Unsafe.Add(ref cell, cellRow + ix * paddedChannels + k) = (short)(Unsafe.Add(ref source, (group + k) * inPlane + iy * g.InWidth + ix) - zero);
                        }
                    }
                }
            }
        }

        /// <summary>Eight codes from <paramref name="at"/> widened to int16, minus the zero point.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<short> Piece(ref sbyte source, int at, Vector128<short> zero)
        {
            Vector128<sbyte> bytes = Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref source, at)))).AsSByte();
            return Sse41.ConvertToVector128Int16(bytes) - zero;
        }

        /// <summary>Transposes eight vectors of eight int16 (rows) into eight vectors of eight (columns): unpack by 16, 32, 64 bits.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Transpose8x8(ref Vector128<short> v0, ref Vector128<short> v1, ref Vector128<short> v2, ref Vector128<short> v3,
            ref Vector128<short> v4, ref Vector128<short> v5, ref Vector128<short> v6, ref Vector128<short> v7)
        {
            Vector128<int> a0 = Sse2.UnpackLow(v0, v1).AsInt32(), a1 = Sse2.UnpackHigh(v0, v1).AsInt32();
            Vector128<int> a2 = Sse2.UnpackLow(v2, v3).AsInt32(), a3 = Sse2.UnpackHigh(v2, v3).AsInt32();
            Vector128<int> a4 = Sse2.UnpackLow(v4, v5).AsInt32(), a5 = Sse2.UnpackHigh(v4, v5).AsInt32();
            Vector128<int> a6 = Sse2.UnpackLow(v6, v7).AsInt32(), a7 = Sse2.UnpackHigh(v6, v7).AsInt32();
            Vector128<long> b0 = Sse2.UnpackLow(a0, a2).AsInt64(), b1 = Sse2.UnpackHigh(a0, a2).AsInt64();
            Vector128<long> b2 = Sse2.UnpackLow(a1, a3).AsInt64(), b3 = Sse2.UnpackHigh(a1, a3).AsInt64();
            Vector128<long> b4 = Sse2.UnpackLow(a4, a6).AsInt64(), b5 = Sse2.UnpackHigh(a4, a6).AsInt64();
            Vector128<long> b6 = Sse2.UnpackLow(a5, a7).AsInt64(), b7 = Sse2.UnpackHigh(a5, a7).AsInt64();
            v0 = Sse2.UnpackLow(b0, b4).AsInt16();
            v1 = Sse2.UnpackHigh(b0, b4).AsInt16();
            v2 = Sse2.UnpackLow(b1, b5).AsInt16();
            v3 = Sse2.UnpackHigh(b1, b5).AsInt16();
            v4 = Sse2.UnpackLow(b2, b6).AsInt16();
            v5 = Sse2.UnpackHigh(b2, b6).AsInt16();
            v6 = Sse2.UnpackLow(b3, b7).AsInt16();
            v7 = Sse2.UnpackHigh(b3, b7).AsInt16();
        }

        /// <summary>
        /// Row <paramref name="oy"/>'s codes from <paramref name="codes"/> ([column][channel]) to the channel planes: eight
        /// columns by eight channels at a time, narrowed to int16, transposed, narrowed to bytes, one 8-byte store per channel.
        /// </summary>
        private void WriteRow(int oy, ref int codes, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int width = g.OutWidth;
            int outPlane = g.OutHeight * width;
            int channels = g.OutChannels;
            ref sbyte target = ref MemoryMarshal.GetReference(output);
            for (int group = 0; group < channels; group += Lanes)
            {
                int live = Math.Min(Lanes, channels - group);
                int ox = 0;
                for (; ox <= width - Lanes; ox += Lanes)
                {
                    int at = ox * paddedChannels + group;
                    Vector128<short> v0 = Column(ref codes, at);
                    Vector128<short> v1 = Column(ref codes, at + paddedChannels);
                    Vector128<short> v2 = Column(ref codes, at + 2 * paddedChannels);
                    Vector128<short> v3 = Column(ref codes, at + 3 * paddedChannels);
                    Vector128<short> v4 = Column(ref codes, at + 4 * paddedChannels);
                    Vector128<short> v5 = Column(ref codes, at + 5 * paddedChannels);
                    Vector128<short> v6 = Column(ref codes, at + 6 * paddedChannels);
                    Vector128<short> v7 = Column(ref codes, at + 7 * paddedChannels);
                    Transpose8x8(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
                    int first = group * outPlane + oy * width + ox;
                    StoreEight(ref target, first, v0);
                    if (live > 1) StoreEight(ref target, first + outPlane, v1);
                    if (live > 2) StoreEight(ref target, first + 2 * outPlane, v2);
                    if (live > 3) StoreEight(ref target, first + 3 * outPlane, v3);
                    if (live > 4) StoreEight(ref target, first + 4 * outPlane, v4);
                    if (live > 5) StoreEight(ref target, first + 5 * outPlane, v5);
                    if (live > 6) StoreEight(ref target, first + 6 * outPlane, v6);
                    if (live > 7) StoreEight(ref target, first + 7 * outPlane, v7);
                }

                for (; ox < width; ox++)
                {
                    for (int k = 0; k < live; k++)
                    {
                        Unsafe.Add(ref target, (group + k) * outPlane + oy * width + ox) = (sbyte)Unsafe.Add(ref codes, ox * paddedChannels + group + k);
                    }
                }
            }
        }

        /// <summary>One column's eight channel codes (int32, already in int8 range) as int16.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<short> Column(ref int codes, int at)
        {
            Vector256<int> v = Vector256.LoadUnsafe(ref codes, (nuint)at);
            return Sse2.PackSignedSaturate(v.GetLower(), v.GetUpper());
        }

        /// <summary>Stores the eight int16 lanes (int8 values) as eight bytes.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void StoreEight(ref sbyte target, int at, Vector128<short> values)
        {
            long bytes = Sse2.PackSignedSaturate(values, values).AsInt64().ToScalar();
            Unsafe.WriteUnaligned(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref target, at)), bytes);
        }

        /// <summary>Output row <paramref name="oy"/>: every column's taps for eight channels at a time, requantized per lane into <paramref name="codes"/>.</summary>
        private void SumRow(int oy, ref short cell, ref int weight, ref int codes)
        {
            Conv2DGeometry g = geometry;
            int firstTap = rowFirstTap[oy];
            int endTap = rowEndTap[oy];
            int stride = g.StrideWidth * paddedChannels;
            ref int offset = ref MemoryMarshal.GetArrayDataReference(tapOffsets);
            var zero = Vector256.Create(requantizer.OutputZeroPoint);
            var low = Vector256.Create(requantizer.ClampMin);
            var high = Vector256.Create(requantizer.ClampMax);
            for (int group = 0; group < paddedChannels; group += Lanes)
            {
                Vector256<int> biasLanes = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneBias), (nuint)group);
                Vector256<int> multiplierEven = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneMultiplierEven), (nuint)group);
                Vector256<int> multiplierOdd = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneMultiplierOdd), (nuint)group);
                Vector256<long> offsetEven = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneOffsetEven), (nuint)(group / 2));
                Vector256<long> offsetOdd = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneOffsetOdd), (nuint)(group / 2));
                Vector256<ulong> shiftEven = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneShiftEven), (nuint)(group / 2)).AsUInt64();
                Vector256<ulong> shiftOdd = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneShiftOdd), (nuint)(group / 2)).AsUInt64();
                Vector256<long> removedEven = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneRemovedEven), (nuint)(group / 2));
                Vector256<long> removedOdd = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(laneRemovedOdd), (nuint)(group / 2));
                int first = oy * g.StrideHeight * cellColumns * paddedChannels + group;
                ref int groupWeights = ref Unsafe.Add(ref weight, group);
                int ox = 0;
                // Four columns at a time: each tap's weights are loaded once for four independent sums.
                for (; ox <= g.OutWidth - 4; ox += 4)
                {
                    int origin = first + ox * stride;
                    Vector256<int> sum0 = biasLanes, sum1 = biasLanes, sum2 = biasLanes, sum3 = biasLanes;
                    for (int t = firstTap; t < endTap; t++)
                    {
                        int at = origin + Unsafe.Add(ref offset, t);
                        Vector256<int> w = Vector256.LoadUnsafe(ref groupWeights, (nuint)(t * paddedChannels));
                        sum0 += Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref cell, (nuint)at)) * w;
                        sum1 += Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref cell, (nuint)(at + stride))) * w;
                        sum2 += Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref cell, (nuint)(at + 2 * stride))) * w;
                        sum3 += Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref cell, (nuint)(at + 3 * stride))) * w;
                    }

                    int target = ox * paddedChannels + group;
                    Requantize(sum0, multiplierEven, multiplierOdd, offsetEven, offsetOdd, shiftEven, shiftOdd, removedEven, removedOdd, zero, low, high)
                        .StoreUnsafe(ref codes, (nuint)target);
                    Requantize(sum1, multiplierEven, multiplierOdd, offsetEven, offsetOdd, shiftEven, shiftOdd, removedEven, removedOdd, zero, low, high)
                        .StoreUnsafe(ref codes, (nuint)(target + paddedChannels));
                    Requantize(sum2, multiplierEven, multiplierOdd, offsetEven, offsetOdd, shiftEven, shiftOdd, removedEven, removedOdd, zero, low, high)
                        .StoreUnsafe(ref codes, (nuint)(target + 2 * paddedChannels));
                    Requantize(sum3, multiplierEven, multiplierOdd, offsetEven, offsetOdd, shiftEven, shiftOdd, removedEven, removedOdd, zero, low, high)
                        .StoreUnsafe(ref codes, (nuint)(target + 3 * paddedChannels));
                }

                for (; ox < g.OutWidth; ox++)
                {
                    int origin = first + ox * stride;
                    Vector256<int> sum = biasLanes;
                    for (int t = firstTap; t < endTap; t++)
                    {
                        Vector128<short> d = Vector128.LoadUnsafe(ref cell, (nuint)(origin + Unsafe.Add(ref offset, t)));
                        sum += Avx2.ConvertToVector256Int32(d) * Vector256.LoadUnsafe(ref groupWeights, (nuint)(t * paddedChannels));
                    }

                    Requantize(sum, multiplierEven, multiplierOdd, offsetEven, offsetOdd, shiftEven, shiftOdd, removedEven, removedOdd, zero, low, high)
                        .StoreUnsafe(ref codes, (nuint)(ox * paddedChannels + group));
                }
            }
        }

        /// <summary>
        /// Single rounding with each lane's own multiplier and shift: ((long)acc·M0 + 2^(t−1)) >> t, the 2^62 offset making
        /// the shift logical (as <see cref="SingleRoundingVector"/>), then the zero point and the clamp.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<int> Requantize(Vector256<int> sum, Vector256<int> multiplierEven, Vector256<int> multiplierOdd,
            Vector256<long> offsetEven, Vector256<long> offsetOdd, Vector256<ulong> shiftEven, Vector256<ulong> shiftOdd,
            Vector256<long> removedEven, Vector256<long> removedOdd, Vector256<int> zero, Vector256<int> low, Vector256<int> high)
        {
            Vector256<long> even = Avx2.ShiftRightLogicalVariable(Avx2.Multiply(sum, multiplierEven) + offsetEven, shiftEven) - removedEven;
            Vector256<long> odd = Avx2.ShiftRightLogicalVariable(
                Avx2.Multiply(Avx2.ShiftRightLogical(sum.AsInt64(), 32).AsInt32(), multiplierOdd) + offsetOdd, shiftOdd) - removedOdd;
            Vector256<int> scaled = Avx2.Blend(even.AsInt32(), Avx2.ShiftLeftLogical(odd, 32).AsInt32(), 0b10101010);
            return Vector256.Min(Vector256.Max(scaled + zero, low), high);
        }
#else
#pragma warning disable CS8603 // without System.Runtime.Intrinsics there is no lanes form
        public static Conv2DDepthwiseLanes TryCreate(Conv2DGeometry geometry, int inputZeroPoint, int[] bias, ChannelRequantizer requantizer, Int8CodeMap then)
        {
            return null;
        }
#pragma warning restore CS8603

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            throw new NotSupportedException("The lanes form needs .NET 8 or later.");
        }
#endif
    }
}
