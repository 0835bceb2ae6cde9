using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Log-domain activations (docs/activation-levels.md; the grids in docs/algorithms/logquant.md, "Activation grid" and docs/algorithms/weq.md, "Activation levels"): maps the linear int8 codes a producer wrote to
    /// level indices (0 = the zero level, 1..N−1 = increasing log-spaced levels) through a 256-entry table
    /// built at build time. The index is stored in an int8 slot, so the arena treats it like any activation;
    /// its bits are the unsigned index (an 8-bit grid's indices 128..255 read back as negative sbytes, so the
    /// level kernels read <c>code &amp; 0xFF</c>).
    /// </summary>
    public sealed class LogLevelEncoder
    {
        private readonly sbyte[] table;

        /// <param name="table">entry c + 128 is the level index of linear code c (256 entries, each in 0..levels−1 as an unsigned byte)</param>
        public LogLevelEncoder(ReadOnlySpan<sbyte> table, int levels)
        {
            if (table.Length != 256)
            {
                throw new ArgumentException("The encoding table needs one level index per int8 code (256 entries).", nameof(table));
            }

            for (int i = 0; i < table.Length; i++)
            {
                if ((table[i] & 0xFF) >= levels)
                {
                    throw new ArgumentException("Every level index must lie in 0..levels−1.", nameof(table));
                }
            }

            this.table = table.ToArray();
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            if (input.Length != output.Length)
            {
                throw new ArgumentException("Input and output lengths differ.");
            }

            for (int i = 0; i < input.Length; i++)
            {
                output[i] = table[input[i] + 128];
            }
        }
    }

    /// <summary>
    /// Prepare-time checks and accumulator bound shared by the log-input Conv and FullyConnected kernels.
    /// The input real value of index n is <c>levels[n]·levelScale</c>; level 0 must be 0 (ReLU zero, padding).
    /// </summary>
    public static class LogLevelInput
    {
        /// <summary>Checks the level table: level 0 is exactly 0, at most 256 levels, values non-negative.</summary>
        public static short[] CheckLevels(ReadOnlySpan<short> levels)
        {
            if (levels.Length < 2 || levels.Length > 256)
            {
                throw new ArgumentException("A log level table has 2..256 entries.", nameof(levels));
            }

            if (levels[0] != 0)
            {
                throw new ArgumentException("Level 0 must be the zero level (padding and ReLU zeros map to it).", nameof(levels));
            }

            for (int i = 0; i < levels.Length; i++)
            {
                if (levels[i] < 0)
                {
                    throw new ArgumentException("Log levels are magnitudes of ReLU outputs and cannot be negative.", nameof(levels));
                }
            }

            return levels.ToArray();
        }

        /// <summary>
        /// True when Σ_k levels[x_k]·w_k + bias cannot leave int32 for any channel: |acc| ≤ fanIn·max level·max|w_j| + |b_j|.
        /// </summary>
        public static bool FitsInt32(ReadOnlySpan<sbyte> weights, int channels, int fanIn, ReadOnlySpan<int> bias, ReadOnlySpan<short> levels)
        {
            long maxLevel = 0;
            for (int i = 0; i < levels.Length; i++)
            {
                maxLevel = Math.Max(maxLevel, levels[i]);
            }

            for (int j = 0; j < channels; j++)
            {
                int maxAbs = 0;
                for (int k = 0; k < fanIn; k++)
                {
                    maxAbs = Math.Max(maxAbs, Math.Abs((int)weights[j * fanIn + k]));
                }

                long b = bias.IsEmpty ? 0 : Math.Abs((long)bias[j]);
                if ((long)fanIn * maxLevel * maxAbs + b > int.MaxValue)
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>
        /// Weights as the log-input kernels take them (int8 per element, kernel layout) from their stored form:
        /// int8 codes, int4 codes packed two per byte, or (indexBits &gt; 0) packed codebook indices into int8 tables.
        /// Called once when the model is constructed.
        /// </summary>
        public static sbyte[] Weights(ReadOnlySpan<byte> stored, int storageBits, int channels, int fanIn, int indexBits, ReadOnlySpan<sbyte> codebookLevels)
        {
            var weights = new sbyte[checked(channels * fanIn)];
            if (indexBits > 0)
            {
                CodebookDecoder.DecodeAll(stored, indexBits, codebookLevels, channels, fanIn, weights);
            }
            else if (storageBits == 4)
            {
                BitPacking.UnpackInt4(stored, 0, weights);
            }
            else
            {
                if (stored.Length != weights.Length)
                {
                    throw new ArgumentException("Expected one int8 code per weight.", nameof(stored));
                }

                for (int i = 0; i < weights.Length; i++)
                {
                    weights[i] = unchecked((sbyte)stored[i]);
                }
            }

            return weights;
        }
    }

    /// <summary>
    /// What a log-input Conv or FullyConnected prepares once (checked levels, weights, bias per channel, the
    /// requantizer at level scale · weight scale / output scale, the accumulator width): one place for the
    /// reference and the optimized kernels, so both accept and build exactly the same layer.
    /// </summary>
    internal sealed class LogInputLayer
    {
        public LogInputLayer(
            int channels,
            int fanIn,
            int expectedWeights,
            string weightsMessage,
            ReadOnlySpan<short> levels,
            float levelScale,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            string channelName,
            int clampMin,
            int clampMax)
        {
            if (weights.Length != expectedWeights)
            {
                throw new ArgumentException(weightsMessage, nameof(weights));
            }

            Levels = LogLevelInput.CheckLevels(levels);
            Weights = weights.ToArray();
            Bias = KernelArguments.BiasPerChannel(bias, channels, channelName);
            Requantizer = new ChannelRequantizer(levelScale, weightScales, channels, output, clampMin, clampMax);
            UsesInt64Accumulator = !LogLevelInput.FitsInt32(weights, channels, fanIn, Bias, levels);
        }

        public short[] Levels { get; }

        public sbyte[] Weights { get; }

        public int[] Bias { get; }

        public ChannelRequantizer Requantizer { get; }

        public bool UsesInt64Accumulator { get; }
    }

    /// <summary>
    /// Reference 2-D convolution (NCHW) whose input holds log level indices (<see cref="LogLevelEncoder"/>) and
    /// whose weights are int8 per output channel: <c>acc = bias[j] + Σ levels[x]·w</c>, padded taps are the zero
    /// level, then <c>y = clamp(z_y + MBQM(acc, M0_j, shift_j), lo, hi)</c> with M_j = levelScale·s_w[j]/s_y.
    /// The bit-exact truth for <see cref="Conv2DLogInput"/>; int32 accumulation when the prepare-time bound
    /// allows, else int64.
    /// </summary>
    public sealed class Conv2DLogInputReference
    {
        private readonly Conv2DGeometry geometry;
        private readonly short[] levels;
        private readonly sbyte[] weights;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;

        public Conv2DLogInputReference(
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

            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int icPerGroup = g.InChannelsPerGroup;
            int ocPerGroup = g.OutChannelsPerGroup;
            int fanIn = g.FanIn;
            int levelCount = levels.Length;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int oc = 0; oc < g.OutChannels; oc++)
                {
                    int firstInputChannel = (oc / ocPerGroup) * icPerGroup;
                    int filterBase = oc * fanIn;
                    int outBase = (n * g.OutChannels + oc) * outPlane;
                    for (int oy = 0; oy < g.OutHeight; oy++)
                    {
                        for (int ox = 0; ox < g.OutWidth; ox++)
                        {
                            long acc = 0;
                            int acc32 = 0;
                            for (int ic = 0; ic < icPerGroup; ic++)
                            {
                                int channelBase = (n * g.InChannels + firstInputChannel + ic) * inPlane;
                                for (int ky = 0; ky < g.KernelHeight; ky++)
                                {
                                    int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                                    if (iy < 0 || iy >= g.InHeight)
                                    {
                                        continue; // padding is the zero level: adds 0
                                    }

                                    for (int kx = 0; kx < g.KernelWidth; kx++)
                                    {
                                        int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                                        if (ix < 0 || ix >= g.InWidth)
                                        {
                                            continue;
                                        }

                                        int index = input[channelBase + iy * g.InWidth + ix] & 0xFF;
                                        if ((uint)index >= (uint)levelCount)
                                        {
                                            throw new ArgumentException("A level index is outside the level table.");
                                        }

                                        int w = weights[filterBase + (ic * g.KernelHeight + ky) * g.KernelWidth + kx];
                                        if (UsesInt64Accumulator)
                                        {
                                            acc += (long)levels[index] * w;
                                        }
                                        else
                                        {
                                            acc32 += levels[index] * w;
                                        }
                                    }
                                }
                            }

                            output[outBase + oy * g.OutWidth + ox] = UsesInt64Accumulator
                                ? requantizer.Apply(acc + bias[oc], oc)
                                : requantizer.Apply(acc32 + bias[oc], oc);
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// Reference fully-connected layer (input [batch, K] of log level indices, weights [units, K] int8):
    /// <c>acc = bias[j] + Σ_k levels[x_k]·w[j,k]</c>, requantized as <see cref="Conv2DLogInputReference"/>.
    /// The bit-exact truth for <see cref="FullyConnectedLogInput"/>.
    /// </summary>
    public sealed class FullyConnectedLogInputReference
    {
        private readonly short[] levels;
        private readonly sbyte[] weights;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;

        public FullyConnectedLogInputReference(
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
                ReadOnlySpan<sbyte> x = input.Slice(b * inFeatures, inFeatures);
                for (int j = 0; j < units; j++)
                {
                    int rowBase = j * inFeatures;
                    long acc = bias[j];
                    int acc32 = bias[j];
                    for (int k = 0; k < inFeatures; k++)
                    {
                        int index = x[k] & 0xFF;
                        if ((uint)index >= (uint)levelCount)
                        {
                            throw new ArgumentException("A level index is outside the level table.");
                        }

                        if (UsesInt64Accumulator)
                        {
                            acc += (long)levels[index] * weights[rowBase + k];
                        }
                        else
                        {
                            acc32 += levels[index] * weights[rowBase + k];
                        }
                    }

                    output[b * units + j] = UsesInt64Accumulator ? requantizer.Apply(acc, j) : requantizer.Apply(acc32, j);
                }
            }
        }
    }
}
