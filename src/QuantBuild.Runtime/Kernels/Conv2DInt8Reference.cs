using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Reference int8 2-D convolution (NCHW), the bit-exact source of truth for every optimized path.
    /// Activations are int8 asymmetric (zero point z_x), weights int8 symmetric per output channel
    /// (zero point 0, which is why no weight offset appears below), bias int32 with scale s_x·s_w[j].
    /// Effectively computes, for each output:
    /// <c>acc = bias[j] + Σ (x − z_x)·w</c> where padded taps hold the code z_x (real 0, so they add 0),
    /// then <c>y = clamp(z_y + MBQM(acc, M0_j, shift_j), lo, hi)</c>.
    /// Prepare (the constructor) does all checks and multiplier math; <see cref="Eval"/> allocates nothing.
    /// </summary>
    public sealed class Conv2DInt8Reference
    {
        private readonly Conv2DGeometry geometry;
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;

        public Conv2DInt8Reference(
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
            KernelArguments.RequireGeometry(geometry);

            if (weights.Length != geometry.WeightLength)
            {
                throw new ArgumentException("Weights must have OutChannels·(InChannels/Groups)·kH·kW elements.", nameof(weights));
            }

            this.geometry = geometry;
            inputZeroPoint = input.ZeroPoint;
            this.bias = KernelArguments.BiasPerChannel(bias, geometry.OutChannels, "output channel");

            requantizer = new ChannelRequantizer(input.Scale, weightScales, geometry.OutChannels, output, clampMin, clampMax, rounding);
            UsesInt64Accumulator = !ConvWeightStats.AccumulatorFitsInt32(weights, geometry.OutChannels, geometry.FanIn, bias, input.ZeroPoint);
        }

        public Conv2DGeometry Geometry
        {
            get { return geometry; }
        }

        /// <summary>True when the prepare-time bound showed an int32 accumulator could overflow.</summary>
        public bool UsesInt64Accumulator { get; }

        public ChannelRequantizer Requantizer
        {
            get { return requantizer; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength || weights.Length != g.WeightLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int icPerGroup = g.InChannelsPerGroup;
            int ocPerGroup = g.OutChannelsPerGroup;
            int fanIn = g.FanIn;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int oc = 0; oc < g.OutChannels; oc++)
                {
                    int firstInputChannel = (oc / ocPerGroup) * icPerGroup;
                    ReadOnlySpan<sbyte> filter = weights.Slice(oc * fanIn, fanIn);
                    int outBase = (n * g.OutChannels + oc) * outPlane;
                    for (int oy = 0; oy < g.OutHeight; oy++)
                    {
                        for (int ox = 0; ox < g.OutWidth; ox++)
                        {
                            int outIndex = outBase + oy * g.OutWidth + ox;
                            if (UsesInt64Accumulator)
                            {
                                output[outIndex] = requantizer.Apply(Accumulate64(input, filter, n, firstInputChannel, oy, ox, inPlane) + bias[oc], oc);
                            }
                            else
                            {
                                output[outIndex] = requantizer.Apply(Accumulate32(input, filter, n, firstInputChannel, oy, ox, inPlane) + bias[oc], oc);
                            }
                        }
                    }
                }
            }
        }

        private int Accumulate32(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> filter, int n, int firstInputChannel, int oy, int ox, int inPlane)
        {
            Conv2DGeometry g = geometry;
            int acc = 0;
            for (int ic = 0; ic < g.InChannelsPerGroup; ic++)
            {
                int channelBase = (n * g.InChannels + firstInputChannel + ic) * inPlane;
                for (int ky = 0; ky < g.KernelHeight; ky++)
                {
                    int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                    if (iy < 0 || iy >= g.InHeight)
                    {
                        continue; // padded rows hold z_x: (z_x − z_x)·w = 0
                    }

                    for (int kx = 0; kx < g.KernelWidth; kx++)
                    {
                        int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                        if (ix < 0 || ix >= g.InWidth)
                        {
                            continue;
                        }

                        int x = input[channelBase + iy * g.InWidth + ix] - inputZeroPoint;
                        acc += x * filter[(ic * g.KernelHeight + ky) * g.KernelWidth + kx];
                    }
                }
            }

            return acc;
        }

        private long Accumulate64(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> filter, int n, int firstInputChannel, int oy, int ox, int inPlane)
        {
            Conv2DGeometry g = geometry;
            long acc = 0;
            for (int ic = 0; ic < g.InChannelsPerGroup; ic++)
            {
                int channelBase = (n * g.InChannels + firstInputChannel + ic) * inPlane;
                for (int ky = 0; ky < g.KernelHeight; ky++)
                {
                    int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                    if (iy < 0 || iy >= g.InHeight)
                    {
                        continue;
                    }

                    for (int kx = 0; kx < g.KernelWidth; kx++)
                    {
                        int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                        if (ix < 0 || ix >= g.InWidth)
                        {
                            continue;
                        }

                        int x = input[channelBase + iy * g.InWidth + ix] - inputZeroPoint;
                        acc += (long)x * filter[(ic * g.KernelHeight + ky) * g.KernelWidth + kx];
                    }
                }
            }

            return acc;
        }
    }
}
