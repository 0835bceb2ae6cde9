using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// 2-D convolution (NCHW) on log level indices, bit-identical to <see cref="Conv2DLogInputReference"/>: the
    /// input is decoded to its int16 level values once per call, then each output plane is accumulated tap by
    /// tap (one weight times a contiguous run of input values, bounds worked out per row instead of per tap).
    /// Integer sums do not depend on their order, and the prepare-time bound on |acc| also bounds every
    /// partial sum, so the int32 path cannot overflow where the reference does not. Scratch buffers are sized
    /// at prepare time; <see cref="Eval"/> allocates nothing.
    /// </summary>
    public sealed class Conv2DLogInput
    {
        private readonly Conv2DGeometry geometry;
        private readonly short[] levels;
        private readonly sbyte[] weights;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;
        private readonly int[] values;
        private readonly int[] plane;
        private readonly long[] widePlane;

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
            values = new int[geometry.InputLength];
            int planeLength = geometry.OutHeight * geometry.OutWidth;
            plane = UsesInt64Accumulator ? new int[0] : new int[planeLength];
            widePlane = UsesInt64Accumulator ? new long[planeLength] : new long[0];
        }

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

            int levelCount = levels.Length;
            for (int i = 0; i < input.Length; i++)
            {
                int index = input[i] & 0xFF;
                if ((uint)index >= (uint)levelCount)
                {
                    throw new ArgumentException("A level index is outside the level table.");
                }

                values[i] = levels[index];
            }

            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int oc = 0; oc < g.OutChannels; oc++)
                {
                    int firstInputChannel = (oc / g.OutChannelsPerGroup) * g.InChannelsPerGroup;
                    int outBase = (n * g.OutChannels + oc) * outPlane;
                    if (UsesInt64Accumulator)
                    {
                        AccumulateWide(n, oc, firstInputChannel, inPlane);
                        for (int p = 0; p < outPlane; p++)
                        {
                            output[outBase + p] = requantizer.Apply(widePlane[p] + bias[oc], oc);
                        }
                    }
                    else
                    {
                        Accumulate(n, oc, firstInputChannel, inPlane);
                        for (int p = 0; p < outPlane; p++)
                        {
                            output[outBase + p] = requantizer.Apply(plane[p] + bias[oc], oc);
                        }
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

        private void Accumulate(int n, int oc, int firstInputChannel, int inPlane)
        {
            Conv2DGeometry g = geometry;
            Array.Clear(plane, 0, plane.Length);
            int filterBase = oc * g.FanIn;
            for (int ic = 0; ic < g.InChannelsPerGroup; ic++)
            {
                int channelBase = (n * g.InChannels + firstInputChannel + ic) * inPlane;
                for (int ky = 0; ky < g.KernelHeight; ky++)
                {
                    for (int kx = 0; kx < g.KernelWidth; kx++)
                    {
                        int w = weights[filterBase + (ic * g.KernelHeight + ky) * g.KernelWidth + kx];
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
                                continue; // padding is the zero level: adds 0
                            }

                            int rowBase = channelBase + iy * g.InWidth + columnOffset;
                            int outRow = oy * g.OutWidth;
                            for (int ox = first; ox < end; ox++)
                            {
                                plane[outRow + ox] += values[rowBase + ox * g.StrideWidth] * w;
                            }
                        }
                    }
                }
            }
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
    /// each input row is decoded to its level values once and dotted with every unit's int8 row.
    /// </summary>
    public sealed class FullyConnectedLogInput
    {
        private readonly short[] levels;
        private readonly sbyte[] weights;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;
        private readonly int[] row;

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
            row = new int[inFeatures];
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

            int levelCount = levels.Length;
            for (int b = 0; b < Batch; b++)
            {
                for (int k = 0; k < inFeatures; k++)
                {
                    int index = input[b * inFeatures + k] & 0xFF;
                    if ((uint)index >= (uint)levelCount)
                    {
                        throw new ArgumentException("A level index is outside the level table.");
                    }

                    row[k] = levels[index];
                }

                for (int j = 0; j < units; j++)
                {
                    int rowBase = j * inFeatures;
                    if (UsesInt64Accumulator)
                    {
                        long acc = bias[j];
                        for (int k = 0; k < inFeatures; k++)
                        {
                            acc += (long)row[k] * weights[rowBase + k];
                        }

                        output[b * units + j] = requantizer.Apply(acc, j);
                    }
                    else
                    {
                        int acc = bias[j];
                        for (int k = 0; k < inFeatures; k++)
                        {
                            acc += row[k] * weights[rowBase + k];
                        }

                        output[b * units + j] = requantizer.Apply(acc, j);
                    }
                }
            }
        }
    }
}
