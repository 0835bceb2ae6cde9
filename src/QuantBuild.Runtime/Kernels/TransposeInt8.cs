using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Transpose of int8 codes (rank ≤ 6), rescaled to the output parameters when they differ from the
    /// input's (a plain move otherwise). Output strides are resolved at prepare time so Eval only walks
    /// an odometer over the output.
    /// </summary>
    public sealed class TransposeInt8
    {
        private const int MaxRank = 6;
        private readonly int[] outShape = new int[MaxRank];
        private readonly int[] inStride = new int[MaxRank];
        private readonly int[] index = new int[MaxRank];
        private readonly int length;
        private readonly Int8Rescale rescale;
        private readonly Int8CodeTable table;

        public TransposeInt8(int[] inputShape, int[] permutation, QuantParams input, QuantParams output)
        {
            if (inputShape == null || permutation == null || inputShape.Length != permutation.Length || inputShape.Length > MaxRank)
            {
                throw new ArgumentException("Expected a permutation of the input axes (rank at most 6).");
            }

            int rank = inputShape.Length;
            int pad = MaxRank - rank;
            var strides = new int[rank];
            int running = 1;
            for (int d = rank - 1; d >= 0; d--)
            {
                strides[d] = running;
                running *= inputShape[d];
            }

            var seen = new bool[rank];
            for (int d = 0; d < MaxRank; d++)
            {
                outShape[d] = 1;
            }

            for (int d = 0; d < rank; d++)
            {
                int axis = permutation[d];
                if (axis < 0 || axis >= rank || seen[axis])
                {
                    throw new ArgumentException("Invalid permutation.", nameof(permutation));
                }

                seen[axis] = true;
                outShape[pad + d] = inputShape[axis];
                inStride[pad + d] = strides[axis];
            }

            length = running;
            rescale = new Int8Rescale(input, output);
            table = new Int8CodeTable(rescale.Apply);
        }

        public int Length
        {
            get { return length; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            if (input.Length != length || output.Length != length)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shape.");
            }

            // Rows of the innermost output axis in one strided loop, an odometer over the outer axes, then the
            // rescale (a code table of Int8Rescale) over the whole output.
            Array.Clear(index, 0, MaxRank);
            int width = outShape[MaxRank - 1];
            int step = inStride[MaxRank - 1];
            int source = 0;
            ref sbyte from = ref MemoryMarshal.GetReference(input);
            ref sbyte to = ref MemoryMarshal.GetReference(output);
            for (int row = 0; row < length; row += width)
            {
                // Every source index lies in the input: the odometer walks a permutation of its own shape.
                ref sbyte target = ref Unsafe.Add(ref to, row);
                int at = source;
                int i = 0;
                for (; i <= width - 4; i += 4, at += 4 * step)
                {
                    Unsafe.Add(ref target, i) = Unsafe.Add(ref from, at);
                    Unsafe.Add(ref target, i + 1) = Unsafe.Add(ref from, at + step);
                    Unsafe.Add(ref target, i + 2) = Unsafe.Add(ref from, at + 2 * step);
                    Unsafe.Add(ref target, i + 3) = Unsafe.Add(ref from, at + 3 * step);
                }

                for (; i < width; i++, at += step)
                {
                    Unsafe.Add(ref target, i) = Unsafe.Add(ref from, at);
                }

                for (int d = MaxRank - 2; d >= 0; d--)
                {
                    source += inStride[d];
                    if (++index[d] < outShape[d])
                    {
                        break;
                    }

                    source -= inStride[d] * outShape[d];
                    index[d] = 0;
                }
            }

            if (!rescale.IsIdentity)
            {
                table.Map(output, output);
            }
        }
    }
}
