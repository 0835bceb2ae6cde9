using System;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Elementwise Mul of two int8 tensors (TFLite scheme): the product of the deviations
    /// (x1 − z1)·(x2 − z2) (|·| ≤ 2^16) rescaled by M = s1·s2/s_y. Broadcasting per <see cref="Broadcast4D"/>.
    /// </summary>
    public sealed class MulInt8 : IBinaryInt8Kernel
    {
        private readonly Broadcast4D shape;
        private Operator op;

        public MulInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output, int clampMin = sbyte.MinValue, int clampMax = sbyte.MaxValue)
        {
            shape = new Broadcast4D(shapeA, shapeB);
            op = new Operator();
            FixedPoint.QuantizeMultiplier((double)a.Scale * b.Scale / output.Scale, out op.Multiplier, out op.Shift);
            op.ZeroA = a.ZeroPoint;
            op.ZeroB = b.ZeroPoint;
            op.ZeroOut = output.ZeroPoint;
            op.ClampMin = clampMin;
            op.ClampMax = clampMax;
        }

        public int OutputLength
        {
            get { return shape.OutputLength; }
        }

        public void Eval(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
        {
            BroadcastDriver.Run(shape, ref op, a, b, output);
        }

        /// <summary>The scalar definition: the output code of one pair of codes.</summary>
        public sbyte Invoke(int a, int b)
        {
            return op.Invoke(a, b);
        }

        private struct Operator : IBinaryInt8Operator
        {
            public int ZeroA;
            public int ZeroB;
            public int ZeroOut;
            public int Multiplier;
            public int Shift;
            public int ClampMin;
            public int ClampMax;

            /// <summary>
            /// 16 codes at a time: (a − z_a)·(b − z_b) in int32 lanes (|product| ≤ 65025, exact), then the same single
            /// rounding, zero point and clamp as Invoke (SingleRoundingVector is bit-identical to the scalar form).
            /// </summary>
            public int InvokeRow(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            {
                int i = 0;
#if NET8_0_OR_GREATER
                if (output.Length < 8 || !SingleRoundingVector.IsAccelerated || !SingleRoundingVector.Constants.Supported(Shift))
                {
                    return 0;
                }

                var constants = new SingleRoundingVector.Constants(Multiplier, Shift);
                bool broadcastA = a.Length == 1 && output.Length > 1;
                bool broadcastB = b.Length == 1 && output.Length > 1;
                ref sbyte pa = ref MemoryMarshal.GetReference(a);
                ref sbyte pb = ref MemoryMarshal.GetReference(b);
                ref sbyte po = ref MemoryMarshal.GetReference(output);
                int n = output.Length;
                if (Avx2.IsSupported)
                {
                    Vector256<int> zeroA = Vector256.Create(ZeroA), zeroB = Vector256.Create(ZeroB);
                    Vector256<int> zeroOut = Vector256.Create(ZeroOut), low = Vector256.Create(ClampMin), high = Vector256.Create(ClampMax);
                    Vector256<int> fixedA = Vector256.Create(a[0] - ZeroA), fixedB = Vector256.Create(b[0] - ZeroB);
                    var broadcast = new SingleRoundingVector.Broadcast256(constants);
                    for (; i <= n - 16; i += 16)
                    {
                        Vector256<short> wideA = broadcastA ? default : Vector256.WidenLower(Vector128.LoadUnsafe(ref pa, (nuint)i).ToVector256Unsafe());
                        Vector256<short> wideB = broadcastB ? default : Vector256.WidenLower(Vector128.LoadUnsafe(ref pb, (nuint)i).ToVector256Unsafe());
                        Vector256<int> a0 = broadcastA ? fixedA : Vector256.WidenLower(wideA) - zeroA;
                        Vector256<int> a1 = broadcastA ? fixedA : Vector256.WidenUpper(wideA) - zeroA;
                        Vector256<int> b0 = broadcastB ? fixedB : Vector256.WidenLower(wideB) - zeroB;
                        Vector256<int> b1 = broadcastB ? fixedB : Vector256.WidenUpper(wideB) - zeroB;
                        Vector256<int> y0 = Vector256.Min(Vector256.Max(SingleRoundingVector.Apply(a0 * b0, broadcast) + zeroOut, low), high);
                        Vector256<int> y1 = Vector256.Min(Vector256.Max(SingleRoundingVector.Apply(a1 * b1, broadcast) + zeroOut, low), high);
                        Vector256<short> words = Vector256.Narrow(y0, y1);
                        Vector128.Narrow(words.GetLower(), words.GetUpper()).StoreUnsafe(ref po, (nuint)i);
                    }

                    return i;
                }

                Vector128<int> zeroA128 = Vector128.Create(ZeroA), zeroB128 = Vector128.Create(ZeroB);
                Vector128<int> zeroOut128 = Vector128.Create(ZeroOut), low128 = Vector128.Create(ClampMin), high128 = Vector128.Create(ClampMax);
                Vector128<int> fixedA128 = Vector128.Create(a[0] - ZeroA), fixedB128 = Vector128.Create(b[0] - ZeroB);
                for (; i <= n - 8; i += 8)
                {
                    Vector128<short> wideA = broadcastA ? default : Vector128.WidenLower(Vector64.LoadUnsafe(ref pa, (nuint)i).ToVector128Unsafe());
                    Vector128<short> wideB = broadcastB ? default : Vector128.WidenLower(Vector64.LoadUnsafe(ref pb, (nuint)i).ToVector128Unsafe());
                    Vector128<int> a0 = broadcastA ? fixedA128 : Vector128.WidenLower(wideA) - zeroA128;
                    Vector128<int> a1 = broadcastA ? fixedA128 : Vector128.WidenUpper(wideA) - zeroA128;
                    Vector128<int> b0 = broadcastB ? fixedB128 : Vector128.WidenLower(wideB) - zeroB128;
                    Vector128<int> b1 = broadcastB ? fixedB128 : Vector128.WidenUpper(wideB) - zeroB128;
                    Vector128<int> y0 = Vector128.Min(Vector128.Max(SingleRoundingVector.Apply128(a0 * b0, constants) + zeroOut128, low128), high128);
                    Vector128<int> y1 = Vector128.Min(Vector128.Max(SingleRoundingVector.Apply128(a1 * b1, constants) + zeroOut128, low128), high128);
                    Vector128<short> words = Vector128.Narrow(y0, y1);
                    Vector64.Narrow(words.GetLower(), words.GetUpper()).StoreUnsafe(ref po, (nuint)i);
                }
#endif
                return i;
            }

            public sbyte Invoke(int a, int b)
            {
                int product = (a - ZeroA) * (b - ZeroB);
                int y = FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(product, Multiplier, Shift) + ZeroOut;
                return (sbyte)QuantParams.Clamp(y, ClampMin, ClampMax);
            }
        }
    }
}
