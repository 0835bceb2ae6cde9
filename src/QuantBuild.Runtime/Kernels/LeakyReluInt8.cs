using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// LeakyRelu on int8 via two fixed-point multipliers (TFLite scheme): deviations d = x − z_x ≥ 0 use
    /// M_pos = s_x/s_y, negative ones M_neg = |α|·s_x/s_y (negated for α &lt; 0, since multipliers are
    /// non-negative). <c>y = clamp(z_y + round(d·M), −128, 127)</c>, one rounding
    /// (<see cref="FixedPoint.MultiplySmallByQuantizedMultiplier"/>: plain MBQM double-rounds small d).
    /// </summary>
    public sealed class LeakyReluInt8 : IInt8CodeMap
    {
        private readonly int inputZeroPoint;
        private readonly int outputZeroPoint;
        private readonly int positiveMultiplier;
        private readonly int positiveShift;
        private readonly int negativeMultiplier;
        private readonly int negativeShift;
        private readonly bool negateNegativeBranch;
        private readonly Int8CodeTable table;

        public LeakyReluInt8(QuantParams input, QuantParams output, float alpha)
        {
            if (float.IsNaN(alpha) || float.IsInfinity(alpha))
            {
                throw new ArgumentException("alpha must be finite.", nameof(alpha));
            }

            inputZeroPoint = input.ZeroPoint;
            outputZeroPoint = output.ZeroPoint;
            FixedPoint.QuantizeMultiplier((double)input.Scale / output.Scale, out positiveMultiplier, out positiveShift);
            FixedPoint.QuantizeMultiplier(Math.Abs((double)alpha) * input.Scale / output.Scale, out negativeMultiplier, out negativeShift);
            negateNegativeBranch = alpha < 0;
            table = new Int8CodeTable(Apply);
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            // The output depends on the code alone: the table of Apply (built once) gives its exact bits.
            table.Map(input, output);
        }

        /// <summary>The defining formula for one code (the table is built from it).</summary>
        public sbyte Apply(int code)
        {
            int deviation = code - inputZeroPoint;
            int scaled;
            if (deviation >= 0)
            {
                scaled = FixedPoint.MultiplySmallByQuantizedMultiplier(deviation, positiveMultiplier, positiveShift);
            }
            else
            {
                scaled = FixedPoint.MultiplySmallByQuantizedMultiplier(deviation, negativeMultiplier, negativeShift);
                if (negateNegativeBranch)
                {
                    scaled = -scaled;
                }
            }

            return (sbyte)QuantParams.Clamp(outputZeroPoint + scaled, sbyte.MinValue, sbyte.MaxValue);
        }
    }
}
