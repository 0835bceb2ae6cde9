using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Elementwise Add of two int8 tensors with different scales: y = z_y + round((a − z_a)·s_a/s_y + (b − z_b)·s_b/s_y),
    /// clamped; both terms come from 256-entry tables in fixed point with <see cref="LeftShift"/> fraction bits.
    /// Broadcasting per <see cref="Broadcast4D"/>.
    /// </summary>
    public sealed class AddInt8
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

            private FoldedTables(int[] a, int[] b, sbyte[] codes, int middle)
            {
                A = a;
                B = b;
                Codes = codes;
                Middle = middle;
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

                int stepA = a.Length == 1 ? 0 : 1;
                int stepB = b.Length == 1 ? 0 : 1;
                for (int i = start; i < n; i++)
                {
                    int index = (Unsafe.Add(ref tableA, (byte)Unsafe.Add(ref pa, i * stepA)) + Unsafe.Add(ref tableB, (byte)Unsafe.Add(ref pb, i * stepB))) >> LeftShift;
                    Unsafe.Add(ref po, i) = Unsafe.Add(ref codes, index);
                }

                return n;
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
