using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>Which operation <see cref="BroadcastBinaryFloat"/> applies.</summary>
    public enum BinaryFunction
    {
        Add = 0,
        Sub = 1,
        Mul = 2,
        Div = 3,
        Pow = 4,
        Max = 5,
        Min = 6,
        /// <summary>PRelu: a where a ≥ 0, else b·a.</summary>
        PRelu = 7,
        // Comparisons and logic: bool values travel through the generated runtime as 0 and 1 (docs/control-flow.md).
        /// <summary>1 where a = b, else 0 (IEEE: NaN equals nothing).</summary>
        Equal = 8,
        Greater = 9,
        GreaterOrEqual = 10,
        Less = 11,
        LessOrEqual = 12,
        /// <summary>1 where both a and b are non-zero (true), else 0.</summary>
        And = 13,
        Or = 14,
        Xor = 15,
    }

    /// <summary>
    /// y = f(a, b) with numpy broadcasting (rank ≤ 8). The broadcast strides are computed once; the loop
    /// walks the output in row-major order with an odometer, and runs flat when neither input broadcasts
    /// along the innermost dimension. Add, Sub, Mul and Div run their rows in vectors when each input is contiguous
    /// or one value along the row: one IEEE operation per element either way, so the same bits.
    /// </summary>
    public sealed class BroadcastBinaryFloat : FloatKernel
    {
        private readonly BinaryFunction function;
        private readonly int[] outShape;
        private readonly int[] aStrides;
        private readonly int[] bStrides;
        private readonly int length;

        public BroadcastBinaryFloat(BinaryFunction function, int[] aShape, int[] bShape, int[] outShape)
        {
            CheckBroadcastRank(outShape);

            this.function = function;
            this.outShape = (int[])outShape.Clone();
            aStrides = BroadcastStrides(aShape, outShape);
            bStrides = BroadcastStrides(bShape, outShape);
            length = Length(outShape);
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            if (y.Length < length)
            {
                throw new ArgumentException("Output is too short.", "y");
            }

            int rank = outShape.Length;
            if (rank == 0)
            {
                y[0] = Apply(a[0], b[0]);
                return;
            }

            int inner = outShape[rank - 1];
            int aStep = aStrides[rank - 1];
            int bStep = bStrides[rank - 1];
            if (inner == 0)
            {
                return;
            }

            Span<int> index = stackalloc int[MaxBroadcastRank];
            int ai = 0, bi = 0;
#if NET8_0_OR_GREATER
            // Rows shorter than one vector would only pay the dispatch (a [N, 1] broadcast has N rows of one).
            bool vectorRows = Vector128.IsHardwareAccelerated && inner >= 4 && function <= BinaryFunction.Div && aStep <= 1 && bStep <= 1;
#endif
            for (int o = 0; o < length; o += inner)
            {
                int done = 0;
#if NET8_0_OR_GREATER
                if (vectorRows)
                {
                    done = ApplyRow(ref Unsafe.AsRef(in a[ai]), aStep, ref Unsafe.AsRef(in b[bi]), bStep, ref y[o], inner);
                }
#endif
                for (int j = done, aj = ai + done * aStep, bj = bi + done * bStep; j < inner; j++, aj += aStep, bj += bStep)
                {
                    y[o + j] = Apply(a[aj], b[bj]);
                }

                // Advance the odometer over the outer dimensions.
                for (int d = rank - 2; d >= 0; d--)
                {
                    index[d]++;
                    ai += aStrides[d];
                    bi += bStrides[d];
                    if (index[d] < outShape[d])
                    {
                        break;
                    }

                    ai -= aStrides[d] * outShape[d];
                    bi -= bStrides[d] * outShape[d];
                    index[d] = 0;
                }
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>y[j] = f(a[j·aStep], b[j·bStep]) over whole vectors of the row (steps 0 or 1); returns how many it did.</summary>
        private int ApplyRow(ref float a, int aStep, ref float b, int bStep, ref float y, int count)
        {
            switch (function)
            {
                case BinaryFunction.Add: return ApplyRow<AddOp>(ref a, aStep, ref b, bStep, ref y, count);
                case BinaryFunction.Sub: return ApplyRow<SubOp>(ref a, aStep, ref b, bStep, ref y, count);
                case BinaryFunction.Mul: return ApplyRow<MulOp>(ref a, aStep, ref b, bStep, ref y, count);
                default: return ApplyRow<DivOp>(ref a, aStep, ref b, bStep, ref y, count);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int ApplyRow<TOp>(ref float a, int aStep, ref float b, int bStep, ref float y, int count)
            where TOp : struct, IVectorOp
        {
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> aOne = Vector256.Create(a), bOne = Vector256.Create(b);
                for (; i <= count - 8; i += 8)
                {
                    Vector256<float> x = aStep == 0 ? aOne : Vector256.LoadUnsafe(ref a, (nuint)i);
                    Vector256<float> z = bStep == 0 ? bOne : Vector256.LoadUnsafe(ref b, (nuint)i);
                    default(TOp).Apply(x, z).StoreUnsafe(ref y, (nuint)i);
                }
            }

            Vector128<float> aOne4 = Vector128.Create(a), bOne4 = Vector128.Create(b);
            for (; i <= count - 4; i += 4)
            {
                Vector128<float> x = aStep == 0 ? aOne4 : Vector128.LoadUnsafe(ref a, (nuint)i);
                Vector128<float> z = bStep == 0 ? bOne4 : Vector128.LoadUnsafe(ref b, (nuint)i);
                default(TOp).Apply(x, z).StoreUnsafe(ref y, (nuint)i);
            }

            return i;
        }

        private interface IVectorOp
        {
            Vector256<float> Apply(Vector256<float> x, Vector256<float> z);
            Vector128<float> Apply(Vector128<float> x, Vector128<float> z);
        }

        private struct AddOp : IVectorOp
        {
            public Vector256<float> Apply(Vector256<float> x, Vector256<float> z) { return x + z; }
            public Vector128<float> Apply(Vector128<float> x, Vector128<float> z) { return x + z; }
        }

        private struct SubOp : IVectorOp
        {
            public Vector256<float> Apply(Vector256<float> x, Vector256<float> z) { return x - z; }
            public Vector128<float> Apply(Vector128<float> x, Vector128<float> z) { return x - z; }
        }

        private struct MulOp : IVectorOp
        {
            public Vector256<float> Apply(Vector256<float> x, Vector256<float> z) { return x * z; }
            public Vector128<float> Apply(Vector128<float> x, Vector128<float> z) { return x * z; }
        }

        private struct DivOp : IVectorOp
        {
            public Vector256<float> Apply(Vector256<float> x, Vector256<float> z) { return x / z; }
            public Vector128<float> Apply(Vector128<float> x, Vector128<float> z) { return x / z; }
        }
#endif

        private float Apply(float x, float z)
        {
            switch (function)
            {
                case BinaryFunction.Add: return x + z;
                case BinaryFunction.Sub: return x - z;
                case BinaryFunction.Mul: return x * z;
                case BinaryFunction.Div: return x / z;
                case BinaryFunction.Pow: return Pow(x, z);
                case BinaryFunction.Max: return float.IsNaN(x) || float.IsNaN(z) ? float.NaN : Math.Max(x, z);
                case BinaryFunction.Min: return float.IsNaN(x) || float.IsNaN(z) ? float.NaN : Math.Min(x, z);
                case BinaryFunction.PRelu: return x >= 0f ? x : z * x;
                case BinaryFunction.Equal: return x == z ? 1f : 0f;
                case BinaryFunction.Greater: return x > z ? 1f : 0f;
                case BinaryFunction.GreaterOrEqual: return x >= z ? 1f : 0f;
                case BinaryFunction.Less: return x < z ? 1f : 0f;
                case BinaryFunction.LessOrEqual: return x <= z ? 1f : 0f;
                case BinaryFunction.And: return x != 0f && z != 0f ? 1f : 0f;
                case BinaryFunction.Or: return x != 0f || z != 0f ? 1f : 0f;
                case BinaryFunction.Xor: return (x != 0f) != (z != 0f) ? 1f : 0f;
                default: throw new InvalidOperationException("Unknown function.");
            }
        }

        private static float Pow(float x, float e)
        {
            // Small integer exponents as products, as the engine does (exact for squares, which are common in spectra).
            if (e == 1f) return x;
            if (e == 2f) return x * x;
            if (e == 3f) return x * x * x;
            return (float)Math.Pow(x, e);
        }
    }
}
