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
    /// The one-input-channel-per-group rows of <see cref="Conv2DInt8"/> (depthwise layers and stems with fewer
    /// than four filters per channel), bit-identical to <see cref="Conv2DInt8Reference"/>.
    /// <para>Each input plane is written once as int16 differences d = x − z_x into a zero-initialised padded
    /// plane split into stride phases (row phase × column phase), each phase flattened row after row with
    /// <see cref="phaseColumns"/> columns. Output (oy, ox) then sits at flat index q = oy·phaseColumns + ox, and
    /// tap (ky, kx) reads every output at q plus one fixed offset: each band of rows that read the same kernel rows
    /// (the interior, and each edge row) is one run of 16-wide blocks over the flat index, with no per-row tap lists,
    /// no bounds tests and no padding code (padding is d = 0,
    /// written once at allocation and never touched). Columns past the output width are computed and dropped.
    /// The plane holds the same cells for every channel, so only the input cells are rewritten per channel.</para>
    /// <para>Taps are summed two at a time with vpmaddwd/pmaddwd: the two taps' planes are interleaved in
    /// registers (unpack low/high), so any two taps pair, whatever the stride or dilation. Arm64 multiplies and
    /// widens per tap (SMLAL). Each sum of two products is at most 2·128·255 in magnitude, and the layer's
    /// accumulator bound fits int32 (otherwise the reference's int64 path runs), so every order gives the same
    /// int32 (docs/algorithms/requantization.md, "Depthwise planes").</para>
    /// </summary>
    internal sealed class Conv2DDepthwise
    {
        private const int Block = 16;

        private readonly Conv2DGeometry geometry;
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;
        /// <summary>Channels whose tap sums fit int32 but whose sum plus bias may not: requantized in 64 bits. Null: none.</summary>
        private readonly bool[] wideChannels;
        private readonly int phaseColumns;
        private readonly int phaseRows;
        private readonly int planeSize;
        private readonly int flatLength;
        private readonly int[] tapOffsets;
        private readonly short[] plane;
        private readonly int[] accumulators;
        private readonly sbyte[] requantized;

        /// <summary>Code maps applied to each output plane after requantization (<see cref="Int8CodeMap.Identity"/>: none).</summary>
        private readonly Int8CodeMap then;

        /// <summary>
        /// Output rows in bands [bandStarts[b], bandEnds[b]) whose rows read the same kernel rows: a kernel row that only
        /// meets padding for every row of a band adds 0 there and is skipped (on a 2-row plane a 5x5 kernel reads 3 of its
        /// 5 rows). Interior rows form one band; the few rows at the top and bottom edges get their own.
        /// bandTapLive[b][t]: tap t reads input for the rows of band b.
        /// </summary>
        private readonly int[] bandStarts;
        private readonly int[] bandEnds;
        private readonly bool[][] bandTapLive;

        /// <summary>This band's taps with a non-zero weight: their offsets (from the band's first flat index) and weights, in kernel order.</summary>
        private readonly int[] liveOffsets;
        private readonly int[] liveWeights;

        /// <summary>The live taps two by two for the x64 pair sums: both offsets and the two weights as int16 halves.</summary>
        private readonly int[] pairFirst;
        private readonly int[] pairSecond;
        private readonly int[] pairWeights;

        /// <summary>
        /// Accumulators only (<see cref="FillInput"/> and <see cref="AccumulateFilter"/>): no bias, requantizer or
        /// output stage, for kernels that finish the sums themselves.
        /// </summary>
#pragma warning disable CS8625 // no requantizer: Eval is not called on this form; C# 7.3 source has no nullable annotations
        public Conv2DDepthwise(Conv2DGeometry geometry, int inputZeroPoint)
            : this(geometry, inputZeroPoint, new int[geometry.OutChannels], null, Int8CodeMap.Identity, null)
        {
        }
#pragma warning restore CS8625

        /// <param name="wideChannels">channels whose sum plus bias may leave int32 (requantized from 64 bits), or null for none</param>
        public Conv2DDepthwise(Conv2DGeometry geometry, int inputZeroPoint, int[] bias, ChannelRequantizer requantizer, Int8CodeMap then, bool[] wideChannels)
        {
            this.geometry = geometry;
            this.wideChannels = wideChannels;
            this.then = then;
            this.inputZeroPoint = inputZeroPoint;
            this.bias = bias;
            this.requantizer = requantizer;
            Conv2DGeometry g = geometry;
            int sh = g.StrideHeight, sw = g.StrideWidth;
            // The padded cells any output reads: rows 0 .. (OH−1)·sh + (KH−1)·dh, columns likewise.
            int paddedRows = (g.OutHeight - 1) * sh + (g.KernelHeight - 1) * g.DilationHeight + 1;
            int paddedColumns = (g.OutWidth - 1) * sw + (g.KernelWidth - 1) * g.DilationWidth + 1;
            phaseRows = (paddedRows + sh - 1) / sh;
            phaseColumns = (paddedColumns + sw - 1) / sw;
            planeSize = phaseRows * phaseColumns;
            flatLength = g.OutHeight * phaseColumns;
            int taps = g.KernelHeight * g.KernelWidth;
            tapOffsets = new int[taps];
            int maxOffset = 0;
            for (int t = 0; t < taps; t++)
            {
                int rowOffset = (t / g.KernelWidth) * g.DilationHeight;
                int columnOffset = (t % g.KernelWidth) * g.DilationWidth;
                int phase = (rowOffset % sh) * sw + columnOffset % sw;
                tapOffsets[t] = phase * planeSize + (rowOffset / sh) * phaseColumns + columnOffset / sw;
                maxOffset = Math.Max(maxOffset, tapOffsets[t]);
            }

            // Each band runs whole blocks from its first flat index: at most Block − 1 sums past the output, read at
            // most maxOffset + flatLength + Block − 2; the slack past the planes stays 0 like the padding.
            plane = new short[Math.Max(sh * sw * planeSize, maxOffset + flatLength + Block)];
            accumulators = new int[flatLength + Block];
            Bands(out bandStarts, out bandEnds, out bandTapLive);
            requantized = phaseColumns == g.OutWidth ? new sbyte[0] : new sbyte[flatLength];
            liveOffsets = new int[taps];
            liveWeights = new int[taps];
            pairFirst = new int[(taps + 1) / 2];
            pairSecond = new int[(taps + 1) / 2];
            pairWeights = new int[(taps + 1) / 2];
        }

        /// <summary>
        /// Splits the output rows into runs whose rows have the same live kernel rows (kernel row ky is live for output row
        /// oy when input row oy·sh + ky·dh − padTop exists); a tap is live in a band when its row is and its column meets
        /// the input for some output column.
        /// </summary>
        private void Bands(out int[] starts, out int[] ends, out bool[][] tapLive)
        {
            Conv2DGeometry g = geometry;
            var columnLive = new bool[g.KernelWidth];
            for (int kx = 0; kx < g.KernelWidth; kx++)
            {
                for (int ox = 0; ox < g.OutWidth && !columnLive[kx]; ox++)
                {
                    int ix = ox * g.StrideWidth + kx * g.DilationWidth - g.PadLeft;
                    columnLive[kx] = ix >= 0 && ix < g.InWidth;
                }
            }

            var startList = new System.Collections.Generic.List<int>();
            var endList = new System.Collections.Generic.List<int>();
            var liveList = new System.Collections.Generic.List<bool[]>();
            bool[] previous = new bool[0];
            for (int oy = 0; oy < g.OutHeight; oy++)
            {
                var rows = new bool[g.KernelHeight];
                for (int ky = 0; ky < g.KernelHeight; ky++)
                {
                    int iy = oy * g.StrideHeight + ky * g.DilationHeight - g.PadTop;
                    rows[ky] = iy >= 0 && iy < g.InHeight;
                }

                if (oy > 0 && SameRows(rows, previous))
                {
                    endList[endList.Count - 1] = oy + 1;
                    continue;
                }

                var live = new bool[g.KernelHeight * g.KernelWidth];
                for (int t = 0; t < live.Length; t++)
                {
                    live[t] = rows[t / g.KernelWidth] && columnLive[t % g.KernelWidth];
                }

                startList.Add(oy);
                endList.Add(oy + 1);
                liveList.Add(live);
                previous = rows;
            }

            starts = startList.ToArray();
            ends = endList.ToArray();
            tapLive = liveList.ToArray();
        }

        private static bool SameRows(bool[] a, bool[] b)
        {
            if (a.Length != b.Length)
            {
                return false;
            }

            for (int i = 0; i < a.Length; i++)
            {
                if (a[i] != b[i])
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>The vector code on this machine: AVX2 or SSE2 tap pairs, AdvSimd (SMLAL), or scalar.</summary>
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

        [MethodImpl(KernelJit.Optimize)]
        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
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
                    if (oc % ocPerGroup == 0)
                    {
                        FillPlane(input.Slice((n * g.InChannels + oc / ocPerGroup) * inPlane, inPlane));
                    }

                    SumFilter(weights.Slice(oc * taps, taps));
                    Requantize(acc, oc, output.Slice((n * g.OutChannels + oc) * outPlane, outPlane));
                    then.MapInPlace(output.Slice((n * g.OutChannels + oc) * outPlane, outPlane));
                }
            }
        }

        /// <summary>
        /// Raw accumulators Σ w·(x − z_x) of one filter over the plane <see cref="FillInput"/> wrote last, as whole
        /// output rows [oy·OutWidth + ox] into <paramref name="target"/> (OutHeight·OutWidth values): for kernels that
        /// combine several filters of one input channel before their own output stage (multipoint rows).
        /// </summary>
        public void AccumulateFilter(ReadOnlySpan<sbyte> filter, Span<int> target)
        {
            Conv2DGeometry g = geometry;
            SumFilter(filter);
            ReadOnlySpan<int> acc = accumulators;
            if (phaseColumns == g.OutWidth)
            {
                acc.Slice(0, g.OutHeight * g.OutWidth).CopyTo(target);
                return;
            }

            for (int oy = 0; oy < g.OutHeight; oy++)
            {
                acc.Slice(oy * phaseColumns, g.OutWidth).CopyTo(target.Slice(oy * g.OutWidth, g.OutWidth));
            }
        }

        /// <summary>Writes one input plane (InHeight·InWidth codes) into the phases the next <see cref="AccumulateFilter"/> calls read.</summary>
        public void FillInput(ReadOnlySpan<sbyte> inputPlane)
        {
            FillPlane(inputPlane);
        }

        /// <summary>acc (flat, phaseColumns per output row) = Σ over the filter's live taps of w·d, band by band.</summary>
        private void SumFilter(ReadOnlySpan<sbyte> filter)
        {
            int taps = filter.Length;
            Span<int> acc = accumulators;
            for (int b = 0; b < bandStarts.Length; b++)
            {
                int origin = bandStarts[b] * phaseColumns;
                int live = 0;
                bool[] tapLive = bandTapLive[b];
                for (int t = 0; t < taps; t++)
                {
                    if (filter[t] != 0 && tapLive[t])
                    {
                        liveOffsets[live] = tapOffsets[t] + origin;
                        liveWeights[live++] = filter[t];
                    }
                }

                int length = (bandEnds[b] - bandStarts[b]) * phaseColumns;
                SumTaps(live, acc.Slice(origin, RoundUp(length, Block)));
            }
        }

        /// <summary>
        /// Output row oy is acc[oy·phaseColumns ..][..OutWidth]: the flat run is requantized in one call (the few columns
        /// past each row cost less than a call per row) and the rows are copied out.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void Requantize(Span<int> acc, int oc, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int width = g.OutWidth;
            bool wide = wideChannels != null && wideChannels[oc];
            if (phaseColumns == width)
            {
                ApplyRow(acc.Slice(0, flatLength), oc, wide, output);
                return;
            }

            Span<sbyte> rows = requantized;
            ApplyRow(acc.Slice(0, flatLength), oc, wide, rows);
            for (int oy = 0; oy < g.OutHeight; oy++)
            {
                rows.Slice(oy * phaseColumns, width).CopyTo(output.Slice(oy * width, width));
            }
        }

        private void ApplyRow(ReadOnlySpan<int> acc, int oc, bool wide, Span<sbyte> output)
        {
            if (wide)
            {
                requantizer.ApplyRowWide(acc, bias[oc], oc, output);
            }
            else
            {
                requantizer.ApplyRow(acc, bias[oc], oc, output);
            }
        }

        /// <summary>
        /// Writes d = x − z_x of every input cell an output reads into its phase cell: padded (r, c) = (iy + padTop,
        /// ix + padLeft) goes to phase (r mod sh, c mod sw) at (r / sh, c / sw). Padding cells are never written.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void FillPlane(ReadOnlySpan<sbyte> input)
        {
            Conv2DGeometry g = geometry;
            int sh = g.StrideHeight, sw = g.StrideWidth;
            int paddedColumns = phaseColumns * sw;
            // Input columns whose padded column an output reads: ix + padLeft in [0, phaseColumns·sw).
            int firstColumn = Math.Max(0, -g.PadLeft);
            int endColumn = Math.Min(g.InWidth, paddedColumns - g.PadLeft);
            for (int iy = 0; iy < g.InHeight; iy++)
            {
                int r = iy + g.PadTop;
                if (r < 0)
                {
                    continue;
                }

                if (r >= phaseRows * sh)
                {
                    break;
                }

                int rowStart = (r % sh) * sw * planeSize + (r / sh) * phaseColumns;
                ReadOnlySpan<sbyte> row = input.Slice(iy * g.InWidth, g.InWidth);
                if (sw == 1)
                {
                    Widen(row.Slice(firstColumn, Math.Max(0, endColumn - firstColumn)), plane.AsSpan(rowStart + firstColumn + g.PadLeft));
                }
                else if (sw == 2)
                {
                    SplitTwoPhases(row, firstColumn, endColumn, rowStart);
                }
                else
                {
                    for (int ix = firstColumn; ix < endColumn; ix++)
                    {
                        int c = ix + g.PadLeft;
                        plane[rowStart + (c % sw) * planeSize + c / sw] = (short)(row[ix] - inputZeroPoint);
                    }
                }
            }
        }

        /// <summary>target[i] = source[i] − z_x as int16.</summary>
        private void Widen(ReadOnlySpan<sbyte> source, Span<short> target)
        {
            int i = 0;
            int zero = inputZeroPoint;
#if NET8_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                ref sbyte from = ref MemoryMarshal.GetReference(source);
                ref short to = ref MemoryMarshal.GetReference(target);
                Vector128<short> z = Vector128.Create((short)zero);
                for (; i <= source.Length - 16; i += 16)
                {
                    (Vector128<short> low, Vector128<short> high) = Vector128.Widen(Vector128.LoadUnsafe(ref from, (nuint)i));
                    (low - z).StoreUnsafe(ref to, (nuint)i);
                    (high - z).StoreUnsafe(ref to, (nuint)(i + 8));
                }
            }
#endif
            for (; i < source.Length; i++)
            {
                target[i] = (short)(source[i] - zero);
            }
        }

        /// <summary>Stride 2 in width: input columns alternate between the two column phases.</summary>
        private void SplitTwoPhases(ReadOnlySpan<sbyte> row, int firstColumn, int endColumn, int rowStart)
        {
            Conv2DGeometry g = geometry;
            int zero = inputZeroPoint;
            int ix = firstColumn;
#if NET8_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                // Sixteen codes as eight int16: the low byte (even column) sign-extended by shifting up and back,
                // the high byte (odd column) by an arithmetic shift.
                ref sbyte from = ref MemoryMarshal.GetReference(row);
                ref short to = ref plane[0];
                Vector128<short> z = Vector128.Create((short)zero);
                for (; ix <= endColumn - 16; ix += 16)
                {
                    Vector128<short> pairs = Vector128.LoadUnsafe(ref from, (nuint)ix).AsInt16();
                    Vector128<short> even = Vector128.ShiftRightArithmetic(Vector128.ShiftLeft(pairs, 8), 8) - z;
                    Vector128<short> odd = Vector128.ShiftRightArithmetic(pairs, 8) - z;
                    int c = ix + g.PadLeft;
                    even.StoreUnsafe(ref to, (nuint)(rowStart + (c % 2) * planeSize + c / 2));
                    odd.StoreUnsafe(ref to, (nuint)(rowStart + ((c + 1) % 2) * planeSize + (c + 1) / 2));
                }
            }
#endif
            for (; ix < endColumn; ix++)
            {
                int c = ix + g.PadLeft;
                plane[rowStart + (c % 2) * planeSize + c / 2] = (short)(row[ix] - zero);
            }
        }

        /// <summary>acc[q] = Σ over the live taps of w·d[offset + q], whole 16-wide blocks over the flat index.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private void SumTaps(int live, Span<int> acc)
        {
            int blocks = acc.Length;
#if NET8_0_OR_GREATER
            if (Avx2.IsSupported)
            {
                SumTapPairsAvx2(live, acc);
                return;
            }

            if (Sse2.IsSupported)
            {
                SumTapPairsSse2(live, acc);
                return;
            }

            if (AdvSimd.Arm64.IsSupported)
            {
                SumTapsAdvSimd(live, acc);
                return;
            }
#endif
            ref short d = ref plane[0];
            for (int q = 0; q < blocks; q++)
            {
                int sum = 0;
                for (int t = 0; t < live; t++)
                {
                    sum += liveWeights[t] * Unsafe.Add(ref d, liveOffsets[t] + q);
                }

                acc[q] = sum;
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>
        /// Two taps per vpmaddwd: unpacking the two taps' 16 values gives (d_a, d_b) pairs for positions 0–3 and
        /// 8–11 (low) and 4–7 and 12–15 (high) — the unpack works within 128-bit halves — so the sums are put back in
        /// order once per block. Two blocks per pass share each pair's weight broadcast.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void SumTapPairsAvx2(int live, Span<int> acc)
        {
            int pairs = PairTaps(live);
            ref short d = ref plane[0];
            ref int target = ref MemoryMarshal.GetReference(acc);
            ref int first = ref pairFirst[0];
            ref int second = ref pairSecond[0];
            ref int weight = ref pairWeights[0];
            int q = 0;
            for (; q <= acc.Length - 2 * Block; q += 2 * Block)
            {
                Vector256<int> low0 = Vector256<int>.Zero, high0 = Vector256<int>.Zero, low1 = Vector256<int>.Zero, high1 = Vector256<int>.Zero;
                for (int p = 0; p < pairs; p++)
                {
                    Vector256<short> w = Vector256.Create(Unsafe.Add(ref weight, p)).AsInt16();
                    ref short a = ref Unsafe.Add(ref d, Unsafe.Add(ref first, p) + q);
                    ref short b = ref Unsafe.Add(ref d, Unsafe.Add(ref second, p) + q);
                    Vector256<short> a0 = Vector256.LoadUnsafe(ref a), b0 = Vector256.LoadUnsafe(ref b);
                    Vector256<short> a1 = Vector256.LoadUnsafe(ref a, Block), b1 = Vector256.LoadUnsafe(ref b, Block);
                    low0 += Avx2.MultiplyAddAdjacent(Avx2.UnpackLow(a0, b0), w);
                    high0 += Avx2.MultiplyAddAdjacent(Avx2.UnpackHigh(a0, b0), w);
                    low1 += Avx2.MultiplyAddAdjacent(Avx2.UnpackLow(a1, b1), w);
                    high1 += Avx2.MultiplyAddAdjacent(Avx2.UnpackHigh(a1, b1), w);
                }

                Avx2.Permute2x128(low0, high0, 0x20).StoreUnsafe(ref target, (nuint)q);
                Avx2.Permute2x128(low0, high0, 0x31).StoreUnsafe(ref target, (nuint)(q + 8));
                Avx2.Permute2x128(low1, high1, 0x20).StoreUnsafe(ref target, (nuint)(q + 16));
                Avx2.Permute2x128(low1, high1, 0x31).StoreUnsafe(ref target, (nuint)(q + 24));
            }

            for (; q < acc.Length; q += Block)
            {
                Vector256<int> low = Vector256<int>.Zero, high = Vector256<int>.Zero;
                for (int p = 0; p < pairs; p++)
                {
                    Vector256<short> w = Vector256.Create(Unsafe.Add(ref weight, p)).AsInt16();
                    Vector256<short> a0 = Vector256.LoadUnsafe(ref d, (nuint)(Unsafe.Add(ref first, p) + q));
                    Vector256<short> b0 = Vector256.LoadUnsafe(ref d, (nuint)(Unsafe.Add(ref second, p) + q));
                    low += Avx2.MultiplyAddAdjacent(Avx2.UnpackLow(a0, b0), w);
                    high += Avx2.MultiplyAddAdjacent(Avx2.UnpackHigh(a0, b0), w);
                }

                Avx2.Permute2x128(low, high, 0x20).StoreUnsafe(ref target, (nuint)q);
                Avx2.Permute2x128(low, high, 0x31).StoreUnsafe(ref target, (nuint)(q + 8));
            }
        }

        /// <summary>The same pairs in 128-bit vectors (x64 without AVX2): unpack low/high are positions 0–3 and 4–7.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private void SumTapPairsSse2(int live, Span<int> acc)
        {
            int pairs = PairTaps(live);
            ref short d = ref plane[0];
            ref int target = ref MemoryMarshal.GetReference(acc);
            for (int q = 0; q < acc.Length; q += Block)
            {
                Vector128<int> a0 = Vector128<int>.Zero, a1 = Vector128<int>.Zero, a2 = Vector128<int>.Zero, a3 = Vector128<int>.Zero;
                for (int p = 0; p < pairs; p++)
                {
                    Vector128<short> w = Vector128.Create(pairWeights[p]).AsInt16();
                    Vector128<short> va0 = Vector128.LoadUnsafe(ref d, (nuint)(pairFirst[p] + q));
                    Vector128<short> vb0 = Vector128.LoadUnsafe(ref d, (nuint)(pairSecond[p] + q));
                    Vector128<short> va1 = Vector128.LoadUnsafe(ref d, (nuint)(pairFirst[p] + q + 8));
                    Vector128<short> vb1 = Vector128.LoadUnsafe(ref d, (nuint)(pairSecond[p] + q + 8));
                    a0 += Sse2.MultiplyAddAdjacent(Sse2.UnpackLow(va0, vb0), w);
                    a1 += Sse2.MultiplyAddAdjacent(Sse2.UnpackHigh(va0, vb0), w);
                    a2 += Sse2.MultiplyAddAdjacent(Sse2.UnpackLow(va1, vb1), w);
                    a3 += Sse2.MultiplyAddAdjacent(Sse2.UnpackHigh(va1, vb1), w);
                }

                a0.StoreUnsafe(ref target, (nuint)q);
                a1.StoreUnsafe(ref target, (nuint)(q + 4));
                a2.StoreUnsafe(ref target, (nuint)(q + 8));
                a3.StoreUnsafe(ref target, (nuint)(q + 12));
            }
        }

        /// <summary>Arm64: SMLAL/SMLAL2 multiply each tap's int16 differences by w and accumulate into int32.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private void SumTapsAdvSimd(int live, Span<int> acc)
        {
            ref short d = ref plane[0];
            ref int target = ref MemoryMarshal.GetReference(acc);
            for (int q = 0; q < acc.Length; q += Block)
            {
                Vector128<int> a0 = Vector128<int>.Zero, a1 = Vector128<int>.Zero, a2 = Vector128<int>.Zero, a3 = Vector128<int>.Zero;
                for (int t = 0; t < live; t++)
                {
                    Vector128<short> v0 = Vector128.LoadUnsafe(ref d, (nuint)(liveOffsets[t] + q));
                    Vector128<short> v1 = Vector128.LoadUnsafe(ref d, (nuint)(liveOffsets[t] + q + 8));
                    Vector128<short> w = Vector128.Create((short)liveWeights[t]);
                    a0 = AdvSimd.MultiplyWideningLowerAndAdd(a0, v0.GetLower(), w.GetLower());
                    a1 = AdvSimd.MultiplyWideningUpperAndAdd(a1, v0, w);
                    a2 = AdvSimd.MultiplyWideningLowerAndAdd(a2, v1.GetLower(), w.GetLower());
                    a3 = AdvSimd.MultiplyWideningUpperAndAdd(a3, v1, w);
                }

                a0.StoreUnsafe(ref target, (nuint)q);
                a1.StoreUnsafe(ref target, (nuint)(q + 4));
                a2.StoreUnsafe(ref target, (nuint)(q + 8));
                a3.StoreUnsafe(ref target, (nuint)(q + 12));
            }
        }
#endif

        /// <summary>Groups the live taps in twos (a last odd tap pairs with itself under weight 0); returns the pair count.</summary>
        private int PairTaps(int live)
        {
            int pairs = 0;
            for (int t = 0; t < live; t += 2)
            {
                bool single = t + 1 == live;
                pairFirst[pairs] = liveOffsets[t];
                pairSecond[pairs] = liveOffsets[single ? t : t + 1];
                pairWeights[pairs++] = (liveWeights[t] & 0xFFFF) | ((single ? 0 : liveWeights[t + 1]) << 16);
            }

            return pairs;
        }

        private static int RoundUp(int value, int multiple)
        {
            return (value + multiple - 1) / multiple * multiple;
        }
    }
}
