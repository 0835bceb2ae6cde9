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
    /// Layers whose prepare-time bound exceeds int32 run the reference's int64 path. On AVX2 two input rows at a time
    /// are sign-extended to int16 once, zero-padded to whole 16-feature blocks, and each widened block of four units'
    /// weights serves both rows (vpmaddwd per unit and row). A block that runs past a unit's K features reads the next
    /// unit's weights against zero inputs, which adds nothing, so only the last units (whose block would run past the
    /// weights) take the scalar tail. Elsewhere each unit is one <see cref="Int8Dot"/>. Every product and the int32
    /// sums are the same, so are the bits.
    /// </summary>
    public sealed class FullyConnectedInt8
    {
        private readonly FullyConnectedInt8Reference reference;
        private readonly int[] foldedBias;

        /// <summary>AVX2: the current two input rows as int16, each zero-padded to <see cref="paddedFeatures"/> (empty elsewhere).</summary>
        private readonly short[] widened = new short[0];

#if NET8_0_OR_GREATER
        /// <summary>K rounded up to whole 16-feature blocks.</summary>
        private readonly int paddedFeatures;
#endif

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
                    paddedFeatures = (inFeatures + 15) / 16 * 16;
                    widened = new short[2 * paddedFeatures];
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
                int b = 0;
                for (; b + 2 <= batch; b += 2)
                {
                    EvalRowsAvx2(input.Slice(b * inFeatures, 2 * inFeatures), 2, weights, output.Slice(b * units, 2 * units), requantizer);
                }

                if (b < batch)
                {
                    EvalRowsAvx2(input.Slice(b * inFeatures, inFeatures), 1, weights, output.Slice(b * units, units), requantizer);
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
        /// <summary>
        /// One or two input rows: widen them once (zero-padded), then units four at a time over the padded blocks while
        /// the blocks stay inside the weights, the rest unit by unit over whole blocks with the scalar tail.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void EvalRowsAvx2(ReadOnlySpan<sbyte> x, int rows, ReadOnlySpan<sbyte> weights, Span<sbyte> output, ChannelRequantizer requantizer)
        {
            int n = InFeatures;
            int padded = paddedFeatures;
            int units = Units;
            int blocks = n / 16 * 16;
            ref sbyte px = ref MemoryMarshal.GetReference(x);
            ref short wide0 = ref widened[0];
            ref short wide1 = ref widened[padded];
            for (int row = 0; row < rows; row++)
            {
                ref sbyte source = ref Unsafe.Add(ref px, row * n);
                ref short target = ref widened[row * padded];
                for (int k = 0; k < blocks; k += 16)
                {
                    Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref source, (nuint)k)).StoreUnsafe(ref target, (nuint)k);
                }

                // The padding past K stays zero from construction; only the features of the last partial block change.
                for (int k = blocks; k < n; k++)
                {
                    Unsafe.Add(ref target, k) = Unsafe.Add(ref source, k);
                }
            }

            ref sbyte w0 = ref MemoryMarshal.GetReference(weights);
            int j = 0;
            // Four units whose padded blocks end inside the weights (the last group may not).
            for (; j <= units - 4 && (long)(j + 3) * n + padded <= (long)units * n; j += 4)
            {
                ref sbyte r0 = ref Unsafe.Add(ref w0, j * n);
                ref sbyte r1 = ref Unsafe.Add(ref r0, n);
                ref sbyte r2 = ref Unsafe.Add(ref r1, n);
                ref sbyte r3 = ref Unsafe.Add(ref r2, n);
                Vector256<int> a0 = Vector256<int>.Zero, a1 = Vector256<int>.Zero, a2 = Vector256<int>.Zero, a3 = Vector256<int>.Zero;
                if (rows == 2)
                {
                    Vector256<int> b0 = Vector256<int>.Zero, b1 = Vector256<int>.Zero, b2 = Vector256<int>.Zero, b3 = Vector256<int>.Zero;
                    for (int k = 0; k < padded; k += 16)
                    {
                        Vector256<short> x0 = Vector256.LoadUnsafe(ref wide0, (nuint)k);
                        Vector256<short> x1 = Vector256.LoadUnsafe(ref wide1, (nuint)k);
                        Vector256<short> v0 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r0, (nuint)k));
                        Vector256<short> v1 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r1, (nuint)k));
                        Vector256<short> v2 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r2, (nuint)k));
                        Vector256<short> v3 = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r3, (nuint)k));
                        a0 += Avx2.MultiplyAddAdjacent(x0, v0);
                        a1 += Avx2.MultiplyAddAdjacent(x0, v1);
                        a2 += Avx2.MultiplyAddAdjacent(x0, v2);
                        a3 += Avx2.MultiplyAddAdjacent(x0, v3);
                        b0 += Avx2.MultiplyAddAdjacent(x1, v0);
                        b1 += Avx2.MultiplyAddAdjacent(x1, v1);
                        b2 += Avx2.MultiplyAddAdjacent(x1, v2);
                        b3 += Avx2.MultiplyAddAdjacent(x1, v3);
                    }

                    Store4(Sums4(b0, b1, b2, b3), output.Slice(units), j, requantizer);
                }
                else
                {
                    for (int k = 0; k < padded; k += 16)
                    {
                        Vector256<short> x0 = Vector256.LoadUnsafe(ref wide0, (nuint)k);
                        a0 += Avx2.MultiplyAddAdjacent(x0, Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r0, (nuint)k)));
                        a1 += Avx2.MultiplyAddAdjacent(x0, Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r1, (nuint)k)));
                        a2 += Avx2.MultiplyAddAdjacent(x0, Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r2, (nuint)k)));
                        a3 += Avx2.MultiplyAddAdjacent(x0, Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r3, (nuint)k)));
                    }
                }

                Store4(Sums4(a0, a1, a2, a3), output, j, requantizer);
            }

            // The last units: whole blocks only, then the scalar tail (a padded block could run past the weights).
            for (; j < units; j++)
            {
                ref sbyte r = ref Unsafe.Add(ref w0, j * n);
                for (int row = 0; row < rows; row++)
                {
                    ref short wide = ref widened[row * padded];
                    Vector256<int> a = Vector256<int>.Zero;
                    for (int k = 0; k < blocks; k += 16)
                    {
                        a += Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref wide, (nuint)k), Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref r, (nuint)k)));
                    }

                    output[row * units + j] = Finish(Vector256.Sum(a), ref Unsafe.Add(ref px, row * n), ref r, blocks, n, j, requantizer);
                }
            }
        }

        /// <summary>The four accumulators' lane sums, in order, by a horizontal-add tree (int32 sums wrap the same in any order).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<int> Sums4(Vector256<int> a0, Vector256<int> a1, Vector256<int> a2, Vector256<int> a3)
        {
            Vector256<int> pairs = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a0, a1), Avx2.HorizontalAdd(a2, a3));
            return pairs.GetLower() + pairs.GetUpper();
        }

        /// <summary>Adds the folded bias of units j..j+3 to their sums and requantizes them into output[j..j+3].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Store4(Vector128<int> sums, Span<sbyte> output, int j, ChannelRequantizer requantizer)
        {
            sums += Vector128.LoadUnsafe(ref foldedBias[j]);
            output[j] = requantizer.Apply(sums.GetElement(0), j);
            output[j + 1] = requantizer.Apply(sums.GetElement(1), j + 1);
            output[j + 2] = requantizer.Apply(sums.GetElement(2), j + 2);
            output[j + 3] = requantizer.Apply(sums.GetElement(3), j + 3);
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
