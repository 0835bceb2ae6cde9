using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// 2-D convolution (NCHW) on log level indices, bit-identical to <see cref="Conv2DLogInputReference"/>: the
    /// input is decoded to its int16 level values once per call (padding is the zero level), then in int32 either
    /// a blocked GEMM over packed chunks of positions (<see cref="Int16ConvGemm"/>) or, with one input channel per
    /// group, tap by tap along output rows (<see cref="Int16Taps"/>), and the vector output stage
    /// <see cref="ChannelRequantizer.ApplyRow"/>. Integer sums do not depend on their order, and the prepare-time
    /// bound on |acc| also bounds every partial sum, so the int32 paths cannot overflow where the reference does
    /// not; layers past that bound accumulate each plane tap by tap in int64. Scratch buffers are sized at prepare
    /// time; <see cref="Eval"/> allocates nothing.
    /// </summary>
    public sealed class Conv2DLogInput
    {
        private readonly Conv2DGeometry geometry;
        private readonly short[] levels;
        private readonly sbyte[] weights;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;
        private readonly short[] values;
        private readonly int[] plane;
        private readonly long[] widePlane;
        // Null on the int64 path and for one input channel per group; C# 7.3 (the netstandard2.0 build) cannot
        // annotate that, hence the pragma on the constructor.
        private readonly Int16ConvGemm gemm;
        private readonly int[] tileAccumulators;

#pragma warning disable CS8618 // gemm: see its declaration
        public Conv2DLogInput(
            Conv2DGeometry geometry,
            ReadOnlySpan<short> levels,
            float levelScale,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue)
        {
            KernelArguments.RequireGeometry(geometry);

            this.geometry = geometry;
            var layer = new LogInputLayer(geometry.OutChannels, geometry.FanIn, geometry.WeightLength, "Weights must have OutChannels·(InChannels/Groups)·kH·kW elements.", levels, levelScale, weightScales, output, weights, bias, "output channel", clampMin, clampMax);
            this.levels = layer.Levels;
            this.weights = layer.Weights;
            this.bias = layer.Bias;
            requantizer = layer.Requantizer;
            UsesInt64Accumulator = layer.UsesInt64Accumulator;
            values = new short[geometry.InputLength];
            int planeLength = geometry.OutHeight * geometry.OutWidth;
            bool packs = !UsesInt64Accumulator && geometry.InChannelsPerGroup > 1;
            plane = UsesInt64Accumulator || packs ? new int[0] : new int[planeLength];
            widePlane = UsesInt64Accumulator ? new long[planeLength] : new long[0];
            tileAccumulators = packs ? new int[4 * Int16ConvGemm.TilePositions] : new int[0];
            if (packs)
            {
                gemm = new Int16ConvGemm(geometry, geometry.OutChannels);
                for (int oc = 0; oc < geometry.OutChannels; oc++)
                {
                    gemm.SetRow(oc, new ReadOnlySpan<sbyte>(this.weights, oc * geometry.FanIn, geometry.FanIn));
                }
            }
        }
#pragma warning restore CS8618

        public Conv2DGeometry Geometry
        {
            get { return geometry; }
        }

        /// <summary>True when the prepare-time bound showed an int32 accumulator could overflow.</summary>
        public bool UsesInt64Accumulator { get; }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            LogLevelValues.Decode(input, levels, values);

            if (UsesInt64Accumulator)
            {
                EvalWide(output);
            }
            else if (gemm != null)
            {
                EvalGemm(output);
            }
            else
            {
                EvalTaps(output);
            }
        }

        /// <summary>Per group and chunk of positions: blocks of four (then single) filters over the packed chunk, then requantization.</summary>
        private void EvalGemm(Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            const int tileSize = Int16ConvGemm.TilePositions;
            Int16ConvGemm packed = gemm;
            Span<int> acc = tileAccumulators;
            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int ocPerGroup = g.OutChannelsPerGroup;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int group = 0; group < g.Groups; group++)
                {
                    ReadOnlySpan<short> groupValues = new ReadOnlySpan<short>(values, (n * g.InChannels + group * g.InChannelsPerGroup) * inPlane, g.InChannelsPerGroup * inPlane);
                    int groupEnd = (group + 1) * ocPerGroup;
                    for (int start = 0; start < outPlane; start += packed.ChunkPositions)
                    {
                        int count = Math.Min(packed.ChunkPositions, outPlane - start);
                        packed.Pack(groupValues, start, count);
                        for (int oc = group * ocPerGroup; oc < groupEnd;)
                        {
                            int block = groupEnd - oc >= 4 ? 4 : 1;
                            for (int tile = 0; tile < count; tile += tileSize)
                            {
                                packed.Tile(oc, block, tile, acc);
                                int valid = Math.Min(tileSize, count - tile);
                                for (int c = 0; c < block; c++)
                                {
                                    int channel = oc + c;
                                    requantizer.ApplyRow(acc.Slice(c * tileSize, valid), bias[channel], channel, output.Slice((n * g.OutChannels + channel) * outPlane + start + tile, valid));
                                }
                            }

                            oc += block;
                        }
                    }
                }
            }
        }

        /// <summary>One input channel per group: each output plane accumulates tap by tap along its rows, then requantization.</summary>
        private void EvalTaps(Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int taps = g.KernelHeight * g.KernelWidth;
            Span<int> acc = plane;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int oc = 0; oc < g.OutChannels; oc++)
                {
                    ReadOnlySpan<short> input = new ReadOnlySpan<short>(values, (n * g.InChannels + oc / g.OutChannelsPerGroup) * inPlane, inPlane);
                    ReadOnlySpan<sbyte> filter = new ReadOnlySpan<sbyte>(weights, oc * taps, taps);
                    acc.Clear();
                    for (int oy = 0; oy < g.OutHeight; oy++)
                    {
                        Span<int> accRow = acc.Slice(oy * g.OutWidth, g.OutWidth);
                        for (int ky = 0; ky < g.KernelHeight; ky++)
                        {
                            int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                            if (iy < 0 || iy >= g.InHeight)
                            {
                                continue; // padding is the zero level: adds 0
                            }

                            ReadOnlySpan<short> inputRow = input.Slice(iy * g.InWidth, g.InWidth);
                            for (int kx = 0; kx < g.KernelWidth; kx++)
                            {
                                int w = filter[ky * g.KernelWidth + kx];
                                if (w != 0)
                                {
                                    Int16Taps.Add(inputRow, accRow, w, kx * g.DilationWidth - g.PadLeft, g.StrideWidth);
                                }
                            }
                        }
                    }

                    requantizer.ApplyRow(acc, bias[oc], oc, output.Slice((n * g.OutChannels + oc) * outPlane, outPlane));
                }
            }
        }

        /// <summary>The int64 path: each output plane accumulated tap by tap in int64, then requantized value by value.</summary>
        private void EvalWide(Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int oc = 0; oc < g.OutChannels; oc++)
                {
                    int firstInputChannel = (oc / g.OutChannelsPerGroup) * g.InChannelsPerGroup;
                    int outBase = (n * g.OutChannels + oc) * outPlane;
                    AccumulateWide(n, oc, firstInputChannel, inPlane);
                    for (int p = 0; p < outPlane; p++)
                    {
                        output[outBase + p] = requantizer.Apply(widePlane[p] + bias[oc], oc);
                    }
                }
            }
        }

        /// <summary>First and one-past-last output column whose input column ox·s − pad + offset lies inside the row.</summary>
        private static void ValidColumns(int outWidth, int inWidth, int stride, int columnOffset, out int first, out int end)
        {
            // ix = ox·stride + columnOffset must satisfy 0 ≤ ix < inWidth.
            first = columnOffset >= 0 ? 0 : (-columnOffset + stride - 1) / stride;
            int last = inWidth - 1 - columnOffset;
            end = last < 0 ? 0 : Math.Min(outWidth, last / stride + 1);
        }

        private void AccumulateWide(int n, int oc, int firstInputChannel, int inPlane)
        {
            Conv2DGeometry g = geometry;
            Array.Clear(widePlane, 0, widePlane.Length);
            int filterBase = oc * g.FanIn;
            for (int ic = 0; ic < g.InChannelsPerGroup; ic++)
            {
                int channelBase = (n * g.InChannels + firstInputChannel + ic) * inPlane;
                for (int ky = 0; ky < g.KernelHeight; ky++)
                {
                    for (int kx = 0; kx < g.KernelWidth; kx++)
                    {
                        long w = weights[filterBase + (ic * g.KernelHeight + ky) * g.KernelWidth + kx];
                        if (w == 0)
                        {
                            continue;
                        }

                        int columnOffset = kx * g.DilationWidth - g.PadLeft;
                        int first, end;
                        ValidColumns(g.OutWidth, g.InWidth, g.StrideWidth, columnOffset, out first, out end);
                        for (int oy = 0; oy < g.OutHeight; oy++)
                        {
                            int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                            if (iy < 0 || iy >= g.InHeight)
                            {
                                continue;
                            }

                            int rowBase = channelBase + iy * g.InWidth + columnOffset;
                            int outRow = oy * g.OutWidth;
                            for (int ox = first; ox < end; ox++)
                            {
                                widePlane[outRow + ox] += values[rowBase + ox * g.StrideWidth] * w;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Fully-connected layer on log level indices, bit-identical to <see cref="FullyConnectedLogInputReference"/>:
    /// each input row is decoded to its int16 level values once and dotted with every unit's int8 row
    /// (<see cref="Int16Int8Dot"/>; on the int64 path over blocks whose own sums fit int32, added in int64).
    /// </summary>
    public sealed class FullyConnectedLogInput
    {
        private readonly short[] levels;
        private readonly sbyte[] weights;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;
        private readonly short[] row;
        private readonly int wideBlock;

        public FullyConnectedLogInput(
            int batch,
            int inFeatures,
            int units,
            ReadOnlySpan<short> levels,
            float levelScale,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue)
        {
            KernelArguments.RequireFullyConnectedShape(batch, inFeatures, units);

            Batch = batch;
            InFeatures = inFeatures;
            Units = units;
            var layer = new LogInputLayer(units, inFeatures, units * inFeatures, "Weights must have units·inFeatures elements.", levels, levelScale, weightScales, output, weights, bias, "unit", clampMin, clampMax);
            this.levels = layer.Levels;
            this.weights = layer.Weights;
            this.bias = layer.Bias;
            requantizer = layer.Requantizer;
            UsesInt64Accumulator = layer.UsesInt64Accumulator;
            row = new short[inFeatures];
            int maxLevel = 1;
            for (int i = 0; i < this.levels.Length; i++)
            {
                maxLevel = Math.Max(maxLevel, this.levels[i]);
            }

            // |Σ over a block| ≤ length · max level · 128 ≤ int.MaxValue.
            wideBlock = Math.Max(1, int.MaxValue / (maxLevel * 128));
        }

        public int Batch { get; }

        public int InFeatures { get; }

        public int Units { get; }

        public bool UsesInt64Accumulator { get; }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            int inFeatures = InFeatures;
            int units = Units;
            if (input.Length != Batch * inFeatures || output.Length != Batch * units)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shapes.");
            }

            for (int b = 0; b < Batch; b++)
            {
                LogLevelValues.Decode(input.Slice(b * inFeatures, inFeatures), levels, row);

                for (int j = 0; j < units; j++)
                {
                    int rowBase = j * inFeatures;
                    if (UsesInt64Accumulator)
                    {
                        // Blocks short enough that their own sum cannot leave int32: each is exact in the vector
                        // dot, and their int64 total is the reference's Σ.
                        long acc = bias[j];
                        for (int k = 0; k < inFeatures; k += wideBlock)
                        {
                            int length = Math.Min(wideBlock, inFeatures - k);
                            acc += Int16Int8Dot.Dot(new ReadOnlySpan<short>(row, k, length), new ReadOnlySpan<sbyte>(weights, rowBase + k, length));
                        }

                        output[b * units + j] = requantizer.Apply(acc, j);
                    }
                    else
                    {
                        int acc = Int16Int8Dot.Dot(row, new ReadOnlySpan<sbyte>(weights, rowBase, inFeatures));
                        output[b * units + j] = requantizer.Apply(unchecked(acc + bias[j]), j);
                    }
                }
            }
        }
    }
}
