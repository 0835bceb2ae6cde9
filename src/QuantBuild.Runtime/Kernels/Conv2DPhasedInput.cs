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
    /// The input of one convolution group, copied once per Eval into padded column phases, so that the GEMM packing
    /// of every tap and output row is an interleave of contiguous runs with no edge tests and no strided gathers
    /// (docs/algorithms/requantization.md, "Packing from column phases"). Two element forms share the layout: int8
    /// codes stored as code + 128 for <see cref="Conv2DInt8"/> (four taps interleaved), and int16 values for
    /// <see cref="Int16ConvGemm"/> (two taps interleaved).
    /// <para>
    /// Phase px of input channel c holds, at row r and column j, the padded input at row r and column j·s + px
    /// (s the column stride); outside the input it holds the padding element (z_x + 128, or the value 0). Tap
    /// (c, ky, kx) of output (oy, ox) reads padded row oy·s_h + ky·d_h and padded column ox·s + kx·d_w, which is
    /// phase (kx·d_w) mod s, column ox + ⌊kx·d_w / s⌋: consecutive outputs of a row read consecutive elements.
    /// Taps past the fan-in read a row of zeros, which meets the zero-extended tail weights.
    /// </para>
    /// </summary>
    internal sealed class Conv2DPhasedInput
    {
        /// <summary>Largest phase buffer taken from the shared scratch; bigger inputs keep the per-tap gathers.</summary>
        private const long MaxBytes = 256 * 1024;

        private readonly Conv2DGeometry geometry;
        private readonly byte padCode;
        private readonly int phaseRows;
        private readonly int phaseWidth;
        private readonly int zeroRow;
        private readonly int tapsPerGroup;
        /// <summary>Where tap k's run for output (0, 0) starts in the buffer; taps past the fan-in point at the zero row.</summary>
        private readonly int[] tapStart;
        /// <summary>How far tap k's run moves per output row: s_h·phaseWidth, or 0 for the zero row.</summary>
        private readonly int[] tapRowStep;

        private Conv2DPhasedInput(Conv2DGeometry g, int inputZeroPoint, int tapsPerGroup, int phaseRows, int phaseWidth, int length, int[] tapOrder)
        {
            geometry = g;
            this.tapsPerGroup = tapsPerGroup;
            padCode = (byte)(inputZeroPoint + 128);
            this.phaseRows = phaseRows;
            this.phaseWidth = phaseWidth;
            zeroRow = length - g.OutWidth;
            Length = length;
            int kernelArea = g.KernelHeight * g.KernelWidth;
            int paddedTaps = (g.FanIn + tapsPerGroup - 1) / tapsPerGroup * tapsPerGroup;
            tapStart = new int[paddedTaps];
            tapRowStep = new int[paddedTaps];
            int phasePlane = phaseRows * phaseWidth;
            for (int k = 0; k < paddedTaps; k++)
            {
                if (k >= g.FanIn)
                {
                    tapStart[k] = zeroRow;
                    continue;
                }

                int tap = tapOrder == null ? k : tapOrder[k];
                int c = tap / kernelArea;
                int ky = tap % kernelArea / g.KernelWidth;
                int kx = tap % g.KernelWidth;
                int column = kx * g.DilationWidth;
                int phase = column % g.StrideWidth;
                tapStart[k] = (c * g.StrideWidth + phase) * phasePlane + ky * g.DilationHeight * phaseWidth + column / g.StrideWidth;
                tapRowStep[k] = g.StrideHeight * phaseWidth;
            }
        }

        /// <summary>Elements of scratch the phases and the zero row take.</summary>
        public int Length { get; }

        /// <summary>The int8-code form for <see cref="Conv2DInt8"/>'s [k / 4][position][k % 4] chunks, or null (see <see cref="TryCreate(Conv2DGeometry, int, int, int, int[])"/>).</summary>
        /// <param name="tapOrder">the fan-in order of the packed groups (<see cref="PairOrder"/>), or null for the layer's own</param>
        public static Conv2DPhasedInput TryCreateCodes(Conv2DGeometry g, int inputZeroPoint, int[] tapOrder)
        {
            return TryCreate(g, inputZeroPoint, 4, 1, tapOrder);
        }

        /// <summary>The int16-value form for <see cref="Int16ConvGemm"/>'s [k / 2][position][k % 2] chunks, or null.</summary>
        public static Conv2DPhasedInput TryCreateValues(Conv2DGeometry g)
        {
#pragma warning disable CS8625 // null: the layer's own order
            return TryCreate(g, -128, 2, 2, null);
#pragma warning restore CS8625
        }

        /// <summary>
        /// The phased form of a GEMM layer's input, or null where it does not pay: rows narrower than one vector
        /// interleave, or a buffer over <see cref="MaxBytes"/>. Sizes are counted in 64 bits before anything is allocated.
        /// </summary>
#pragma warning disable CS8603 // null means "keep the per-tap gathers"; C# 7.3 source has no nullable annotations
        private static Conv2DPhasedInput TryCreate(Conv2DGeometry g, int inputZeroPoint, int tapsPerGroup, int elementBytes, int[] tapOrder)
        {
            if (g.OutWidth < 16 / elementBytes)
            {
                return null;
            }

            // Rows read: padded rows 0 .. (OutHeight − 1)·s_h + (KernelHeight − 1)·d_h; columns per phase likewise.
            long rows = (long)(g.OutHeight - 1) * g.StrideHeight + (long)(g.KernelHeight - 1) * g.DilationHeight + 1;
            long width = g.OutWidth + (long)(g.KernelWidth - 1) * g.DilationWidth / g.StrideWidth;
            long length = (long)g.InChannelsPerGroup * g.StrideWidth * rows * width + g.OutWidth;
            if (length * elementBytes > MaxBytes)
            {
                return null;
            }

            return new Conv2DPhasedInput(g, inputZeroPoint, tapsPerGroup, (int)rows, (int)width, (int)length, tapOrder);
        }
#pragma warning restore CS8603

        /// <summary>Writes the code + 128 phases of one group's input (InChannelsPerGroup planes) and the zero row into <paramref name="buffer"/>.</summary>
        [MethodImpl(KernelJit.Optimize)]
        public void FillCodes(ReadOnlySpan<sbyte> groupInput, byte[] buffer)
        {
            Conv2DGeometry g = geometry;
            int inPlane = g.InHeight * g.InWidth;
            for (int c = 0; c < g.InChannelsPerGroup; c++)
            {
                ReadOnlySpan<sbyte> plane = groupInput.Slice(c * inPlane, inPlane);
                for (int phase = 0; phase < g.StrideWidth; phase++)
                {
                    Span<byte> target = PhasePlane(buffer.AsSpan(), c, phase);
                    for (int r = 0; r < phaseRows; r++)
                    {
                        Span<byte> row = target.Slice(r * phaseWidth, phaseWidth);
                        int iy = r - g.PadTop;
                        int first, last;
                        if (iy < 0 || iy >= g.InHeight || !InsideColumns(phase, out first, out last))
                        {
                            row.Fill(padCode);
                            continue;
                        }

                        row.Slice(0, first).Fill(padCode);
                        row.Slice(last).Fill(padCode);
                        CopyColumns(plane.Slice(iy * g.InWidth, g.InWidth), first * g.StrideWidth + phase - g.PadLeft, g.StrideWidth, row.Slice(first, last - first));
                    }
                }
            }

            buffer.AsSpan(zeroRow, g.OutWidth).Clear();
        }

        /// <summary>Writes the int16 value phases (0 in the padding) of one group's input and the zero row into <paramref name="buffer"/>.</summary>
        [MethodImpl(KernelJit.Optimize)]
        public void FillValues(ReadOnlySpan<short> groupValues, Span<short> buffer)
        {
            Conv2DGeometry g = geometry;
            int inPlane = g.InHeight * g.InWidth;
            int stride = g.StrideWidth;
            for (int c = 0; c < g.InChannelsPerGroup; c++)
            {
                ReadOnlySpan<short> plane = groupValues.Slice(c * inPlane, inPlane);
                for (int phase = 0; phase < stride; phase++)
                {
                    Span<short> target = PhasePlane(buffer, c, phase);
                    for (int r = 0; r < phaseRows; r++)
                    {
                        Span<short> row = target.Slice(r * phaseWidth, phaseWidth);
                        int iy = r - g.PadTop;
                        int first, last;
                        if (iy < 0 || iy >= g.InHeight || !InsideColumns(phase, out first, out last))
                        {
                            row.Clear();
                            continue;
                        }

                        row.Slice(0, first).Clear();
                        row.Slice(last).Clear();
                        ReadOnlySpan<short> source = plane.Slice(iy * g.InWidth, g.InWidth);
                        int from = first * stride + phase - g.PadLeft;
                        if (stride == 1)
                        {
                            source.Slice(from, last - first).CopyTo(row.Slice(first));
                            continue;
                        }

                        for (int j = first; j < last; j++, from += stride)
                        {
                            row[j] = source[from];
                        }
                    }
                }
            }

            buffer.Slice(zeroRow, g.OutWidth).Clear();
        }

        private Span<T> PhasePlane<T>(Span<T> buffer, int channel, int phase)
        {
            int phasePlane = phaseRows * phaseWidth;
            return buffer.Slice((channel * geometry.StrideWidth + phase) * phasePlane, phasePlane);
        }

        /// <summary>Phase columns [first, last) whose input column j·s + phase − padLeft lies inside the row; false when none does.</summary>
        private bool InsideColumns(int phase, out int first, out int last)
        {
            Conv2DGeometry g = geometry;
            int stride = g.StrideWidth;
            int offset = phase - g.PadLeft;
            first = offset >= 0 ? 0 : Math.Min(phaseWidth, (-offset + stride - 1) / stride);
            last = offset >= g.InWidth ? 0 : Math.Min(phaseWidth, (g.InWidth - 1 - offset) / stride + 1);
            return last > first;
        }

        /// <summary>
        /// Positions [start, start + count) of the packed layout [k / 4][position][k % 4], groups of four taps
        /// <paramref name="rowStride"/> bytes apart, from the phases <see cref="FillCodes"/> wrote.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        public void PackCodes(byte[] buffer, int start, int count, Span<byte> packed, int rowStride)
        {
            int outWidth = geometry.OutWidth;
            int end = start + count;
            ref byte phases = ref buffer[0];
            ref byte target = ref MemoryMarshal.GetReference(packed);
            for (int k = 0; k < tapStart.Length; k += 4)
            {
                ref byte groupTarget = ref Unsafe.Add(ref target, k / 4 * rowStride);
                int p = start;
                while (p < end)
                {
                    int oy = p / outWidth;
                    int ox = p - oy * outWidth;
                    int run = Math.Min(outWidth - ox, end - p);
                    FourLaneInterleave.Run(
                        ref Unsafe.Add(ref phases, tapStart[k] + oy * tapRowStep[k] + ox),
                        ref Unsafe.Add(ref phases, tapStart[k + 1] + oy * tapRowStep[k + 1] + ox),
                        ref Unsafe.Add(ref phases, tapStart[k + 2] + oy * tapRowStep[k + 2] + ox),
                        ref Unsafe.Add(ref phases, tapStart[k + 3] + oy * tapRowStep[k + 3] + ox),
                        run,
                        ref Unsafe.Add(ref groupTarget, 4 * (p - start)));
                    p += run;
                }
            }
        }

        /// <summary>
        /// Positions [start, start + count) of the packed layout [k / 2][position][k % 2], pairs of taps
        /// <paramref name="rowStride"/> values apart, from the phases <see cref="FillValues"/> wrote.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        public void PackValues(ReadOnlySpan<short> buffer, int start, int count, Span<short> packed, int rowStride)
        {
            int outWidth = geometry.OutWidth;
            int end = start + count;
            ref short phases = ref MemoryMarshal.GetReference(buffer);
            ref short target = ref MemoryMarshal.GetReference(packed);
            for (int k = 0; k < tapStart.Length; k += 2)
            {
                ref short pairTarget = ref Unsafe.Add(ref target, k / 2 * rowStride);
                int p = start;
                while (p < end)
                {
                    int oy = p / outWidth;
                    int ox = p - oy * outWidth;
                    int run = Math.Min(outWidth - ox, end - p);
                    TwoLaneInterleave(
                        ref Unsafe.Add(ref phases, tapStart[k] + oy * tapRowStep[k] + ox),
                        ref Unsafe.Add(ref phases, tapStart[k + 1] + oy * tapRowStep[k + 1] + ox),
                        run,
                        ref Unsafe.Add(ref pairTarget, 2 * (p - start)));
                    p += run;
                }
            }
        }

        /// <summary>target[2i + j] = lane_j[i] for i &lt; run.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void TwoLaneInterleave(ref short l0, ref short l1, int run, ref short target)
        {
            int i = 0;
#if NET8_0_OR_GREATER
            if (run >= 8 && Zip128.IsSupported)
            {
                for (; ; i += 8)
                {
                    if (i > run - 8)
                    {
                        if (i == run)
                        {
                            break;
                        }

                        // The remainder as one last vector ending at the run's end, rewriting a few entries with the same values.
                        i = run - 8;
                    }

                    Vector128<short> a = Vector128.LoadUnsafe(ref l0, (nuint)i);
                    Vector128<short> b = Vector128.LoadUnsafe(ref l1, (nuint)i);
                    Zip128.Low(a, b).StoreUnsafe(ref target, (nuint)(2 * i));
                    Zip128.High(a, b).StoreUnsafe(ref target, (nuint)(2 * i + 8));
                }
            }
#endif
            for (; i < run; i++)
            {
                Unsafe.Add(ref target, 2 * i) = Unsafe.Add(ref l0, i);
                Unsafe.Add(ref target, 2 * i + 1) = Unsafe.Add(ref l1, i);
            }
        }

        /// <summary>target[i] = row[from + i·stride] + 128 (the sign bit flipped); every index read lies inside the row.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private static void CopyColumns(ReadOnlySpan<sbyte> row, int from, int stride, Span<byte> target)
        {
            ref byte source = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(row));
            ref byte to = ref MemoryMarshal.GetReference(target);
            int n = target.Length;
            int i = 0;
#if NET8_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                Vector128<byte> flip = Vector128.Create((byte)0x80);
                if (stride == 1)
                {
                    for (; i <= n - 16; i += 16)
                    {
                        (Vector128.LoadUnsafe(ref source, (nuint)(from + i)) ^ flip).StoreUnsafe(ref to, (nuint)i);
                    }
                }
                else if (stride == 2)
                {
                    // Every other byte of 32 columns; the loads end at column from + 2i + 31, which must lie in the row.
                    Vector128<ushort> low = Vector128.Create((ushort)0xFF);
                    for (; i <= n - 16 && from + 2 * i + 31 < row.Length; i += 16)
                    {
                        ref byte at = ref Unsafe.Add(ref source, from + 2 * i);
                        Vector128<ushort> a = Vector128.LoadUnsafe(ref at).AsUInt16() & low;
                        Vector128<ushort> b = Vector128.LoadUnsafe(ref at, 16).AsUInt16() & low;
                        (Vector128.Narrow(a, b) ^ flip).StoreUnsafe(ref to, (nuint)i);
                    }
                }
            }
#endif
            for (; i < n; i++)
            {
                Unsafe.Add(ref to, i) = (byte)(Unsafe.Add(ref source, from + i * stride) ^ 0x80);
            }
        }
    }

    /// <summary>The packing step shared by the GEMM convolutions: four runs of tap codes into one [position][4] run.</summary>
    internal static class FourLaneInterleave
    {
        /// <summary>target[4i + j] = lane_j[i] for i &lt; run.</summary>
        [MethodImpl(KernelJit.Optimize)]
        public static void Run(ref byte l0, ref byte l1, ref byte l2, ref byte l3, int run, ref byte target)
        {
            int i = 0;
#if NET8_0_OR_GREATER
            if (run >= 16 && Zip128.IsSupported)
            {
                for (; ; i += 16)
                {
                    if (i > run - 16)
                    {
                        if (i == run)
                        {
                            break;
                        }

                        // The remainder as one last vector ending at the run's end: it rewrites a few entries with the same bytes.
                        i = run - 16;
                    }

                    Vector128<byte> a = Vector128.LoadUnsafe(ref l0, (nuint)i);
                    Vector128<byte> b = Vector128.LoadUnsafe(ref l1, (nuint)i);
                    Vector128<byte> c = Vector128.LoadUnsafe(ref l2, (nuint)i);
                    Vector128<byte> d = Vector128.LoadUnsafe(ref l3, (nuint)i);
                    Vector128<ushort> abLow = Zip128.Low(a, b).AsUInt16(), abHigh = Zip128.High(a, b).AsUInt16();
                    Vector128<ushort> cdLow = Zip128.Low(c, d).AsUInt16(), cdHigh = Zip128.High(c, d).AsUInt16();
                    Zip128.Low(abLow, cdLow).AsByte().StoreUnsafe(ref target, (nuint)(4 * i));
                    Zip128.High(abLow, cdLow).AsByte().StoreUnsafe(ref target, (nuint)(4 * i + 16));
                    Zip128.Low(abHigh, cdHigh).AsByte().StoreUnsafe(ref target, (nuint)(4 * i + 32));
                    Zip128.High(abHigh, cdHigh).AsByte().StoreUnsafe(ref target, (nuint)(4 * i + 48));
                }
            }
#endif
            for (; i < run; i++)
            {
                Unsafe.Add(ref target, 4 * i) = Unsafe.Add(ref l0, i);
                Unsafe.Add(ref target, 4 * i + 1) = Unsafe.Add(ref l1, i);
                Unsafe.Add(ref target, 4 * i + 2) = Unsafe.Add(ref l2, i);
                Unsafe.Add(ref target, 4 * i + 3) = Unsafe.Add(ref l3, i);
            }
        }
    }

#if NET8_0_OR_GREATER
    /// <summary>
    /// Interleaving the low or high halves of two 128-bit vectors (x64 punpckl/punpckh, Arm64 zip1/zip2): the one
    /// instruction-set choice the interleaves above share.
    /// </summary>
    internal static class Zip128
    {
        public static bool IsSupported
        {
            get { return Sse2.IsSupported || AdvSimd.Arm64.IsSupported; }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> Low(Vector128<byte> a, Vector128<byte> b)
        {
            return Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<byte> High(Vector128<byte> a, Vector128<byte> b)
        {
            return Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<short> Low(Vector128<short> a, Vector128<short> b)
        {
            return Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<short> High(Vector128<short> a, Vector128<short> b)
        {
            return Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<ushort> Low(Vector128<ushort> a, Vector128<ushort> b)
        {
            return Sse2.IsSupported ? Sse2.UnpackLow(a, b) : AdvSimd.Arm64.ZipLow(a, b);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<ushort> High(Vector128<ushort> a, Vector128<ushort> b)
        {
            return Sse2.IsSupported ? Sse2.UnpackHigh(a, b) : AdvSimd.Arm64.ZipHigh(a, b);
        }
    }
#endif
}
