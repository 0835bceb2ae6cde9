using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Relu / Relu6 / Clip on int8 codes: rescale to the output code space (a copy when the parameters
    /// match, the usual case) and clamp to the codes of [min, max]. Relu is Clip(0, +∞).
    /// </summary>
    public sealed class ClipInt8 : IInt8CodeMap
    {
        private readonly Int8Rescale rescale;
        private readonly int clampMin;
        private readonly int clampMax;
        private readonly Int8CodeTable table;

        public ClipInt8(QuantParams input, QuantParams output, float min, float max)
        {
            if (!(min <= max))
            {
                throw new ArgumentException("Clip needs min <= max.");
            }

            rescale = new Int8Rescale(input, output);
            FusedActivation.Clip(output, min, max, out clampMin, out clampMax);
            table = new Int8CodeTable(Apply);
        }

        /// <summary>ONNX Relu.</summary>
        public static ClipInt8 Relu(QuantParams input, QuantParams output)
        {
            return new ClipInt8(input, output, 0f, float.PositiveInfinity);
        }

        public int ClampMin
        {
            get { return clampMin; }
        }

        public int ClampMax
        {
            get { return clampMax; }
        }

        /// <summary>The definition for one code: rescale to the output's parameters, then clamp.</summary>
        public sbyte Apply(int code)
        {
            return (sbyte)QuantParams.Clamp(rescale.ApplyUnclamped(code), clampMin, clampMax);
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            table.Map(input, output);
        }
    }
}
