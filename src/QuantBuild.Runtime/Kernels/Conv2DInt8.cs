using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Optimized int8 2-D convolution (NCHW, OIHW weights as given), bit-identical to <see cref="Conv2DInt8Reference"/>.
    /// Two paths, both exact integer arithmetic ending at the reference's int32 accumulator:
    /// <list type="bullet">
    /// <item>One input channel per group (depthwise, and single-channel stems): each input plane is copied once
    /// into padded column-stride phases, then per output row the taps are summed in registers over 16-column
    /// blocks.</item>
    /// <item>Otherwise a blocked GEMM per group: a chunk of output positions is packed once as unsigned
    /// codes x + 128 in [K/4][positions][4] order (padded taps hold z_x + 128), then each tile of
    /// 4 filters × 16 positions is a run of u8·s8 4-way dot products (AVX-VNNI; on AVX2 alone the pair-sum
    /// form over pair-fitted weights plus residuals; on x64 without AVX2 the same in 128-bit halves with SSSE3)
    /// reading the weights in place. The shift by 128 and the input zero point are
    /// removed with the prepare-time weight sums: Σ (x − z_x)·w = Σ (x + 128)·w − (z_x + 128)·Σ w.
    /// Arm64 has no u8·s8 dot product in .NET, so its tiles flip the packed codes back to signed (b ^ 0x80 = b − 128)
    /// and use SDOT (or SMULL + SADALP without the dot-product extension), then add the prepare-time
    /// 128·Σ w to land on the same Σ (x + 128)·w. Why every such order gives the reference's bits:
    /// docs/algorithms/requantization.md, "Bit-identical to the reference kernels".</item>
    /// </list>
    /// Integer addition is exact modulo 2^32 and the prepare-time bound guarantees the final value fits
    /// int32, so every reduction order gives the reference's bits. Layers whose bound exceeds int32 run
    /// the reference's int64 path instead. Scratch buffers are sized here; Eval allocates nothing.
    /// </summary>
    public sealed class Conv2DInt8
    {
        /// <summary>Output positions per GEMM tile (two 8-lane int32 vectors).</summary>
        private const int TilePositions = 16;

        /// <summary>Target size of one packed chunk of the input (bytes): stays in L1/L2 while all filters pass over it.</summary>
        private const int ChunkBytes = 48 * 1024;

        private readonly Conv2DGeometry geometry;
        private readonly int inputZeroPoint;
        private readonly int[] bias;
        private readonly int[] shiftedBias;
        private readonly int[] tailWeights;
        private readonly int[] signedCorrection;
        private readonly ChannelRequantizer requantizer;
        private readonly Conv2DInt8Reference reference;
        /// <summary>The tap sums themselves may leave int32 (an enormous fan-in): the reference's int64 path runs the layer.</summary>
        private readonly bool useWideAccumulator;

        /// <summary>
        /// Channels whose tap sums fit int32 but whose sum plus bias may not (a bias saturated to int32 when s_x·s_w is
        /// tiny): their sums come from the fast paths and are requantized from 64 bits. Null when there are none.
        /// </summary>
        private readonly bool[] wideChannels;

        /// <summary>For <see cref="wideChannels"/>: the folded bias b − (z_x + 128)·Σ w exactly, added to the GEMM's raw sums.</summary>
        private readonly long[] wideFoldedBias;
        private readonly bool singleInputChannel;
        private readonly int chunkPositions;
        /// <summary>Packed chunk and gathered lanes: <see cref="SharedScratch"/> buffers, taken at the start of each GEMM Eval.</summary>
        private byte[] packed = new byte[0];
        private byte[] lanes = new byte[0];
        private readonly int packedLength;
        private readonly int lanesLength;
        private readonly bool rowsAreContiguous;
        /// <summary>Packing from padded column phases (strided or edge-cut rows), or null: then per-tap lanes are gathered.</summary>
        private readonly Conv2DPhasedInput phasedInput;
        private readonly bool[] pairsFit = new bool[0];
#if NET8_0_OR_GREATER
        /// <summary>AVX2 without VNNI: tiles use <see cref="PairSumDot"/> over pair-fitted weights plus residuals.</summary>
        private readonly bool usePairSum;
#endif
        private byte[] fittedWeights = new byte[0];
        private int[] fittedTails = new int[0];
        private int[] residualStart = new int[0];
        private int[] residualIndex = new int[0];
        private int[] residualValue = new int[0];
        /// <summary>One input channel per group: the depthwise plane kernel. Null on the GEMM and int64 paths; C# 7.3,
        /// which the netstandard2.0 build of these files uses, cannot annotate that, hence the pragma on the constructor.</summary>
        private readonly Conv2DDepthwise depthwise;

        /// <summary>
        /// A 1x1 convolution over a 1x1 plane (squeeze-and-excitation blocks) is a matrix-vector product: the
        /// fully-connected kernel runs it, with no packing of 16-position chunks for one position. Null otherwise.
        /// </summary>
        private readonly FullyConnectedInt8 pointwiseVector;

        /// <summary>Depthwise with channels in vector lanes (small planes on AVX2), or null: then <see cref="depthwise"/> runs.</summary>
        private readonly Conv2DDepthwiseLanes depthwiseLanes;

        /// <summary>Code maps applied to every output row after requantization (<see cref="Int8CodeMap.Identity"/>: none).</summary>
        private readonly Int8CodeMap then;
        /// <summary>
        /// The fan-in order the GEMM packs and its pair-sum weights use (<see cref="PairOrder"/>), or null for the
        /// layer's own order. Only the pair-sum tiles read a reordered layer; they read <see cref="fittedWeights"/>.
        /// </summary>
#pragma warning disable CS0649 // assigned only where the pair-sum tiles exist (.NET 8 or later)
        private readonly int[] tapOrder;
#pragma warning restore CS0649
        private readonly int[] tapRows;
        private readonly int[] tapColumns;
        private readonly int[] tapPlanes;
        private readonly int[] accumulators;

        /// <summary>The int16 output stage of a layer built for <see cref="EvalWide"/>, or null.</summary>
        private readonly Int16RowRequantizer wideRows;

        /// <summary>The raw sums of the current 4 filters over the whole chunk, [filter][position].</summary>
        private int[] chunkRows = new int[0];
        private readonly int chunkRowsLength;

        /// <summary>
        /// A convolution whose int8 output then goes through elementwise code maps (LeakyRelu, a clamp, a table):
        /// <paramref name="output"/> is the convolution's own output parameters, and each output row is mapped by
        /// <paramref name="then"/> right after it is written (the separate steps' bits, one pass fewer).
        /// </summary>
        public Conv2DInt8(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin,
            int clampMax,
            Int8CodeMap then)
            : this(geometry, input, weightScales, output, weights, bias, clampMin, clampMax, RoundingMode.SingleRounding, then)
        {
        }

        public Conv2DInt8(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin = sbyte.MinValue,
            int clampMax = sbyte.MaxValue,
            RoundingMode rounding = RoundingMode.SingleRounding)
            : this(geometry, input, weightScales, output, weights, bias, clampMin, clampMax, rounding, Int8CodeMap.Identity)
        {
        }

        /// <summary>
        /// The GEMM of a layer with int8 codes in and 16-bit codes out (<see cref="EvalWide"/>): the accumulators go
        /// through <paramref name="rows"/>; the int8 output parameters this class otherwise needs are unit placeholders.
        /// </summary>
        internal Conv2DInt8(Conv2DGeometry geometry, QuantParams input, ReadOnlySpan<sbyte> weights, ReadOnlySpan<int> bias, Int16RowRequantizer rows)
            : this(geometry, input, new[] { 1f }, new QuantParams(input.Scale, 0), weights, bias, sbyte.MinValue, sbyte.MaxValue, RoundingMode.SingleRounding, Int8CodeMap.Identity)
        {
            wideRows = rows;
        }

#pragma warning disable CS8618 // depthwise, depthwiseLanes, pointwiseVector, phasedInput, wideRows: see their declarations
        private Conv2DInt8(
            Conv2DGeometry geometry,
            QuantParams input,
            float[] weightScales,
            QuantParams output,
            ReadOnlySpan<sbyte> weights,
            ReadOnlySpan<int> bias,
            int clampMin,
            int clampMax,
            RoundingMode rounding,
            Int8CodeMap then)
        {
            if (then == null)
            {
                throw new ArgumentNullException(nameof(then));
            }

            this.then = then;
            var reference = new Conv2DInt8Reference(geometry, input, weightScales, output, weights, bias, clampMin, clampMax, rounding);
            this.geometry = geometry;
            requantizer = reference.Requantizer;
            KernelArguments.RequireInt8ZeroPoint(input);

            inputZeroPoint = input.ZeroPoint;
            this.reference = reference;
            this.bias = bias.IsEmpty ? new int[geometry.OutChannels] : bias.ToArray();
            // The reference needs int64 when Σ (x − z_x)·w + b may leave int32. Mostly that is the bias alone (a saturated
            // one): then the sums without it still fit, in the reference's form and in the GEMM's raw Σ (x + 128)·w, and
            // only those channels' output stage needs 64 bits.
            useWideAccumulator = reference.UsesInt64Accumulator
                && !(ConvWeightStats.AccumulatorFitsInt32(weights, geometry.OutChannels, geometry.FanIn, ReadOnlySpan<int>.Empty, input.ZeroPoint)
                     && (long)geometry.FanIn * 255 * 128 <= int.MaxValue);
#pragma warning disable CS8601 // null when no channel needs it
            wideChannels = reference.UsesInt64Accumulator && !useWideAccumulator ? WideChannels(weights, geometry, this.bias, input.ZeroPoint) : null;
#pragma warning restore CS8601
            // Depthwise-style row sums for one input channel per group, unless a group has four or more filters
            // (single-channel stems): then the GEMM tiles share each packed tap across four filters.
            singleInputChannel = geometry.InChannelsPerGroup == 1 && geometry.OutChannelsPerGroup < 4;
            int fanIn = geometry.FanIn;
            int outPlane = geometry.OutHeight * geometry.OutWidth;
            // Where tap k reads, relative to the output position: precomputed so packing divides nothing per row.
            tapRows = new int[fanIn];
            tapColumns = new int[fanIn];
            tapPlanes = new int[fanIn];
            int kernelArea = geometry.KernelHeight * geometry.KernelWidth;
            for (int k = 0; k < fanIn; k++)
            {
                int within = k % kernelArea;
                tapRows[k] = (within / geometry.KernelWidth) * geometry.DilationHeight - geometry.PadTop;
                tapColumns[k] = (within % geometry.KernelWidth) * geometry.DilationWidth - geometry.PadLeft;
                tapPlanes[k] = (k / kernelArea) * geometry.InHeight * geometry.InWidth;
            }

            shiftedBias = new int[geometry.OutChannels];
            tailWeights = new int[geometry.OutChannels];
            signedCorrection = new int[geometry.OutChannels];
            if (useWideAccumulator)
            {
                accumulators = new int[0];
                return;
            }

            // The GEMM set-up below still runs: EvalAccumulators (multipoint rows) uses it.
            if (IsMatrixVector(geometry) && wideChannels == null)
            {
                pointwiseVector = new FullyConnectedInt8(geometry.Batch, geometry.InChannels, geometry.OutChannels, input, weightScales, output, weights, bias, clampMin, clampMax, rounding);
            }

            if (singleInputChannel)
            {
                // The lanes form requantizes in int32 lanes: layers with wide channels take the plane kernel.
#pragma warning disable CS8601 // null when the lanes form runs
                depthwiseLanes = wideChannels == null ? Conv2DDepthwiseLanes.TryCreate(geometry, inputZeroPoint, this.bias, requantizer, then) : null;
#pragma warning disable CS8604 // wideChannels: null means none (C# 7.3 source has no nullable annotations)
                depthwise = depthwiseLanes == null ? new Conv2DDepthwise(geometry, inputZeroPoint, this.bias, requantizer, then, wideChannels) : null;
#pragma warning restore CS8604
#pragma warning restore CS8601
                accumulators = new int[0];
                return;
            }

            pairsFit = new bool[geometry.OutChannels];
            for (int c = 0; c < geometry.OutChannels; c++)
            {
                pairsFit[c] = PairSumsFitInt16(weights.Slice(c * fanIn, fanIn));
            }

            residualStart = new int[geometry.OutChannels + 1];
#if NET8_0_OR_GREATER
            // vpmaddubsw needs pair-fitted weights; the 128-bit form (SSSE3) has the same int16 pair limit.
            usePairSum = Avx2.IsSupported ? !AvxVnni.IsSupported : Ssse3.IsSupported;
            if (usePairSum && Array.IndexOf(pairsFit, false) >= 0)
            {
                // A fan-in order with fewer over-wide pairs means fewer residuals; the packing gathers taps in it.
#pragma warning disable CS8601 // null: the layer's own order
                tapOrder = PairOrder.Choose(weights, geometry.OutChannels, fanIn);
#pragma warning restore CS8601
                if (tapOrder != null)
                {
                    PairOrder.PermuteInPlace(tapRows, tapOrder);
                    PairOrder.PermuteInPlace(tapColumns, tapOrder);
                    PairOrder.PermuteInPlace(tapPlanes, tapOrder);
                    FitPairs(PairOrder.Permute(weights, geometry.OutChannels, fanIn, tapOrder), fanIn);
                }
                else
                {
                    FitPairs(weights, fanIn);
                }
            }
#endif

            // b'_j = b_j − (z_x + 128)·Σ_k w[j,k]; wraps modulo 2^32 like the accumulator itself.
            long[] folded = ConvWeightStats.FoldedBias(weights, geometry.OutChannels, fanIn, bias, input.ZeroPoint + 128);
#pragma warning disable CS8601 // null when no channel needs it
            wideFoldedBias = wideChannels == null ? null : folded;
#pragma warning restore CS8601
            for (int c = 0; c < folded.Length; c++)
            {
                shiftedBias[c] = unchecked((int)folded[c]);
                // The last, partial group of four weights, zero-extended, so the inner loop never reads past a filter.
                tailWeights[c] = PackTail(weights.Slice(c * fanIn, fanIn));

                // 128·Σ_k w[c,k] (|·| ≤ 2^14·fanIn): what the Arm tiles' signed codes b − 128 leave out of Σ b·w.
                long sum = 0;
                for (int k = 0; k < fanIn; k++)
                {
                    sum += weights[c * fanIn + k];
                }

                signedCorrection[c] = unchecked((int)(128 * sum));
            }

            int groupsOfFour = (fanIn + 3) / 4;
            int positions = Math.Max(TilePositions, ChunkBytes / (groupsOfFour * 4) / TilePositions * TilePositions);
            chunkPositions = Math.Min(RoundUp(outPlane, TilePositions), positions);
            packedLength = groupsOfFour * 4 * chunkPositions;
            rowsAreContiguous = geometry.StrideHeight == 1 && geometry.StrideWidth == 1 && geometry.OutWidth == geometry.InWidth;
#pragma warning disable CS8601 // null when the rows are contiguous or the phases would not pay
#pragma warning disable CS8604 // tapOrder: null means the layer's own order
            phasedInput = rowsAreContiguous ? null : Conv2DPhasedInput.TryCreateCodes(geometry, inputZeroPoint, tapOrder);
#pragma warning restore CS8604
#pragma warning restore CS8601
            // Slot 1 holds the gathered lanes, or the phases when they replace them.
            lanesLength = phasedInput == null ? 4 * chunkPositions : phasedInput.Length;
            accumulators = new int[4 * TilePositions];
            chunkRowsLength = 4 * chunkPositions;
        }
#pragma warning restore CS8618

        public Conv2DGeometry Geometry
        {
            get { return geometry; }
        }

        /// <summary>Bytes of per-Eval scratch the convolutions share on the calling thread (<see cref="SharedScratch"/>), for memory reports.</summary>
        public static long SharedScratchBytes
        {
            get { return SharedScratch.HeldBytes; }
        }

        public bool UsesInt64Accumulator
        {
            get { return useWideAccumulator; }
        }

        /// <summary>Channels whose bound with their bias leaves int32 (the others keep the int32 output stage).</summary>
        private static bool[] WideChannels(ReadOnlySpan<sbyte> weights, Conv2DGeometry g, int[] bias, int inputZeroPoint)
        {
            var wide = new bool[g.OutChannels];
            for (int c = 0; c < wide.Length; c++)
            {
                wide[c] = !ConvWeightStats.AccumulatorFitsInt32(weights.Slice(c * g.FanIn, g.FanIn), 1, g.FanIn, new ReadOnlySpan<int>(bias, c, 1), inputZeroPoint);
            }

            return wide;
        }

        /// <summary>Whether the whole layer runs the reference's int64 path (tap sums that may leave int32; tests check which layers reach it).</summary>
        public bool UsesReferencePath
        {
            get { return useWideAccumulator; }
        }

        /// <summary>One position in and out, a 1x1 kernel and one group: y[n, j] = Σ_c w[j, c]·x[n, c], a fully-connected layer.</summary>
        private static bool IsMatrixVector(Conv2DGeometry g)
        {
            return g.Groups == 1 && g.KernelHeight == 1 && g.KernelWidth == 1 && g.InHeight == 1 && g.InWidth == 1
                && g.OutHeight == 1 && g.OutWidth == 1 && g.PadTop == 0 && g.PadLeft == 0;
        }

        /// <summary>Whether the fully-connected kernel runs this layer (tests check which shapes reach it).</summary>
        internal bool UsesMatrixVector
        {
            get { return pointwiseVector != null; }
        }

        /// <summary>Whether the GEMM packs from padded column phases (tests check which shapes reach it).</summary>
        public bool UsesPhasedPacking
        {
            get { return phasedInput != null; }
        }

        /// <summary>Whether the depthwise channels-in-lanes form runs (tests check which shapes reach it).</summary>
        internal bool UsesDepthwiseLanes
        {
            get { return depthwiseLanes != null; }
        }

        /// <summary>Whether the GEMM packs the fan-in in a <see cref="PairOrder"/> of its own (tests check which layers reach it).</summary>
        internal bool ReordersFanIn
        {
            get { return tapOrder != null; }
        }

        /// <summary>How many filters qualify for the AVX2 pair-sum dot product (tests check that shapes reach it).</summary>
        internal int PairSumFilters
        {
            get { return Array.FindAll(pairsFit, fits => fits).Length; }
        }

        /// <summary>
        /// The instructions the blocked-GEMM tiles use on this machine. Tests assert it so that runs on Arm64
        /// (boards, or qemu with and without the dot-product extension) are known to exercise the Arm tiles.
        /// </summary>
        public static string GemmPath
        {
            get
            {
#if NET8_0_OR_GREATER
                if (Avx2.IsSupported)
                {
                    return AvxVnni.IsSupported ? "AvxVnni" : "Avx2";
                }

                if (Ssse3.IsSupported)
                {
                    return "Ssse3";
                }

                if (AdvSimd.Arm64.IsSupported)
                {
                    return Dp.IsSupported ? "AdvSimd.Dp" : "AdvSimd";
                }
#endif
                return "Scalar";
            }
        }

        /// <summary>The vector code of the one-input-channel (depthwise) planes on this machine (<see cref="Conv2DDepthwise.Path"/>).</summary>
        public static string DepthwisePath
        {
            get { return Conv2DDepthwise.Path; }
        }

        [MethodImpl(KernelJit.Optimize)]
        public void Eval(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            if (useWideAccumulator)
            {
                reference.Eval(input, weights, output);
                then.MapInPlace(output.Slice(0, geometry.OutputLength));
                return;
            }

            Conv2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength || weights.Length != g.WeightLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            if (pointwiseVector != null)
            {
                pointwiseVector.Eval(input, weights, output);
                then.MapInPlace(output.Slice(0, g.OutputLength));
            }
            else if (depthwiseLanes != null)
            {
                depthwiseLanes.Eval(input, weights, output);
            }
            else if (singleInputChannel)
            {
                depthwise.Eval(input, weights, output);
            }
            else
            {
                EvalGemm(input, weights, output);
            }
        }

        /// <summary>
        /// True when, for every weight pair (2i, 2i + 1) of the filter (the last one zero-extended), the largest
        /// |u0·w0 + u1·w1| over codes u in 0–255 fits int16: the positive weights sum to at most 128 and the
        /// negative ones to at least −128. Then <see cref="PairSumDot"/> cannot saturate on this filter.
        /// </summary>
        private static bool PairSumsFitInt16(ReadOnlySpan<sbyte> filter)
        {
            for (int k = 0; k + 1 < filter.Length; k += 2)
            {
                if (FittedSecond(filter[k], filter[k + 1]) != filter[k + 1])
                {
                    return false;
                }
            }

            // A last weight alone (its partner zero-extended) always fits: |w| ≤ 128.
            return true;
        }

        /// <summary>
        /// The second weight of the pair (w0, w1) cut to what keeps the pair's same-sign sum within ±128 (128 − w0 or
        /// −128 − w0), or w1 itself when the pair already fits (mixed signs never reach past 127).
        /// </summary>
        private static int FittedSecond(int w0, int w1)
        {
            if (!PairOrder.OverWide(w0, w1))
            {
                return w1;
            }

            return w0 > 0 ? 128 - w0 : -128 - w0;
        }

        /// <summary>The last, partial group of four weights of a filter, zero-extended into one int (byte j = weight 4·⌊n/4⌋ + j).</summary>
        private static int PackTail(ReadOnlySpan<sbyte> filter)
        {
            int fullGroups = filter.Length / 4;
            int tail = 0;
            for (int k = fullGroups * 4; k < filter.Length; k++)
            {
                tail |= (filter[k] & 0xFF) << (8 * (k - fullGroups * 4));
            }

            return tail;
        }

        /// <summary>
        /// Splits each filter into weights whose pairs fit <see cref="PairSumDot"/> and a few residuals: in a pair
        /// whose same-sign weights pass ±128, the second weight keeps what fits (128 − w0, or −128 − w0) and the
        /// rest r = w1 − w1' becomes a residual added afterwards as r·u. Both parts are no larger than the weight,
        /// and their sum is the weight, so the accumulator is the same integer.
        /// </summary>
        private void FitPairs(ReadOnlySpan<sbyte> weights, int fanIn)
        {
            int channels = geometry.OutChannels;
            fittedWeights = new byte[channels * fanIn];
            fittedTails = new int[channels];
            var indices = new System.Collections.Generic.List<int>();
            var values = new System.Collections.Generic.List<int>();
            for (int c = 0; c < channels; c++)
            {
                residualStart[c] = indices.Count;
                for (int k = 0; k < fanIn; k += 2)
                {
                    int w0 = weights[c * fanIn + k];
                    fittedWeights[c * fanIn + k] = (byte)w0;
                    if (k + 1 >= fanIn)
                    {
                        break;
                    }

                    int w1 = weights[c * fanIn + k + 1];
                    int fitted = FittedSecond(w0, w1);
                    fittedWeights[c * fanIn + k + 1] = (byte)fitted;
                    if (fitted != w1)
                    {
                        indices.Add(k + 1);
                        values.Add(w1 - fitted);
                    }
                }

                fittedTails[c] = PackTail(MemoryMarshal.Cast<byte, sbyte>(fittedWeights.AsSpan(c * fanIn, fanIn)));
            }

            residualStart[channels] = indices.Count;
            residualIndex = indices.ToArray();
            residualValue = values.ToArray();
        }

        private static int RoundUp(int value, int multiple)
        {
            return (value + multiple - 1) / multiple * multiple;
        }

        // ---------------------------------------------------------------- one input channel per group

        /// <summary>target[i] = source[i] + 128 as a byte (the sign bit flipped).</summary>
        private static void FlipSign(ReadOnlySpan<sbyte> source, Span<byte> target)
        {
            ref byte from = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(source));
            ref byte to = ref MemoryMarshal.GetReference(target);
            int i = 0;
#if NET8_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                for (; i <= source.Length - 16; i += 16)
                {
                    (Vector128.LoadUnsafe(ref from, (nuint)i) ^ Vector128.Create((byte)0x80)).StoreUnsafe(ref to, (nuint)i);
                }
            }
#endif
            for (; i < source.Length; i++)
            {
                Unsafe.Add(ref to, i) = (byte)(Unsafe.Add(ref from, i) ^ 0x80);
            }
        }

        // ---------------------------------------------------------------- blocked GEMM

        /// <summary>
        /// The raw accumulators Σ (x − z_x)·w + bias of every output channel and position, [batch][channel][position],
        /// instead of requantized codes: for kernels that combine several filter rows before their own output stage
        /// (multipoint). Only layers on the blocked GEMM with an int32 bound have them (<see cref="HasInt32Accumulators"/>).
        /// </summary>
        public void EvalAccumulators(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<int> accumulators)
        {
            Conv2DGeometry g = geometry;
            if (!HasInt32Accumulators)
            {
                throw new InvalidOperationException("This layer has no int32 blocked-GEMM accumulators.");
            }

            if (input.Length != g.InputLength || accumulators.Length != g.OutputLength || weights.Length != g.WeightLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            EvalGemm(input, weights, Span<sbyte>.Empty, accumulators, Span<short>.Empty);
        }

        /// <summary>
        /// The GEMM's exact int32 accumulators through <paramref name="rows"/>, an int16 output stage, instead of the
        /// int8 one: how <see cref="Conv2DWide"/> runs a layer with int8 codes in and 16-bit codes out. Only layers with
        /// <see cref="HasInt32Accumulators"/>; this instance's own int8 output parameters go unused.
        /// </summary>
        internal void EvalWide(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<short> output)
        {
            Conv2DGeometry g = geometry;
            if (!HasInt32Accumulators || wideRows == null)
            {
                throw new InvalidOperationException("This layer has no int32 blocked-GEMM accumulators.");
            }

            if (input.Length != g.InputLength || output.Length != g.OutputLength || weights.Length != g.WeightLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            EvalGemm(input, weights, Span<sbyte>.Empty, Span<int>.Empty, output);
        }

        /// <summary>True when <see cref="EvalAccumulators"/> is available: the layer runs the blocked GEMM and its bound fits int32.</summary>
        public bool HasInt32Accumulators
        {
            get { return !useWideAccumulator && wideChannels == null && !singleInputChannel; }
        }

        private void EvalGemm(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output)
        {
            EvalGemm(input, weights, output, Span<int>.Empty, Span<short>.Empty);
        }

        /// <summary>
        /// Requantized codes into <paramref name="output"/>; or raw accumulators into <paramref name="rawSums"/>, or int16
        /// codes through <see cref="wideRows"/> into <paramref name="wideOutput"/>, when that one is not empty.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void EvalGemm(ReadOnlySpan<sbyte> input, ReadOnlySpan<sbyte> weights, Span<sbyte> output, Span<int> rawSums, Span<short> wideOutput)
        {
            packed = SharedScratch.Bytes(0, packedLength);
            lanes = SharedScratch.Bytes(1, lanesLength);
            chunkRows = SharedScratch.Ints(chunkRowsLength);
            Conv2DGeometry g = geometry;
            int inPlane = g.InHeight * g.InWidth;
            int outPlane = g.OutHeight * g.OutWidth;
            int ocPerGroup = g.OutChannelsPerGroup;
            for (int n = 0; n < g.Batch; n++)
            {
                for (int group = 0; group < g.Groups; group++)
                {
                    ReadOnlySpan<sbyte> groupInput = input.Slice((n * g.InChannels + group * g.InChannelsPerGroup) * inPlane, g.InChannelsPerGroup * inPlane);
                    if (phasedInput != null)
                    {
                        phasedInput.FillCodes(groupInput, lanes);
                    }

                    for (int start = 0; start < outPlane; start += chunkPositions)
                    {
                        int count = Math.Min(chunkPositions, outPlane - start);
                        if (phasedInput != null)
                        {
                            phasedInput.PackCodes(lanes, start, count, packed, chunkPositions * 4);
                        }
                        else
                        {
                            Pack(groupInput, start, count);
                        }

                        int firstChannel = group * ocPerGroup;
                        int oc = firstChannel;
                        for (; oc <= firstChannel + ocPerGroup - 4; oc += 4)
                        {
                            ComputeTiles(weights, output, rawSums, wideOutput, n, oc, 4, start, count);
                        }

                        for (; oc < firstChannel + ocPerGroup; oc++)
                        {
                            ComputeTiles(weights, output, rawSums, wideOutput, n, oc, 1, start, count);
                        }
                    }
                }
            }
        }

        /// <summary>
        /// Writes positions [start, start + count) of one group's receptive fields into <see cref="packed"/> as
        /// x + 128, layout [k / 4][position][k % 4]; taps in the padding get z_x + 128 (real 0). Per group of four
        /// taps and output row, each tap's codes are first gathered into a contiguous lane (a vector copy when the
        /// column stride is 1 or 2), then the four lanes are interleaved into the packed layout.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void Pack(ReadOnlySpan<sbyte> groupInput, int start, int count)
        {
            Conv2DGeometry g = geometry;
            int outWidth = g.OutWidth;
            int rowStride = chunkPositions * 4;
            int groupsOfFour = (g.FanIn + 3) / 4;
            int end = start + count;
            for (int q = 0; q < groupsOfFour; q++)
            {
                for (int j = 0; j < 4; j++)
                {
                    Span<byte> lane = lanes.AsSpan(j * chunkPositions, count);
                    if (rowsAreContiguous && 4 * q + j < g.FanIn)
                    {
                        GatherContiguousLane(groupInput, 4 * q + j, start, lane);
                        continue;
                    }

                    int p = start;
                    while (p < end)
                    {
                        int oy = p / outWidth;
                        int ox = p - oy * outWidth;
                        int run = Math.Min(outWidth - ox, end - p);
                        GatherLane(groupInput, 4 * q + j, oy, ox, lane.Slice(p - start, run));
                        p += run;
                    }
                }

                // One interleave over the whole chunk: narrow output rows still fill whole vectors.
                ref byte lane0 = ref lanes[0];
                FourLaneInterleave.Run(
                    ref lane0,
                    ref Unsafe.Add(ref lane0, chunkPositions),
                    ref Unsafe.Add(ref lane0, 2 * chunkPositions),
                    ref Unsafe.Add(ref lane0, 3 * chunkPositions),
                    count,
                    ref packed[q * rowStride]);
            }
        }

        /// <summary>
        /// <see cref="GatherLane"/> over a whole chunk when both strides are 1 and output rows are as wide as input
        /// rows: tap k at position p then reads input index p + rowOffset·width + columnOffset, one contiguous run
        /// across rows. The run is copied at once; rows outside the input and the few columns per row that the
        /// column offset pushes past a row's edge are then set to the padding code.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void GatherContiguousLane(ReadOnlySpan<sbyte> groupInput, int k, int start, Span<byte> lane)
        {
            Conv2DGeometry g = geometry;
            int width = g.InWidth;
            int count = lane.Length;
            byte padCode = (byte)(inputZeroPoint + 128);
            int rowOffset = tapRows[k];
            int columnOffset = tapColumns[k];
            ReadOnlySpan<sbyte> plane = groupInput.Slice(tapPlanes[k], g.InHeight * width);
            // Positions whose input row exists: oy + rowOffset in [0, InHeight).
            int first = Math.Max(start, Math.Max(0, -rowOffset) * width);
            int end = Math.Min(start + count, Math.Min(g.OutHeight, g.InHeight - rowOffset) * width);
            if (first >= end || Math.Abs(columnOffset) >= width)
            {
                lane.Fill(padCode);
                return;
            }

            long shift = (long)rowOffset * width + columnOffset;
            // Clip to the plane; what the clip drops lies in an edge column and is padded below anyway.
            int copyFrom = (int)Math.Max(first, -shift);
            int copyTo = (int)Math.Min(end, plane.Length - shift);
            lane.Slice(0, first - start).Fill(padCode);
            lane.Slice(end - start).Fill(padCode);
            if (copyTo > copyFrom)
            {
                FlipSign(plane.Slice((int)(copyFrom + shift), copyTo - copyFrom), lane.Slice(copyFrom - start, copyTo - copyFrom));
            }

            if (columnOffset == 0)
            {
                return;
            }

            // Columns ox with ox + columnOffset outside [0, width): the first −offset or the last +offset of each row.
            int edgeFrom = columnOffset > 0 ? width - columnOffset : 0;
            int edgeCount = Math.Abs(columnOffset);
            for (int rowStart = first - first % width; rowStart < end; rowStart += width)
            {
                for (int c = edgeFrom; c < edgeFrom + edgeCount; c++)
                {
                    int position = rowStart + c;
                    if (position >= first && position < end)
                    {
                        lane[position - start] = padCode;
                    }
                }
            }
        }

        /// <summary>lane[i] = code + 128 of tap k at output (oy, ox + i), the padding code outside the input; 0 past the fan-in.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private void GatherLane(ReadOnlySpan<sbyte> groupInput, int k, int oy, int ox, Span<byte> lane)
        {
            Conv2DGeometry g = geometry;
            if (k >= g.FanIn)
            {
                lane.Clear(); // meets the zero-extended tail weights
                return;
            }

            byte padCode = (byte)(inputZeroPoint + 128);
            int iy = oy * g.StrideHeight + tapRows[k];
            if (iy < 0 || iy >= g.InHeight)
            {
                lane.Fill(padCode);
                return;
            }

            ReadOnlySpan<sbyte> row = groupInput.Slice(tapPlanes[k] + iy * g.InWidth, g.InWidth);
            int stride = g.StrideWidth;
            // Input column of lane entry i: (ox + i)·stride + offset; entries [first, last) lie inside the row.
            int offset = ox * stride + tapColumns[k];
            int first, last;
            if (stride == 1)
            {
                first = Math.Min(lane.Length, Math.Max(0, -offset));
                last = Math.Min(lane.Length, row.Length - offset);
            }
            else
            {
                first = offset >= 0 ? 0 : Math.Min(lane.Length, (-offset + stride - 1) / stride);
                last = offset >= row.Length ? 0 : Math.Min(lane.Length, (row.Length - 1 - offset) / stride + 1);
            }

            last = Math.Max(first, last);
            ref sbyte source = ref MemoryMarshal.GetReference(row);
            ref byte target = ref MemoryMarshal.GetReference(lane);
            // The padded edges are a few columns: a loop, where Span.Fill's call costs more than the stores.
            for (int e = 0; e < first; e++)
            {
                Unsafe.Add(ref target, e) = padCode;
            }

            for (int e = last; e < lane.Length; e++)
            {
                Unsafe.Add(ref target, e) = padCode;
            }

            int i = first;
#if NET8_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                Vector128<byte> flip = Vector128.Create((byte)0x80);
                if (stride == 1)
                {
                    if (last - first >= 16)
                    {
                        for (; i <= last - 16; i += 16)
                        {
                            (Vector128.LoadUnsafe(ref Unsafe.As<sbyte, byte>(ref source), (nuint)(i + offset)) ^ flip).StoreUnsafe(ref target, (nuint)i);
                        }

                        // The remainder as one last vector ending at the run's end, overlapping the previous one.
                        (Vector128.LoadUnsafe(ref Unsafe.As<sbyte, byte>(ref source), (nuint)(last - 16 + offset)) ^ flip).StoreUnsafe(ref target, (nuint)(last - 16));
                        i = last;
                    }
                    else if (last - first >= 8)
                    {
                        // Short rows (8–15 columns): two overlapping 8-byte vectors.
                        Vector64<byte> flip64 = Vector64.Create((byte)0x80);
                        (Vector64.LoadUnsafe(ref Unsafe.As<sbyte, byte>(ref source), (nuint)(first + offset)) ^ flip64).StoreUnsafe(ref target, (nuint)first);
                        (Vector64.LoadUnsafe(ref Unsafe.As<sbyte, byte>(ref source), (nuint)(last - 8 + offset)) ^ flip64).StoreUnsafe(ref target, (nuint)(last - 8));
                        i = last;
                    }
                }
                else if (stride == 2)
                {
                    // Even bytes of 32 consecutive columns: (i + 15)·2 + offset + 1 < row length keeps the loads inside.
                    Vector128<ushort> low = Vector128.Create((ushort)0xFF);
                    for (; i <= last - 16 && (i + 15) * 2 + offset + 1 < row.Length; i += 16)
                    {
                        ref byte at = ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref source, i * 2 + offset));
                        Vector128<ushort> a = Vector128.LoadUnsafe(ref at).AsUInt16() & low;
                        Vector128<ushort> b = Vector128.LoadUnsafe(ref at, 16).AsUInt16() & low;
                        (Vector128.Narrow(a, b) ^ flip).StoreUnsafe(ref target, (nuint)i);
                    }
                }
            }
#endif
            for (; i < last; i++)
            {
                Unsafe.Add(ref target, i) = (byte)(Unsafe.Add(ref source, i * stride + offset) + 128);
            }
        }

        /// <summary>Output channels [oc, oc + channels) (channels = 4 or 1) over the packed chunk, then requantization.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private void ComputeTiles(ReadOnlySpan<sbyte> weights, Span<sbyte> output, Span<int> rawSums, Span<short> wideOutput, int n, int oc, int channels, int start, int count)
        {
            Conv2DGeometry g = geometry;
            int outPlane = g.OutHeight * g.OutWidth;
            Span<int> acc = accumulators;
            Span<int> rows = chunkRows;
#if NET8_0_OR_GREATER
            if (Avx2.IsSupported)
            {
                ChunkAvx2(weights, oc, channels, count);
            }
            else if (Ssse3.IsSupported)
            {
                ChunkSsse3(weights, oc, channels, count);
            }
            else
#endif
            for (int tile = 0; tile < count; tile += TilePositions)
            {
                if (channels == 4)
                {
                    Tile4(weights, oc, tile, acc);
                }
                else
                {
                    Tile1(weights, oc, tile, acc);
                }

                // Collected per filter over the chunk, so the output stage runs once per row rather than per tile.
                for (int c = 0; c < channels; c++)
                {
                    acc.Slice(c * TilePositions, TilePositions).CopyTo(rows.Slice(c * chunkPositions + tile, TilePositions));
                }
            }

            for (int c = 0; c < channels; c++)
            {
                int channel = oc + c;
                int at = (n * g.OutChannels + channel) * outPlane + start;
                if (!wideOutput.IsEmpty)
                {
                    // Σ (x + 128)·w + b' is the exact accumulator (HasInt32Accumulators), as in the int8 stage.
                    wideRows.ApplyRow(rows.Slice(c * chunkPositions, count), shiftedBias[channel], channel, wideOutput.Slice(at, count));
                    continue;
                }

                if (rawSums.IsEmpty)
                {
                    if (wideChannels != null && wideChannels[channel])
                    {
                        requantizer.ApplyRowWide(rows.Slice(c * chunkPositions, count), wideFoldedBias[channel], channel, output.Slice(at, count));
                    }
                    else
                    {
                        requantizer.ApplyRow(rows.Slice(c * chunkPositions, count), shiftedBias[channel], channel, output.Slice(at, count));
                    }

                    then.MapInPlace(output.Slice(at, count));
                    continue;
                }

                // Σ (x + 128)·w + b − (z_x + 128)·Σ w = Σ (x − z_x)·w + b, wrapping as the accumulator does.
                Span<int> sums = rawSums.Slice(at, count);
                ReadOnlySpan<int> raw = rows.Slice(c * chunkPositions, count);
                int addend = shiftedBias[channel];
                for (int i = 0; i < sums.Length; i++)
                {
                    sums[i] = unchecked(raw[i] + addend);
                }
            }
        }

        /// <summary>Raw Σ (x + 128)·w of 4 filters × 16 positions into acc[c·16 + position].</summary>
        private void Tile4(ReadOnlySpan<sbyte> weights, int oc, int tile, Span<int> acc)
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            bool hasTail = fanIn % 4 != 0;
            int rowStride = chunkPositions * 4;
            ref byte b = ref packed[tile * 4];
            ref byte w0 = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(weights.Slice(oc * fanIn)));
            ref byte w1 = ref Unsafe.Add(ref w0, fanIn);
            ref byte w2 = ref Unsafe.Add(ref w1, fanIn);
            ref byte w3 = ref Unsafe.Add(ref w2, fanIn);
#if NET8_0_OR_GREATER
            if (AdvSimd.Arm64.IsSupported)
            {
                if (Dp.IsSupported)
                {
                    Tile4Dp(ref b, rowStride, ref w0, ref w1, ref w2, ref w3, oc, acc);
                }
                else
                {
                    // Positions 0–7, then 8–15: 16 accumulators per half fit Arm64's 32 vector registers.
                    Tile4AdvSimdHalf(ref b, rowStride, ref w0, ref w1, ref w2, ref w3, oc, acc);
                    Tile4AdvSimdHalf(ref Unsafe.Add(ref b, 32), rowStride, ref w0, ref w1, ref w2, ref w3, oc, acc.Slice(8));
                }

                return;
            }
#endif
            Tile1(weights, oc, tile, acc);
            Tile1(weights, oc + 1, tile, acc.Slice(TilePositions));
            Tile1(weights, oc + 2, tile, acc.Slice(2 * TilePositions));
            Tile1(weights, oc + 3, tile, acc.Slice(3 * TilePositions));
        }

        /// <summary>Raw Σ (x + 128)·w of one filter × 16 positions into acc[position].</summary>
        private void Tile1(ReadOnlySpan<sbyte> weights, int oc, int tile, Span<int> acc)
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            bool hasTail = fanIn % 4 != 0;
            int rowStride = chunkPositions * 4;
            ref byte b = ref packed[tile * 4];
            ref byte w = ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(weights.Slice(oc * fanIn)));
#if NET8_0_OR_GREATER
            if (AdvSimd.Arm64.IsSupported)
            {
                Tile1Arm(ref b, rowStride, ref w, oc, acc);
                return;
            }
#endif
            for (int p = 0; p < TilePositions; p++)
            {
                int sum = 0;
                for (int q = 0; q < fullGroups; q++)
                {
                    ref byte bq = ref Unsafe.Add(ref b, q * rowStride + p * 4);
                    ref byte wq = ref Unsafe.Add(ref w, q * 4);
                    sum += bq * (sbyte)wq
                        + Unsafe.Add(ref bq, 1) * (sbyte)Unsafe.Add(ref wq, 1)
                        + Unsafe.Add(ref bq, 2) * (sbyte)Unsafe.Add(ref wq, 2)
                        + Unsafe.Add(ref bq, 3) * (sbyte)Unsafe.Add(ref wq, 3);
                }

                if (hasTail)
                {
                    int tail = tailWeights[oc];
                    ref byte bq = ref Unsafe.Add(ref b, fullGroups * rowStride + p * 4);
                    sum += bq * (sbyte)tail
                        + Unsafe.Add(ref bq, 1) * (sbyte)(tail >> 8)
                        + Unsafe.Add(ref bq, 2) * (sbyte)(tail >> 16)
                        + Unsafe.Add(ref bq, 3) * (sbyte)(tail >> 24);
                }

                acc[p] = sum;
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>The zero-extended last group of four weights of filter <paramref name="oc"/>, as bytes in memory order.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private ref byte TailQuad(int oc)
        {
            // Little-endian (every .NET Arm64 target): byte j of the int is weight 4·fullGroups + j, as in the filter.
            return ref Unsafe.As<int, byte>(ref tailWeights[oc]);
        }

        /// <summary>Four weights (one group) broadcast to every int32 lane: the per-lane operand of SDOT and SMULL.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<sbyte> Quad(ref byte w, int offset)
        {
            return Vector128.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w, offset))).AsSByte();
        }

        /// <summary>Packed codes b = x + 128 as signed b − 128 (= b ^ 0x80), the operand SDOT and SMULL take.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<sbyte> LoadSigned(ref byte source, nuint offset)
        {
            return (Vector128.LoadUnsafe(ref source, offset) ^ Vector128.Create((byte)0x80)).AsSByte();
        }

        /// <summary>
        /// Arm64 SDOT: Σ (b − 128)·w of 4 filters × 16 positions in 16 int32 accumulators (each SDOT lane adds the
        /// 4 products of one position, exactly), plus 128·Σ w: the same Σ b·w, modulo 2^32, as the x64 tiles.
        /// Bytes past the fan-in in the last group meet zero weights, whatever the packed buffer holds there.
        /// </summary>
        private void Tile4Dp(ref byte b, int rowStride, ref byte w0, ref byte w1, ref byte w2, ref byte w3, int oc, Span<int> acc)
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            int groups = (fanIn + 3) / 4;
            Vector128<int> a00 = Vector128<int>.Zero, a01 = Vector128<int>.Zero, a02 = Vector128<int>.Zero, a03 = Vector128<int>.Zero;
            Vector128<int> a10 = Vector128<int>.Zero, a11 = Vector128<int>.Zero, a12 = Vector128<int>.Zero, a13 = Vector128<int>.Zero;
            Vector128<int> a20 = Vector128<int>.Zero, a21 = Vector128<int>.Zero, a22 = Vector128<int>.Zero, a23 = Vector128<int>.Zero;
            Vector128<int> a30 = Vector128<int>.Zero, a31 = Vector128<int>.Zero, a32 = Vector128<int>.Zero, a33 = Vector128<int>.Zero;
            int wo = 0;
            for (int q = 0; q < groups; q++, wo += 4)
            {
                if (q == fullGroups)
                {
                    // The partial last group: switch the filters' pointers to their zero-extended copies (one branch a group).
                    w0 = ref TailQuad(oc); w1 = ref TailQuad(oc + 1); w2 = ref TailQuad(oc + 2); w3 = ref TailQuad(oc + 3);
                    wo = 0;
                }

                ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                Vector128<sbyte> x0 = LoadSigned(ref bq, 0);
                Vector128<sbyte> x1 = LoadSigned(ref bq, 16);
                Vector128<sbyte> x2 = LoadSigned(ref bq, 32);
                Vector128<sbyte> x3 = LoadSigned(ref bq, 48);
                Vector128<sbyte> v = Quad(ref w0, wo);
                a00 = Dp.DotProduct(a00, x0, v); a01 = Dp.DotProduct(a01, x1, v); a02 = Dp.DotProduct(a02, x2, v); a03 = Dp.DotProduct(a03, x3, v);
                v = Quad(ref w1, wo);
                a10 = Dp.DotProduct(a10, x0, v); a11 = Dp.DotProduct(a11, x1, v); a12 = Dp.DotProduct(a12, x2, v); a13 = Dp.DotProduct(a13, x3, v);
                v = Quad(ref w2, wo);
                a20 = Dp.DotProduct(a20, x0, v); a21 = Dp.DotProduct(a21, x1, v); a22 = Dp.DotProduct(a22, x2, v); a23 = Dp.DotProduct(a23, x3, v);
                v = Quad(ref w3, wo);
                a30 = Dp.DotProduct(a30, x0, v); a31 = Dp.DotProduct(a31, x1, v); a32 = Dp.DotProduct(a32, x2, v); a33 = Dp.DotProduct(a33, x3, v);
            }

            ref int target = ref MemoryMarshal.GetReference(acc);
            Vector128<int> c = Vector128.Create(signedCorrection[oc]);
            (a00 + c).StoreUnsafe(ref target, 0); (a01 + c).StoreUnsafe(ref target, 4); (a02 + c).StoreUnsafe(ref target, 8); (a03 + c).StoreUnsafe(ref target, 12);
            c = Vector128.Create(signedCorrection[oc + 1]);
            (a10 + c).StoreUnsafe(ref target, 16); (a11 + c).StoreUnsafe(ref target, 20); (a12 + c).StoreUnsafe(ref target, 24); (a13 + c).StoreUnsafe(ref target, 28);
            c = Vector128.Create(signedCorrection[oc + 2]);
            (a20 + c).StoreUnsafe(ref target, 32); (a21 + c).StoreUnsafe(ref target, 36); (a22 + c).StoreUnsafe(ref target, 40); (a23 + c).StoreUnsafe(ref target, 44);
            c = Vector128.Create(signedCorrection[oc + 3]);
            (a30 + c).StoreUnsafe(ref target, 48); (a31 + c).StoreUnsafe(ref target, 52); (a32 + c).StoreUnsafe(ref target, 56); (a33 + c).StoreUnsafe(ref target, 60);
        }

        /// <summary>
        /// Arm64 without the dot-product extension: 4 filters × 8 positions (b points at the first of them; the
        /// results go to acc[c·16 + position]). SMULL/SMULL2 give exact int16 products (|(b − 128)·w| ≤ 2^14);
        /// SADALP adds adjacent pairs into int32 lanes, so lo holds [p0 k0+k1, p0 k2+k3, p1 k0+k1, p1 k2+k3] and hi
        /// the same for p2, p3; a final ADDP gives [p0, p1, p2, p3]. Then + 128·Σ w as in <see cref="Tile4Dp"/>.
        /// </summary>
        private void Tile4AdvSimdHalf(ref byte b, int rowStride, ref byte w0, ref byte w1, ref byte w2, ref byte w3, int oc, Span<int> acc)
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            int groups = (fanIn + 3) / 4;
            Vector128<int> l00 = Vector128<int>.Zero, h00 = Vector128<int>.Zero, l01 = Vector128<int>.Zero, h01 = Vector128<int>.Zero;
            Vector128<int> l10 = Vector128<int>.Zero, h10 = Vector128<int>.Zero, l11 = Vector128<int>.Zero, h11 = Vector128<int>.Zero;
            Vector128<int> l20 = Vector128<int>.Zero, h20 = Vector128<int>.Zero, l21 = Vector128<int>.Zero, h21 = Vector128<int>.Zero;
            Vector128<int> l30 = Vector128<int>.Zero, h30 = Vector128<int>.Zero, l31 = Vector128<int>.Zero, h31 = Vector128<int>.Zero;
            int wo = 0;
            for (int q = 0; q < groups; q++, wo += 4)
            {
                if (q == fullGroups)
                {
                    // The partial last group: switch the filters' pointers to their zero-extended copies (one branch a group).
                    w0 = ref TailQuad(oc); w1 = ref TailQuad(oc + 1); w2 = ref TailQuad(oc + 2); w3 = ref TailQuad(oc + 3);
                    wo = 0;
                }

                ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                Vector128<sbyte> x0 = LoadSigned(ref bq, 0);
                Vector128<sbyte> x1 = LoadSigned(ref bq, 16);
                Vector128<sbyte> v = Quad(ref w0, wo);
                l00 = AdvSimd.AddPairwiseWideningAndAdd(l00, AdvSimd.MultiplyWideningLower(x0.GetLower(), v.GetLower()));
                h00 = AdvSimd.AddPairwiseWideningAndAdd(h00, AdvSimd.MultiplyWideningUpper(x0, v));
                l01 = AdvSimd.AddPairwiseWideningAndAdd(l01, AdvSimd.MultiplyWideningLower(x1.GetLower(), v.GetLower()));
                h01 = AdvSimd.AddPairwiseWideningAndAdd(h01, AdvSimd.MultiplyWideningUpper(x1, v));
                v = Quad(ref w1, wo);
                l10 = AdvSimd.AddPairwiseWideningAndAdd(l10, AdvSimd.MultiplyWideningLower(x0.GetLower(), v.GetLower()));
                h10 = AdvSimd.AddPairwiseWideningAndAdd(h10, AdvSimd.MultiplyWideningUpper(x0, v));
                l11 = AdvSimd.AddPairwiseWideningAndAdd(l11, AdvSimd.MultiplyWideningLower(x1.GetLower(), v.GetLower()));
                h11 = AdvSimd.AddPairwiseWideningAndAdd(h11, AdvSimd.MultiplyWideningUpper(x1, v));
                v = Quad(ref w2, wo);
                l20 = AdvSimd.AddPairwiseWideningAndAdd(l20, AdvSimd.MultiplyWideningLower(x0.GetLower(), v.GetLower()));
                h20 = AdvSimd.AddPairwiseWideningAndAdd(h20, AdvSimd.MultiplyWideningUpper(x0, v));
                l21 = AdvSimd.AddPairwiseWideningAndAdd(l21, AdvSimd.MultiplyWideningLower(x1.GetLower(), v.GetLower()));
                h21 = AdvSimd.AddPairwiseWideningAndAdd(h21, AdvSimd.MultiplyWideningUpper(x1, v));
                v = Quad(ref w3, wo);
                l30 = AdvSimd.AddPairwiseWideningAndAdd(l30, AdvSimd.MultiplyWideningLower(x0.GetLower(), v.GetLower()));
                h30 = AdvSimd.AddPairwiseWideningAndAdd(h30, AdvSimd.MultiplyWideningUpper(x0, v));
                l31 = AdvSimd.AddPairwiseWideningAndAdd(l31, AdvSimd.MultiplyWideningLower(x1.GetLower(), v.GetLower()));
                h31 = AdvSimd.AddPairwiseWideningAndAdd(h31, AdvSimd.MultiplyWideningUpper(x1, v));
            }

            ref int target = ref MemoryMarshal.GetReference(acc);
            Vector128<int> c = Vector128.Create(signedCorrection[oc]);
            (AdvSimd.Arm64.AddPairwise(l00, h00) + c).StoreUnsafe(ref target, 0);
            (AdvSimd.Arm64.AddPairwise(l01, h01) + c).StoreUnsafe(ref target, 4);
            c = Vector128.Create(signedCorrection[oc + 1]);
            (AdvSimd.Arm64.AddPairwise(l10, h10) + c).StoreUnsafe(ref target, 16);
            (AdvSimd.Arm64.AddPairwise(l11, h11) + c).StoreUnsafe(ref target, 20);
            c = Vector128.Create(signedCorrection[oc + 2]);
            (AdvSimd.Arm64.AddPairwise(l20, h20) + c).StoreUnsafe(ref target, 32);
            (AdvSimd.Arm64.AddPairwise(l21, h21) + c).StoreUnsafe(ref target, 36);
            c = Vector128.Create(signedCorrection[oc + 3]);
            (AdvSimd.Arm64.AddPairwise(l30, h30) + c).StoreUnsafe(ref target, 48);
            (AdvSimd.Arm64.AddPairwise(l31, h31) + c).StoreUnsafe(ref target, 52);
        }

        /// <summary>Arm64 one filter × 16 positions: SDOT where available, else SMULL + SADALP + ADDP (see above).</summary>
        private void Tile1Arm(ref byte b, int rowStride, ref byte w, int oc, Span<int> acc)
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            int groups = (fanIn + 3) / 4;
            Vector128<int> c = Vector128.Create(signedCorrection[oc]);
            ref int target = ref MemoryMarshal.GetReference(acc);
            if (Dp.IsSupported)
            {
                Vector128<int> a0 = Vector128<int>.Zero, a1 = Vector128<int>.Zero, a2 = Vector128<int>.Zero, a3 = Vector128<int>.Zero;
                int wo = 0;
                for (int q = 0; q < groups; q++, wo += 4)
                {
                    if (q == fullGroups)
                    {
                        w = ref TailQuad(oc);
                        wo = 0;
                    }

                    ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                    Vector128<sbyte> v = Quad(ref w, wo);
                    a0 = Dp.DotProduct(a0, LoadSigned(ref bq, 0), v);
                    a1 = Dp.DotProduct(a1, LoadSigned(ref bq, 16), v);
                    a2 = Dp.DotProduct(a2, LoadSigned(ref bq, 32), v);
                    a3 = Dp.DotProduct(a3, LoadSigned(ref bq, 48), v);
                }

                (a0 + c).StoreUnsafe(ref target, 0);
                (a1 + c).StoreUnsafe(ref target, 4);
                (a2 + c).StoreUnsafe(ref target, 8);
                (a3 + c).StoreUnsafe(ref target, 12);
                return;
            }

            Vector128<int> l0 = Vector128<int>.Zero, h0 = Vector128<int>.Zero, l1 = Vector128<int>.Zero, h1 = Vector128<int>.Zero;
            Vector128<int> l2 = Vector128<int>.Zero, h2 = Vector128<int>.Zero, l3 = Vector128<int>.Zero, h3 = Vector128<int>.Zero;
            int wq = 0;
            for (int q = 0; q < groups; q++, wq += 4)
            {
                if (q == fullGroups)
                {
                    w = ref TailQuad(oc);
                    wq = 0;
                }

                ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                Vector128<sbyte> v = Quad(ref w, wq);
                Vector64<sbyte> vLow = v.GetLower();
                Vector128<sbyte> x0 = LoadSigned(ref bq, 0);
                Vector128<sbyte> x1 = LoadSigned(ref bq, 16);
                Vector128<sbyte> x2 = LoadSigned(ref bq, 32);
                Vector128<sbyte> x3 = LoadSigned(ref bq, 48);
                l0 = AdvSimd.AddPairwiseWideningAndAdd(l0, AdvSimd.MultiplyWideningLower(x0.GetLower(), vLow));
                h0 = AdvSimd.AddPairwiseWideningAndAdd(h0, AdvSimd.MultiplyWideningUpper(x0, v));
                l1 = AdvSimd.AddPairwiseWideningAndAdd(l1, AdvSimd.MultiplyWideningLower(x1.GetLower(), vLow));
                h1 = AdvSimd.AddPairwiseWideningAndAdd(h1, AdvSimd.MultiplyWideningUpper(x1, v));
                l2 = AdvSimd.AddPairwiseWideningAndAdd(l2, AdvSimd.MultiplyWideningLower(x2.GetLower(), vLow));
                h2 = AdvSimd.AddPairwiseWideningAndAdd(h2, AdvSimd.MultiplyWideningUpper(x2, v));
                l3 = AdvSimd.AddPairwiseWideningAndAdd(l3, AdvSimd.MultiplyWideningLower(x3.GetLower(), vLow));
                h3 = AdvSimd.AddPairwiseWideningAndAdd(h3, AdvSimd.MultiplyWideningUpper(x3, v));
            }

            (AdvSimd.Arm64.AddPairwise(l0, h0) + c).StoreUnsafe(ref target, 0);
            (AdvSimd.Arm64.AddPairwise(l1, h1) + c).StoreUnsafe(ref target, 4);
            (AdvSimd.Arm64.AddPairwise(l2, h2) + c).StoreUnsafe(ref target, 8);
            (AdvSimd.Arm64.AddPairwise(l3, h3) + c).StoreUnsafe(ref target, 12);
        }

        /// <summary>
        /// The AVX2 sums of filters [oc, oc + channels) over the whole chunk into <see cref="chunkRows"/>: the dot
        /// product (VNNI, or pair sums over the weights as given or pair-fitted plus residuals) is chosen once.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void ChunkAvx2(ReadOnlySpan<sbyte> weights, int oc, int channels, int count)
        {
            int fanIn = geometry.FanIn;
            bool fitted = usePairSum && fittedWeights.Length > 0;
            ref byte w0 = ref fitted ? ref fittedWeights[oc * fanIn] : ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(weights.Slice(oc * fanIn)));
            int[] tails = fitted ? fittedTails : tailWeights;
            if (channels == 4)
            {
                ref byte w1 = ref Unsafe.Add(ref w0, fanIn);
                ref byte w2 = ref Unsafe.Add(ref w1, fanIn);
                ref byte w3 = ref Unsafe.Add(ref w2, fanIn);
                if (usePairSum)
                {
                    Tile4Avx2<PairSumDot>(count, ref w0, ref w1, ref w2, ref w3, tails, oc, fitted);
                }
                else
                {
                    Tile4Avx2<ExactDot>(count, ref w0, ref w1, ref w2, ref w3, tails, oc, false);
                }
            }
            else if (usePairSum)
            {
                Tile1Avx2<PairSumDot>(count, ref w0, tails, oc, fitted);
            }
            else
            {
                Tile1Avx2<ExactDot>(count, ref w0, tails, oc, false);
            }
        }

        /// <summary>The AVX2 4 × 16 tile with the u8·s8 dot product <typeparamref name="TDot"/>.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private void Tile4Avx2<TDot>(int count, ref byte w0, ref byte w1, ref byte w2, ref byte w3, int[] tails, int oc, bool withResiduals)
            where TDot : struct, IByteDot
        {
            int rowStride = chunkPositions * 4;
            for (int tile = 0; tile < count; tile += TilePositions)
            {
                Tile4Avx2<TDot>(ref packed[tile * 4], rowStride, ref w0, ref w1, ref w2, ref w3, tails, oc, ref chunkRows[tile], withResiduals);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Tile4Avx2<TDot>(ref byte b, int rowStride, ref byte w0, ref byte w1, ref byte w2, ref byte w3, int[] tails, int oc, ref int target, bool withResiduals)
            where TDot : struct, IByteDot
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            bool hasTail = fanIn % 4 != 0;
            Vector256<int> a00 = Vector256<int>.Zero, a01 = Vector256<int>.Zero;
            Vector256<int> a10 = Vector256<int>.Zero, a11 = Vector256<int>.Zero;
            Vector256<int> a20 = Vector256<int>.Zero, a21 = Vector256<int>.Zero;
            Vector256<int> a30 = Vector256<int>.Zero, a31 = Vector256<int>.Zero;
            ref byte bq = ref b;
            for (int q = 0; q < fullGroups; q++, bq = ref Unsafe.Add(ref bq, rowStride))
            {
                Vector256<byte> x0 = Vector256.LoadUnsafe(ref bq);
                Vector256<byte> x1 = Vector256.LoadUnsafe(ref bq, 32);
                Vector256<sbyte> v0 = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w0, q * 4))).AsSByte();
                Vector256<sbyte> v1 = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w1, q * 4))).AsSByte();
                Vector256<sbyte> v2 = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w2, q * 4))).AsSByte();
                Vector256<sbyte> v3 = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w3, q * 4))).AsSByte();
                a00 = default(TDot).MultiplyAdd(a00, x0, v0); a01 = default(TDot).MultiplyAdd(a01, x1, v0);
                a10 = default(TDot).MultiplyAdd(a10, x0, v1); a11 = default(TDot).MultiplyAdd(a11, x1, v1);
                a20 = default(TDot).MultiplyAdd(a20, x0, v2); a21 = default(TDot).MultiplyAdd(a21, x1, v2);
                a30 = default(TDot).MultiplyAdd(a30, x0, v3); a31 = default(TDot).MultiplyAdd(a31, x1, v3);
            }

            if (hasTail)
            {
                // bq is at group fullGroups: the loop above stepped it there.
                Vector256<byte> x0 = Vector256.LoadUnsafe(ref bq);
                Vector256<byte> x1 = Vector256.LoadUnsafe(ref bq, 32);
                Vector256<sbyte> v0 = Vector256.Create(tails[oc]).AsSByte();
                Vector256<sbyte> v1 = Vector256.Create(tails[oc + 1]).AsSByte();
                Vector256<sbyte> v2 = Vector256.Create(tails[oc + 2]).AsSByte();
                Vector256<sbyte> v3 = Vector256.Create(tails[oc + 3]).AsSByte();
                a00 = default(TDot).MultiplyAdd(a00, x0, v0); a01 = default(TDot).MultiplyAdd(a01, x1, v0);
                a10 = default(TDot).MultiplyAdd(a10, x0, v1); a11 = default(TDot).MultiplyAdd(a11, x1, v1);
                a20 = default(TDot).MultiplyAdd(a20, x0, v2); a21 = default(TDot).MultiplyAdd(a21, x1, v2);
                a30 = default(TDot).MultiplyAdd(a30, x0, v3); a31 = default(TDot).MultiplyAdd(a31, x1, v3);
            }

            if (withResiduals)
            {
                AddResiduals(ref b, rowStride, oc, ref a00, ref a01);
                AddResiduals(ref b, rowStride, oc + 1, ref a10, ref a11);
                AddResiduals(ref b, rowStride, oc + 2, ref a20, ref a21);
                AddResiduals(ref b, rowStride, oc + 3, ref a30, ref a31);
            }

            // Filter f's row of the chunk starts at f·chunkPositions.
            nuint stride = (nuint)chunkPositions;
            a00.StoreUnsafe(ref target, 0); a01.StoreUnsafe(ref target, 8);
            a10.StoreUnsafe(ref target, stride); a11.StoreUnsafe(ref target, stride + 8);
            a20.StoreUnsafe(ref target, 2 * stride); a21.StoreUnsafe(ref target, 2 * stride + 8);
            a30.StoreUnsafe(ref target, 3 * stride); a31.StoreUnsafe(ref target, 3 * stride + 8);
        }

        /// <summary>The AVX2 1 × 16 tile with the u8·s8 dot product <typeparamref name="TDot"/>.</summary>
        [MethodImpl(KernelJit.Optimize)]
        private void Tile1Avx2<TDot>(int count, ref byte w, int[] tails, int oc, bool withResiduals)
            where TDot : struct, IByteDot
        {
            int rowStride = chunkPositions * 4;
            for (int tile = 0; tile < count; tile += TilePositions)
            {
                Tile1Avx2<TDot>(ref packed[tile * 4], rowStride, ref w, tails, oc, ref chunkRows[tile], withResiduals);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Tile1Avx2<TDot>(ref byte b, int rowStride, ref byte w, int[] tails, int oc, ref int target, bool withResiduals)
            where TDot : struct, IByteDot
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            bool hasTail = fanIn % 4 != 0;
            Vector256<int> a0 = Vector256<int>.Zero, a1 = Vector256<int>.Zero;
            for (int q = 0; q < fullGroups; q++)
            {
                ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                Vector256<sbyte> v = Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w, q * 4))).AsSByte();
                a0 = default(TDot).MultiplyAdd(a0, Vector256.LoadUnsafe(ref bq), v);
                a1 = default(TDot).MultiplyAdd(a1, Vector256.LoadUnsafe(ref bq, 32), v);
            }

            if (hasTail)
            {
                ref byte bq = ref Unsafe.Add(ref b, fullGroups * rowStride);
                Vector256<sbyte> v = Vector256.Create(tails[oc]).AsSByte();
                a0 = default(TDot).MultiplyAdd(a0, Vector256.LoadUnsafe(ref bq), v);
                a1 = default(TDot).MultiplyAdd(a1, Vector256.LoadUnsafe(ref bq, 32), v);
            }

            if (withResiduals)
            {
                AddResiduals(ref b, rowStride, oc, ref a0, ref a1);
            }

            a0.StoreUnsafe(ref target, 0);
            a1.StoreUnsafe(ref target, 8);
        }

        /// <summary>
        /// x64 without AVX2 (SSSE3 and later: every x64 CPU .NET runs on in practice, and what a NativeAOT binary
        /// targets unless IlcInstructionSet says more): <see cref="ChunkAvx2"/>'s sums in 128-bit registers. x64 has
        /// 16 of them, so a 4 × 16 tile runs as two halves of 8 positions (8 accumulators each).
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private void ChunkSsse3(ReadOnlySpan<sbyte> weights, int oc, int channels, int count)
        {
            int fanIn = geometry.FanIn;
            bool fitted = usePairSum && fittedWeights.Length > 0;
            ref byte w0 = ref fitted ? ref fittedWeights[oc * fanIn] : ref Unsafe.As<sbyte, byte>(ref MemoryMarshal.GetReference(weights.Slice(oc * fanIn)));
            int[] tails = fitted ? fittedTails : tailWeights;
            int rowStride = chunkPositions * 4;
            for (int half = 0; half < count; half += TilePositions / 2)
            {
                // Positions [half, half + 8) of the chunk: 32 packed bytes per group row.
                ref byte b = ref packed[half * 4];
                ref int target = ref chunkRows[half];
                if (channels == 4)
                {
                    ref byte w1 = ref Unsafe.Add(ref w0, fanIn);
                    ref byte w2 = ref Unsafe.Add(ref w1, fanIn);
                    ref byte w3 = ref Unsafe.Add(ref w2, fanIn);
                    if (usePairSum)
                    {
                        Tile4Half128<PairSumDot>(ref b, rowStride, ref w0, ref w1, ref w2, ref w3, tails, oc, ref target, fitted);
                    }
                    else
                    {
                        Tile4Half128<ExactDot>(ref b, rowStride, ref w0, ref w1, ref w2, ref w3, tails, oc, ref target, false);
                    }
                }
                else if (usePairSum)
                {
                    Tile1Half128<PairSumDot>(ref b, rowStride, ref w0, tails, oc, ref target, fitted);
                }
                else
                {
                    Tile1Half128<ExactDot>(ref b, rowStride, ref w0, tails, oc, ref target, false);
                }
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Tile4Half128<TDot>(ref byte b, int rowStride, ref byte w0, ref byte w1, ref byte w2, ref byte w3, int[] tails, int oc, ref int target, bool withResiduals)
            where TDot : struct, IByteDot
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            Vector128<int> a00 = Vector128<int>.Zero, a01 = Vector128<int>.Zero;
            Vector128<int> a10 = Vector128<int>.Zero, a11 = Vector128<int>.Zero;
            Vector128<int> a20 = Vector128<int>.Zero, a21 = Vector128<int>.Zero;
            Vector128<int> a30 = Vector128<int>.Zero, a31 = Vector128<int>.Zero;
            for (int q = 0; q < fullGroups; q++)
            {
                ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                Vector128<byte> x0 = Vector128.LoadUnsafe(ref bq);
                Vector128<byte> x1 = Vector128.LoadUnsafe(ref bq, 16);
                Vector128<sbyte> v = Vector128.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w0, q * 4))).AsSByte();
                a00 = default(TDot).MultiplyAdd(a00, x0, v); a01 = default(TDot).MultiplyAdd(a01, x1, v);
                v = Vector128.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w1, q * 4))).AsSByte();
                a10 = default(TDot).MultiplyAdd(a10, x0, v); a11 = default(TDot).MultiplyAdd(a11, x1, v);
                v = Vector128.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w2, q * 4))).AsSByte();
                a20 = default(TDot).MultiplyAdd(a20, x0, v); a21 = default(TDot).MultiplyAdd(a21, x1, v);
                v = Vector128.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w3, q * 4))).AsSByte();
                a30 = default(TDot).MultiplyAdd(a30, x0, v); a31 = default(TDot).MultiplyAdd(a31, x1, v);
            }

            if (fanIn % 4 != 0)
            {
                ref byte bq = ref Unsafe.Add(ref b, fullGroups * rowStride);
                Vector128<byte> x0 = Vector128.LoadUnsafe(ref bq);
                Vector128<byte> x1 = Vector128.LoadUnsafe(ref bq, 16);
                Vector128<sbyte> v = Vector128.Create(tails[oc]).AsSByte();
                a00 = default(TDot).MultiplyAdd(a00, x0, v); a01 = default(TDot).MultiplyAdd(a01, x1, v);
                v = Vector128.Create(tails[oc + 1]).AsSByte();
                a10 = default(TDot).MultiplyAdd(a10, x0, v); a11 = default(TDot).MultiplyAdd(a11, x1, v);
                v = Vector128.Create(tails[oc + 2]).AsSByte();
                a20 = default(TDot).MultiplyAdd(a20, x0, v); a21 = default(TDot).MultiplyAdd(a21, x1, v);
                v = Vector128.Create(tails[oc + 3]).AsSByte();
                a30 = default(TDot).MultiplyAdd(a30, x0, v); a31 = default(TDot).MultiplyAdd(a31, x1, v);
            }

            if (withResiduals)
            {
                AddResiduals(ref b, rowStride, oc, ref a00, ref a01);
                AddResiduals(ref b, rowStride, oc + 1, ref a10, ref a11);
                AddResiduals(ref b, rowStride, oc + 2, ref a20, ref a21);
                AddResiduals(ref b, rowStride, oc + 3, ref a30, ref a31);
            }

            nuint stride = (nuint)chunkPositions;
            a00.StoreUnsafe(ref target, 0); a01.StoreUnsafe(ref target, 4);
            a10.StoreUnsafe(ref target, stride); a11.StoreUnsafe(ref target, stride + 4);
            a20.StoreUnsafe(ref target, 2 * stride); a21.StoreUnsafe(ref target, 2 * stride + 4);
            a30.StoreUnsafe(ref target, 3 * stride); a31.StoreUnsafe(ref target, 3 * stride + 4);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void Tile1Half128<TDot>(ref byte b, int rowStride, ref byte w, int[] tails, int oc, ref int target, bool withResiduals)
            where TDot : struct, IByteDot
        {
            int fanIn = geometry.FanIn;
            int fullGroups = fanIn / 4;
            Vector128<int> a0 = Vector128<int>.Zero, a1 = Vector128<int>.Zero;
            for (int q = 0; q < fullGroups; q++)
            {
                ref byte bq = ref Unsafe.Add(ref b, q * rowStride);
                Vector128<sbyte> v = Vector128.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref w, q * 4))).AsSByte();
                a0 = default(TDot).MultiplyAdd(a0, Vector128.LoadUnsafe(ref bq), v);
                a1 = default(TDot).MultiplyAdd(a1, Vector128.LoadUnsafe(ref bq, 16), v);
            }

            if (fanIn % 4 != 0)
            {
                ref byte bq = ref Unsafe.Add(ref b, fullGroups * rowStride);
                Vector128<sbyte> v = Vector128.Create(tails[oc]).AsSByte();
                a0 = default(TDot).MultiplyAdd(a0, Vector128.LoadUnsafe(ref bq), v);
                a1 = default(TDot).MultiplyAdd(a1, Vector128.LoadUnsafe(ref bq, 16), v);
            }

            if (withResiduals)
            {
                AddResiduals(ref b, rowStride, oc, ref a0, ref a1);
            }

            a0.StoreUnsafe(ref target, 0);
            a1.StoreUnsafe(ref target, 4);
        }

        /// <summary><see cref="AddResiduals(ref byte, int, int, ref Vector256{int}, ref Vector256{int})"/> for 8 positions in 128-bit registers (pmaddwd).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void AddResiduals(ref byte b, int rowStride, int oc, ref Vector128<int> low, ref Vector128<int> high)
        {
            int end = residualStart[oc + 1];
            for (int i = residualStart[oc]; i < end; i++)
            {
                int k = residualIndex[i];
                ref byte bq = ref Unsafe.Add(ref b, (k >> 2) * rowStride);
                int shift = 8 * (k & 3);
                Vector128<short> r = Vector128.Create(residualValue[i] & 0xFFFF).AsInt16();
                Vector128<int> mask = Vector128.Create(0xFF);
                low += Sse2.MultiplyAddAdjacent((Vector128.ShiftRightLogical(Vector128.LoadUnsafe(ref bq).AsInt32(), shift) & mask).AsInt16(), r);
                high += Sse2.MultiplyAddAdjacent((Vector128.ShiftRightLogical(Vector128.LoadUnsafe(ref bq, 16).AsInt32(), shift) & mask).AsInt16(), r);
            }
        }

        /// <summary>low/high += r·u[k][p] for filter <paramref name="oc"/>'s residuals (k, r), 16 positions: byte k % 4 of each packed int32 lane, times r by vpmaddwd.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void AddResiduals(ref byte b, int rowStride, int oc, ref Vector256<int> low, ref Vector256<int> high)
        {
            int end = residualStart[oc + 1];
            for (int i = residualStart[oc]; i < end; i++)
            {
                int k = residualIndex[i];
                ref byte bq = ref Unsafe.Add(ref b, (k >> 2) * rowStride);
                int shift = 8 * (k & 3);
                // u in the low int16 of each lane, 0 in the high one; r likewise: one vpmaddwd gives r·u exactly.
                Vector256<short> r = Vector256.Create(residualValue[i] & 0xFFFF).AsInt16();
                Vector256<int> mask = Vector256.Create(0xFF);
                low += Avx2.MultiplyAddAdjacent((Vector256.ShiftRightLogical(Vector256.LoadUnsafe(ref bq).AsInt32(), shift) & mask).AsInt16(), r);
                high += Avx2.MultiplyAddAdjacent((Vector256.ShiftRightLogical(Vector256.LoadUnsafe(ref bq, 32).AsInt32(), shift) & mask).AsInt16(), r);
            }
        }

        /// <summary>acc + Σ of 4 adjacent u8·s8 products per int32 lane.</summary>
        private interface IByteDot
        {
            Vector256<int> MultiplyAdd(Vector256<int> acc, Vector256<byte> x, Vector256<sbyte> w);

            /// <summary>The same sums in 128-bit registers (x64 without AVX2).</summary>
            Vector128<int> MultiplyAdd(Vector128<int> acc, Vector128<byte> x, Vector128<sbyte> w);
        }

        /// <summary>
        /// Exact for every weight: vpdpbusd (no saturation) with AVX-VNNI; without it, two vpmaddwd on the even and
        /// odd bytes widened to int16 (|pair| ≤ 65280 fits int32).
        /// </summary>
        private struct ExactDot : IByteDot
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public Vector256<int> MultiplyAdd(Vector256<int> acc, Vector256<byte> x, Vector256<sbyte> w)
            {
                if (AvxVnni.IsSupported)
                {
                    return AvxVnni.MultiplyWideningAndAdd(acc, x, w);
                }

                Vector256<short> xEven = Avx2.And(x.AsInt16(), Vector256.Create((short)0xFF));
                Vector256<short> xOdd = Avx2.ShiftRightLogical(x.AsInt16(), 8);
                Vector256<short> wEven = Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(w.AsInt16(), 8), 8);
                Vector256<short> wOdd = Avx2.ShiftRightArithmetic(w.AsInt16(), 8);
                return Avx2.Add(acc, Avx2.Add(Avx2.MultiplyAddAdjacent(xEven, wEven), Avx2.MultiplyAddAdjacent(xOdd, wOdd)));
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public Vector128<int> MultiplyAdd(Vector128<int> acc, Vector128<byte> x, Vector128<sbyte> w)
            {
                Vector128<short> xEven = Sse2.And(x.AsInt16(), Vector128.Create((short)0xFF));
                Vector128<short> xOdd = Sse2.ShiftRightLogical(x.AsInt16(), 8);
                Vector128<short> wEven = Sse2.ShiftRightArithmetic(Sse2.ShiftLeftLogical(w.AsInt16(), 8), 8);
                Vector128<short> wOdd = Sse2.ShiftRightArithmetic(w.AsInt16(), 8);
                return Sse2.Add(acc, Sse2.Add(Sse2.MultiplyAddAdjacent(xEven, wEven), Sse2.MultiplyAddAdjacent(xOdd, wOdd)));
            }
        }

        /// <summary>
        /// vpmaddubsw (adjacent u8·s8 pairs summed into int16, saturating) then vpmaddwd by 1: a third of
        /// <see cref="ExactDot"/>'s instructions. Exact only for filters whose every weight pair (2i, 2i + 1) keeps
        /// the pair sum inside int16 for any codes 0–255: positive weights summing to at most 128 and negative ones
        /// to at least −128 (255·128 = 32640). <see cref="pairsFit"/> records which filters qualify as given; the
        /// others run on <see cref="FitPairs"/>' fitted weights plus residuals.
        /// </summary>
        private struct PairSumDot : IByteDot
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public Vector256<int> MultiplyAdd(Vector256<int> acc, Vector256<byte> x, Vector256<sbyte> w)
            {
                return Avx2.Add(acc, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w), Vector256.Create((short)1)));
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            public Vector128<int> MultiplyAdd(Vector128<int> acc, Vector128<byte> x, Vector128<sbyte> w)
            {
                return Sse2.Add(acc, Sse2.MultiplyAddAdjacent(Ssse3.MultiplyAddAdjacent(x, w), Vector128.Create((short)1)));
            }
        }
#endif
    }
}
