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
        {
            shape = new Broadcast4D(shapeA, shapeB);
            op = new Operator();
            op.ZeroOut = output.ZeroPoint;
            op.ClampMin = clampMin;
            op.ClampMax = clampMax;
            // Each operand's term (code − z)·s/s_y depends on its code alone: tabulate it once, in fixed point
            // with LeftShift fraction bits, rounded in double at prepare time. The sum is then rounded once,
            // so y is the exactly rounded (a + b)/s_y — what ONNX Runtime's float QLinearAdd computes — except
            // for values within 2^-20 of a half (the gemmlowp three-multiplier form misses by one code far more
            // often, and the misses compound through residual blocks).
            op.ScaledA = Tabulate(a, output);
            op.ScaledB = Tabulate(b, output);
            // When every sum of two terms plus the rounding half fits int32 (scale ratios below about 2^10), rows
            // run on int32 copies of the tables: the same sums, so the same bits, at half the table bytes.
            long largest = MaxAbs(op.ScaledA) + MaxAbs(op.ScaledB) + (1L << (LeftShift - 1));
            bool fits = largest <= int.MaxValue;
            op.NarrowA = fits ? Narrow(op.ScaledA) : new int[0];
            op.NarrowB = fits ? Narrow(op.ScaledB) : new int[0];
        }

        private static long MaxAbs(long[] table)
        {
            long max = 0;
            foreach (long v in table)
            {
                max = Math.Max(max, Math.Abs(v));
            }

            return max;
        }

        private static int[] Narrow(long[] table)
        {
            var narrow = new int[table.Length];
            for (int i = 0; i < table.Length; i++)
            {
                narrow[i] = (int)table[i];
            }

            return narrow;
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

            public int[] NarrowA;
            public int[] NarrowB;

            /// <summary>Invoke's arithmetic on int32 tables without bounds checks (x64 has no byte-indexed 32-bit gather worth its cost here).</summary>
            public int InvokeRow(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            {
                if (NarrowA.Length == 0)
                {
                    return 0;
                }

                ref int tableA = ref NarrowA[0];
                ref int tableB = ref NarrowB[0];
                ref sbyte pa = ref MemoryMarshal.GetReference(a);
                ref sbyte pb = ref MemoryMarshal.GetReference(b);
                ref sbyte po = ref MemoryMarshal.GetReference(output);
                int stepA = a.Length == 1 ? 0 : 1;
                int stepB = b.Length == 1 ? 0 : 1;
                const int Half = 1 << (LeftShift - 1);
                int n = output.Length;
                int start = 0;
                if (stepA == 1 && stepB == 1)
                {
                    // Both operands along the row: four independent sums per iteration.
                    for (; start <= n - 4; start += 4)
                    {
                        int s0 = Unsafe.Add(ref tableA, (byte)Unsafe.Add(ref pa, start)) + Unsafe.Add(ref tableB, (byte)Unsafe.Add(ref pb, start));
                        int s1 = Unsafe.Add(ref tableA, (byte)Unsafe.Add(ref pa, start + 1)) + Unsafe.Add(ref tableB, (byte)Unsafe.Add(ref pb, start + 1));
                        int s2 = Unsafe.Add(ref tableA, (byte)Unsafe.Add(ref pa, start + 2)) + Unsafe.Add(ref tableB, (byte)Unsafe.Add(ref pb, start + 2));
                        int s3 = Unsafe.Add(ref tableA, (byte)Unsafe.Add(ref pa, start + 3)) + Unsafe.Add(ref tableB, (byte)Unsafe.Add(ref pb, start + 3));
                        Unsafe.Add(ref po, start) = Clamp(((s0 + Half) >> LeftShift) + ZeroOut);
                        Unsafe.Add(ref po, start + 1) = Clamp(((s1 + Half) >> LeftShift) + ZeroOut);
                        Unsafe.Add(ref po, start + 2) = Clamp(((s2 + Half) >> LeftShift) + ZeroOut);
                        Unsafe.Add(ref po, start + 3) = Clamp(((s3 + Half) >> LeftShift) + ZeroOut);
                    }
                }

                for (int i = start; i < n; i++)
                {
                    int sum = Unsafe.Add(ref tableA, (byte)Unsafe.Add(ref pa, i * stepA)) + Unsafe.Add(ref tableB, (byte)Unsafe.Add(ref pb, i * stepB));
                    Unsafe.Add(ref po, i) = Clamp(((sum + Half) >> LeftShift) + ZeroOut);
                }

                return output.Length;
            }

            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            private sbyte Clamp(int y)
            {
                return (sbyte)(y < ClampMin ? ClampMin : (y > ClampMax ? ClampMax : y));
            }

            public sbyte Invoke(int a, int b)
            {
                long y = ((ScaledA[(byte)a] + ScaledB[(byte)b] + (1L << (LeftShift - 1))) >> LeftShift) + ZeroOut;
                return (sbyte)(y < ClampMin ? ClampMin : (y > ClampMax ? ClampMax : y));
            }
        }
    }
}
