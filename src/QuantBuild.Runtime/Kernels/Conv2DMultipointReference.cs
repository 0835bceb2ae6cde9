using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Reference 2-D convolution (NCHW) with multipoint weights (docs/algorithms/multipoint.md, "Integer inference"): each output channel is
    /// the sum of several b-bit filter rows, each accumulated in integers and scaled by its own fixed-point
    /// multiplier before the one requantization to the output (see <see cref="MultipointRows"/>).
    /// Padded taps hold z_x (real 0) and so add nothing, as in <see cref="Conv2DInt8Reference"/>; with no
    /// extra rows the result equals that reference bit for bit. Accumulates in int64, so no fan-in bound
    /// applies. The bit-exact truth for <see cref="Conv2DMultipoint"/>. <see cref="Eval"/> allocates nothing.
    /// </summary>
    public sealed class Conv2DMultipointReference
    {
        private readonly Conv2DGeometry geometry;
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly MultipointRows rows;

        /// <param name="bits">storage width of the codes, 4 (packed) or 8</param>
        /// <param name="extraChannels">for each extra row (rows OutChannels.. of the weights), its output channel, ascending</param>
        /// <param name="extraScales">the real scale a of each extra row</param>
        public Conv2DMultipointReference(
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

            rows = new MultipointRows(input.Scale, weightScales, geometry.OutChannels, extraChannels, extraScales, output, bits, clampMin, clampMax);
        }

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

            int outPlane = g.OutHeight * g.OutWidth;
            int ocPerGroup = g.OutChannelsPerGroup;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int oc = 0; oc < g.OutChannels; oc++)
                {
                    int firstInputChannel = (oc / ocPerGroup) * g.InChannelsPerGroup;
                    int outBase = (n * g.OutChannels + oc) * outPlane;
                    int extraBegin = rows.ExtraBegin(oc);
                    int extraEnd = rows.ExtraEnd(oc);
                    for (int oy = 0; oy < g.OutHeight; oy++)
                    {
                        for (int ox = 0; ox < g.OutWidth; ox++)
                        {
                            long sum = rows.Scale(bias[oc] + Accumulate(input, weights, oc, n, firstInputChannel, oy, ox), oc);
                            for (int r = extraBegin; r < extraEnd; r++)
                            {
                                sum += rows.Scale(Accumulate(input, weights, r, n, firstInputChannel, oy, ox), r);
                            }

                            output[outBase + oy * g.OutWidth + ox] = rows.Finish(sum);
                        }
                    }
                }
            }
        }

        private long Accumulate(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> weights, int row, int n, int firstInputChannel, int oy, int ox)
        {
            Conv2DGeometry g = geometry;
            int bits = rows.Bits;
            int inPlane = g.InHeight * g.InWidth;
            int rowBase = row * g.FanIn;
            long acc = 0;
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
                        acc += (long)x * MultipointRows.Code(weights, bits, rowBase + (ic * g.KernelHeight + ky) * g.KernelWidth + kx);
                    }
                }
            }

            return acc;
        }
    }
}
