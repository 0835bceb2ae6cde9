using System;

namespace QuantBuild.Runtime
{
    /// <summary>Model-edge kernel: float32 → int8 with ONNX QuantizeLinear semantics (docs/algorithms/linear.md, "QuantizeLinear and DequantizeLinear").</summary>
    public sealed class QuantizeInt8
    {
        private readonly QuantParams parameters;

        public QuantizeInt8(QuantParams parameters)
        {
            this.parameters = parameters;
        }

        public void Eval(ReadOnlySpan<float> input, Span<sbyte> output)
        {
            QuantParams.QuantizeLinear(input, output, parameters.Scale, parameters.ZeroPoint);
        }
    }

    /// <summary>Model-edge kernel: int8 → float32 with ONNX DequantizeLinear semantics (docs/algorithms/linear.md, "QuantizeLinear and DequantizeLinear").</summary>
    public sealed class DequantizeInt8
    {
        private readonly QuantParams parameters;

        public DequantizeInt8(QuantParams parameters)
        {
            this.parameters = parameters;
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<float> output)
        {
            QuantParams.DequantizeLinear(input, output, parameters.Scale, parameters.ZeroPoint);
        }
    }
}
