using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Fully-connected layer with multipoint weights (docs/algorithms/multipoint.md, "Integer inference"): input [batch, K], rows
    /// [units + extra rows, K] at 4 or 8 bits; each unit sums its rows' integer dot products scaled by
    /// per-row fixed-point multipliers (see <see cref="MultipointRows"/>). Bit-identical to
    /// <see cref="FullyConnectedMultipointReference"/>: each row's accumulator Σ (x − z_x)·w is formed as the
    /// vectorized raw-code product <see cref="Int8Dot.Dot"/> minus z_x·Σ w (the same int64 value, when the raw
    /// product cannot leave int32; otherwise the reference runs), and the output stage is the reference's.
    /// <see cref="Eval"/> allocates nothing.
    /// </summary>
    public sealed class FullyConnectedMultipoint
    {
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly MultipointRows rows;
        private readonly FullyConnectedMultipointReference reference;
        private readonly MultipointCodes codes;
        private readonly long[] rowSums;
        private bool dotFitsInt32;

        public FullyConnectedMultipoint(
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
            reference = new FullyConnectedMultipointReference(batch, inFeatures, units, input, weightScales, output, bits, bias, extraChannels, extraScales, clampMin, clampMax);
            Batch = batch;
            InFeatures = inFeatures;
            Units = units;
            inputZeroPoint = input.ZeroPoint;
            this.bias = KernelArguments.BiasPerChannel(bias, units, "unit");
            rows = reference.Rows;
            codes = new MultipointCodes(rows, inFeatures);
            rowSums = new long[rows.Rows];
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

            if (codes.Update(weights))
            {
                PrepareRows();
            }

            if (!dotFitsInt32)
            {
                reference.Eval(input, weights, output);
                return;
            }

            for (int b = 0; b < Batch; b++)
            {
                ReadOnlySpan<sbyte> x = input.Slice(b * InFeatures, InFeatures);
                for (int j = 0; j < Units; j++)
                {
                    long sum = rows.Scale(bias[j] + Accumulate(x, j), j);
                    int end = rows.ExtraEnd(j);
                    for (int r = rows.ExtraBegin(j); r < end; r++)
                    {
                        sum += rows.Scale(Accumulate(x, r), r);
                    }

                    output[b * Units + j] = rows.Finish(sum);
                }
            }
        }

        /// <summary>Σ_k (x_k − z_x)·w[row, k] = Σ x·w − z_x·Σ w, exactly (int64).</summary>
        private long Accumulate(ReadOnlySpan<sbyte> x, int row)
        {
            return Int8Dot.Dot(x, new ReadOnlySpan<sbyte>(codes.Codes, row * InFeatures, InFeatures)) - inputZeroPoint * rowSums[row];
        }

        /// <summary>Σ w of every row, and whether |Σ x·w| ≤ K·128·max|w| stays inside int32 for every row (Int8Dot's contract).</summary>
        private void PrepareRows()
        {
            dotFitsInt32 = true;
            for (int r = 0; r < rows.Rows; r++)
            {
                long sum = 0;
                int maxAbs = 0;
                for (int k = 0; k < InFeatures; k++)
                {
                    int w = codes.Codes[r * InFeatures + k];
                    sum += w;
                    maxAbs = Math.Max(maxAbs, Math.Abs(w));
                }

                rowSums[r] = sum;
                dotFitsInt32 &= (long)InFeatures * 128 * maxAbs <= int.MaxValue;
            }
        }
    }
}
