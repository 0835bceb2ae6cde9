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
    /// Elementwise Add of two same-shape tensors where <c>a</c> holds 16-bit codes and <c>b</c> int8 or 16-bit codes
    /// (docs/wide-activations.md, "Integer kernels"), into int8 or 16-bit codes:
    /// <c>y = clamp(z_y + ⌊((a − z_a)·R_a + (b − z_b)·R_b + 2^(S−1)) / 2^S⌋, lo, hi)</c> in 64-bit, where
    /// R = round(s/s_y·2^S) (in double, at prepare) and S is the most fraction bits that keep both R below 2^31
    /// (at most 40). <see cref="EvalReference"/> is that definition; the AVX2 path computes the same integers
    /// (vpmuldq gives the exact 64-bit products). Eval allocates nothing.
    /// </summary>
    public sealed class AddWide
    {
        private const int MaxFractionBits = 40;

        private readonly int length;
        private readonly int zeroA;
        private readonly int zeroB;
        private readonly int zeroOut;
        private readonly int bBits;
        private readonly int outBits;
        private readonly long ratioA;
        private readonly long ratioB;
        private readonly int fractionBits;
        private readonly int clampMin;
        private readonly int clampMax;

        public AddWide(int length, QuantParams a, QuantParams b, int bBits, QuantParams output, int outBits, int clampMin, int clampMax)
        {
            if (length < 0 || (bBits != 8 && bBits != 16) || (outBits != 8 && outBits != 16))
            {
                throw new ArgumentException("AddWide takes a length ≥ 0, an int8 or 16-bit b and an int8 or 16-bit output.");
            }

            int outMin = outBits == 8 ? sbyte.MinValue : short.MinValue;
            int outMax = outBits == 8 ? sbyte.MaxValue : short.MaxValue;
            if (clampMin > clampMax || clampMin < outMin || clampMax > outMax || output.ZeroPoint < outMin || output.ZeroPoint > outMax)
            {
                throw new ArgumentException("The clamp range and output zero point must lie on the output codes.");
            }

            if (!(a.Scale > 0) || !(b.Scale > 0) || !(output.Scale > 0) || float.IsInfinity(a.Scale) || float.IsInfinity(b.Scale) || float.IsInfinity(output.Scale))
            {
                throw new ArgumentException("Scales must be finite and positive.");
            }

            double realA = (double)a.Scale / output.Scale, realB = (double)b.Scale / output.Scale;
            int bits = MaxFractionBits;
            while (bits > 1 && Math.Max(realA, realB) * Math.Pow(2, bits) >= int.MaxValue)
            {
                bits--;
            }

            if (Math.Max(realA, realB) * Math.Pow(2, bits) >= int.MaxValue)
            {
                throw new ArgumentException("The scale ratio s/s_y is 2^30 or more.");
            }

            this.length = length;
            this.bBits = bBits;
            this.outBits = outBits;
            zeroA = a.ZeroPoint;
            zeroB = b.ZeroPoint;
            zeroOut = output.ZeroPoint;
            fractionBits = bits;
            ratioA = (long)Math.Round(realA * Math.Pow(2, bits), MidpointRounding.AwayFromZero);
            ratioB = (long)Math.Round(realB * Math.Pow(2, bits), MidpointRounding.AwayFromZero);
            this.clampMin = clampMin;
            this.clampMax = clampMax;
            // The vector path keeps each result's low 32 bits before the clamp: prove the result fits int32 first.
            double largest = 65535.0 * realA + (bBits == 8 ? 255.0 : 65535.0) * realB + 2 + Math.Abs(output.ZeroPoint);
            vectorFits = largest < (1 << 30);
        }

        private readonly bool vectorFits;

        public void Eval(ReadOnlySpan<short> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
        {
            Require(8, 8, a.Length, b.Length, output.Length);
            Run(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), ref MemoryMarshal.GetReference(output), vector: true);
        }

        public void Eval(ReadOnlySpan<short> a, ReadOnlySpan<sbyte> b, Span<short> output)
        {
            Require(8, 16, a.Length, b.Length, output.Length);
            Run(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), ref MemoryMarshal.GetReference(output), vector: true);
        }

        public void Eval(ReadOnlySpan<short> a, ReadOnlySpan<short> b, Span<sbyte> output)
        {
            Require(16, 8, a.Length, b.Length, output.Length);
            Run(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), ref MemoryMarshal.GetReference(output), vector: true);
        }

        public void Eval(ReadOnlySpan<short> a, ReadOnlySpan<short> b, Span<short> output)
        {
            Require(16, 16, a.Length, b.Length, output.Length);
            Run(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), ref MemoryMarshal.GetReference(output), vector: true);
        }

        /// <summary>The definition, one element at a time (for int8 b and int8 output; the tests compare the vector path with it).</summary>
        public void EvalReference(ReadOnlySpan<short> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
        {
            Require(8, 8, a.Length, b.Length, output.Length);
            Run(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), ref MemoryMarshal.GetReference(output), vector: false);
        }

        /// <summary>The definition for 16-bit b and 16-bit output.</summary>
        public void EvalReference(ReadOnlySpan<short> a, ReadOnlySpan<short> b, Span<short> output)
        {
            Require(16, 16, a.Length, b.Length, output.Length);
            Run(ref MemoryMarshal.GetReference(a), ref MemoryMarshal.GetReference(b), ref MemoryMarshal.GetReference(output), vector: false);
        }

        private void Require(int bWidth, int outWidth, int aLength, int bLength, int outputLength)
        {
            if (bWidth != bBits || outWidth != outBits)
            {
                throw new ArgumentException("This kernel was prepared for a " + bBits + "-bit b and a " + outBits + "-bit output.");
            }

            if (aLength < length || bLength < length || outputLength < length)
            {
                throw new ArgumentException("Operands and output must hold the kernel's length.");
            }
        }

        [MethodImpl(KernelJit.Optimize)]
        private void Run<TB, TOut>(ref short a, ref TB b, ref TOut output, bool vector)
            where TB : struct
            where TOut : struct
        {
            int i = 0;
#if NET8_0_OR_GREATER
            if (vector && vectorFits && Avx2.IsSupported)
            {
                i = RunAvx2(ref a, ref b, ref output);
            }
#endif
            for (; i < length; i++)
            {
                long sum = (long)(Unsafe.Add(ref a, i) - zeroA) * ratioA + (long)(WideCodes.Read(ref b, i) - zeroB) * ratioB + (1L << (fractionBits - 1));
                long y = (sum >> fractionBits) + zeroOut;
                WideCodes.Write(ref output, i, (int)(y < clampMin ? clampMin : (y > clampMax ? clampMax : y)));
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>
        /// Eight elements per step. The 64-bit sums are offset by 2^62 so that a logical shift equals the arithmetic one
        /// (|sum| &lt; 2^50: 2^17 deviations times ratios below 2^31, twice), and the offset leaves 2^(62−S), removed after.
        /// </summary>
        private int RunAvx2<TB, TOut>(ref short a, ref TB b, ref TOut output)
            where TB : struct
            where TOut : struct
        {
            Vector256<int> za = Vector256.Create(zeroA), zb = Vector256.Create(zeroB), zo = Vector256.Create(zeroOut);
            Vector256<int> ra = Vector256.Create((int)ratioA), rb = Vector256.Create((int)ratioB);
            Vector256<int> low = Vector256.Create(clampMin), high = Vector256.Create(clampMax);
            Vector256<long> offset = Vector256.Create((1L << 62) + (1L << (fractionBits - 1)));
            Vector256<long> removed = Vector256.Create(1L << (62 - fractionBits));
            int i = 0;
            for (; i <= length - 8; i += 8)
            {
                Vector256<int> da = Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref a, (nuint)i)) - za;
                Vector256<int> db = (typeof(TB) == typeof(short)
                    ? Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref Unsafe.As<TB, short>(ref b), (nuint)i))
                    : Avx2.ConvertToVector256Int32(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.As<TB, byte>(ref Unsafe.Add(ref b, i)))).AsSByte())) - zb;
                Vector256<long> even = Avx2.Multiply(da, ra) + Avx2.Multiply(db, rb) + offset;
                Vector256<long> odd = Avx2.Multiply(Avx2.ShiftRightLogical(da.AsInt64(), 32).AsInt32(), ra)
                    + Avx2.Multiply(Avx2.ShiftRightLogical(db.AsInt64(), 32).AsInt32(), rb) + offset;
                even = Vector256.ShiftRightLogical(even, fractionBits) - removed;
                odd = Vector256.ShiftRightLogical(odd, fractionBits) - removed;
                Vector256<int> y = Avx2.Blend(even.AsInt32(), Avx2.ShiftLeftLogical(odd, 32).AsInt32(), 0b10101010) + zo;
                y = Vector256.Min(Vector256.Max(y, low), high);
                // Clamped to the output codes first: the saturating packs keep every value. vpackssdw works per 128-bit lane.
                Vector128<short> words = Sse2.PackSignedSaturate(y.GetLower(), y.GetUpper());
                if (typeof(TOut) == typeof(short))
                {
                    words.StoreUnsafe(ref Unsafe.As<TOut, short>(ref output), (nuint)i);
                }
                else
                {
                    long bytes = Sse2.PackSignedSaturate(words, words).AsInt64().ToScalar();
                    Unsafe.WriteUnaligned(ref Unsafe.As<TOut, byte>(ref Unsafe.Add(ref output, i)), bytes);
                }
            }

            return i;
        }
#endif
    }
}
