using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Elementwise Mul of two int8 tensors (TFLite scheme): the product of the deviations
    /// (x1 − z1)·(x2 − z2) (|·| ≤ 2^16) rescaled by M = s1·s2/s_y. Broadcasting per <see cref="Broadcast4D"/>.
    /// </summary>
    public sealed class MulInt8
    {
        private readonly Broadcast4D shape;
        private Operator op;

        public MulInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output, int clampMin = sbyte.MinValue, int clampMax = sbyte.MaxValue)
        {
            shape = new Broadcast4D(shapeA, shapeB);
            op = new Operator();
            FixedPoint.QuantizeMultiplier((double)a.Scale * b.Scale / output.Scale, out op.Multiplier, out op.Shift);
            op.ZeroA = a.ZeroPoint;
            op.ZeroB = b.ZeroPoint;
            op.ZeroOut = output.ZeroPoint;
            op.ClampMin = clampMin;
            op.ClampMax = clampMax;
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
            public int ZeroA;
            public int ZeroB;
            public int ZeroOut;
            public int Multiplier;
            public int Shift;
            public int ClampMin;
            public int ClampMax;

            public sbyte Invoke(int a, int b)
            {
                int product = (a - ZeroA) * (b - ZeroB);
                int y = FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(product, Multiplier, Shift) + ZeroOut;
                return (sbyte)QuantParams.Clamp(y, ClampMin, ClampMax);
            }
        }
    }
}
