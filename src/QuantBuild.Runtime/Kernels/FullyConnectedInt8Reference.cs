using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Reference int8 fully-connected layer (Gemm/MatMul with constant weights): input [batch, K],
    /// weights [units, K] (Gemm transB=1 layout; the compiler transposes MatMul's [K, N]), int32 bias,
    /// per-unit symmetric weight scales. Effectively computes
    /// <c>y[b,j] = clamp(z_y + MBQM(bias[j] + Σ_k (x[b,k] − z_x)·w[j,k], M0_j, shift_j), lo, hi)</c>.
    /// </summary>
    public sealed class FullyConnectedInt8Reference
    {
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly ChannelRequantizer requantizer;

        public FullyConnectedInt8Reference(
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
            KernelArguments.RequireFullyConnectedShape(batch, inFeatures, units);

            if (weights.Length != (long)units * inFeatures)
            {
                throw new ArgumentException("Weights must have units·inFeatures elements.", nameof(weights));
            }

            Batch = batch;
            InFeatures = inFeatures;
            Units = units;
            inputZeroPoint = input.ZeroPoint;
            this.bias = KernelArguments.BiasPerChannel(bias, units, "unit");

            requantizer = new ChannelRequantizer(input.Scale, weightScales, units, output, clampMin, clampMax, rounding);
            UsesInt64Accumulator = !ConvWeightStats.AccumulatorFitsInt32(weights, units, inFeatures, bias, input.ZeroPoint);
        }

        public int Batch { get; }

        public int InFeatures { get; }

        public int Units { get; }

        public bool UsesInt64Accumulator { get; }

        public ChannelRequantizer Requantizer
        {
            get { return requantizer; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            if (input.Length != Batch * InFeatures || output.Length != Batch * Units || weights.Length != Units * InFeatures)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shapes.");
            }

            for (int b = 0; b < Batch; b++)
            {
                ReadOnlySpan<sbyte> x = input.Slice(b * InFeatures, InFeatures);
                for (int j = 0; j < Units; j++)
                {
                    ReadOnlySpan<sbyte> w = weights.Slice(j * InFeatures, InFeatures);
                    if (UsesInt64Accumulator)
                    {
                        long acc = bias[j];
                        for (int k = 0; k < x.Length; k++)
                        {
                            acc += (long)(x[k] - inputZeroPoint) * w[k];
                        }

                        output[b * Units + j] = requantizer.Apply(acc, j);
                    }
                    else
                    {
                        int acc = bias[j];
                        for (int k = 0; k < x.Length; k++)
                        {
                            acc += (x[k] - inputZeroPoint) * w[k];
                        }

                        output[b * Units + j] = requantizer.Apply(acc, j);
                    }
                }
            }
        }
    }
}
