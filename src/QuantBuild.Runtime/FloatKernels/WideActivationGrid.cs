using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// A 16-bit (or other non-int8) activation held as float32 values that lie on its integer grid
    /// (docs/wide-activations.md): the plan runs the nodes around such a value as float steps, and after the
    /// step writes it, every value is replaced by DequantizeLinear(QuantizeLinear(x)) — exactly the real number
    /// the QDQ file's QuantizeLinear → DequantizeLinear pair gives ONNX Runtime.
    /// </summary>
    public static class WideActivationGrid
    {
        /// <summary>
        /// In place: x → (saturate(RNE(x / scale) + zeroPoint, qmin, qmax) − zeroPoint) · scale, in float32 as ONNX
        /// defines QuantizeLinear and DequantizeLinear (NaN becomes the zero point, i.e. 0). Allocates nothing.
        /// </summary>
        public static void Round(Span<float> values, float scale, int zeroPoint, int qmin, int qmax)
        {
            for (int i = 0; i < values.Length; i++)
            {
                int code = QuantParams.QuantizeLinear(values[i], scale, zeroPoint, qmin, qmax);
                values[i] = QuantParams.DequantizeLinear(code, scale, zeroPoint);
            }
        }
    }
}
