using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Optimized int8 2-D convolution, bit-identical to <see cref="Conv2DInt8Reference"/>.
    /// Per output position it gathers the receptive field of one group into a scratch row (im2col of a
    /// single position, padded taps filled with the code z_x), then runs a vectorized int8 dot product
    /// against each filter of that group and adds the folded bias b'_j = b_j − z_x·Σw_j.
    /// Filling padding with z_x is what keeps the folded correction right at the borders (§1.6).
    /// Layers whose prepare-time bound exceeds int32 run the reference's int64 path instead.
    /// </summary>
    public sealed class Conv2DInt8
    {
        private readonly Conv2DGeometry geometry;
        private readonly sbyte inputZeroPoint;
        private readonly int[] foldedBias;
        private readonly ChannelRequantizer requantizer;
        private readonly sbyte[] patch;
        private readonly Conv2DInt8Reference reference;
        private readonly bool useWideAccumulator;

        public Conv2DInt8(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.DoubleRounding)
        {
            var reference = new Conv2DInt8Reference(geometry, input, weightScales, output, weights, bias, clampMin, clampMax, rounding);
            this.geometry = geometry;
            requantizer = reference.Requantizer;
            if (input.ZeroPoint < sbyte.MinValue || input.ZeroPoint > sbyte.MaxValue)
            {
                throw new ArgumentException("The int8 input zero point must be in [-128, 127].", nameof(input));
            }

            inputZeroPoint = (sbyte)input.ZeroPoint;
            patch = new sbyte[geometry.FanIn];
            foldedBias = new int[geometry.OutChannels];
            this.reference = reference;
            useWideAccumulator = reference.UsesInt64Accumulator;
            if (!useWideAccumulator)
            {
                long[] folded = ConvWeightStats.FoldedBias(weights, geometry.OutChannels, geometry.FanIn, bias, input.ZeroPoint);
                for (int c = 0; c < folded.Length; c++)
                {
                    // Wrap-around is intended: Σx·w + b' is exact modulo 2^32 and its true value fits int32.
                    foldedBias[c] = unchecked((int)folded[c]);
                }
            }
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

            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int fanIn = g.FanIn;
            int ocPerGroup = g.OutChannelsPerGroup;
            Span<sbyte> row = patch;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int group = 0; group < g.Groups; group++)
                {
                    int inputBase = (n * g.InChannels + group * g.InChannelsPerGroup) * inPlane;
                    for (int oy = 0; oy < g.OutHeight; oy++)
                    {
                        for (int ox = 0; ox < g.OutWidth; ox++)
                        {
                            Gather(input, inputBase, inPlane, oy, ox, row);
                            int position = oy * g.OutWidth + ox;
                            for (int j = 0; j < ocPerGroup; j++)
                            {
                                int oc = group * ocPerGroup + j;
                                int acc = Int8Dot.Dot(row, weights.Slice(oc * fanIn, fanIn)) + foldedBias[oc];
                                output[(n * g.OutChannels + oc) * outPlane + position] = requantizer.Apply(acc, oc);
                            }
                        }
                    }
                }
            }
        }

        /// <summary>Copies the receptive field of one position (one group) in filter order, padding with z_x.</summary>
        private void Gather(ReadOnlySpan<sbyte> input, int inputBase, int inPlane, int oy, int ox, Span<sbyte> row)
        {
            Conv2DGeometry g = geometry;
            int kernelHeight = g.KernelHeight;
            int kernelWidth = g.KernelWidth;
            int originY = oy * g.StrideHeight - g.PadTop;
            int originX = ox * g.StrideWidth - g.PadLeft;
            int k = 0;
            for (int ic = 0; ic < g.InChannelsPerGroup; ic++)
            {
                int channelBase = inputBase + ic * inPlane;
                for (int ky = 0; ky < kernelHeight; ky++)
                {
                    int iy = originY + ky * g.DilationHeight;
                    if (iy < 0 || iy >= g.InHeight)
                    {
                        row.Slice(k, kernelWidth).Fill(inputZeroPoint);
                        k += kernelWidth;
                        continue;
                    }

                    int rowBase = channelBase + iy * g.InWidth;
                    if (g.DilationWidth == 1 && originX >= 0 && originX + kernelWidth <= g.InWidth)
                    {
                        // Interior, contiguous taps: one block copy.
                        input.Slice(rowBase + originX, kernelWidth).CopyTo(row.Slice(k, kernelWidth));
                        k += kernelWidth;
                        continue;
                    }

                    for (int kx = 0; kx < kernelWidth; kx++)
                    {
                        int ix = originX + kx * g.DilationWidth;
                        row[k++] = ix < 0 || ix >= g.InWidth ? inputZeroPoint : input[rowBase + ix];
                    }
                }
            }
        }
    }
}
