using System;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// 2-D convolution (NCHW) with multipoint weights (docs/algorithms/multipoint.md, "Integer inference"): each output channel is
    /// the sum of several b-bit filter rows, each accumulated in integers and scaled by its own fixed-point
    /// multiplier before the one requantization to the output (see <see cref="MultipointRows"/>).
    /// Padded taps hold z_x (real 0) and so add nothing, as in <see cref="Conv2DInt8Reference"/>; with no
    /// extra rows the result equals that reference bit for bit.
    /// <para><see cref="Conv2DMultipointReference"/> is the definition (int64 accumulators, no fan-in bound) and runs
    /// any layer whose bound does not fit.
    /// When <see cref="MultipointRows.FitsInt32"/> shows that no accumulator, scaled row or channel sum can leave
    /// int32 for these weights, an ungrouped layer runs every row as one filter of a <see cref="Conv2DInt8"/> (its
    /// int8 GEMM, raw accumulators from <see cref="Conv2DInt8.EvalAccumulators"/>); other layers run on int16 values
    /// x − z_x instead: a blocked GEMM over all rows
    /// (<see cref="Int16ConvGemm"/>), or, for one input channel per group, every row of a channel over the
    /// depthwise planes of <see cref="Conv2DDepthwise"/> (its raw accumulators), then the vector output stage <see cref="MultipointRows.FinishRow"/>. Same bits: integer sums are exact in
    /// any order inside int32, and MBQM of an int64 accumulator that fits int32 is the int32 MBQM.</para>
    /// Scratch buffers are sized here; <see cref="Eval"/> allocates nothing.
    /// </summary>
    public sealed class Conv2DMultipoint
    {
        private readonly Conv2DGeometry geometry;
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly MultipointRows rows;
        private readonly Conv2DMultipointReference reference;
        private readonly MultipointCodes codes;
        private readonly int maxAbsInput;
        // Null for one input channel per group (those layers run on depthwisePlanes, which is null otherwise); C# 7.3,
        // which the netstandard2.0 build uses, cannot annotate that, hence the pragma on the constructor.
        private readonly Int16ConvGemm gemm;
        private readonly Conv2DDepthwise depthwisePlanes;
        private readonly short[] values;
        private readonly int[] firstAccumulators;
        private readonly int[] extraAccumulators;
        private readonly int[] planes;
        private readonly int[] sums;
        private bool fitsInt32;

        /// <summary>
        /// Ungrouped GEMM layers: every row (first and extra) as one filter of an int8 convolution, whose raw
        /// accumulators [batch][row][position] feed <see cref="MultipointRows.FinishRow"/> once per channel. Built
        /// when the codes change; used while <see cref="useRowConvolution"/> (the int16 paths run otherwise).
        /// </summary>
        private Conv2DInt8 rowConvolution;
        private bool useRowConvolution;
        private readonly int[] rowAccumulators;

        /// <param name="bits">storage width of the codes, 4 (packed) or 8</param>
        /// <param name="extraChannels">for each extra row (rows OutChannels.. of the weights), its output channel, ascending</param>
        /// <param name="extraScales">the real scale a of each extra row</param>
#pragma warning disable CS8618 // gemm, depthwisePlanes: see their declarations
        public Conv2DMultipoint(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            int bits,
            ReadOnlySpan<int> bias,
            int[] extraChannels,
            float[] extraScales,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue)
        {
            KernelArguments.RequireGeometry(geometry);

            this.geometry = geometry;
            inputZeroPoint = input.ZeroPoint;
            this.bias = KernelArguments.BiasPerChannel(bias, geometry.OutChannels, "output channel");

            reference = new Conv2DMultipointReference(geometry, input, weightScales, output, bits, bias, extraChannels, extraScales, clampMin, clampMax);
            rows = reference.Rows;
            codes = new MultipointCodes(rows, geometry.FanIn);
            maxAbsInput = Math.Max(sbyte.MaxValue - inputZeroPoint, inputZeroPoint - sbyte.MinValue);
            int outPlane = geometry.OutHeight * geometry.OutWidth;
            int extraRows = rows.Rows - rows.Channels;
            sums = new int[Math.Max(Int16ConvGemm.TilePositions, outPlane)];
            if (geometry.InChannelsPerGroup == 1)
            {
                // One accumulator plane for a channel's first row and one for each of its extra rows.
                int mostRows = 1;
                for (int c = 0; c < rows.Channels; c++)
                {
                    mostRows = Math.Max(mostRows, 1 + rows.ExtraEnd(c) - rows.ExtraBegin(c));
                }

                planes = new int[mostRows * outPlane];
                depthwisePlanes = new Conv2DDepthwise(geometry, inputZeroPoint);
                values = new short[0];
                // An ungrouped single-channel stem with four or more rows is a GEMM for Conv2DInt8.
                rowAccumulators = geometry.Groups == 1 && rows.Rows >= 4 ? new int[geometry.Batch * rows.Rows * outPlane] : new int[0];
                firstAccumulators = new int[0];
                extraAccumulators = new int[0];
            }
            else
            {
                gemm = new Int16ConvGemm(geometry, rows.Rows);
                values = new short[geometry.InputLength];
                planes = new int[0];
                rowAccumulators = geometry.Groups == 1 ? new int[geometry.Batch * rows.Rows * outPlane] : new int[0];
                firstAccumulators = new int[4 * Int16ConvGemm.TilePositions];
                // A block of up to four channels never has more extra rows than the layer.
                extraAccumulators = new int[Math.Max(1, extraRows) * Int16ConvGemm.TilePositions];
            }
        }
#pragma warning restore CS8618

        public Conv2DGeometry Geometry
        {
            get { return geometry; }
        }

        public MultipointRows Rows
        {
            get { return rows; }
        }

        /// <param name="weights">all rows [OutChannels + extra rows, InChannels/Groups, kH, kW] at the storage width</param>
        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> weights, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength || weights.Length != rows.StoredLength(g.FanIn))
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            if (codes.Update(weights))
            {
                fitsInt32 = rows.FitsInt32(codes.Codes, g.FanIn, maxAbsInput, bias);
                useRowConvolution = false;
                if (fitsInt32 && rowAccumulators.Length > 0)
                {
                    // Scales and output parameters are placeholders: only the raw accumulators are read.
                    var allRows = new Conv2DGeometry(g.Batch, g.InChannels, g.InHeight, g.InWidth, rows.Rows, g.KernelHeight, g.KernelWidth,
                        g.StrideHeight, g.StrideWidth, g.PadTop, g.PadLeft, g.PadBottom, g.PadRight, g.DilationHeight, g.DilationWidth);
                    var ones = new float[rows.Rows];
                    for (int r = 0; r < ones.Length; r++)
                    {
                        ones[r] = 1f;
                    }

                    var convolution = new Conv2DInt8(allRows, new QuantParams(1f, inputZeroPoint), ones, new QuantParams(1f, 0), codes.Codes, new int[rows.Rows]);
                    rowConvolution = convolution;
                    useRowConvolution = convolution.HasInt32Accumulators;
                }

                if (fitsInt32 && gemm != null && !useRowConvolution)
                {
                    for (int r = 0; r < rows.Rows; r++)
                    {
                        gemm.SetRow(r, new ReadOnlySpan<sbyte>(codes.Codes, r * g.FanIn, g.FanIn));
                    }
                }
            }

            if (!fitsInt32)
            {
                reference.Eval(input, weights, output);
                return;
            }

            if (useRowConvolution)
            {
                EvalRowConvolution(rowConvolution, input, output);
                return;
            }

            if (gemm == null)
            {
                EvalPlanes(input, output);
                return;
            }

            Deviations(input);
            EvalGemm(output);
        }

        /// <summary>True when the last <see cref="Eval"/> ran all rows through the int8 GEMM (<see cref="Conv2DInt8.EvalAccumulators"/>).</summary>
        internal bool UsesInt8RowConvolution
        {
            get { return useRowConvolution; }
        }

        /// <summary>True when the last <see cref="Eval"/> ran the int32 paths (its weights passed <see cref="MultipointRows.FitsInt32"/>).</summary>
        public bool UsesInt32Paths
        {
            get { return fitsInt32; }
        }

        /// <summary>
        /// values[i] = x_i − z_x as int16 (|·| ≤ 255), so padded taps (0) and the packed GEMM need no zero point; 32
        /// (or 16) codes a step, since on depthwise layers this pass costs about as much as the taps.
        /// </summary>
        private void Deviations(ReadOnlySpan<sbyte> input)
        {
            int i = 0;
#if NET8_0_OR_GREATER
            ref sbyte source = ref MemoryMarshal.GetReference(input);
            ref short target = ref values[0];
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<short> zero = Vector256.Create((short)inputZeroPoint);
                for (; i <= input.Length - 32; i += 32)
                {
                    (Vector256<short> low, Vector256<short> high) = Vector256.Widen(Vector256.LoadUnsafe(ref source, (nuint)i));
                    (low - zero).StoreUnsafe(ref target, (nuint)i);
                    (high - zero).StoreUnsafe(ref target, (nuint)(i + 16));
                }
            }
            else if (Vector128.IsHardwareAccelerated)
            {
                Vector128<short> zero = Vector128.Create((short)inputZeroPoint);
                for (; i <= input.Length - 16; i += 16)
                {
                    (Vector128<short> low, Vector128<short> high) = Vector128.Widen(Vector128.LoadUnsafe(ref source, (nuint)i));
                    (low - zero).StoreUnsafe(ref target, (nuint)i);
                    (high - zero).StoreUnsafe(ref target, (nuint)(i + 8));
                }
            }
#endif
            for (; i < input.Length; i++)
            {
                values[i] = (short)(input[i] - inputZeroPoint);
            }
        }

        /// <summary>All rows through the int8 GEMM at once, then each channel's rows combined over whole output planes.</summary>
        private void EvalRowConvolution(Conv2DInt8 convolution, ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int outPlane = g.OutHeight * g.OutWidth;
            convolution.EvalAccumulators(input, codes.Codes, rowAccumulators);
            for (int n = 0; n < g.Batch; n++)
            {
                int batchBase = n * rows.Rows * outPlane;
                for (int channel = 0; channel < g.OutChannels; channel++)
                {
                    rows.FinishRow(channel, new ReadOnlySpan<int>(rowAccumulators, batchBase + channel * outPlane, outPlane), bias[channel],
                        new ReadOnlySpan<int>(rowAccumulators, batchBase + rows.ExtraBegin(channel) * outPlane, (rows.ExtraEnd(channel) - rows.ExtraBegin(channel)) * outPlane),
                        outPlane, sums, output.Slice((n * g.OutChannels + channel) * outPlane, outPlane));
                }
            }
        }

        /// <summary>Per group and chunk of positions: all rows of a block of channels over the packed chunk, then each channel's sum.</summary>
        private void EvalGemm(Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            const int tileSize = Int16ConvGemm.TilePositions;
            Int16ConvGemm gemm = this.gemm;
            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int ocPerGroup = g.OutChannelsPerGroup;
            Span<int> first = firstAccumulators;
            Span<int> extra = extraAccumulators;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int group = 0; group < g.Groups; group++)
                {
                    ReadOnlySpan<short> groupValues = new ReadOnlySpan<short>(values, (n * g.InChannels + group * g.InChannelsPerGroup) * inPlane, g.InChannelsPerGroup * inPlane);
                    int groupEnd = (group + 1) * ocPerGroup;
                    for (int start = 0; start < outPlane; start += gemm.ChunkPositions)
                    {
                        int count = Math.Min(gemm.ChunkPositions, outPlane - start);
                        gemm.Pack(groupValues, start, count);
                        for (int oc = group * ocPerGroup; oc < groupEnd;)
                        {
                            int block = groupEnd - oc >= 4 ? 4 : 1;
                            int extraBegin = rows.ExtraBegin(oc);
                            int extraEnd = rows.ExtraEnd(oc + block - 1);
                            for (int tile = 0; tile < count; tile += tileSize)
                            {
                                gemm.Tile(oc, block, tile, first);
                                int r = extraBegin;
                                for (; r <= extraEnd - 4; r += 4)
                                {
                                    gemm.Tile(r, 4, tile, extra.Slice((r - extraBegin) * tileSize));
                                }

                                for (; r < extraEnd; r++)
                                {
                                    gemm.Tile(r, 1, tile, extra.Slice((r - extraBegin) * tileSize));
                                }

                                int valid = Math.Min(tileSize, count - tile);
                                for (int c = 0; c < block; c++)
                                {
                                    int channel = oc + c;
                                    rows.FinishRow(channel, first.Slice(c * tileSize), bias[channel], extra.Slice((rows.ExtraBegin(channel) - extraBegin) * tileSize), tileSize,
                                        sums, output.Slice((n * g.OutChannels + channel) * outPlane + start + tile, valid));
                                }
                            }

                            oc += block;
                        }
                    }
                }
            }
        }

        /// <summary>One input channel per group: every row of a channel over its input's depthwise planes, then the channel's sum.</summary>
        private void EvalPlanes(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int taps = g.KernelHeight * g.KernelWidth;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int oc = 0; oc < g.OutChannels; oc++)
                {
                    if (oc % g.OutChannelsPerGroup == 0)
                    {
                        depthwisePlanes.FillInput(input.Slice((n * g.InChannels + oc / g.OutChannelsPerGroup) * inPlane, inPlane));
                    }

                    int extraBegin = rows.ExtraBegin(oc);
                    int extraEnd = rows.ExtraEnd(oc);
                    depthwisePlanes.AccumulateFilter(new ReadOnlySpan<sbyte>(codes.Codes, oc * taps, taps), new Span<int>(planes, 0, outPlane));
                    for (int r = extraBegin; r < extraEnd; r++)
                    {
                        depthwisePlanes.AccumulateFilter(new ReadOnlySpan<sbyte>(codes.Codes, r * taps, taps), new Span<int>(planes, (1 + r - extraBegin) * outPlane, outPlane));
                    }

                    rows.FinishRow(oc, new ReadOnlySpan<int>(planes, 0, outPlane), bias[oc], new ReadOnlySpan<int>(planes, outPlane, planes.Length - outPlane), outPlane,
                        sums, output.Slice((n * g.OutChannels + oc) * outPlane, outPlane));
                }
            }
        }
    }
}
