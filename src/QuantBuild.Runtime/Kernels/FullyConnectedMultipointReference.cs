using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Reference fully-connected layer with multipoint weights (docs/algorithms/multipoint.md, "Integer inference"): input [batch, K], rows
    /// [units + extra rows, K] at 4 or 8 bits; each unit sums its rows' integer dot products scaled by
    /// per-row fixed-point multipliers (see <see cref="MultipointRows"/>). With no extra rows it equals
    /// <see cref="FullyConnectedInt8Reference"/> bit for bit. The bit-exact truth for <see cref="FullyConnectedMultipoint"/>.
    /// <see cref="Eval"/> allocates nothing.
    /// </summary>
    public sealed class FullyConnectedMultipointReference
    {
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly MultipointRows rows;

        public FullyConnectedMultipointReference(
            int batch,
            int inFeatures,
            int units,
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
            KernelArguments.RequireFullyConnectedShape(batch, inFeatures, units);

            Batch = batch;
            InFeatures = inFeatures;
            Units = units;
            inputZeroPoint = input.ZeroPoint;
            this.bias = KernelArguments.BiasPerChannel(bias, units, "unit");

            rows = new MultipointRows(input.Scale, weightScales, units, extraChannels, extraScales, output, bits, clampMin, clampMax);
        }

        public int Batch { get; }

        public int InFeatures { get; }

        public int Units { get; }

        public MultipointRows Rows
        {
            get { return rows; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> weights, Span<sbyte> output)
        {
            if (input.Length != Batch * InFeatures || output.Length != Batch * Units || weights.Length != rows.StoredLength(InFeatures))
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shapes.");
            }

            for (int b = 0; b < Batch; b++)
            {
                ReadOnlySpan<sbyte> x = input.Slice(b * InFeatures, InFeatures);
                for (int j = 0; j < Units; j++)
                {
                    long sum = rows.Scale(bias[j] + Dot(x, weights, j), j);
                    int end = rows.ExtraEnd(j);
                    for (int r = rows.ExtraBegin(j); r < end; r++)
                    {
                        sum += rows.Scale(Dot(x, weights, r), r);
                    }

                    output[b * Units + j] = rows.Finish(sum);
                }
            }
        }

        private long Dot(ReadOnlySpan<sbyte> x, ReadOnlySpan<byte> weights, int row)
        {
            int bits = rows.Bits;
            int rowBase = row * InFeatures;
            long acc = 0;
            for (int k = 0; k < x.Length; k++)
            {
                acc += (long)(x[k] - inputZeroPoint) * MultipointRows.Code(weights, bits, rowBase + k);
            }

            return acc;
        }
    }
}
