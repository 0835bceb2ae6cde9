using System;
using System.Runtime.CompilerServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Fixed-point arithmetic for requantization (gemmlowp / TFLite semantics; docs/algorithms/requantization.md, "Fixed-point multipliers" and "Rounding").
    /// A real multiplier M is represented as M0 · 2^(shift − 31) with M0 a Q31 value in [2^30, 2^31).
    /// Every function here is integer-only at inference time and bit-exact with the C++ originals:
    /// C# <c>/</c> on long truncates toward zero and <c>&gt;&gt;</c> on int is arithmetic, as in C++.
    /// </summary>
    public static class FixedPoint
    {
        /// <summary>
        /// Splits a non-negative real multiplier into a Q31 mantissa and a power-of-two exponent so that
        /// M ≈ M0 · 2^(shift − 31). Build-time only (uses double).
        /// </summary>
        /// <returns>(0, 0) for M = 0 or for M &lt; 2^-32 (underflow: the output is then constant).</returns>
        public static void QuantizeMultiplier(double multiplier, out int quantizedMultiplier, out int shift)
        {
            if (double.IsNaN(multiplier) || double.IsInfinity(multiplier) || multiplier < 0)
            {
                throw new ArgumentOutOfRangeException(nameof(multiplier), multiplier, "The multiplier must be finite and non-negative.");
            }

            if (multiplier == 0)
            {
                quantizedMultiplier = 0;
                shift = 0;
                return;
            }

            int exponent;
            double fraction = Frexp(multiplier, out exponent);
            // fraction·2^31 only changes the exponent, so the product is exact and the rounding below
            // is the only rounding (half away from zero, as C's std::round).
            long q = (long)Math.Round(fraction * 2147483648.0, MidpointRounding.AwayFromZero);
            if (q == 1L << 31)
            {
                // fraction rounded up to exactly 1.0: renormalise to 0.5 and bump the exponent.
                q = 1L << 30;
                exponent++;
            }

            if (exponent < -31)
            {
                // Smaller than what RoundingDivideByPowerOfTwo can shift away: the product is 0 anyway.
                quantizedMultiplier = 0;
                shift = 0;
                return;
            }

            if (exponent > 30)
            {
                throw new ArgumentOutOfRangeException(nameof(multiplier), multiplier, "The multiplier is too large (needs 2^30 or less).");
            }

            quantizedMultiplier = (int)q;
            shift = exponent;
        }

        /// <summary>Tuple-returning convenience form of <see cref="QuantizeMultiplier(double, out int, out int)"/>.</summary>
        public static (int M0, int Shift) QuantizeMultiplier(double multiplier)
        {
            int m0, shift;
            QuantizeMultiplier(multiplier, out m0, out shift);
            return (m0, shift);
        }

        /// <summary>C's frexp for finite positive values: value = fraction · 2^exponent, fraction in [0.5, 1).</summary>
        public static double Frexp(double value, out int exponent)
        {
            long bits = BitConverter.DoubleToInt64Bits(value);
            int biased = (int)((bits >> 52) & 0x7FF);
            if (biased == 0)
            {
                // Subnormal: scale into the normal range first (2^54 is exact), then correct.
                double scaled = Frexp(value * 18014398509481984.0, out exponent);
                exponent -= 54;
                return scaled;
            }

            exponent = biased - 1022;
            long fractionBits = (bits & unchecked((long)0x800FFFFFFFFFFFFFUL)) | (1022L << 52);
            return BitConverter.Int64BitsToDouble(fractionBits);
        }

        /// <summary>
        /// gemmlowp SaturatingRoundingDoublingHighMul: round(a·b / 2^31) with the one overflowing case
        /// (MIN·MIN) saturated to MAX.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int SaturatingRoundingDoublingHighMul(int a, int b)
        {
            if (a == int.MinValue && b == int.MinValue)
            {
                return int.MaxValue;
            }

            long product = (long)a * b;
            long nudge = product >= 0 ? (1L << 30) : (1L - (1L << 30));
            // Truncating division (not an arithmetic shift) is what the reference does; it matters for negatives.
            return (int)((product + nudge) / (1L << 31));
        }

        /// <summary>
        /// gemmlowp RoundingDivideByPowerOfTwo: x / 2^exponent rounded to nearest, ties away from zero.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int RoundingDivideByPowerOfTwo(int x, int exponent)
        {
            int mask = (int)((1L << exponent) - 1);
            int remainder = x & mask;
            int threshold = (mask >> 1) + (x < 0 ? 1 : 0);
            return (x >> exponent) + (remainder > threshold ? 1 : 0);
        }

        /// <summary>
        /// TFLite MultiplyByQuantizedMultiplier ("double rounding", QuantBuild's default):
        /// x · M0 · 2^(shift − 31) via a rounding high multiply followed by a rounding shift.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int MultiplyByQuantizedMultiplier(int x, int quantizedMultiplier, int shift)
        {
            int leftShift = shift > 0 ? shift : 0;
            int rightShift = shift > 0 ? 0 : -shift;
            // The left shift wraps exactly as C++ does on two's complement; the compiler guarantees
            // |x|·2^shift stays in range for the multipliers it emits.
            return RoundingDivideByPowerOfTwo(SaturatingRoundingDoublingHighMul(unchecked(x * (1 << leftShift)), quantizedMultiplier), rightShift);
        }

        /// <summary>
        /// x · M0 · 2^(shift − 31) rounded once (ties away from zero) for small x such as int8 code
        /// deviations. WHY: with |x| ≤ 255 and M &lt; 1, <see cref="MultiplyByQuantizedMultiplier(int, int, int)"/>'s
        /// high multiply already rounds x·M0/2^31 to an integer before the rounding shift, and that double
        /// rounding is off by one for many codes (LeakyRelu's α branch, rescales to a larger scale) — codes that
        /// differ from the QDQ meaning round((x − z)·s_in/s_out). Pre-shifting x keeps 20 fraction bits through
        /// the high multiply; these kernels tabulate or apply it per element, so the cost is nil.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int MultiplySmallByQuantizedMultiplier(int x, int quantizedMultiplier, int shift)
        {
            int extraBits = Math.Min(20, 31 + shift);
            if (x > 2047 || x < -2047 || shift > 20 || extraBits < 0)
            {
                return MultiplyByQuantizedMultiplier(x, quantizedMultiplier, shift);
            }

            return RoundingDivideByPowerOfTwo(SaturatingRoundingDoublingHighMul(x << extraBits, quantizedMultiplier), extraBits - shift);
        }

        /// <summary>
        /// The "single rounding" variant (TFLite's newer build option): one round-half-up of the exact
        /// 64-bit product x·M0 / 2^(31 − shift). Differs from the double-rounding form only on ties.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int MultiplyByQuantizedMultiplierSingleRounding(int x, int quantizedMultiplier, int shift)
        {
            int totalShift = 31 - shift;
            long round = 1L << (totalShift - 1);
            long result = ((long)x * quantizedMultiplier + round) >> totalShift;
            return (int)result;
        }

        /// <summary>Applies a multiplier in the chosen rounding mode.</summary>
        /// <summary>The single-rounding multiply for an int64 accumulator (pooling sums): beyond int32 it rounds half away from zero, once.</summary>
        public static long MultiplyByQuantizedMultiplierSingleRounding(long x, int quantizedMultiplier, int shift)
        {
            return x >= int.MinValue && x <= int.MaxValue
                ? MultiplyByQuantizedMultiplierSingleRounding((int)x, quantizedMultiplier, shift)
                : MultiplyByQuantizedMultiplier(x, quantizedMultiplier, shift);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int MultiplyByQuantizedMultiplier(int x, int quantizedMultiplier, int shift, RoundingMode mode)
        {
            return mode == RoundingMode.SingleRounding
                ? MultiplyByQuantizedMultiplierSingleRounding(x, quantizedMultiplier, shift)
                : MultiplyByQuantizedMultiplier(x, quantizedMultiplier, shift);
        }

        /// <summary>Rescales a 64-bit accumulator (the overflow fallback path) with one exact rounding.</summary>
        /// <remarks>
        /// Only used when an int32 accumulator could overflow (the int64 path of docs/algorithms/requantization.md, "Accumulator bound"). The 64-bit value times a
        /// 31-bit multiplier can exceed 64 bits, so the product is formed in two halves.
        /// </remarks>
        public static int MultiplyByQuantizedMultiplier(long x, int quantizedMultiplier, int shift)
        {
            if (x >= int.MinValue && x <= int.MaxValue)
            {
                return MultiplyByQuantizedMultiplier((int)x, quantizedMultiplier, shift);
            }

            // Round half away from zero of x·M0 / 2^(31 − shift), computed on |x| in 128-bit pieces.
            bool negative = x < 0;
            ulong magnitude = negative ? (ulong)(-(x + 1)) + 1UL : (ulong)x;
            ulong m = (ulong)quantizedMultiplier;
            ulong lowPart = (magnitude & 0xFFFFFFFFUL) * m;
            ulong highPart = (magnitude >> 32) * m;
            // product = highPart·2^32 + lowPart, as (hi, lo) 128-bit.
            ulong lo = lowPart + (highPart << 32);
            ulong hi = (highPart >> 32) + (lo < lowPart ? 1UL : 0UL);
            int totalShift = 31 - shift;
            if (totalShift <= 0 || totalShift >= 64)
            {
                return negative ? int.MinValue : int.MaxValue;
            }

            // Add 2^(totalShift − 1) then shift right by totalShift.
            ulong half = 1UL << (totalShift - 1);
            ulong lo2 = lo + half;
            ulong hi2 = hi + (lo2 < lo ? 1UL : 0UL);
            ulong shifted = (lo2 >> totalShift) | (hi2 << (64 - totalShift));
            ulong upper = hi2 >> totalShift;
            long value = upper != 0 || shifted > int.MaxValue ? (long)int.MaxValue + 1 : (long)shifted;
            long signed = negative ? -value : value;
            if (signed > int.MaxValue)
            {
                return int.MaxValue;
            }

            if (signed < int.MinValue)
            {
                return int.MinValue;
            }

            return (int)signed;
        }
    }

    /// <summary>How a fixed-point multiplier rounds (recorded in the generated code header).</summary>
    public enum RoundingMode
    {
        /// <summary>gemmlowp rounding high multiply, then rounding shift (TFLite Micro's reference default).</summary>
        DoubleRounding = 0,

        /// <summary>
        /// One rounding of the exact 64-bit product (TFLite's newer option); the default of the Conv and
        /// FullyConnected kernels. Why: for small multipliers (a right shift of k bits) the high multiply
        /// keeps only k fractional bits, so double rounding misses the exact rounding by one code whenever
        /// the value lies within 2^-k of a half: 0.26% of the first openWakeWord conv's outputs, compounding
        /// over twenty layers. One rounding gives the exactly rounded result ONNX Runtime computes.
        /// </summary>
        SingleRounding = 1,
    }
}
