using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Elementwise Add of two int8 tensors with different scales (TFLite reference scheme, §1.6):
    /// both deviations are left-shifted by 20 bits for headroom, scaled to a common scale 2·max(s1, s2)
    /// (multipliers ≤ 1/2), summed, then rescaled to the output. Broadcasting per <see cref="Broadcast4D"/>.
    /// </summary>
    public sealed class AddInt8
    {
        /// <summary>Headroom for 8-bit inputs: (x − z)·2^20 ≤ 255·2^20 &lt; 2^28 leaves room for the sum.</summary>
        public const int LeftShift = 20;

        private readonly Broadcast4D shape;
        private Operator op;

        public AddInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output, int clampMin = sbyte.MinValue, int clampMax = sbyte.MaxValue)
        {
            shape = new Broadcast4D(shapeA, shapeB);
            double twiceMax = 2.0 * Math.Max(a.Scale, b.Scale);
            op = new Operator();
            FixedPoint.QuantizeMultiplier(a.Scale / twiceMax, out op.MultiplierA, out op.ShiftA);
            FixedPoint.QuantizeMultiplier(b.Scale / twiceMax, out op.MultiplierB, out op.ShiftB);
            FixedPoint.QuantizeMultiplier(twiceMax / ((1 << LeftShift) * (double)output.Scale), out op.MultiplierOut, out op.ShiftOut);
            op.ZeroA = a.ZeroPoint;
            op.ZeroB = b.ZeroPoint;
            op.ZeroOut = output.ZeroPoint;
            op.ClampMin = clampMin;
            op.ClampMax = clampMax;
            // Each operand's scaled term depends on its code alone: tabulate it once (exact, same bits).
            op.ScaledA = new int[256];
            op.ScaledB = new int[256];
            for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
            {
                op.ScaledA[(byte)code] = FixedPoint.MultiplyByQuantizedMultiplier((code - op.ZeroA) * (1 << LeftShift), op.MultiplierA, op.ShiftA);
                op.ScaledB[(byte)code] = FixedPoint.MultiplyByQuantizedMultiplier((code - op.ZeroB) * (1 << LeftShift), op.MultiplierB, op.ShiftB);
            }
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
            public int MultiplierA;
            public int ShiftA;
            public int MultiplierB;
            public int ShiftB;
            public int MultiplierOut;
            public int ShiftOut;
            public int ClampMin;
            public int ClampMax;
            public int[] ScaledA;
            public int[] ScaledB;

            public sbyte Invoke(int a, int b)
            {
                int scaledA = ScaledA[(byte)a];
                int scaledB = ScaledB[(byte)b];
                int y = FixedPoint.MultiplyByQuantizedMultiplier(scaledA + scaledB, MultiplierOut, ShiftOut) + ZeroOut;
                return (sbyte)QuantParams.Clamp(y, ClampMin, ClampMax);
            }
        }
    }
}
