using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET9_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

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
            int i = 0;
#if NET9_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                i = RoundVectors(values, scale, zeroPoint, qmin, qmax);
            }
#endif
            for (; i < values.Length; i++)
            {
                int code = QuantParams.QuantizeLinear(values[i], scale, zeroPoint, qmin, qmax);
                values[i] = QuantParams.DequantizeLinear(code, scale, zeroPoint);
            }
        }

#if NET9_0_OR_GREATER
        /// <summary>
        /// <see cref="Round"/> over whole vectors: the codes as <see cref="QuantParams.GridCodes(Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float})"/>
        /// computes them (the scalar's code for every input, NaN included), then (q − z) · s, the scalar's one product.
        /// Returns how many values it did.
        /// </summary>
        private static int RoundVectors(Span<float> values, float scale, int zeroPoint, int qmin, int qmax)
        {
            ref float v = ref MemoryMarshal.GetReference(values);
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> s = Vector256.Create(scale), z = Vector256.Create((float)zeroPoint);
                Vector256<float> low = Vector256.Create((float)qmin), high = Vector256.Create((float)qmax);
                for (; i <= values.Length - 8; i += 8)
                {
                    ((QuantParams.GridCodes(Vector256.LoadUnsafe(ref v, (nuint)i), s, z, low, high) - z) * s).StoreUnsafe(ref v, (nuint)i);
                }
            }

            Vector128<float> s4 = Vector128.Create(scale), z4 = Vector128.Create((float)zeroPoint);
            Vector128<float> low4 = Vector128.Create((float)qmin), high4 = Vector128.Create((float)qmax);
            for (; i <= values.Length - 4; i += 4)
            {
                ((QuantParams.GridCodes(Vector128.LoadUnsafe(ref v, (nuint)i), s4, z4, low4, high4) - z4) * s4).StoreUnsafe(ref v, (nuint)i);
            }

            return i;
        }
#endif
    }
}
