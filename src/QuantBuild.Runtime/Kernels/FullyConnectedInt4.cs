using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Optimized fully-connected layer with packed int4 weights (two codes per byte, element 0 in the low nibble, codes in
    /// [-8, 7]). As in TFLite's packed-int4 kernels, Eval unpacks the weights into an int8 scratch
    /// buffer sized at prepare time (O(weights), no allocation) and runs <see cref="FullyConnectedInt8"/>,
    /// so the int4 path inherits the int8 path's semantics exactly.
    /// </summary>
    public sealed class FullyConnectedInt4
    {
        private readonly FullyConnectedInt8 inner;
        private readonly sbyte[] unpacked;

        public FullyConnectedInt4(
            int batch,
            int inFeatures,
            int units,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<byte> packedWeights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.SingleRounding)
        {
            unpacked = new sbyte[checked(units * inFeatures)];
            BitPacking.UnpackInt4(packedWeights, 0, unpacked);
            inner = new FullyConnectedInt8(batch, inFeatures, units, input, weightScales, output, unpacked, bias, clampMin, clampMax, rounding);
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
