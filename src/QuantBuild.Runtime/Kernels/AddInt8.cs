using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Elementwise Add of two int8 tensors with different scales: y = z_y + round((a − z_a)·s_a/s_y + (b − z_b)·s_b/s_y),
    /// clamped; both terms come from 256-entry tables in fixed point with <see cref="LeftShift"/> fraction bits.
    /// Broadcasting per <see cref="Broadcast4D"/>.
    /// </summary>
    public sealed class AddInt8 : IBinaryInt8Kernel
    {
        /// <summary>Fraction bits of the tabulated terms (the terms are int64, so any scale ratio fits).</summary>
        public const int LeftShift = 20;

        private readonly Broadcast4D shape;
        private Operator op;

        public AddInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output, int clampMin = sbyte.MinValue, int clampMax = sbyte.MaxValue)
            : this(shapeA, a, shapeB, b, output, clampMin, clampMax, Same)
        {
        }

        /// <summary>
        /// Add, then Relu/Clip on its int8 result in the same pass: <paramref name="output"/> is the sum's own
        /// parameters (its codes are never stored) and <paramref name="then"/> maps each sum code exactly as the
        /// separate Clip step would.
        /// </summary>
        public AddInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output, int clampMin, int clampMax, ClipInt8 then)
            : this(shapeA, a, shapeB, b, output, clampMin, clampMax, then.Apply)
        {
        }

        private AddInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output, int clampMin, int clampMax, Func<int, sbyte> after)
        {
            shape = new Broadcast4D(shapeA, shapeB);
            op = new Operator();
            op.ZeroOut = output.ZeroPoint;
            op.ClampMin = clampMin;
            op.ClampMax = clampMax;
            op.After = new sbyte[256];
            for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
            {
                op.After[(byte)code] = after(code);
            }

            // Each operand's term (code − z)·s/s_y depends on its code alone: tabulate it once, in fixed point
            // with LeftShift fraction bits, rounded in double at prepare time. The sum is then rounded once,
            // so y is the exactly rounded (a + b)/s_y — what ONNX Runtime's float QLinearAdd computes — except
            // for values within 2^-20 of a half (the gemmlowp three-multiplier form misses by one code far more
            // often, and the misses compound through residual blocks).
            op.ScaledA = Tabulate(a, output);
            op.ScaledB = Tabulate(b, output);
            op.Folded = FoldedTables.TryCreate(op.ScaledA, op.ScaledB, op.ZeroOut, clampMin, clampMax, op.After);
        }

        private static sbyte Same(int code)
        {
            return (sbyte)code;
        }

        /// <summary>
        /// The row form's tables: y = codes[Middle + ((A[a] + B[b]) >> LeftShift)], where B carries the rounding half
        /// and the zero point minus the middle of the reachable y as whole multiples of 2^LeftShift (adding k·2^n
        /// before an arithmetic shift by n adds exactly k after it), and codes[i] is the clamped code y_min + i
        /// already passed through the fused activation. Centring keeps the sums inside int32 for spans up to 2^12
        /// codes (scale ratios up to about 8); wider spans, or terms beyond int32, get <see cref="None"/>
        /// (docs/algorithms/requantization.md, "Add with a fused Relu").
        /// </summary>
        private sealed class FoldedTables
        {
            private const int MaxSpan = 1 << 12;

            /// <summary>No folded form: every element takes <see cref="Operator.Invoke"/>.</summary>
            public static readonly FoldedTables None = new FoldedTables(new int[0], new int[0], new sbyte[0], 0);

            public readonly int[] A;
            public readonly int[] B;
            public readonly sbyte[] Codes;

            /// <summary>Index into <see cref="Codes"/> of the shifted sum 0.</summary>
            public readonly int Middle;

            /// <summary>The vector rows' straight-line form of the tables (<see cref="LineForm.None"/> when it does not apply).</summary>
            public readonly LineForm Line;

            private FoldedTables(int[] a, int[] b, sbyte[] codes, int middle)
            {
                A = a;
                B = b;
                Codes = codes;
                Middle = middle;
                Line = codes.Length == 0 ? LineForm.None : LineForm.TryCreate(a, b, codes, middle);
            }

            public static FoldedTables TryCreate(long[] scaledA, long[] scaledB, int zeroOut, int clampMin, int clampMax, sbyte[] after)
            {
                const long Half = 1L << (LeftShift - 1);
                long minA = Min(scaledA), maxA = Max(scaledA), minB = Min(scaledB), maxB = Max(scaledB);
                long lowest = ((minA + minB + Half) >> LeftShift) + zeroOut;
                long highest = ((maxA + maxB + Half) >> LeftShift) + zeroOut;
                if (highest - lowest >= MaxSpan)
                {
                    return None;
                }

                long middle = lowest + (highest - lowest) / 2;
                long offset = Half + ((zeroOut - middle) << LeftShift);
                if (minA + minB + offset < int.MinValue || maxA + maxB + offset > int.MaxValue
                    || minA < int.MinValue || maxA > int.MaxValue || minB + offset < int.MinValue || maxB + offset > int.MaxValue)
                {
                    return None;
                }

                var a = new int[256];
                var b = new int[256];
                for (int i = 0; i < 256; i++)
                {
                    a[i] = (int)scaledA[i];
                    b[i] = (int)(scaledB[i] + offset);
                }

                var codes = new sbyte[highest - lowest + 1];
                for (int i = 0; i < codes.Length; i++)
                {
                    long y = lowest + i;
                    codes[i] = Output(y, clampMin, clampMax, after);
                }

                return new FoldedTables(a, b, codes, (int)(middle - lowest));
            }

            private static long Min(long[] table)
            {
                long min = long.MaxValue;
                foreach (long v in table)
                {
                    min = Math.Min(min, v);
                }

                return min;
            }

            private static long Max(long[] table)
            {
                long max = long.MinValue;
                foreach (long v in table)
                {
                    max = Math.Max(max, v);
                }

                return max;
            }
        }

        /// <summary>
        /// Straight lines for vector rows. In: T_a[c] = c·SlopeA + r_a(c) and T_b'[c] = c·SlopeB + r_b(c), with the
        /// residuals' sum within <see cref="Intercept"/> ± <see cref="Tolerance"/> (measured over all 256 codes when the step
        /// is built). A lane computes L = a·SlopeA + b·SlopeB + Intercept; the exact table sum T lies in [L − Tolerance,
        /// L + Tolerance], so when both ends shift right by <see cref="LeftShift"/> to the same bucket, T does too. Lanes near
        /// a bucket edge (a few in ten thousand) make their block take the tables. Out: the code table, as a function of
        /// the bucket k, equals clamp((clamp(k + BucketShift, StretchLow, StretchHigh)·OutMultiplier + OutOffset) >> OutShift,
        /// Low, High) at every reachable bucket — checked at each one when the step is built. That holds for a plain clamp and for
        /// Relu/Clip with their own output scale (a fixed-point rescale is a staircase of constant step). No partial sum leaves int32
        /// (docs/algorithms/requantization.md, "Add in vector rows").
        /// </summary>
        private sealed class LineForm
        {
            /// <summary>No line form: rows take the folded tables.</summary>
            public static readonly LineForm None = new LineForm();

            /// <summary>Whether vector rows may use this form.</summary>
            public bool Applies;

            public int SlopeA;
            public int SlopeB;
            public int Intercept;
            public int Tolerance;
            /// <summary>Added to a bucket before the clamp to [StretchLow, StretchHigh]: centres the stretch where codes change.</summary>
            public int BucketShift;
            public int StretchLow;
            public int StretchHigh;
            public int OutMultiplier;
            public int OutOffset;
            public int OutShift;

            /// <summary>The table's first and last codes: the line's value is clamped to them.</summary>
            public int Low;
            public int High;

            /// <summary>Widest stretch of changing codes the out line covers (int8 sums change over 256 buckets at most).</summary>
            private const int MaxStretch = 512;
            private const int MaxOutShift = 22;

            public static LineForm TryCreate(int[] a, int[] b, sbyte[] codes, int middle)
            {
                long slopeA, interceptA, toleranceA, slopeB, interceptB, toleranceB;
                Fit(a, out slopeA, out interceptA, out toleranceA);
                Fit(b, out slopeB, out interceptB, out toleranceB);
                long intercept = interceptA + interceptB;
                long tolerance = toleranceA + toleranceB;

                // Every partial result a lane forms (a·SlopeA, + b·SlopeB, + Intercept, ± Tolerance) stays in int32.
                long extreme = 128 * Math.Abs(slopeA) + 128 * Math.Abs(slopeB) + Math.Abs(intercept) + tolerance;
                if (extreme > int.MaxValue)
                {
                    return None;
                }

                var form = new LineForm
                {
                    SlopeA = (int)slopeA,
                    SlopeB = (int)slopeB,
                    Intercept = (int)intercept,
                    Tolerance = (int)tolerance,
                };
                return form.FitOut(codes, middle) ? form : None;
            }

            /// <summary>The slope through the table's end codes, and the residuals' mid-range and half-range.</summary>
            private static void Fit(int[] table, out long slope, out long intercept, out long tolerance)
            {
                long first = table[128];
                long last = table[127];
                slope = (long)Math.Round((last - first) / 255.0);
                long min = long.MaxValue, max = long.MinValue;
                for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
                {
                    long residual = table[(byte)code] - code * slope;
                    min = Math.Min(min, residual);
                    max = Math.Max(max, residual);
                }

                intercept = min + (max - min) / 2;
                tolerance = Math.Max(max - intercept, intercept - min);
            }

            /// <summary>
            /// Finds the out map. The code table only changes over the buckets whose sums land in int8 (at most 256 of
            /// them); the bucket is clamped into that stretch [jLow, jHigh] and centred on it, and a line
            /// (k·m + q) >> s is fitted through the table there: m in the middle of the slopes every pair of buckets allows,
            /// times 2^s, and q from the intersection of what every bucket allows, verified exactly. False when no line fits
            /// (a table that is not monotone, or a rescale tie the line cannot reproduce).
            /// </summary>
            private bool FitOut(sbyte[] codes, int middle)
            {
                int jLow = 0, jHigh = codes.Length - 1;
                while (jLow < jHigh && codes[jLow + 1] == codes[0])
                {
                    jLow++;
                }

                while (jHigh > jLow && codes[jHigh - 1] == codes[codes.Length - 1])
                {
                    jHigh--;
                }

                if (jHigh - jLow > MaxStretch)
                {
                    return false;
                }

                int center = jLow + (jHigh - jLow) / 2;
                BucketShift = middle - center;
                StretchLow = jLow - center;
                StretchHigh = jHigh - center;
                // A line through the staircase exists exactly when its slope clears every pair's window:
                // (codes[j] − codes[i] − 1)/(j − i) < slope < (codes[j] − codes[i] + 1)/(j − i).
                // The stretch's two ends hold clamped codes (the line may pass beyond them there), so only the buckets
                // between them bound the slope.
                double lowerSlope = 0.0, upperSlope = double.MaxValue;
                for (int i = jLow + 1; i < jHigh; i++)
                {
                    for (int j = i + 1; j < jHigh; j++)
                    {
                        lowerSlope = Math.Max(lowerSlope, (codes[j] - codes[i] - 1.0) / (j - i));
                        upperSlope = Math.Min(upperSlope, (codes[j] - codes[i] + 1.0) / (j - i));
                    }
                }

                if (upperSlope == double.MaxValue)
                {
                    upperSlope = 1.0;
                }

                for (int shift = MaxOutShift; shift >= 0; shift--)
                {
                    double scale = 1L << shift;
                    long middleMultiplier = (long)Math.Round((lowerSlope + upperSlope) / 2 * scale);
                    for (long multiplier = middleMultiplier - 2; multiplier <= middleMultiplier + 2; multiplier++)
                    {
                        long offset;
                        if (multiplier >= 0 && multiplier * (MaxStretch / 2 + 1) <= int.MaxValue / 2
                            && TryOffset(codes, jLow, jHigh, center, multiplier, shift, out offset))
                        {
                            Low = codes[0];
                            High = codes[codes.Length - 1];
                            OutMultiplier = (int)multiplier;
                            OutOffset = (int)offset;
                            OutShift = shift;
                            Applies = MatchesEveryBucket(codes, middle);
                            return Applies;
                        }
                    }
                }

                return false;
            }

            /// <summary>
            /// The least q with ((j − center)·m + q) >> s = codes[j] for every j strictly inside [jLow, jHigh], and at or
            /// beyond the clamped code at each end, if one exists.
            /// </summary>
            private static bool TryOffset(sbyte[] codes, int jLow, int jHigh, int center, long multiplier, int shift, out long offset)
            {
                long lowest = long.MinValue, highest = long.MaxValue;
                for (int j = jLow; j <= jHigh; j++)
                {
                    long product = (long)(j - center) * multiplier;
                    int code = codes[j];
                    if (!(j == jLow && code == codes[0]))
                    {
                        lowest = Math.Max(lowest, ((long)code << shift) - product);
                    }

                    if (!(j == jHigh && code == codes[codes.Length - 1]))
                    {
                        highest = Math.Min(highest, (((long)code + 1) << shift) - 1 - product);
                    }
                }

                offset = lowest != long.MinValue ? lowest : (highest != long.MaxValue ? highest : 0);
                return lowest <= highest && Math.Abs(offset) <= int.MaxValue / 2;
            }

            /// <summary>
            /// The out map exactly as the vector lanes compute it, at every reachable bucket, against the code table: the
            /// fit above only constrains the stretch, so this is what makes the form exact for any table.
            /// </summary>
            private bool MatchesEveryBucket(sbyte[] codes, int middle)
            {
                for (int i = 0; i < codes.Length; i++)
                {
                    int stretch = Math.Min(Math.Max(i - middle + BucketShift, StretchLow), StretchHigh);
                    int value = Math.Min(Math.Max((stretch * OutMultiplier + OutOffset) >> OutShift, Low), High);
                    if (value != codes[i])
                    {
                        return false;
                    }
                }

                return true;
            }
        }

        /// <summary>The code written for the rounded sum code <paramref name="y"/>: clamped, then through the fused activation.</summary>
        private static sbyte Output(long y, int clampMin, int clampMax, sbyte[] after)
        {
            return after[(byte)(sbyte)(y < clampMin ? clampMin : (y > clampMax ? clampMax : y))];
        }

        private static long[] Tabulate(QuantParams operand, QuantParams output)
        {
            double ratio = (double)operand.Scale / output.Scale * (1L << LeftShift);
            var table = new long[256];
            for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
            {
                table[(byte)code] = (long)Math.Round((code - operand.ZeroPoint) * ratio, MidpointRounding.AwayFromZero);
            }

            return table;
        }

        /// <summary>Whether vector rows may run on the tables' straight-line form (tests check it is reached).</summary>
        internal bool HasLineForm
        {
            get { return op.Folded.Line.Applies; }
        }

        /// <summary>Whether rows run on the folded tables (tests check both forms are reached).</summary>
        internal bool HasRowTables
        {
            get { return op.Folded.Codes.Length > 0; }
        }

        public int OutputLength
        {
            get { return shape.OutputLength; }
        }

        public void Eval(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
        {
            BroadcastDriver.Run(shape, ref op, a, b, output);
        }

        /// <summary>The scalar definition: the output code of one pair of codes (after the fused activation, if any).</summary>
        public sbyte Invoke(int a, int b)
        {
            return op.Invoke(a, b);
        }

        private struct Operator : IBinaryInt8Operator
        {
            public int ZeroOut;
            public int ClampMin;
            public int ClampMax;
            public long[] ScaledA;
            public long[] ScaledB;

            /// <summary>The fused activation's code for each clamped sum code (the identity without one).</summary>
            public sbyte[] After;

            /// <summary><see cref="FoldedTables.None"/> when the sums or their span are too wide.</summary>
            public FoldedTables Folded;

            /// <summary>Invoke's arithmetic on the folded tables, without bounds checks: every index is in range by construction.</summary>
            public int InvokeRow(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            {
                if (Folded.Codes.Length == 0)
                {
                    return 0;
                }

                ref int tableA = ref Folded.A[0];
                ref int tableB = ref Folded.B[0];
                ref sbyte codes = ref Folded.Codes[Folded.Middle];
                ref sbyte pa = ref MemoryMarshal.GetReference(a);
                ref sbyte pb = ref MemoryMarshal.GetReference(b);
                ref sbyte po = ref MemoryMarshal.GetReference(output);
                int n = output.Length;
                int start = 0;
#if NET8_0_OR_GREATER
                if (Folded.Line.Applies && Vector128.IsHardwareAccelerated)
                {
                    start = Vector256.IsHardwareAccelerated ? LineRows256(a, b, output) : LineRows128(a, b, output);
                }
#endif
                if (a.Length != 1 && b.Length != 1 && BitConverter.IsLittleEndian)
                {
                    // Both operands along the row, eight at a time: one 8-byte load per operand and one 8-byte store
                    // (byte k of the word is element k on little-endian CPUs), so the load ports only carry the three
                    // table reads per element.
                    ref byte bytesA = ref Unsafe.As<sbyte, byte>(ref pa);
                    ref byte bytesB = ref Unsafe.As<sbyte, byte>(ref pb);
                    ref byte bytesOut = ref Unsafe.As<sbyte, byte>(ref po);
                    for (; start <= n - 8; start += 8)
                    {
                        ulong wordA = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref bytesA, start));
                        ulong wordB = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref bytesB, start));
                        ulong result = Lookup(ref tableA, ref tableB, ref codes, wordA, wordB, 0)
                            | Lookup(ref tableA, ref tableB, ref codes, wordA, wordB, 8)
                            | Lookup(ref tableA, ref tableB, ref codes, wordA, wordB, 16)
                            | Lookup(ref tableA, ref tableB, ref codes, wordA, wordB, 24)
                            | Lookup(ref tableA, ref tableB, ref codes, wordA, wordB, 32)
                            | Lookup(ref tableA, ref tableB, ref codes, wordA, wordB, 40)
                            | Lookup(ref tableA, ref tableB, ref codes, wordA, wordB, 48)
                            | Lookup(ref tableA, ref tableB, ref codes, wordA, wordB, 56);
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref bytesOut, start), result);
                    }
                }

                TableBlock(ref pa, a.Length == 1 ? 0 : 1, ref pb, b.Length == 1 ? 0 : 1, ref po, start, n - start);
                return n;
            }

#if NET8_0_OR_GREATER
            /// <summary>32 lanes at a time on <see cref="LineForm"/>; returns how many elements it wrote.</summary>
            private int LineRows256(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            {
                LineForm line = Folded.Line;
                var slopeA = Vector256.Create(line.SlopeA);
                var slopeB = Vector256.Create(line.SlopeB);
                var intercept = Vector256.Create(line.Intercept);
                var tolerance = Vector256.Create(line.Tolerance);
                var outLow = Vector256.Create(line.Low);
                var outHigh = Vector256.Create(line.High);
                var outMultiplier = Vector256.Create(line.OutMultiplier);
                var outOffset = Vector256.Create(line.OutOffset);
                int outShift = line.OutShift;
                var bucketShift = Vector256.Create(line.BucketShift);
                var low = Vector256.Create(line.StretchLow);
                var high = Vector256.Create(line.StretchHigh);
                ref sbyte pa = ref MemoryMarshal.GetReference(a);
                ref sbyte pb = ref MemoryMarshal.GetReference(b);
                ref sbyte po = ref MemoryMarshal.GetReference(output);
                int n = output.Length;
                int i = 0;
                for (; i <= n - 32; i += 32)
                {
                    Vector256<sbyte> va = a.Length == 1 ? Vector256.Create(pa) : Vector256.LoadUnsafe(ref pa, (nuint)i);
                    Vector256<sbyte> vb = b.Length == 1 ? Vector256.Create(pb) : Vector256.LoadUnsafe(ref pb, (nuint)i);
                    Vector256<short> a0 = Vector256.WidenLower(va), a1 = Vector256.WidenUpper(va);
                    Vector256<short> b0 = Vector256.WidenLower(vb), b1 = Vector256.WidenUpper(vb);
                    Vector256<int> edges = Vector256<int>.Zero;
                    Vector256<int> y0 = Line256(Vector256.WidenLower(a0), Vector256.WidenLower(b0), slopeA, slopeB, intercept, tolerance, bucketShift, low, high, outMultiplier, outOffset, outShift, outLow, outHigh, ref edges);
                    Vector256<int> y1 = Line256(Vector256.WidenUpper(a0), Vector256.WidenUpper(b0), slopeA, slopeB, intercept, tolerance, bucketShift, low, high, outMultiplier, outOffset, outShift, outLow, outHigh, ref edges);
                    Vector256<int> y2 = Line256(Vector256.WidenLower(a1), Vector256.WidenLower(b1), slopeA, slopeB, intercept, tolerance, bucketShift, low, high, outMultiplier, outOffset, outShift, outLow, outHigh, ref edges);
                    Vector256<int> y3 = Line256(Vector256.WidenUpper(a1), Vector256.WidenUpper(b1), slopeA, slopeB, intercept, tolerance, bucketShift, low, high, outMultiplier, outOffset, outShift, outLow, outHigh, ref edges);
                    if (edges == Vector256<int>.Zero)
                    {
                        Vector256.Narrow(Vector256.Narrow(y0, y1), Vector256.Narrow(y2, y3)).StoreUnsafe(ref po, (nuint)i);
                    }
                    else
                    {
                        TableBlock(ref pa, a.Length == 1 ? 0 : 1, ref pb, b.Length == 1 ? 0 : 1, ref po, i, 32);
                    }
                }

                return i;
            }

            /// <summary>16 lanes at a time on <see cref="LineForm"/> (Arm64 AdvSimd, x64 without AVX2).</summary>
            private int LineRows128(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            {
                LineForm line = Folded.Line;
                var slopeA = Vector128.Create(line.SlopeA);
                var slopeB = Vector128.Create(line.SlopeB);
                var intercept = Vector128.Create(line.Intercept);
                var tolerance = Vector128.Create(line.Tolerance);
                var outLow = Vector128.Create(line.Low);
                var outHigh = Vector128.Create(line.High);
                var outMultiplier = Vector128.Create(line.OutMultiplier);
                var outOffset = Vector128.Create(line.OutOffset);
                int outShift = line.OutShift;
                var bucketShift = Vector128.Create(line.BucketShift);
                var low = Vector128.Create(line.StretchLow);
                var high = Vector128.Create(line.StretchHigh);
                ref sbyte pa = ref MemoryMarshal.GetReference(a);
                ref sbyte pb = ref MemoryMarshal.GetReference(b);
                ref sbyte po = ref MemoryMarshal.GetReference(output);
                int n = output.Length;
                int i = 0;
                for (; i <= n - 16; i += 16)
                {
                    Vector128<sbyte> va = a.Length == 1 ? Vector128.Create(pa) : Vector128.LoadUnsafe(ref pa, (nuint)i);
                    Vector128<sbyte> vb = b.Length == 1 ? Vector128.Create(pb) : Vector128.LoadUnsafe(ref pb, (nuint)i);
                    Vector128<short> a0 = Vector128.WidenLower(va), a1 = Vector128.WidenUpper(va);
                    Vector128<short> b0 = Vector128.WidenLower(vb), b1 = Vector128.WidenUpper(vb);
                    Vector128<int> edges = Vector128<int>.Zero;
                    Vector128<int> y0 = Line128(Vector128.WidenLower(a0), Vector128.WidenLower(b0), slopeA, slopeB, intercept, tolerance, bucketShift, low, high, outMultiplier, outOffset, outShift, outLow, outHigh, ref edges);
                    Vector128<int> y1 = Line128(Vector128.WidenUpper(a0), Vector128.WidenUpper(b0), slopeA, slopeB, intercept, tolerance, bucketShift, low, high, outMultiplier, outOffset, outShift, outLow, outHigh, ref edges);
                    Vector128<int> y2 = Line128(Vector128.WidenLower(a1), Vector128.WidenLower(b1), slopeA, slopeB, intercept, tolerance, bucketShift, low, high, outMultiplier, outOffset, outShift, outLow, outHigh, ref edges);
                    Vector128<int> y3 = Line128(Vector128.WidenUpper(a1), Vector128.WidenUpper(b1), slopeA, slopeB, intercept, tolerance, bucketShift, low, high, outMultiplier, outOffset, outShift, outLow, outHigh, ref edges);
                    if (edges == Vector128<int>.Zero)
                    {
                        Vector128.Narrow(Vector128.Narrow(y0, y1), Vector128.Narrow(y2, y3)).StoreUnsafe(ref po, (nuint)i);
                    }
                    else
                    {
                        TableBlock(ref pa, a.Length == 1 ? 0 : 1, ref pb, b.Length == 1 ? 0 : 1, ref po, i, 16);
                    }
                }

                return i;
            }

            /// <summary>
            /// One lane group: the line's sum L, its bucket (L − tolerance) >> LeftShift, and in <paramref name="edges"/>
            /// a non-zero bit where L + tolerance falls in another bucket. The code is the out line at the bucket.
            /// </summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static Vector256<int> Line256(Vector256<int> a, Vector256<int> b, Vector256<int> slopeA, Vector256<int> slopeB, Vector256<int> intercept,
                Vector256<int> tolerance, Vector256<int> bucketShift, Vector256<int> low, Vector256<int> high, Vector256<int> outMultiplier, Vector256<int> outOffset, int outShift,
                Vector256<int> outLow, Vector256<int> outHigh, ref Vector256<int> edges)
            {
                Vector256<int> sum = a * slopeA + b * slopeB + intercept;
                Vector256<int> bucket = Vector256.ShiftRightArithmetic(sum - tolerance, LeftShift);
                edges |= bucket ^ Vector256.ShiftRightArithmetic(sum + tolerance, LeftShift);
                Vector256<int> stretch = Vector256.Min(Vector256.Max(bucket + bucketShift, low), high);
                return Vector256.Min(Vector256.Max(Vector256.ShiftRightArithmetic(stretch * outMultiplier + outOffset, outShift), outLow), outHigh);
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static Vector128<int> Line128(Vector128<int> a, Vector128<int> b, Vector128<int> slopeA, Vector128<int> slopeB, Vector128<int> intercept,
                Vector128<int> tolerance, Vector128<int> bucketShift, Vector128<int> low, Vector128<int> high, Vector128<int> outMultiplier, Vector128<int> outOffset, int outShift,
                Vector128<int> outLow, Vector128<int> outHigh, ref Vector128<int> edges)
            {
                Vector128<int> sum = a * slopeA + b * slopeB + intercept;
                Vector128<int> bucket = Vector128.ShiftRightArithmetic(sum - tolerance, LeftShift);
                edges |= bucket ^ Vector128.ShiftRightArithmetic(sum + tolerance, LeftShift);
                Vector128<int> stretch = Vector128.Min(Vector128.Max(bucket + bucketShift, low), high);
                return Vector128.Min(Vector128.Max(Vector128.ShiftRightArithmetic(stretch * outMultiplier + outOffset, outShift), outLow), outHigh);
            }
#endif

            /// <summary>Elements [start, start + count) on the folded tables (a vector block with a lane near a bucket edge).</summary>
            private void TableBlock(ref sbyte pa, int stepA, ref sbyte pb, int stepB, ref sbyte po, int start, int count)
            {
                ref int tableA = ref Folded.A[0];
                ref int tableB = ref Folded.B[0];
                ref sbyte codes = ref Folded.Codes[Folded.Middle];
                for (int i = start; i < start + count; i++)
                {
                    int index = (Unsafe.Add(ref tableA, (byte)Unsafe.Add(ref pa, i * stepA)) + Unsafe.Add(ref tableB, (byte)Unsafe.Add(ref pb, i * stepB))) >> LeftShift;
                    Unsafe.Add(ref po, i) = Unsafe.Add(ref codes, index);
                }
            }

            /// <summary>The code of the element in bits [shift, shift + 8) of the two words, placed at the same bits.</summary>
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private static ulong Lookup(ref int tableA, ref int tableB, ref sbyte codes, ulong wordA, ulong wordB, int shift)
            {
                int index = (Unsafe.Add(ref tableA, (int)((wordA >> shift) & 0xFF)) + Unsafe.Add(ref tableB, (int)((wordB >> shift) & 0xFF))) >> LeftShift;
                return (ulong)(byte)Unsafe.Add(ref codes, index) << shift;
            }

            public sbyte Invoke(int a, int b)
            {
                long y = ((ScaledA[(byte)a] + ScaledB[(byte)b] + (1L << (LeftShift - 1))) >> LeftShift) + ZeroOut;
                return Output(y, ClampMin, ClampMax, After);
            }
        }
    }
}
