using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Int8 fully-connected layer (input [batch, K], weights [units, K]) whose weights stay as packed
    /// codebook indices plus int8 level tables (<see cref="CodebookDecoder"/>); bit-identical to
    /// <see cref="FullyConnectedCodebookReference"/>. Each unit's row is decoded once per call into a
    /// K-byte scratch row and dotted with every batch row; the folded bias uses the decoded levels.
    /// </summary>
    public sealed class FullyConnectedCodebook
    {
        private readonly int inputZeroPoint;
        private readonly int indexBits;
        private readonly int[] bias;
        private readonly int[] foldedBias;
        private readonly ChannelRequantizer requantizer;
        private readonly bool useWideAccumulator;
        private readonly sbyte[] row;

        public FullyConnectedCodebook(
            int batch,
            int inFeatures,
            int units,
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
            KernelArguments.RequireFullyConnectedShape(batch, inFeatures, units);

            var decoded = new sbyte[checked(units * inFeatures)];
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, units, inFeatures, decoded);
            var reference = new FullyConnectedInt8Reference(batch, inFeatures, units, input, weightScales, output, decoded, bias, clampMin, clampMax, rounding);
            Batch = batch;
            InFeatures = inFeatures;
            Units = units;
            this.indexBits = indexBits;
            inputZeroPoint = input.ZeroPoint;
            requantizer = reference.Requantizer;
            useWideAccumulator = reference.UsesInt64Accumulator;
            this.bias = bias.IsEmpty ? new int[units] : bias.ToArray();
            foldedBias = new int[units];
            long[] folded = ConvWeightStats.FoldedBias(decoded, units, inFeatures, bias, input.ZeroPoint);
            for (int j = 0; j < units; j++)
            {
                foldedBias[j] = unchecked((int)folded[j]);
            }

            row = new sbyte[inFeatures];
        }

        public int Batch { get; }

        public int InFeatures { get; }

        public int Units { get; }

        public bool UsesInt64Accumulator
        {
            get { return useWideAccumulator; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> packedIndices, ReadOnlySpan<sbyte> levels, Span<sbyte> output)
        {
            int batch = Batch;
            int inFeatures = InFeatures;
            int units = Units;
            if (input.Length != batch * inFeatures || output.Length != batch * units)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shapes.");
            }

            CodebookDecoder.CheckLayout(indexBits, units, inFeatures, packedIndices, levels);
            Span<sbyte> w = row;
            for (int j = 0; j < units; j++)
            {
                CodebookDecoder.DecodeRow(packedIndices, indexBits, levels, j, j * inFeatures, w);
                for (int b = 0; b < batch; b++)
                {
                    ReadOnlySpan<sbyte> x = input.Slice(b * inFeatures, inFeatures);
                    if (useWideAccumulator)
                    {
                        long acc = bias[j];
                        for (int k = 0; k < inFeatures; k++)
                        {
                            acc += (long)(x[k] - inputZeroPoint) * w[k];
                        }

                        output[b * units + j] = requantizer.Apply(acc, j);
                    }
                    else
                    {
                        output[b * units + j] = requantizer.Apply(Int8Dot.Dot(x, w) + foldedBias[j], j);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Reference fully-connected layer with codebook weights: decodes every level (buffer sized at
    /// prepare time) and runs <see cref="FullyConnectedInt8Reference"/>.
    /// </summary>
    public sealed class FullyConnectedCodebookReference
    {
        private readonly FullyConnectedInt8Reference inner;
        private readonly sbyte[] decoded;
        private readonly int indexBits;

        public FullyConnectedCodebookReference(
            int batch,
            int inFeatures,
            int units,
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
            this.indexBits = indexBits;
            decoded = new sbyte[checked(units * inFeatures)];
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, units, inFeatures, decoded);
            inner = new FullyConnectedInt8Reference(batch, inFeatures, units, input, weightScales, output, decoded, bias, clampMin, clampMax, rounding);
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> packedIndices, ReadOnlySpan<sbyte> levels, Span<sbyte> output)
        {
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, inner.Units, inner.InFeatures, decoded);
            inner.Eval(input, decoded, output);
        }
    }
}
