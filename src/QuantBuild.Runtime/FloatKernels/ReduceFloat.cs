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
        /// <summary>log Σ exp(x − m) + m with m the group maximum (0 when infinite), as the engine computes it.</summary>
        LogSumExp = 9,
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
        // LogSumExp only: the input offset of each output slot's first element, and the offsets of a
        // group's elements relative to it in increasing order (it reads every group twice: max, then sum).
        private readonly int[] groupBase;
        private readonly int[] groupOffsets;

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
            groupBase = new int[0];
            groupOffsets = new int[0];
            if (function == ReduceFunction.LogSumExp)
            {
                groupBase = Offsets(inShape, reduced, false);
                groupOffsets = Offsets(inShape, reduced, true);
            }
        }

        /// <summary>Row-major input offsets of every combination of the reduced (or the kept) dimensions, the others at 0.</summary>
        private static int[] Offsets(int[] shape, bool[] reduced, bool ofReduced)
        {
            int rank = shape.Length;
            var strides = new int[rank];
            int stride = 1;
            int total = 1;
            for (int d = rank - 1; d >= 0; d--)
            {
                strides[d] = stride;
                stride *= shape[d];
                if (reduced[d] == ofReduced)
                {
                    total *= shape[d];
                }
            }

            var offsets = new int[total];
            var index = new int[rank];
            for (int i = 0; i < total; i++)
            {
                int offset = 0;
                for (int d = 0; d < rank; d++)
                {
                    offset += index[d] * strides[d];
                }

                offsets[i] = offset;
                for (int d = rank - 1; d >= 0; d--)
                {
                    if (reduced[d] != ofReduced)
                    {
                        continue;
                    }

                    if (++index[d] < shape[d])
                    {
                        break;
                    }

                    index[d] = 0;
                }
            }

            return offsets;
        }

        private void LogSumExp(ReadOnlySpan<float> a, Span<float> y)
        {
            for (int j = 0; j < outLength; j++)
            {
                int start = groupBase[j];
                float m = float.NegativeInfinity;
                for (int k = 0; k < groupOffsets.Length; k++)
                {
                    float v = a[start + groupOffsets[k]];
                    if (v > m || float.IsNaN(v))
                    {
                        m = v;
                    }
                }

                if (float.IsInfinity(m))
                {
                    m = 0f;
                }

                float sum = 0f;
                for (int k = 0; k < groupOffsets.Length; k++)
                {
                    sum += (float)Math.Exp(a[start + groupOffsets[k]] - m);
                }

                y[j] = (float)Math.Log(sum) + m;
            }
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            Span<float> output = y.Slice(0, outLength);
            if (function == ReduceFunction.LogSumExp)
            {
                LogSumExp(a, output);
                return;
            }

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
