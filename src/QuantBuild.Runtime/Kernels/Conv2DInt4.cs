using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Optimized int8 convolution with packed int4 weights (two codes per byte, element 0 in the low nibble, codes in
    /// [-8, 7]). As in TFLite's packed-int4 kernels, Eval unpacks the weights into an int8 scratch
    /// buffer sized at prepare time (O(weights), no allocation) and runs <see cref="Conv2DInt8"/>,
    /// so the int4 path inherits the int8 path's semantics exactly.
    /// </summary>
    public sealed class Conv2DInt4
    {
        private readonly Conv2DInt8 inner;
        private readonly sbyte[] unpacked;

        /// <summary>With code maps after the output stage, as <see cref="Conv2DInt8"/>'s overload.</summary>
        public Conv2DInt4(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<byte> packedWeights,
            ReadOnlySpan<int> bias,
            int clampMin,
            int clampMax,
            Int8CodeMap then)
        {
            unpacked = Unpack(geometry, packedWeights);
            inner = new Conv2DInt8(geometry, input, weightScales, output, unpacked, bias, clampMin, clampMax, then);
        }

        public Conv2DInt4(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<byte> packedWeights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.SingleRounding)
        {
            unpacked = Unpack(geometry, packedWeights);
            inner = new Conv2DInt8(geometry, input, weightScales, output, unpacked, bias, clampMin, clampMax, rounding);
        }

        /// <summary>The int4 codes as int8, in a buffer sized at prepare time.</summary>
        private static sbyte[] Unpack(Conv2DGeometry geometry, ReadOnlySpan<byte> packedWeights)
        {
            if (geometry == null)
            {
                throw new ArgumentNullException(nameof(geometry));
            }

            var codes = new sbyte[geometry.WeightLength];
            BitPacking.UnpackInt4(packedWeights, 0, codes);
            return codes;
        }

        public bool UsesInt64Accumulator
        {
            get { return inner.UsesInt64Accumulator; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> packedWeights, Span<sbyte> output)
        {
            BitPacking.UnpackInt4(packedWeights, 0, unpacked);
            inner.Eval(input, unpacked, output);
        }
    }
}
