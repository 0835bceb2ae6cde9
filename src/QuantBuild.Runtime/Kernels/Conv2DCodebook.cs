using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Int8 2-D convolution whose weights stay as packed codebook indices plus int8 level tables
    /// (<see cref="CodebookDecoder"/>), bit-identical to <see cref="Conv2DCodebookReference"/>.
    /// Output channels are processed in blocks: a block's filter rows are decoded into a scratch buffer
    /// (at most <see cref="ScratchBytes"/>, sized at prepare time), then for every output position the
    /// receptive field is gathered once (padding = z_x) and dotted with each decoded row, plus the folded
    /// bias b'_j = b_j − z_x·Σ_k level[j,k] computed from the decoded levels. Memory holds the packed
    /// weights, not an int8 copy; decoding costs one table lookup per weight per block and image.
    /// Layers whose prepare-time bound exceeds int32 accumulate Σ(x − z_x)·w in int64.
    /// </summary>
    public sealed class Conv2DCodebook
    {
        /// <summary>Upper bound of the decoded-rows scratch buffer (one row is used even when it is larger).</summary>
        public const int ScratchBytes = 16 * 1024;

        private readonly Conv2DGeometry geometry;
        private readonly sbyte inputZeroPoint;
        private readonly int indexBits;
        private readonly int[] bias;
        private readonly int[] foldedBias;
        private readonly ChannelRequantizer requantizer;
        private readonly bool useWideAccumulator;
        private readonly int blockRows;
        private readonly sbyte[] rows;
        private readonly sbyte[] patch;

        public Conv2DCodebook(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<byte> packedIndices,
            int indexBits,
            ReadOnlySpan<sbyte> levels,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.SingleRounding)
        {
            KernelArguments.RequireGeometry(geometry);

            KernelArguments.RequireInt8ZeroPoint(input);

            // Prepare-time only: the decoded levels give the zero-point correction and the accumulator bound.
            var decoded = new sbyte[geometry.WeightLength];
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, geometry.OutChannels, geometry.FanIn, decoded);
            var reference = new Conv2DInt8Reference(geometry, input, weightScales, output, decoded, bias, clampMin, clampMax, rounding);
            this.geometry = geometry;
            this.indexBits = indexBits;
            inputZeroPoint = (sbyte)input.ZeroPoint;
            requantizer = reference.Requantizer;
            useWideAccumulator = reference.UsesInt64Accumulator;
            this.bias = bias.IsEmpty ? new int[geometry.OutChannels] : bias.ToArray();
            foldedBias = new int[geometry.OutChannels];
            long[] folded = ConvWeightStats.FoldedBias(decoded, geometry.OutChannels, geometry.FanIn, bias, input.ZeroPoint);
            for (int c = 0; c < folded.Length; c++)
            {
                // Wrap-around is intended: Σx·w + b' is exact modulo 2^32 and its true value fits int32.
                foldedBias[c] = unchecked((int)folded[c]);
            }

            int fanIn = geometry.FanIn;
            blockRows = Math.Max(1, Math.Min(geometry.OutChannelsPerGroup, ScratchBytes / Math.Max(1, fanIn)));
            rows = new sbyte[blockRows * fanIn];
            patch = new sbyte[fanIn];
        }

        public Conv2DGeometry Geometry
        {
            get { return geometry; }
        }

        public bool UsesInt64Accumulator
        {
            get { return useWideAccumulator; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> packedIndices, ReadOnlySpan<sbyte> levels, Span<sbyte> output)
        {
            Conv2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            CodebookDecoder.CheckLayout(indexBits, g.OutChannels, g.FanIn, packedIndices, levels);
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
                    for (int first = 0; first < ocPerGroup; first += blockRows)
                    {
                        int count = Math.Min(blockRows, ocPerGroup - first);
                        int firstChannel = group * ocPerGroup + first;
                        for (int j = 0; j < count; j++)
                        {
                            CodebookDecoder.DecodeRow(packedIndices, indexBits, levels, firstChannel + j, (firstChannel + j) * fanIn, new Span<sbyte>(rows, j * fanIn, fanIn));
                        }

                        for (int oy = 0; oy < g.OutHeight; oy++)
                        {
                            for (int ox = 0; ox < g.OutWidth; ox++)
                            {
                                Gather(input, inputBase, inPlane, oy, ox, row);
                                int position = oy * g.OutWidth + ox;
                                for (int j = 0; j < count; j++)
                                {
                                    int oc = firstChannel + j;
                                    ReadOnlySpan<sbyte> filter = new ReadOnlySpan<sbyte>(rows, j * fanIn, fanIn);
                                    int outIndex = (n * g.OutChannels + oc) * outPlane + position;
                                    if (useWideAccumulator)
                                    {
                                        long acc = bias[oc];
                                        for (int k = 0; k < fanIn; k++)
                                        {
                                            acc += (long)(row[k] - inputZeroPoint) * filter[k];
                                        }

                                        output[outIndex] = requantizer.Apply(acc, oc);
                                    }
                                    else
                                    {
                                        output[outIndex] = requantizer.Apply(Int8Dot.Dot(row, filter) + foldedBias[oc], oc);
                                    }
                                }
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
