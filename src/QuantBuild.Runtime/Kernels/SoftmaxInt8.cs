using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Softmax over the last axis with int8 input and output. Not integer-only in v1 (docs/algorithms/requantization.md, "Float steps"): each row is
    /// dequantized into a float scratch row prepared at construction, normalised in float32 (max
    /// subtracted first) and quantized to the output parameters. A difference of int8 codes x − max takes one of 256
    /// values, so exp((x − max)·s_x) comes from a table filled at construction with the same float expression: the
    /// same bits as calling Math.Exp per value, at a load per value.
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
                int maxCode = sbyte.MinValue;
                for (int i = 0; i < rowLength; i++)
                {
                    maxCode = Math.Max(maxCode, x[i]);
                }

                float sum = 0f;
                for (int i = 0; i < rowLength; i++)
                {
                    float e = expOfDifference[x[i] - maxCode + 255];
                    row[i] = e;
                    sum += e;
                }

                Span<sbyte> y = destination.Slice(r * rowLength, rowLength);
                float inverse = 1f / sum;
                for (int i = 0; i < rowLength; i++)
                {
                    y[i] = output.QuantizeInt8(row[i] * inverse);
                }
            }
        }
    }
}
