using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// LeakyRelu on int8 via two fixed-point multipliers (TFLite scheme): deviations d = x − z_x ≥ 0 use
    /// M_pos = s_x/s_y, negative ones M_neg = |α|·s_x/s_y (negated for α &lt; 0, since multipliers are
    /// non-negative). <c>y = clamp(z_y + MBQM(d, M), −128, 127)</c>.
    /// </summary>
    public sealed class LeakyReluInt8
    {
        private readonly int inputZeroPoint;
        private readonly int outputZeroPoint;
        private readonly int positiveMultiplier;
        private readonly int positiveShift;
        private readonly int negativeMultiplier;
        private readonly int negativeShift;
        private readonly bool negateNegativeBranch;

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
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            if (output.Length < input.Length)
            {
                throw new ArgumentException("Output is too short.", nameof(output));
            }

            for (int i = 0; i < input.Length; i++)
            {
                int deviation = input[i] - inputZeroPoint;
                int scaled;
                if (deviation >= 0)
                {
                    scaled = FixedPoint.MultiplyByQuantizedMultiplier(deviation, positiveMultiplier, positiveShift);
                }
                else
                {
                    scaled = FixedPoint.MultiplyByQuantizedMultiplier(deviation, negativeMultiplier, negativeShift);
                    if (negateNegativeBranch)
                    {
                        scaled = -scaled;
                    }
                }

                output[i] = (sbyte)QuantParams.Clamp(outputZeroPoint + scaled, sbyte.MinValue, sbyte.MaxValue);
            }
        }
    }
}
