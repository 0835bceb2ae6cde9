using System;

namespace QuantBuild.Runtime
{
    /// <summary>Which reduction <see cref="ReduceFloat"/> computes.</summary>
    public enum ReduceFunction
    {
        Sum = 0,
        Mean = 1,
        Max = 2,
        Min = 3,
        Prod = 4,
        SumSquare = 5,
        L1 = 6,
        L2 = 7,
        LogSum = 8,
    }

    /// <summary>
    /// Reduction over any set of axes in float32: the input is walked once in row-major order and each
    /// element folded into its output slot (output strides are 0 along reduced axes), then Mean, L2 and
    /// LogSum finish each slot.
    /// </summary>
    public sealed class ReduceFloat : FloatKernel
    {
        private const int MaxRank = 8;
        private readonly ReduceFunction function;
        private readonly int[] inShape;
        private readonly int[] outStrides;
        private readonly int outLength;
        private readonly int count;

        /// <param name="reduced">per input dimension, whether it is reduced</param>
        public ReduceFloat(ReduceFunction function, int[] inShape, bool[] reduced)
        {
            if (inShape.Length > MaxRank || reduced.Length != inShape.Length)
            {
                throw new ArgumentException("One flag per dimension (rank ≤ 8) is needed.", "reduced");
            }

            this.function = function;
            this.inShape = (int[])inShape.Clone();
            outStrides = new int[inShape.Length];
            int stride = 1;
            count = 1;
            for (int d = inShape.Length - 1; d >= 0; d--)
            {
                if (reduced[d])
                {
                    count *= inShape[d];
                }
                else
                {
                    outStrides[d] = stride;
                    stride *= inShape[d];
                }
            }

            outLength = stride;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            Span<float> output = y.Slice(0, outLength);
            float start = function == ReduceFunction.Max ? float.NegativeInfinity
                : function == ReduceFunction.Min ? float.PositiveInfinity
                : function == ReduceFunction.Prod ? 1f : 0f;
            output.Fill(start);
            int rank = inShape.Length;
            int length = Length(inShape);
            Span<int> index = stackalloc int[MaxRank];
            int o = 0;
            for (int i = 0; i < length; i++)
            {
                float v = a[i];
                switch (function)
                {
                    case ReduceFunction.Max: if (v > output[o] || float.IsNaN(v)) output[o] = v; break;
                    case ReduceFunction.Min: if (v < output[o] || float.IsNaN(v)) output[o] = v; break;
                    case ReduceFunction.Prod: output[o] *= v; break;
                    case ReduceFunction.SumSquare:
                    case ReduceFunction.L2: output[o] += v * v; break;
                    case ReduceFunction.L1: output[o] += Math.Abs(v); break;
                    default: output[o] += v; break;
                }

                for (int d = rank - 1; d >= 0; d--)
                {
                    index[d]++;
                    o += outStrides[d];
                    if (index[d] < inShape[d])
                    {
                        break;
                    }

                    o -= outStrides[d] * inShape[d];
                    index[d] = 0;
                }
            }

            for (int j = 0; j < outLength; j++)
            {
                switch (function)
                {
                    case ReduceFunction.Mean: output[j] /= count; break;
                    case ReduceFunction.L2: output[j] = (float)Math.Sqrt(output[j]); break;
                    case ReduceFunction.LogSum: output[j] = (float)Math.Log(output[j]); break;
                }
            }
        }
    }
}
