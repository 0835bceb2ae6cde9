using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Optimized int8 fully-connected layer, bit-identical to <see cref="FullyConnectedInt8Reference"/>:
    /// a vectorized raw-code dot product Σ x·w plus the folded bias b'_j = b_j − z_x·Σ_k w[j,k].
    /// Layers whose prepare-time bound exceeds int32 run the reference's int64 path. On AVX2 the input row is
    /// sign-extended to int16 once and four units share each widened load (vpmaddwd per unit); elsewhere each unit
    /// is one <see cref="Int8Dot"/>. Every product and the int32 sums are the same, so are the bits.
    /// </summary>
    public sealed class FullyConnectedInt8
    {
        private readonly FullyConnectedInt8Reference reference;
        private readonly int[] foldedBias;

        /// <summary>AVX2: the current input row as int16 (empty elsewhere).</summary>
        private readonly short[] widened = new short[0];

        public FullyConnectedInt8(
            int batch,
            int inFeatures,
            int units,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.SingleRounding)
        {
            reference = new FullyConnectedInt8Reference(batch, inFeatures, units, input, weightScales, output, weights, bias, clampMin, clampMax, rounding);
            foldedBias = new int[units];
            if (!reference.UsesInt64Accumulator)
            {
                long[] folded = ConvWeightStats.FoldedBias(weights, units, inFeatures, bias, input.ZeroPoint);
                for (int j = 0; j < units; j++)
                {
                    foldedBias[j] = unchecked((int)folded[j]);
                }

#if NET8_0_OR_GREATER
                if (Avx2.IsSupported)
                {
                    widened = new short[inFeatures];
                }
#endif
            }
        }

        public int Batch
        {
            get { return reference.Batch; }
        }

        public int InFeatures
        {
            get { return reference.InFeatures; }
        }

        public int Units
        {
            get { return reference.Units; }
        }

        public bool UsesInt64Accumulator
        {
            get { return reference.UsesInt64Accumulator; }
        }

        [MethodImpl(KernelJit.Optimize)]
        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            if (reference.UsesInt64Accumulator)
            {
                reference.Eval(input, weights, output);
                return;
            }

            int batch = Batch;
            int inFeatures = InFeatures;
            int units = Units;
            if (input.Length != batch * inFeatures || output.Length != batch * units || weights.Length != units * inFeatures)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shapes.");
            }

            ChannelRequantizer requantizer = reference.Requantizer;
#if NET8_0_OR_GREATER
            if (widened.Length > 0)
            {
                for (int b = 0; b < batch; b++)
                {
                    EvalRowAvx2(input.Slice(b * inFeatures, inFeatures), weights, output.Slice(b * units, units), requantizer);
                }

                return;
            }
#endif
            for (int b = 0; b < batch; b++)
            {
                ReadOnlySpan<sbyte> x = input.Slice(b * inFeatures, inFeatures);
                for (int j = 0; j < units; j++)
                {
                    int acc = Int8Dot.Dot(x, weights.Slice(j * inFeatures, inFeatures)) + foldedBias[j];
                    output[b * units + j] = requantizer.Apply(acc, j);
                }
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>One input row: widen it once, then units four at a time over whole 16-feature blocks, the tail in scalar.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private void EvalRowAvx2(ReadOnlySpan<sbyte> x, ReadOnlySpan<sbyte> weights, Span<sbyte> output, ChannelRequantizer requantizer)
        {
            int n = x.Length;
            ref sbyte px = ref MemoryMarshal.GetReference(x);
            ref short wide = ref widened[0];
            int blocks = n / 16 * 16;
            for (int k = 0; k < blocks; k += 16)
            {
                Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref px, (nuint)k)).StoreUnsafe(ref wide, (nuint)k);
            }

            ref sbyte w0 = ref MemoryMarshal.GetReference(weights);
            int units = output.Length;
            int j = 0;
            for (; j <= units - 4; j += 4)
            {
                ref sbyte r0 = ref Unsafe.Add(ref w0, j * n);
                ref sbyte r1 = ref Unsafe.Add(ref r0, n);
                ref sbyte r2 = ref Unsafe.Add(ref r1, n);
                ref sbyte r3 = ref Unsafe.Add(ref r2, n);
                Vector256<int> a0 = Vector256<int>.Zero, a1 = Vector256<int>.Zero, a2 = Vector256<int>.Zero, a3 = Vector256<int>.Zero;
                for (int k = 0; k < blocks; k += 16)
                {
                    Vector256<short> xv = Vector256.LoadUnsafe(ref wide, (nuint)k);
                    a0 += Avx2.MultiplyAddAdjacent(xv, Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r0, (nuint)k)));
                    a1 += Avx2.MultiplyAddAdjacent(xv, Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r1, (nuint)k)));
                    a2 += Avx2.MultiplyAddAdjacent(xv, Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r2, (nuint)k)));
                    a3 += Avx2.MultiplyAddAdjacent(xv, Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r3, (nuint)k)));
                }

                output[j] = Finish(Vector256.Sum(a0), ref px, ref r0, blocks, n, j, requantizer);
                output[j + 1] = Finish(Vector256.Sum(a1), ref px, ref r1, blocks, n, j + 1, requantizer);
                output[j + 2] = Finish(Vector256.Sum(a2), ref px, ref r2, blocks, n, j + 2, requantizer);
                output[j + 3] = Finish(Vector256.Sum(a3), ref px, ref r3, blocks, n, j + 3, requantizer);
            }

            for (; j < units; j++)
            {
                ref sbyte r = ref Unsafe.Add(ref w0, j * n);
                Vector256<int> a = Vector256<int>.Zero;
                for (int k = 0; k < blocks; k += 16)
                {
                    a += Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref wide, (nuint)k), Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r, (nuint)k)));
                }

                output[j] = Finish(Vector256.Sum(a), ref px, ref r, blocks, n, j, requantizer);
            }
        }

        /// <summary>Adds the features past the last whole block and the folded bias, then requantizes unit <paramref name="unit"/>.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private sbyte Finish(int sum, ref sbyte x, ref sbyte w, int start, int n, int unit, ChannelRequantizer requantizer)
        {
            for (int k = start; k < n; k++)
            {
                sum += Unsafe.Add(ref x, k) * Unsafe.Add(ref w, k);
            }

            return requantizer.Apply(sum + foldedBias[unit], unit);
        }
#endif
    }
}
