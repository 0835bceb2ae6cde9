using System;
using System.Runtime.CompilerServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// One fixed-point rescale from one int8 code space to another:
    /// <c>y = clamp(z_out + round((x − z_in)·M), lo, hi)</c> with M = s_in / s_out in fixed point, rounded once
    /// (<see cref="FixedPoint.MultiplySmallByQuantizedMultiplier"/>).
    /// Used alone (the requantize step) and inside Max, Concat, Clip and pooling.
    /// </summary>
    public struct Int8Rescale
    {
        private readonly int inputZeroPoint;
        private readonly int outputZeroPoint;
        private readonly int multiplier;
        private readonly int shift;
        private readonly bool identity;

        public Int8Rescale(QuantParams input, QuantParams output)
        {
            inputZeroPoint = input.ZeroPoint;
            outputZeroPoint = output.ZeroPoint;
            FixedPoint.QuantizeMultiplier((double)input.Scale / output.Scale, out multiplier, out shift);
            // Same scale: M = 1 is exactly (2^30, 1), and MBQM is then the identity; skip it.
            identity = input.Scale == output.Scale;
        }

        /// <summary>True when input and output share the scale and zero point (a plain copy).</summary>
        public bool IsIdentity
        {
            get { return identity && inputZeroPoint == outputZeroPoint; }
        }

        /// <summary>The rescaled value before clamping, in output code units.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int ApplyUnclamped(int code)
        {
            int deviation = code - inputZeroPoint;
            return outputZeroPoint + (identity ? deviation : FixedPoint.MultiplySmallByQuantizedMultiplier(deviation, multiplier, shift));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte Apply(int code)
        {
            return (sbyte)QuantParams.Clamp(ApplyUnclamped(code), sbyte.MinValue, sbyte.MaxValue);
        }
    }

    /// <summary>The requantize step as a kernel: int8 (s_in, z_in) → int8 (s_out, z_out).</summary>
    public sealed class RequantizeInt8 : IInt8CodeMap
    {
        private readonly Int8Rescale rescale;

        private readonly Int8CodeTable table;

        public RequantizeInt8(QuantParams input, QuantParams output)
        {
            rescale = new Int8Rescale(input, output);
            table = new Int8CodeTable(rescale.Apply);
        }

        /// <summary>The definition for one code: rescale to the output's parameters, clamped.</summary>
        public sbyte Apply(int code)
        {
            return rescale.Apply(code);
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            if (output.Length < input.Length)
            {
                throw new ArgumentException("Output is too short.", nameof(output));
            }

            if (rescale.IsIdentity)
            {
                input.CopyTo(output);
                return;
            }

            table.Map(input, output);
        }
    }
}
