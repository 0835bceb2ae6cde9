using System;
using System.Runtime.CompilerServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// NumPy/ONNX multidirectional broadcasting of two tensors of rank ≤ 4, resolved at prepare time
    /// into an output shape and per-input strides (0 along broadcast axes), so Eval only walks indices.
    /// </summary>
    public sealed class Broadcast4D
    {
        private readonly int[] outShape = new int[4];
        private readonly int[] strideA = new int[4];
        private readonly int[] strideB = new int[4];

        public Broadcast4D(int[] shapeA, int[] shapeB)
        {
            if (shapeA == null || shapeB == null || shapeA.Length > 4 || shapeB.Length > 4)
            {
                throw new ArgumentException("Broadcasting supports ranks up to 4.");
            }

            int[] a = PadTo4(shapeA);
            int[] b = PadTo4(shapeB);
            int runningA = 1;
            int runningB = 1;
            for (int d = 3; d >= 0; d--)
            {
                if (a[d] != b[d] && a[d] != 1 && b[d] != 1)
                {
                    throw new ArgumentException("Shapes are not broadcast-compatible.");
                }

                outShape[d] = Math.Max(a[d], b[d]);
                strideA[d] = a[d] == 1 ? 0 : runningA;
                strideB[d] = b[d] == 1 ? 0 : runningB;
                runningA *= a[d];
                runningB *= b[d];
            }

            LengthA = runningA;
            LengthB = runningB;
            OutputLength = outShape[0] * outShape[1] * outShape[2] * outShape[3];
            Coalesce();
        }

        /// <summary>
        /// Merges an axis into the next inner one wherever both inputs step through the pair as through one axis
        /// (each input either contiguous across both or broadcast along both): the same element mapping with longer
        /// rows, so the row kernels run over [1, 200, 2, 96] × [1, 200, 1, 1] as 200 rows of 192, not 400 of 96.
        /// </summary>
        private void Coalesce()
        {
            for (int d = 3; d > 0; d--)
            {
                int outer = d - 1;
                while (outer >= 0 && outShape[outer] == 1)
                {
                    outer--;
                }

                if (outer < 0)
                {
                    return;
                }

                if (strideA[outer] == strideA[d] * outShape[d] && strideB[outer] == strideB[d] * outShape[d])
                {
                    outShape[d] *= outShape[outer];
                    outShape[outer] = 1;
                    strideA[outer] = 0;
                    strideB[outer] = 0;
                    d++; // the merged axis may merge again with the next outer one
                }
            }
        }

        public int LengthA { get; }

        public int LengthB { get; }

        public int OutputLength { get; }

        public int OutputDimension(int axis)
        {
            return outShape[axis];
        }

        public int StrideA(int axis)
        {
            return strideA[axis];
        }

        public int StrideB(int axis)
        {
            return strideB[axis];
        }

        private static int[] PadTo4(int[] shape)
        {
            var padded = new int[] { 1, 1, 1, 1 };
            for (int i = 0; i < shape.Length; i++)
            {
                if (shape[i] < 1)
                {
                    throw new ArgumentException("Dimensions must be positive.");
                }

                padded[4 - shape.Length + i] = shape[i];
            }

            return padded;
        }
    }

    /// <summary>A binary int8 → int8 operation on two codes (implemented by value types for inlining).</summary>
    public interface IBinaryInt8Operator
    {
        /// <summary>The definition: the output code for one pair of input codes.</summary>
        sbyte Invoke(int a, int b);

        /// <summary>
        /// An optional vector form over one output row: a and b have the row's length, or length 1 when that
        /// operand is broadcast along it. Writes a leading part of the row exactly as <see cref="Invoke"/> would and
        /// returns its length (0 when the operator has no vector form); the driver does the rest with Invoke.
        /// </summary>
        int InvokeRow(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output);
    }

    /// <summary>Walks a prepared broadcast and applies an operator; no allocation.</summary>
    public static class BroadcastDriver
    {
        [MethodImpl(KernelJit.Optimize)]
        public static void Run<TOperator>(Broadcast4D shape, ref TOperator op, ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            where TOperator : struct, IBinaryInt8Operator
        {
            if (a.Length != shape.LengthA || b.Length != shape.LengthB || output.Length != shape.OutputLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shapes.");
            }

            if (shape.LengthA == shape.OutputLength && shape.LengthB == shape.OutputLength)
            {
                RunRow(ref op, a, b, output);
                return;
            }

            int o = 0;
            int width = shape.OutputDimension(3);
            int lengthA = shape.StrideA(3) == 0 ? 1 : width;
            int lengthB = shape.StrideB(3) == 0 ? 1 : width;
            for (int d0 = 0; d0 < shape.OutputDimension(0); d0++)
            {
                for (int d1 = 0; d1 < shape.OutputDimension(1); d1++)
                {
                    for (int d2 = 0; d2 < shape.OutputDimension(2); d2++)
                    {
                        int ia = d0 * shape.StrideA(0) + d1 * shape.StrideA(1) + d2 * shape.StrideA(2);
                        int ib = d0 * shape.StrideB(0) + d1 * shape.StrideB(1) + d2 * shape.StrideB(2);
                        RunRow(ref op, a.Slice(ia, lengthA), b.Slice(ib, lengthB), output.Slice(o, width));
                        o += width;
                    }
                }
            }
        }

        /// <summary>One output row: the operator's vector form, then Invoke for what it left (the innermost stride is 0 or 1).</summary>
        private static void RunRow<TOperator>(ref TOperator op, ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            where TOperator : struct, IBinaryInt8Operator
        {
            int i = op.InvokeRow(a, b, output);
            int stepA = a.Length == 1 ? 0 : 1;
            int stepB = b.Length == 1 ? 0 : 1;
            for (; i < output.Length; i++)
            {
                output[i] = op.Invoke(a[i * stepA], b[i * stepB]);
            }
        }
    }
}
