using System;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Softmax over the last axis with int8 input and output. Not integer-only in v1 (docs/algorithms/requantization.md, "Float steps"): each row is
    /// dequantized into a float scratch row prepared at construction, normalised in float32 (max
    /// subtracted first) and quantized to the output parameters. A difference of int8 codes x − max takes one of 256
    /// values, so exp((x − max)·s_x) comes from a table filled at construction with the same float expression: the
    /// same bits as calling Math.Exp per value, at a load per value. The row's maximum, the multiply by 1 / sum and the
    /// quantization run in vectors; the sum stays one float chain in element order, so the bits are the scalar loop's.
    /// </summary>
    public sealed class SoftmaxInt8
    {
        private readonly int rows;
        private readonly int rowLength;
        private readonly QuantParams input;
        private readonly QuantParams output;
        private readonly float[] row;
        /// <summary>expOfDifference[d + 255] = (float)Math.Exp(d·s_x) for every code difference d in −255…0.</summary>
        private readonly float[] expOfDifference = new float[256];

        public SoftmaxInt8(int rows, int rowLength, QuantParams input, QuantParams output)
        {
            if (rows < 1 || rowLength < 1)
            {
                throw new ArgumentException("Softmax dimensions must be positive.");
            }

            this.rows = rows;
            this.rowLength = rowLength;
            this.input = input;
            this.output = output;
            row = new float[rowLength];
            for (int d = -255; d <= 0; d++)
            {
                // Differences of codes are exact; the scale turns them into real differences.
                expOfDifference[d + 255] = (float)Math.Exp(d * input.Scale);
            }
        }

        public void Eval(ReadOnlySpan<sbyte> source, Span<sbyte> destination)
        {
            if (source.Length != rows * rowLength || destination.Length != rows * rowLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shape.");
            }

            for (int r = 0; r < rows; r++)
            {
                ReadOnlySpan<sbyte> x = source.Slice(r * rowLength, rowLength);
                int maxCode = MaxCode(x);
                float sum = 0f;
                for (int i = 0; i < rowLength; i++)
                {
                    float e = expOfDifference[x[i] - maxCode + 255];
                    row[i] = e;
                    sum += e;
                }

                float inverse = 1f / sum;
                int done = 0;
#if NET8_0_OR_GREATER
                done = FloatRow.Scale(ref row[0], inverse, rowLength);
#endif
                for (int i = done; i < rowLength; i++)
                {
                    row[i] *= inverse;
                }

                // The span form is QuantizeInt8 per value (QuantParamsTests), in vectors where there are any.
                QuantParams.QuantizeLinear(row, destination.Slice(r * rowLength, rowLength), output.Scale, output.ZeroPoint);
            }
        }

        /// <summary>The largest code of a row (at least one).</summary>
        private static int MaxCode(ReadOnlySpan<sbyte> x)
        {
            int i = 0;
            int max = sbyte.MinValue;
#if NET8_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated && x.Length >= 16)
            {
                ref sbyte codes = ref MemoryMarshal.GetReference(x);
                Vector128<sbyte> m = Vector128.Create(sbyte.MinValue);
                for (; i <= x.Length - 16; i += 16)
                {
                    m = Vector128.Max(m, Vector128.LoadUnsafe(ref codes, (nuint)i));
                }

                for (int lane = 0; lane < 16; lane++)
                {
                    max = Math.Max(max, m.GetElement(lane));
                }
            }
#endif
            for (; i < x.Length; i++)
            {
                max = Math.Max(max, x[i]);
            }

            return max;
        }
    }
}
