using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Int8 2-D convolution whose weights are packed codebook indices plus int8 level tables
    /// (<see cref="CodebookDecoder"/>), bit-identical to <see cref="Conv2DCodebookReference"/>.
    /// A level is an int8 code at the channel's weight scale, so the layer is an ordinary int8 convolution of the
    /// decoded levels: they are decoded once here and every call runs <see cref="Conv2DInt8"/> (blocked GEMM,
    /// vector output stage, its int64 fallback when the bound exceeds int32). The reference is decode +
    /// <see cref="Conv2DInt8Reference"/>, and <see cref="Conv2DInt8"/> equals that reference bit for bit.
    /// The price is one int8 copy of the weights in memory beside the packed indices (decoding per call cost
    /// several times the convolution itself). As for <see cref="Conv2DInt8"/>, the weights given to
    /// <see cref="Eval"/> are the ones given here (the prepare-time sums depend on them).
    /// </summary>
    public sealed class Conv2DCodebook
    {
        private readonly int indexBits;
        private readonly sbyte[] decoded;
        private readonly Conv2DInt8 inner;

        public Conv2DCodebook(
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
            inner = new Conv2DInt8(geometry, input, weightScales, output, decoded, bias, clampMin, clampMax, rounding);
        }

        public Conv2DGeometry Geometry
        {
            get { return inner.Geometry; }
        }

        public bool UsesInt64Accumulator
        {
            get { return inner.UsesInt64Accumulator; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> packedIndices, ReadOnlySpan<sbyte> levels, Span<sbyte> output)
        {
            Conv2DGeometry g = inner.Geometry;
            CodebookDecoder.CheckLayout(indexBits, g.OutChannels, g.FanIn, packedIndices, levels);
            inner.Eval(input, decoded, output);
        }
    }
}
