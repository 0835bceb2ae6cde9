using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Any unary function on int8 as a 256-entry table built at prepare time: entry q holds
    /// Quantize(f(Dequantize(q))). An int8 input has only 256 values, so this is exact with respect to
    /// the float function evaluated at the dequantized input (the best an int8 output can do).
    /// Sigmoid, Tanh, HardSigmoid, HardSwish (and anything else elementwise) use it.
    /// </summary>
    public sealed class LookupTableInt8 : IInt8CodeMap
    {
        private readonly Int8CodeTable table;

        /// <summary>Builds the table; <paramref name="function"/> is only called here (prepare time).</summary>
        public LookupTableInt8(QuantParams input, QuantParams output, Func<float, float> function)
        {
            if (function == null)
            {
                throw new ArgumentNullException(nameof(function));
            }

            table = new Int8CodeTable(code => output.QuantizeInt8(function(input.Dequantize(code))));
        }

        /// <summary>Table entry for an input code (for tests and for emitting the table as data).</summary>
        public sbyte this[int code]
        {
            get { return table[code]; }
        }

        /// <summary>The table entry for one code (the definition: the function evaluated in float at prepare time).</summary>
        public sbyte Apply(int code)
        {
            return table[code];
        }

        /// <summary>ONNX HardSigmoid: max(0, min(1, α·x + β)), in float32.</summary>
        public static LookupTableInt8 HardSigmoid(QuantParams input, QuantParams output, float alpha = 0.2f, float beta = 0.5f)
        {
            return new LookupTableInt8(input, output, x => Math.Max(0f, Math.Min(1f, alpha * x + beta)));
        }

        /// <summary>ONNX HardSwish: x·max(0, min(1, x/6 + 1/2)), in float32.</summary>
        public static LookupTableInt8 HardSwish(QuantParams input, QuantParams output)
        {
            return new LookupTableInt8(input, output, x => x * Math.Max(0f, Math.Min(1f, (1f / 6f) * x + 0.5f)));
        }

        /// <summary>Logistic sigmoid.</summary>
        public static LookupTableInt8 Sigmoid(QuantParams input, QuantParams output)
        {
            return new LookupTableInt8(input, output, x => (float)(1.0 / (1.0 + Math.Exp(-x))));
        }

        /// <summary>Hyperbolic tangent.</summary>
        public static LookupTableInt8 Tanh(QuantParams input, QuantParams output)
        {
            return new LookupTableInt8(input, output, x => (float)Math.Tanh(x));
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            table.Map(input, output);
        }
    }
}
