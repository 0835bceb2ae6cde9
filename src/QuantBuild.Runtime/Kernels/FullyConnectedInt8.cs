using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Optimized int8 fully-connected layer, bit-identical to <see cref="FullyConnectedInt8Reference"/>:
    /// a vectorized raw-code dot product Σ x·w plus the folded bias b'_j = b_j − z_x·Σ_k w[j,k].
    /// Layers whose prepare-time bound exceeds int32 run the reference's int64 path.
    /// </summary>
    public sealed class FullyConnectedInt8
    {
        private readonly FullyConnectedInt8Reference reference;
        private readonly int[] foldedBias;

        public FullyConnectedInt8(
            int batch,
            int inFeatures,
            int units,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.SingleRounding)
        {
            reference = new FullyConnectedInt8Reference(batch, inFeatures, units, input, weightScales, output, weights, bias, clampMin, clampMax, rounding);
            foldedBias = new int[units];
            if (!reference.UsesInt64Accumulator)
            {
                long[] folded = ConvWeightStats.FoldedBias(weights, units, inFeatures, bias, input.ZeroPoint);
                for (int j = 0; j < units; j++)
                {
                    foldedBias[j] = unchecked((int)folded[j]);
                }
            }
        }

        public int Batch
        {
            get { return reference.Batch; }
        }

        public int InFeatures
        {
            get { return reference.InFeatures; }
        }

        public int Units
        {
            get { return reference.Units; }
        }

        public bool UsesInt64Accumulator
        {
            get { return reference.UsesInt64Accumulator; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            if (reference.UsesInt64Accumulator)
            {
                reference.Eval(input, weights, output);
                return;
            }

            int batch = Batch;
            int inFeatures = InFeatures;
            int units = Units;
            if (input.Length != batch * inFeatures || output.Length != batch * units || weights.Length != units * inFeatures)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shapes.");
            }

            ChannelRequantizer requantizer = reference.Requantizer;
            for (int b = 0; b < batch; b++)
            {
                ReadOnlySpan<sbyte> x = input.Slice(b * inFeatures, inFeatures);
                for (int j = 0; j < units; j++)
                {
                    int acc = Int8Dot.Dot(x, weights.Slice(j * inFeatures, inFeatures)) + foldedBias[j];
                    output[b * units + j] = requantizer.Apply(acc, j);
                }
            }
        }
    }
}
