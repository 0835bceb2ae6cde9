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
    /// A 2-D convolution (NCHW) where the input, the output or both are 16-bit activation codes
    /// (docs/wide-activations.md, "Integer kernels"), with int8 weights (symmetric, per output channel) and an
    /// int32 bias at s_x·s_w[j]. For every output:
    /// <c>acc = bias[j] + Σ (x − z_x)·w</c> over the taps inside the input (padding is real 0), in 64-bit,
    /// then <c>y = clamp(z_y + ⌊(acc·M0_j + 2^(t−1)) / 2^t⌋, lo, hi)</c> with M_j = s_x·s_w[j]/s_y ≈ M0_j·2^−t,
    /// rounded once (beyond int32 the accumulator takes <see cref="FixedPoint.MultiplyByQuantizedMultiplier(long, int, int)"/>).
    /// <see cref="EvalReference{TIn, TOut}"/> is that definition, written plainly; the fast paths (pointwise on AVX2,
    /// depthwise in 128-bit vectors) compute the same integers and run only where the constructor proved their
    /// int32 sums and products cannot overflow for these weights. Eval allocates nothing.
    /// </summary>
    public sealed class Conv2DWide
    {
        private readonly Conv2DGeometry geometry;
        private readonly int inputZeroPoint;
        private readonly int outputZeroPoint;
        private readonly int inputBits;
        private readonly int outputBits;
        private readonly sbyte[] weights;
        private readonly int[] bias;
        private readonly int[] multipliers;
        private readonly int[] shifts;
        private readonly int clampMin;
        private readonly int clampMax;

        /// <summary>The GEMM that runs this layer when its input is int8 (<see cref="UsesInt8Gemm"/>), or null.</summary>
        private readonly Conv2DInt8 int8Gemm;

        // Pointwise: bias − z_x·Σw per channel (the zero point folded: no padding, every tap is inside), and the
        // weights as int16 pairs (w[2k] low, w[2k+1] high) in blocks of four output channels, zero-padded.
        private readonly int[] foldedBias = Array.Empty<int>();
        private readonly int[] weightPairs = Array.Empty<int>();
        // Pointwise in 128-bit lanes: the weights of four output channels side by side per input channel, zero-padded.
        private readonly int[] weightQuads = Array.Empty<int>();

        // Depthwise: one channel's zero-padded plane of deviations (x − z_x), each row split into stride phases. The
        // padding is written once (zeros) and never again.
        private readonly int[] paddedPlane = Array.Empty<int>();
        private readonly int phaseLength;
        private readonly int paddedRowLength;
        // Depthwise: where tap (ky, kx) of output (0, 0) sits in the padded plane, in kernel order.
        private readonly int[] tapOffsets = Array.Empty<int>();
        // Depthwise on AVX2: the padded plane holds raw int16 codes, its padding the code z_x (real 0), and the taps go
        // in pairs (weights w[2k] low, w[2k+1] high per channel; an odd last tap pairs with weight 0).
        private readonly short[] paddedCodes = Array.Empty<short>();
        private readonly int[] tapPairWeights = Array.Empty<int>();

#pragma warning disable CS8618 // int8Gemm: null unless the int8 GEMM runs the layer; C# 7.3 source has no nullable annotations
        public Conv2DWide(
            Conv2DGeometry geometry,
            QuantParams input,
            int inputBits,
            float[] weightScales,
            QuantParams output,
            int outputBits,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin,
            int clampMax)
        {
            KernelArguments.RequireGeometry(geometry);
            if ((inputBits != 8 && inputBits != 16) || (outputBits != 8 && outputBits != 16) || (inputBits == 8 && outputBits == 8))
            {
                throw new ArgumentException("Conv2DWide takes 16-bit codes on its input, its output or both (int8 to int8 is Conv2DInt8).");
            }

            if (weights.Length != geometry.WeightLength)
            {
                throw new ArgumentException("Weights must have OutChannels·(InChannels/Groups)·kH·kW elements.", nameof(weights));
            }

            if (weightScales == null || (weightScales.Length != 1 && weightScales.Length != geometry.OutChannels))
            {
                throw new ArgumentException("Expected one weight scale or one per output channel.", nameof(weightScales));
            }

            int outMin = outputBits == 8 ? sbyte.MinValue : short.MinValue;
            int outMax = outputBits == 8 ? sbyte.MaxValue : short.MaxValue;
            if (clampMin > clampMax || clampMin < outMin || clampMax > outMax)
            {
                throw new ArgumentException("The clamp range must be a non-empty sub-range of the output codes.");
            }

            int inMin = inputBits == 8 ? sbyte.MinValue : short.MinValue;
            int inMax = inputBits == 8 ? sbyte.MaxValue : short.MaxValue;
            if (input.ZeroPoint < inMin || input.ZeroPoint > inMax || output.ZeroPoint < outMin || output.ZeroPoint > outMax)
            {
                throw new ArgumentException("Zero points must lie on their code grids.");
            }

            this.geometry = geometry;
            this.inputBits = inputBits;
            this.outputBits = outputBits;
            inputZeroPoint = input.ZeroPoint;
            outputZeroPoint = output.ZeroPoint;
            this.clampMin = clampMin;
            this.clampMax = clampMax;
            this.weights = weights.ToArray();
            this.bias = KernelArguments.BiasPerChannel(bias, geometry.OutChannels, "output channel");

            int channels = geometry.OutChannels;
            int fanIn = geometry.FanIn;
            multipliers = new int[channels];
            shifts = new int[channels];
            long maxDeviation = Math.Max((long)inMax - input.ZeroPoint, (long)input.ZeroPoint - inMin);
            long maxCode = -(long)inMin;
            bool deviationSumsFit = true, rawSumsFit = true, scaledFit = true;
            for (int c = 0; c < channels; c++)
            {
                double real = (double)input.Scale * weightScales[weightScales.Length == 1 ? 0 : c] / output.Scale;
                int m0, shift;
                FixedPoint.QuantizeMultiplier(real, out m0, out shift);
                if (31 - shift < 1)
                {
                    throw new ArgumentException("The requantization multiplier s_x·s_w/s_y is 2^30 or more.");
                }

                multipliers[c] = m0;
                shifts[c] = shift;

                long sumAbs = 0, sum = 0;
                for (int k = 0; k < fanIn; k++)
                {
                    int w = this.weights[c * fanIn + k];
                    sumAbs += Math.Abs(w);
                    sum += w;
                }

                long deviationBound = maxDeviation * sumAbs + Math.Abs((long)this.bias[c]);
                long rawBound = maxCode * sumAbs + Math.Abs(this.bias[c] - (long)input.ZeroPoint * sum);
                deviationSumsFit &= deviationBound <= int.MaxValue;
                rawSumsFit &= rawBound <= int.MaxValue;
                // The vector requantization keeps (acc·M0 + 2^(t−1)) >> t in int32 lanes: prove it fits with room for z_y.
                scaledFit &= Math.Max(deviationBound, rawBound) * real < (1 << 30);
            }

            bool pointwise = geometry.IsPointwise, depthwise = geometry.IsDepthwise;
            if (inputBits == 8 && scaledFit && !depthwise)
            {
                // int8 codes in: the int8 GEMM (packed panels, u8·s8 dot products) computes the same exact int32
                // accumulators faster than int16 pairs; only the output stage differs. Kept when its bound fits int32.
                var gemm = new Conv2DInt8(geometry, input, this.weights, this.bias, new Int16RowRequantizer(multipliers, shifts, outputZeroPoint, clampMin, clampMax));
                if (gemm.HasInt32Accumulators)
                {
                    int8Gemm = gemm;
                    return;
                }
            }

#if NET8_0_OR_GREATER
            UsesPointwisePath = pointwise && rawSumsFit && scaledFit && Avx2.IsSupported;
            UsesPointwiseLanes = pointwise && rawSumsFit && scaledFit && !Avx2.IsSupported && Vector128.IsHardwareAccelerated && SingleRoundingVector.IsAccelerated;
            UsesDepthwisePath = depthwise && deviationSumsFit && scaledFit && Vector128.IsHardwareAccelerated && SingleRoundingVector.IsAccelerated;
            UsesDepthwisePairs = depthwise && rawSumsFit && scaledFit && Avx2.IsSupported;
            UsesDepthwisePath |= UsesDepthwisePairs;
#endif
            if (UsesPointwiseLanes)
            {
                int cin = geometry.InChannels;
                foldedBias = new int[channels];
                weightQuads = new int[(channels + 3) / 4 * cin * 4];
                for (int c = 0; c < channels; c++)
                {
                    long sum = 0;
                    for (int k = 0; k < cin; k++)
                    {
                        sum += this.weights[c * cin + k];
                        weightQuads[((c / 4) * cin + k) * 4 + (c % 4)] = this.weights[c * cin + k];
                    }

                    foldedBias[c] = (int)(this.bias[c] - (long)input.ZeroPoint * sum);
                }
            }

            if (UsesPointwisePath)
            {
                int cin = geometry.InChannels;
                int pairs = (cin + 1) / 2;
                int blocks = (channels + 3) / 4;
                foldedBias = new int[channels];
                weightPairs = new int[blocks * pairs * 4];
                for (int c = 0; c < channels; c++)
                {
                    long sum = 0;
                    for (int k = 0; k < cin; k++)
                    {
                        sum += this.weights[c * cin + k];
                    }

                    foldedBias[c] = (int)(this.bias[c] - (long)input.ZeroPoint * sum);
                    for (int k = 0; k < pairs; k++)
                    {
                        int low = this.weights[c * cin + 2 * k];
                        int high = 2 * k + 1 < cin ? this.weights[c * cin + 2 * k + 1] : 0;
                        weightPairs[((c / 4) * pairs + k) * 4 + (c % 4)] = (low & 0xFFFF) | (high << 16);
                    }
                }
            }

            if (UsesDepthwisePath)
            {
                int stride = geometry.StrideWidth;
                int padded = geometry.PadLeft + geometry.InWidth + geometry.PadRight;
                // Room past each phase for the widest read: the last output's tap plus a vector of slack.
                phaseLength = (padded + stride - 1) / stride + (geometry.KernelWidth * geometry.DilationWidth) / stride + 8;
                paddedRowLength = stride * phaseLength;
                int paddedRows = geometry.PadTop + geometry.InHeight + geometry.PadBottom;
                if (UsesDepthwisePairs)
                {
                    // Raw codes and a folded bias: the padding holds z_x, so (z_x − z_x)·w = 0 as the definition skips it.
                    paddedCodes = new short[checked(paddedRows * paddedRowLength + 16)];
                    for (int i = 0; i < paddedCodes.Length; i++)
                    {
                        paddedCodes[i] = (short)input.ZeroPoint;
                    }

                    int kernelPlane = geometry.KernelHeight * geometry.KernelWidth;
                    int pairs = (kernelPlane + 1) / 2;
                    tapPairWeights = new int[channels * pairs];
                    foldedBias = new int[channels];
                    for (int c = 0; c < channels; c++)
                    {
                        long sum = 0;
                        for (int k = 0; k < kernelPlane; k++)
                        {
                            sum += this.weights[c * kernelPlane + k];
                        }

                        foldedBias[c] = (int)(this.bias[c] - (long)input.ZeroPoint * sum);
                        for (int k = 0; k < pairs; k++)
                        {
                            int low = this.weights[c * kernelPlane + 2 * k];
                            int high = 2 * k + 1 < kernelPlane ? this.weights[c * kernelPlane + 2 * k + 1] : 0;
                            tapPairWeights[c * pairs + k] = (low & 0xFFFF) | (high << 16);
                        }
                    }
                }
                else
                {
                    paddedPlane = new int[checked(paddedRows * paddedRowLength)];
                }

                tapOffsets = new int[geometry.KernelHeight * geometry.KernelWidth];
                for (int ky = 0; ky < geometry.KernelHeight; ky++)
                {
                    for (int kx = 0; kx < geometry.KernelWidth; kx++)
                    {
                        int column = kx * geometry.DilationWidth;
                        tapOffsets[ky * geometry.KernelWidth + kx] = ky * geometry.DilationHeight * paddedRowLength + (column % stride) * phaseLength + column / stride;
                    }
                }
            }
        }

#pragma warning restore CS8618

        public Conv2DGeometry Geometry
        {
            get { return geometry; }
        }

        /// <summary>int8 codes in, 16-bit codes out, any geometry but depthwise: <see cref="Conv2DInt8"/>'s blocked GEMM with an int16 output stage.</summary>
        public bool UsesInt8Gemm
        {
            get { return int8Gemm != null; }
        }

        /// <summary>A 1×1, stride-1, unpadded, ungrouped convolution on AVX2 (vpmaddwd on int16 pairs).</summary>
        public bool UsesPointwisePath { get; }

        /// <summary>The pointwise convolution in 128-bit int32 lanes (Arm64, x64 without AVX2): eight pixels by four channels per block.</summary>
        public bool UsesPointwiseLanes { get; }

        /// <summary>A depthwise convolution on vectors (any stride, padding and dilation).</summary>
        public bool UsesDepthwisePath { get; }

        /// <summary>The depthwise path on AVX2: pairs of taps per vpmaddwd on raw int16 codes (else 128-bit int32 lanes on deviations).</summary>
        public bool UsesDepthwisePairs { get; }

        public void Eval(ReadOnlySpan<short> input, Span<sbyte> output)
        {
            Require(16, 8, input.Length, output.Length);
            Run(ref MemoryMarshal.GetReference(input), ref MemoryMarshal.GetReference(output));
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<short> output)
        {
            Require(8, 16, input.Length, output.Length);
            if (int8Gemm != null)
            {
                int8Gemm.EvalWide(input, weights, output);
                return;
            }

            Run(ref MemoryMarshal.GetReference(input), ref MemoryMarshal.GetReference(output));
        }

        public void Eval(ReadOnlySpan<short> input, Span<short> output)
        {
            Require(16, 16, input.Length, output.Length);
            Run(ref MemoryMarshal.GetReference(input), ref MemoryMarshal.GetReference(output));
        }

        /// <summary>The definition, written plainly (64-bit sums, every tap bounds-checked); the tests compare the fast paths with it.</summary>
        public void EvalReference(ReadOnlySpan<short> input, Span<sbyte> output)
        {
            Require(16, 8, input.Length, output.Length);
            EvalReference(ref MemoryMarshal.GetReference(input), ref MemoryMarshal.GetReference(output));
        }

        /// <summary>The definition for int8 input and int16 output.</summary>
        public void EvalReference(ReadOnlySpan<sbyte> input, Span<short> output)
        {
            Require(8, 16, input.Length, output.Length);
            EvalReference(ref MemoryMarshal.GetReference(input), ref MemoryMarshal.GetReference(output));
        }

        /// <summary>The definition for int16 input and output.</summary>
        public void EvalReference(ReadOnlySpan<short> input, Span<short> output)
        {
            Require(16, 16, input.Length, output.Length);
            EvalReference(ref MemoryMarshal.GetReference(input), ref MemoryMarshal.GetReference(output));
        }

        private void Require(int inBits, int outBits, int inputLength, int outputLength)
        {
            if (inBits != inputBits || outBits != outputBits)
            {
                throw new ArgumentException("This kernel was prepared for " + inputBits + "-bit input and " + outputBits + "-bit output.");
            }

            if (inputLength < geometry.InputLength || outputLength < geometry.OutputLength)
            {
                throw new ArgumentException("Input or output is shorter than the geometry.");
            }
        }

        private void Run<TIn, TOut>(ref TIn input, ref TOut output)
            where TIn : struct
            where TOut : struct
        {
#if NET8_0_OR_GREATER
            if (UsesPointwisePath)
            {
                Pointwise(ref input, ref output);
                return;
            }

            if (UsesPointwiseLanes)
            {
                PointwiseLanes(ref input, ref output);
                return;
            }

            if (UsesDepthwisePairs)
            {
                DepthwisePairs(ref input, ref output);
                return;
            }

            if (UsesDepthwisePath)
            {
                Depthwise(ref input, ref output);
                return;
            }
#endif
            EvalReference(ref input, ref output);
        }

        /// <summary>z_y + the once-rounded acc·M_j, clamped: the output stage of the definition.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private int Requantize(long accumulator, int channel)
        {
            long scaled;
            if (accumulator >= int.MinValue && accumulator <= int.MaxValue)
            {
                int t = 31 - shifts[channel];
                scaled = (accumulator * multipliers[channel] + (1L << (t - 1))) >> t;
            }
            else
            {
                scaled = FixedPoint.MultiplyByQuantizedMultiplier(accumulator, multipliers[channel], shifts[channel]);
            }

            long y = scaled + outputZeroPoint;
            return (int)(y < clampMin ? clampMin : (y > clampMax ? clampMax : y));
        }

        [MethodImpl(KernelJit.Optimize)]
        private void EvalReference<TIn, TOut>(ref TIn input, ref TOut output)
            where TIn : struct
            where TOut : struct
        {
            var g = geometry;
            int cinPerGroup = g.InChannelsPerGroup, coutPerGroup = g.OutChannelsPerGroup;
            int plane = g.InHeight * g.InWidth, outPlane = g.OutHeight * g.OutWidth;
            for (int b = 0; b < g.Batch; b++)
            {
                for (int co = 0; co < g.OutChannels; co++)
                {
                    int group = co / coutPerGroup;
                    for (int oy = 0; oy < g.OutHeight; oy++)
                    {
                        for (int ox = 0; ox < g.OutWidth; ox++)
                        {
                            long acc = bias[co];
                            for (int ci = 0; ci < cinPerGroup; ci++)
                            {
                                int inputBase = (b * g.InChannels + group * cinPerGroup + ci) * plane;
                                int weightBase = (co * cinPerGroup + ci) * g.KernelHeight * g.KernelWidth;
                                for (int ky = 0; ky < g.KernelHeight; ky++)
                                {
                                    int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                                    if ((uint)iy >= (uint)g.InHeight)
                                    {
                                        continue;
                                    }

                                    for (int kx = 0; kx < g.KernelWidth; kx++)
                                    {
                                        int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                                        if ((uint)ix >= (uint)g.InWidth)
                                        {
                                            continue;
                                        }

                                        acc += (long)(WideCodes.Read(ref input, inputBase + iy * g.InWidth + ix) - inputZeroPoint) * weights[weightBase + ky * g.KernelWidth + kx];
                                    }
                                }
                            }

                            WideCodes.Write(ref output, (b * g.OutChannels + co) * outPlane + oy * g.OutWidth + ox, Requantize(acc, co));
                        }
                    }
                }
            }
        }

#if NET8_0_OR_GREATER
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector256<short> Load16<T>(ref T origin, int index)
            where T : struct
        {
            return typeof(T) == typeof(short)
                ? Vector256.LoadUnsafe(ref Unsafe.As<T, short>(ref origin), (nuint)index)
                : Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref Unsafe.As<T, sbyte>(ref origin), (nuint)index));
        }

        /// <summary>
        /// Requantizes 16 accumulators (vpunpck*wd order: <paramref name="low"/> holds pixels 0–3 and 8–11,
        /// <paramref name="high"/> 4–7 and 12–15) and stores them in pixel order.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Store16<T>(Vector256<int> low, Vector256<int> high, int channel, ref T origin, int index)
            where T : struct
        {
            var constants = new SingleRoundingVector.Broadcast256(new SingleRoundingVector.Constants(multipliers[channel], shifts[channel]));
            Vector256<int> zero = Vector256.Create(outputZeroPoint), min = Vector256.Create(clampMin), max = Vector256.Create(clampMax);
            low = Vector256.Min(Vector256.Max(SingleRoundingVector.Apply(low, constants) + zero, min), max);
            high = Vector256.Min(Vector256.Max(SingleRoundingVector.Apply(high, constants) + zero, min), max);
            // vpackssdw interleaves per 128-bit lane, which puts the pixels back in order; the clamp made it lossless.
            Vector256<short> words = Avx2.PackSignedSaturate(low, high);
            if (typeof(T) == typeof(short))
            {
                words.StoreUnsafe(ref Unsafe.As<T, short>(ref origin), (nuint)index);
            }
            else
            {
                Sse2.PackSignedSaturate(words.GetLower(), words.GetUpper()).StoreUnsafe(ref Unsafe.As<T, sbyte>(ref origin), (nuint)index);
            }
        }

        /// <summary>
        /// out[co][p] = foldedBias[co] + Σ_ci x[ci][p]·w[co][ci]: sixteen pixels by four channels per block, two input
        /// channels per vpmaddwd (their codes interleaved once, shared by the four channels). Pixels past the last
        /// whole block take the definition.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void Pointwise<TIn, TOut>(ref TIn input, ref TOut output)
            where TIn : struct
            where TOut : struct
        {
            var g = geometry;
            int cin = g.InChannels, cout = g.OutChannels, pixels = g.InHeight * g.InWidth;
            int pairs = (cin + 1) / 2;
            int whole = pixels & ~15;
            ref int packed = ref weightPairs[0];
            for (int b = 0; b < g.Batch; b++)
            {
                int inBase = b * cin * pixels, outBase = b * cout * pixels;
                for (int p = 0; p < whole; p += 16)
                {
                    for (int c0 = 0; c0 < cout; c0 += 4)
                    {
                        Vector256<int> a0 = Vector256<int>.Zero, b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
                        ref int block = ref Unsafe.Add(ref packed, (c0 / 4) * pairs * 4);
                        for (int k = 0; k < pairs; k++)
                        {
                            Vector256<short> x0 = Load16(ref input, inBase + 2 * k * pixels + p);
                            Vector256<short> x1 = 2 * k + 1 < cin ? Load16(ref input, inBase + (2 * k + 1) * pixels + p) : Vector256<short>.Zero;
                            Vector256<short> lo = Avx2.UnpackLow(x0, x1), hi = Avx2.UnpackHigh(x0, x1);
                            ref int w = ref Unsafe.Add(ref block, k * 4);
                            Vector256<short> w0 = Vector256.Create(w).AsInt16();
                            Vector256<short> w1 = Vector256.Create(Unsafe.Add(ref w, 1)).AsInt16();
                            Vector256<short> w2 = Vector256.Create(Unsafe.Add(ref w, 2)).AsInt16();
                            Vector256<short> w3 = Vector256.Create(Unsafe.Add(ref w, 3)).AsInt16();
                            a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(lo, w0));
                            b0 = Avx2.Add(b0, Avx2.MultiplyAddAdjacent(hi, w0));
                            a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(lo, w1));
                            b1 = Avx2.Add(b1, Avx2.MultiplyAddAdjacent(hi, w1));
                            a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(lo, w2));
                            b2 = Avx2.Add(b2, Avx2.MultiplyAddAdjacent(hi, w2));
                            a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(lo, w3));
                            b3 = Avx2.Add(b3, Avx2.MultiplyAddAdjacent(hi, w3));
                        }

                        StoreBlock(a0, b0, c0, ref output, outBase, pixels, p);
                        if (c0 + 1 < cout) StoreBlock(a1, b1, c0 + 1, ref output, outBase, pixels, p);
                        if (c0 + 2 < cout) StoreBlock(a2, b2, c0 + 2, ref output, outBase, pixels, p);
                        if (c0 + 3 < cout) StoreBlock(a3, b3, c0 + 3, ref output, outBase, pixels, p);
                    }
                }

                PointwiseTail(ref input, ref output, inBase, outBase, whole);
            }
        }

        /// <summary>
        /// The pointwise sums of <see cref="Pointwise{TIn, TOut}"/> with portable 128-bit vectors: eight pixels' codes
        /// widened to int32 once per input channel and multiplied by four output channels' weights. Pixels past the last
        /// whole block take the definition.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void PointwiseLanes<TIn, TOut>(ref TIn input, ref TOut output)
            where TIn : struct
            where TOut : struct
        {
            var g = geometry;
            int cin = g.InChannels, cout = g.OutChannels, pixels = g.InHeight * g.InWidth;
            int whole = pixels & ~7;
            ref int quads = ref weightQuads[0];
            for (int b = 0; b < g.Batch; b++)
            {
                int inBase = b * cin * pixels, outBase = b * cout * pixels;
                for (int p = 0; p < whole; p += 8)
                {
                    for (int c0 = 0; c0 < cout; c0 += 4)
                    {
                        Vector128<int> a0 = Vector128<int>.Zero, b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
                        ref int block = ref Unsafe.Add(ref quads, (c0 / 4) * cin * 4);
                        for (int k = 0; k < cin; k++)
                        {
                            Vector128<short> x = LoadEight(ref input, inBase + k * pixels + p);
                            Vector128<int> lo = Vector128.WidenLower(x), hi = Vector128.WidenUpper(x);
                            ref int w = ref Unsafe.Add(ref block, k * 4);
                            Vector128<int> w0 = Vector128.Create(w), w1 = Vector128.Create(Unsafe.Add(ref w, 1));
                            Vector128<int> w2 = Vector128.Create(Unsafe.Add(ref w, 2)), w3 = Vector128.Create(Unsafe.Add(ref w, 3));
                            a0 += lo * w0;
                            b0 += hi * w0;
                            a1 += lo * w1;
                            b1 += hi * w1;
                            a2 += lo * w2;
                            b2 += hi * w2;
                            a3 += lo * w3;
                            b3 += hi * w3;
                        }

                        StoreEight(a0, b0, c0, Vector128.Create(foldedBias[c0]), ref output, outBase + c0 * pixels + p);
                        if (c0 + 1 < cout) StoreEight(a1, b1, c0 + 1, Vector128.Create(foldedBias[c0 + 1]), ref output, outBase + (c0 + 1) * pixels + p);
                        if (c0 + 2 < cout) StoreEight(a2, b2, c0 + 2, Vector128.Create(foldedBias[c0 + 2]), ref output, outBase + (c0 + 2) * pixels + p);
                        if (c0 + 3 < cout) StoreEight(a3, b3, c0 + 3, Vector128.Create(foldedBias[c0 + 3]), ref output, outBase + (c0 + 3) * pixels + p);
                    }
                }

                PointwiseTail(ref input, ref output, inBase, outBase, whole);
            }
        }

        /// <summary>Eight codes as int16, with portable vectors (x64 or Arm64).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<short> LoadEight<T>(ref T origin, int index)
            where T : struct
        {
            return typeof(T) == typeof(short)
                ? Vector128.LoadUnsafe(ref Unsafe.As<T, short>(ref origin), (nuint)index)
                : Vector128.WidenLower(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.As<T, byte>(ref Unsafe.Add(ref origin, index)))).AsSByte());
        }

        /// <summary>Adds <paramref name="addend"/> (a folded bias, or 0), requantizes eight sums (in order) and stores them, with portable vectors.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void StoreEight<T>(Vector128<int> low, Vector128<int> high, int channel, Vector128<int> addend, ref T origin, int index)
            where T : struct
        {
            var constants = new SingleRoundingVector.Constants(multipliers[channel], shifts[channel]);
            Vector128<int> zero = Vector128.Create(outputZeroPoint), min = Vector128.Create(clampMin), max = Vector128.Create(clampMax);
            low = Vector128.Min(Vector128.Max(SingleRoundingVector.Apply128(low + addend, constants) + zero, min), max);
            high = Vector128.Min(Vector128.Max(SingleRoundingVector.Apply128(high + addend, constants) + zero, min), max);
            // Clamped to the output's codes first, so the truncating narrows keep every value.
            Vector128<short> words = Vector128.Narrow(low, high);
            if (typeof(T) == typeof(short))
            {
                words.StoreUnsafe(ref Unsafe.As<T, short>(ref origin), (nuint)index);
            }
            else
            {
                long bytes = Vector128.Narrow(words, words).AsInt64().ToScalar();
                Unsafe.WriteUnaligned(ref Unsafe.As<T, byte>(ref Unsafe.Add(ref origin, index)), bytes);
            }
        }

        /// <summary>The definition for pixels <paramref name="from"/>.. of one batch item, with the zero point folded into the bias.</summary>
        private void PointwiseTail<TIn, TOut>(ref TIn input, ref TOut output, int inBase, int outBase, int from)
            where TIn : struct
            where TOut : struct
        {
            int cin = geometry.InChannels, cout = geometry.OutChannels, pixels = geometry.InHeight * geometry.InWidth;
            for (int p = from; p < pixels; p++)
            {
                for (int co = 0; co < cout; co++)
                {
                    long acc = foldedBias[co];
                    for (int ci = 0; ci < cin; ci++)
                    {
                        acc += (long)WideCodes.Read(ref input, inBase + ci * pixels + p) * weights[co * cin + ci];
                    }

                    WideCodes.Write(ref output, outBase + co * pixels + p, Requantize(acc, co));
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void StoreBlock<TOut>(Vector256<int> low, Vector256<int> high, int channel, ref TOut output, int outBase, int pixels, int p)
            where TOut : struct
        {
            Vector256<int> folded = Vector256.Create(foldedBias[channel]);
            Store16(low + folded, high + folded, channel, ref output, outBase + channel * pixels + p);
        }

        /// <summary>
        /// Depthwise on AVX2: per channel the input's raw codes fill the padded plane (padding z_x, split into stride
        /// phases as in <see cref="Depthwise{TIn, TOut}"/>); each vpmaddwd takes two taps of 16 (or 8) outputs, their
        /// codes interleaved, against the taps' weight pair. The zero point is folded into the bias: padded taps hold
        /// z_x, so every output sums Σ x·w over all taps and bias − z_x·Σw is exactly the definition's sum.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void DepthwisePairs<TIn, TOut>(ref TIn input, ref TOut output)
            where TIn : struct
            where TOut : struct
        {
            var g = geometry;
            int stride = g.StrideWidth, outWidth = g.OutWidth, plane = g.InHeight * g.InWidth, outPlane = g.OutHeight * g.OutWidth;
            int kernelPlane = g.KernelHeight * g.KernelWidth, pairs = (kernelPlane + 1) / 2;
            int inWidth = g.InWidth, inHeight = g.InHeight, padTop = g.PadTop, padLeft = g.PadLeft, rowLength = paddedRowLength, phases = phaseLength;
            int strideHeight = g.StrideHeight, outHeight = g.OutHeight;
            ref short padded = ref paddedCodes[0];
            ref int taps = ref tapOffsets[0];
            int whole16 = outWidth & ~15;
            for (int b = 0; b < g.Batch; b++)
            {
                for (int c = 0; c < g.OutChannels; c++)
                {
                    int inBase = (b * g.InChannels + c) * plane;
                    for (int iy = 0; iy < inHeight; iy++)
                    {
                        ref short row = ref Unsafe.Add(ref padded, (padTop + iy) * rowLength);
                        int phase = padLeft % stride, slot = padLeft / stride;
                        int rowBase = inBase + iy * inWidth;
                        int ix = 0;
                        if (stride == 1)
                        {
                            // One phase: the row's codes are contiguous from column padLeft.
                            ref short target = ref Unsafe.Add(ref row, padLeft);
                            for (; ix <= inWidth - 16; ix += 16)
                            {
                                Load16(ref input, rowBase + ix).StoreUnsafe(ref target, (nuint)ix);
                            }

                            for (; ix <= inWidth - 8; ix += 8)
                            {
                                LoadEight(ref input, rowBase + ix).StoreUnsafe(ref target, (nuint)ix);
                            }

                            slot += ix;
                        }

                        for (; ix < inWidth; ix++)
                        {
                            Unsafe.Add(ref row, phase * phases + slot) = (short)WideCodes.Read(ref input, rowBase + ix);
                            if (++phase == stride)
                            {
                                phase = 0;
                                slot++;
                            }
                        }
                    }

                    ref int weightPairsOfChannel = ref tapPairWeights[c * pairs];
                    int folded = foldedBias[c];
                    int outBase = (b * g.OutChannels + c) * outPlane;
                    for (int oy = 0; oy < outHeight; oy++)
                    {
                        ref short rowStart = ref Unsafe.Add(ref padded, oy * strideHeight * rowLength);
                        int x = 0;
                        for (; x < whole16; x += 16)
                        {
                            Vector256<int> low = Vector256<int>.Zero, high = low;
                            for (int k = 0; k < pairs; k++)
                            {
                                int first = Unsafe.Add(ref taps, 2 * k), second = 2 * k + 1 < kernelPlane ? Unsafe.Add(ref taps, 2 * k + 1) : first;
                                Vector256<short> r0 = Vector256.LoadUnsafe(ref rowStart, (nuint)(first + x));
                                Vector256<short> r1 = Vector256.LoadUnsafe(ref rowStart, (nuint)(second + x));
                                Vector256<short> w = Vector256.Create(Unsafe.Add(ref weightPairsOfChannel, k)).AsInt16();
                                low = Avx2.Add(low, Avx2.MultiplyAddAdjacent(Avx2.UnpackLow(r0, r1), w));
                                high = Avx2.Add(high, Avx2.MultiplyAddAdjacent(Avx2.UnpackHigh(r0, r1), w));
                            }

                            Vector256<int> bias16 = Vector256.Create(folded);
                            Store16(low + bias16, high + bias16, c, ref output, outBase + oy * outWidth + x);
                        }

                        for (; x <= outWidth - 8; x += 8)
                        {
                            Vector128<int> low = Vector128<int>.Zero, high = low;
                            for (int k = 0; k < pairs; k++)
                            {
                                int first = Unsafe.Add(ref taps, 2 * k), second = 2 * k + 1 < kernelPlane ? Unsafe.Add(ref taps, 2 * k + 1) : first;
                                Vector128<short> r0 = Vector128.LoadUnsafe(ref rowStart, (nuint)(first + x));
                                Vector128<short> r1 = Vector128.LoadUnsafe(ref rowStart, (nuint)(second + x));
                                Vector128<short> w = Vector128.Create(Unsafe.Add(ref weightPairsOfChannel, k)).AsInt16();
                                low = Sse2.Add(low, Sse2.MultiplyAddAdjacent(Sse2.UnpackLow(r0, r1), w));
                                high = Sse2.Add(high, Sse2.MultiplyAddAdjacent(Sse2.UnpackHigh(r0, r1), w));
                            }

                            StoreEight(low, high, c, Vector128.Create(folded), ref output, outBase + oy * outWidth + x);
                        }

                        for (; x < outWidth; x++)
                        {
                            long sum = folded;
                            for (int k = 0; k < kernelPlane; k++)
                            {
                                sum += (long)Unsafe.Add(ref rowStart, Unsafe.Add(ref taps, k) + x) * weights[c * kernelPlane + k];
                            }

                            WideCodes.Write(ref output, outBase + oy * outWidth + x, Requantize(sum, c));
                        }
                    }
                }
            }
        }

        /// <summary>
        /// Per channel: the input plane becomes deviations x − z_x in the zero-padded plane, each row split into stride
        /// phases (phase r holds padded columns r, r + s, …), so output x reads tap kx at phase (kx·d) mod s, offset
        /// x + (kx·d) div s: contiguous for every stride. Taps in the padding multiply 0, as the definition skips them.
        /// Eight outputs per block, summed in registers and requantized from them.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void Depthwise<TIn, TOut>(ref TIn input, ref TOut output)
            where TIn : struct
            where TOut : struct
        {
            var g = geometry;
            int stride = g.StrideWidth, outWidth = g.OutWidth, plane = g.InHeight * g.InWidth, outPlane = g.OutHeight * g.OutWidth;
            int kernelPlane = g.KernelHeight * g.KernelWidth;
            ref int padded = ref paddedPlane[0];
            int wholeOut = outWidth & ~7;
            Vector128<int> noAddend = Vector128<int>.Zero;
            for (int b = 0; b < g.Batch; b++)
            {
                for (int c = 0; c < g.OutChannels; c++)
                {
                    int inBase = (b * g.InChannels + c) * plane;
                    for (int iy = 0; iy < g.InHeight; iy++)
                    {
                        ref int row = ref Unsafe.Add(ref padded, (g.PadTop + iy) * paddedRowLength);
                        // Padded column PadLeft + ix lives in phase (column mod s) at (column div s): stepped, not divided.
                        int phase = g.PadLeft % stride, slot = g.PadLeft / stride;
                        int rowBase = inBase + iy * g.InWidth;
                        for (int ix = 0; ix < g.InWidth; ix++)
                        {
                            Unsafe.Add(ref row, phase * phaseLength + slot) = WideCodes.Read(ref input, rowBase + ix) - inputZeroPoint;
                            if (++phase == stride)
                            {
                                phase = 0;
                                slot++;
                            }
                        }
                    }

                    // Eight outputs of a row per block, their sums in two registers across every tap, requantized from there.
                    ref int taps = ref tapOffsets[0];
                    ref sbyte channelWeights = ref weights[c * kernelPlane];
                    int outBase = (b * g.OutChannels + c) * outPlane;
                    for (int oy = 0; oy < g.OutHeight; oy++)
                    {
                        ref int rowStart = ref Unsafe.Add(ref padded, oy * g.StrideHeight * paddedRowLength);
                        int x = 0;
                        for (; x < wholeOut; x += 8)
                        {
                            Vector128<int> sum0 = Vector128.Create(bias[c]), sum1 = sum0;
                            for (int k = 0; k < kernelPlane; k++)
                            {
                                ref int source = ref Unsafe.Add(ref rowStart, Unsafe.Add(ref taps, k) + x);
                                Vector128<int> w = Vector128.Create((int)Unsafe.Add(ref channelWeights, k));
                                sum0 += Vector128.LoadUnsafe(ref source) * w;
                                sum1 += Vector128.LoadUnsafe(ref source, 4) * w;
                            }

                            StoreEight(sum0, sum1, c, noAddend, ref output, outBase + oy * outWidth + x);
                        }

                        for (; x < outWidth; x++)
                        {
                            int sum = bias[c];
                            for (int k = 0; k < kernelPlane; k++)
                            {
                                sum += Unsafe.Add(ref rowStart, Unsafe.Add(ref taps, k) + x) * Unsafe.Add(ref channelWeights, k);
                            }

                            WideCodes.Write(ref output, outBase + oy * outWidth + x, Requantize(sum, c));
                        }
                    }
                }
            }
        }
#endif
    }
}
