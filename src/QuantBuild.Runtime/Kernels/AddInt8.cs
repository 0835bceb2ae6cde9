using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Elementwise Add of two int8 tensors with different scales: y = z_y + round((a − z_a)·s_a/s_y + (b − z_b)·s_b/s_y),
    /// clamped; both terms come from 256-entry tables in fixed point with <see cref="LeftShift"/> fraction bits.
    /// Broadcasting per <see cref="Broadcast4D"/>.
    /// </summary>
    public sealed class AddInt8
    {
        /// <summary>Fraction bits of the tabulated terms (the terms are int64, so any scale ratio fits).</summary>
        public const int LeftShift = 20;

        private readonly Broadcast4D shape;
        private Operator op;

        public AddInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output, int clampMin = sbyte.MinValue, int clampMax = sbyte.MaxValue)
        {
            shape = new Broadcast4D(shapeA, shapeB);
            op = new Operator();
            op.ZeroOut = output.ZeroPoint;
            op.ClampMin = clampMin;
            op.ClampMax = clampMax;
            // Each operand's term (code − z)·s/s_y depends on its code alone: tabulate it once, in fixed point
            // with LeftShift fraction bits, rounded in double at prepare time. The sum is then rounded once,
            // so y is the exactly rounded (a + b)/s_y — what ONNX Runtime's float QLinearAdd computes — except
            // for values within 2^-20 of a half (the gemmlowp three-multiplier form misses by one code far more
            // often, and the misses compound through residual blocks).
            op.ScaledA = Tabulate(a, output);
            op.ScaledB = Tabulate(b, output);
        }

        private static long[] Tabulate(QuantParams operand, QuantParams output)
        {
            double ratio = (double)operand.Scale / output.Scale * (1L << LeftShift);
            var table = new long[256];
            for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
            {
                table[(byte)code] = (long)Math.Round((code - operand.ZeroPoint) * ratio, MidpointRounding.AwayFromZero);
            }

            return table;
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
            public int ZeroOut;
            public int ClampMin;
            public int ClampMax;
            public long[] ScaledA;
            public long[] ScaledB;

            public int InvokeRow(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            {
                return 0; // per-code tables: no vector form
            }

            public sbyte Invoke(int a, int b)
            {
                long y = ((ScaledA[(byte)a] + ScaledB[(byte)b] + (1L << (LeftShift - 1))) >> LeftShift) + ZeroOut;
                return (sbyte)(y < ClampMin ? ClampMin : (y > ClampMax ? ClampMax : y));
            }
        }
    }
}
