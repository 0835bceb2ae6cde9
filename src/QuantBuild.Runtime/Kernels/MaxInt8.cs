using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Elementwise Max of two int8 tensors: both inputs are rescaled to the output's code space
    /// (unclamped), the larger is taken, then clamped. Rescaling is monotone, so this equals the max
    /// of the real values up to the rounding of each input.
    /// </summary>
    public sealed class MaxInt8
    {
        private readonly Broadcast4D shape;
        private Operator op;

        public MaxInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output)
        {
            shape = new Broadcast4D(shapeA, shapeB);
            op = new Operator { A = new Int8Rescale(a, output), B = new Int8Rescale(b, output) };
        }

        public int OutputLength
        {
            get { return shape.OutputLength; }
        }

        public void Eval(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
        {
            BroadcastDriver.Run(shape, ref op, a, b, output);
        }

        private struct Operator : IBinaryInt8Operator
        {
            public Int8Rescale A;
            public Int8Rescale B;

            public sbyte Invoke(int a, int b)
            {
                int y = Math.Max(A.ApplyUnclamped(a), B.ApplyUnclamped(b));
                return (sbyte)QuantParams.Clamp(y, sbyte.MinValue, sbyte.MaxValue);
            }
        }
    }
}
