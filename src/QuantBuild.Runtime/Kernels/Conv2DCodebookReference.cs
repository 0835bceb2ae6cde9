using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Reference convolution with codebook weights: decodes every index to its int8 level (into a buffer
    /// sized at prepare time) and runs <see cref="Conv2DInt8Reference"/>. The bit-exact truth for
    /// <see cref="Conv2DCodebook"/>.
    /// </summary>
    public sealed class Conv2DCodebookReference
    {
        private readonly Conv2DInt8Reference inner;
        private readonly sbyte[] decoded;
        private readonly int indexBits;

        public Conv2DCodebookReference(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<byte> packedIndices,
            int indexBits,
            ReadOnlySpan<sbyte> levels,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.SingleRounding)
        {
            KernelArguments.RequireGeometry(geometry);

            this.indexBits = indexBits;
            decoded = new sbyte[geometry.WeightLength];
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, geometry.OutChannels, geometry.FanIn, decoded);
            inner = new Conv2DInt8Reference(geometry, input, weightScales, output, decoded, bias, clampMin, clampMax, rounding);
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> packedIndices, ReadOnlySpan<sbyte> levels, Span<sbyte> output)
        {
            Conv2DGeometry g = inner.Geometry;
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, g.OutChannels, g.FanIn, decoded);
            inner.Eval(input, decoded, output);
        }
    }
}
