using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Int8 fully-connected layer (input [batch, K], weights [units, K]) whose weights are packed codebook
    /// indices plus int8 level tables (<see cref="CodebookDecoder"/>); bit-identical to
    /// <see cref="FullyConnectedCodebookReference"/>. The levels are int8 codes at the unit's weight scale, so
    /// they are decoded once here and every call runs <see cref="FullyConnectedInt8"/>, which equals the
    /// reference's decode + <see cref="FullyConnectedInt8Reference"/> bit for bit. The weights given to
    /// <see cref="Eval"/> are the ones given here (the prepare-time folded bias depends on them).
    /// </summary>
    public sealed class FullyConnectedCodebook
    {
        private readonly int indexBits;
        private readonly sbyte[] decoded;
        private readonly FullyConnectedInt8 inner;

        public FullyConnectedCodebook(
            int batch,
            int inFeatures,
            int units,
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
            KernelArguments.RequireFullyConnectedShape(batch, inFeatures, units);

            this.indexBits = indexBits;
            decoded = new sbyte[checked(units * inFeatures)];
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, units, inFeatures, decoded);
            inner = new FullyConnectedInt8(batch, inFeatures, units, input, weightScales, output, decoded, bias, clampMin, clampMax, rounding);
        }

        public int Batch
        {
            get { return inner.Batch; }
        }

        public int InFeatures
        {
            get { return inner.InFeatures; }
        }

        public int Units
        {
            get { return inner.Units; }
        }

        public bool UsesInt64Accumulator
        {
            get { return inner.UsesInt64Accumulator; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> packedIndices, ReadOnlySpan<sbyte> levels, Span<sbyte> output)
        {
            CodebookDecoder.CheckLayout(indexBits, Units, InFeatures, packedIndices, levels);
            inner.Eval(input, decoded, output);
        }
    }

    /// <summary>
    /// Reference fully-connected layer with codebook weights: decodes every level (buffer sized at
    /// prepare time) and runs <see cref="FullyConnectedInt8Reference"/>.
    /// </summary>
    public sealed class FullyConnectedCodebookReference
    {
        private readonly FullyConnectedInt8Reference inner;
        private readonly sbyte[] decoded;
        private readonly int indexBits;

        public FullyConnectedCodebookReference(
            int batch,
            int inFeatures,
            int units,
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
            this.indexBits = indexBits;
            decoded = new sbyte[checked(units * inFeatures)];
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, units, inFeatures, decoded);
            inner = new FullyConnectedInt8Reference(batch, inFeatures, units, input, weightScales, output, decoded, bias, clampMin, clampMax, rounding);
        }

        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<byte> packedIndices, ReadOnlySpan<sbyte> levels, Span<sbyte> output)
        {
            CodebookDecoder.DecodeAll(packedIndices, indexBits, levels, inner.Units, inner.InFeatures, decoded);
            inner.Eval(input, decoded, output);
        }
    }
}
