using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET9_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Affine quantization parameters of one tensor (or one channel): real = (code − ZeroPoint) · Scale.
    /// </summary>
    public struct QuantParams
    {
        /// <summary>Smallest normal float32; a range narrower than this is treated as all-zero (docs/algorithms/linear.md, "Scale and zero point", step 5).</summary>
        public const float SmallestNormal = 1.17549435E-38f;

        public QuantParams(float scale, int zeroPoint)
        {
            Scale = scale;
            ZeroPoint = zeroPoint;
        }

        public float Scale { get; }

        public int ZeroPoint { get; }

        /// <summary>
        /// Scale and zero point for a real range on an integer grid (ORT <c>compute_scale_zp</c>; docs/algorithms/linear.md, "Scale and zero point"),
        /// computed in float32 as the reference does.
        /// </summary>
        /// <param name="minRealRange">Optional lower bound on rmax − rmin (0 = none).</param>
        public static QuantParams FromRange(float rmin, float rmax, int qmin, int qmax, bool symmetric, float minRealRange = 0f)
        {
            if (float.IsNaN(rmin) || float.IsNaN(rmax) || float.IsInfinity(rmin) || float.IsInfinity(rmax))
            {
                throw new ArgumentException("The range must be finite.");
            }

            if (qmin > 0 || qmax < 0 || qmin >= qmax)
            {
                throw new ArgumentException("The grid must satisfy qmin <= 0 <= qmax and qmin < qmax.");
            }

            // Zero must be exactly representable (padding, ReLU and zero-initialised state rely on it).
            rmin = Math.Min(rmin, 0f);
            rmax = Math.Max(rmax, 0f);
            if (minRealRange > 0f)
            {
                rmax = Math.Max(rmax, rmin + minRealRange);
            }

            if (symmetric)
            {
                float absMax = Math.Max(Math.Abs(rmin), Math.Abs(rmax));
                rmin = -absMax;
                rmax = absMax;
            }

            float scale = (rmax - rmin) / (float)(qmax - qmin);
            if (scale < SmallestNormal)
            {
                return new QuantParams(1f, 0);
            }

            float zero = (float)qmin - rmin / scale;
            int zeroPoint = (int)Math.Round((double)zero, MidpointRounding.ToEven);
            return new QuantParams(scale, Clamp(zeroPoint, qmin, qmax));
        }

        /// <summary>ONNX QuantizeLinear for one value: saturate(RNE(x / s) + z) into [qmin, qmax].</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int QuantizeLinear(float x, float scale, int zeroPoint, int qmin, int qmax)
        {
            // Division in float32 (not x·(1/s)) so ties land exactly where the ONNX reference puts them.
            float ratio = x / scale;
            if (float.IsNaN(ratio))
            {
                return Clamp(zeroPoint, qmin, qmax);
            }

            double rounded = Math.Round((double)ratio, MidpointRounding.ToEven) + zeroPoint;
            if (rounded <= qmin)
            {
                return qmin;
            }

            if (rounded >= qmax)
            {
                return qmax;
            }

            return (int)rounded;
        }

        /// <summary>ONNX DequantizeLinear for one value: (q − z) · s in float32.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float DequantizeLinear(int code, float scale, int zeroPoint)
        {
            return (float)(code - zeroPoint) * scale;
        }

        /// <summary>Quantizes to int8 with these parameters.</summary>
        public sbyte QuantizeInt8(float x)
        {
            return (sbyte)QuantizeLinear(x, Scale, ZeroPoint, sbyte.MinValue, sbyte.MaxValue);
        }

        /// <summary>Dequantizes an int8 code with these parameters.</summary>
        public float Dequantize(int code)
        {
            return DequantizeLinear(code, Scale, ZeroPoint);
        }

        /// <summary>QuantizeLinear over a span into int8.</summary>
        public static void QuantizeLinear(ReadOnlySpan<float> source, Span<sbyte> destination, float scale, int zeroPoint)
        {
            if (destination.Length < source.Length)
            {
                throw new ArgumentException("Destination is too short.", nameof(destination));
            }

            int i = 0;
#if NET9_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                i = QuantizeVectors(source, destination, scale, zeroPoint);
            }
#endif
            for (; i < source.Length; i++)
            {
                destination[i] = (sbyte)QuantizeLinear(source[i], scale, zeroPoint, sbyte.MinValue, sbyte.MaxValue);
            }
        }

        /// <summary>DequantizeLinear over a span of int8 codes.</summary>
        public static void DequantizeLinear(ReadOnlySpan<sbyte> source, Span<float> destination, float scale, int zeroPoint)
        {
            if (destination.Length < source.Length)
            {
                throw new ArgumentException("Destination is too short.", nameof(destination));
            }

            int i = 0;
#if NET9_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                ref sbyte from = ref MemoryMarshal.GetReference(source);
                ref float to = ref MemoryMarshal.GetReference(destination);
                Vector128<int> z = Vector128.Create(zeroPoint);
                Vector128<float> s = Vector128.Create(scale);
                for (; i <= source.Length - 8; i += 8)
                {
                    // Eight codes widened to int32; (q − z) is a small integer, exact as float; one product each, as below.
                    Vector128<short> codes = Vector128.WidenLower(Vector128.CreateScalarUnsafe(Unsafe.ReadUnaligned<long>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref from, i)))).AsSByte());
                    (Vector128.ConvertToSingle(Vector128.WidenLower(codes) - z) * s).StoreUnsafe(ref to, (nuint)i);
                    (Vector128.ConvertToSingle(Vector128.WidenUpper(codes) - z) * s).StoreUnsafe(ref to, (nuint)(i + 4));
                }
            }
#endif
            for (; i < source.Length; i++)
            {
                destination[i] = DequantizeLinear(source[i], scale, zeroPoint);
            }
        }

        /// <summary>
        /// QuantizeLinear over a span into int16 codes (16-bit activations, docs/wide-activations.md): the scalar
        /// <see cref="QuantizeLinear(float, float, int, int, int)"/> with the int16 bounds.
        /// </summary>
        public static void QuantizeLinear(ReadOnlySpan<float> source, Span<short> destination, float scale, int zeroPoint)
        {
            if (destination.Length < source.Length)
            {
                throw new ArgumentException("Destination is too short.", nameof(destination));
            }

            int i = 0;
#if NET9_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                ref float from = ref MemoryMarshal.GetReference(source);
                ref short to = ref MemoryMarshal.GetReference(destination);
                Vector128<float> s = Vector128.Create(scale);
                Vector128<float> z = Vector128.Create((float)zeroPoint);
                Vector128<float> low = Vector128.Create((float)short.MinValue);
                Vector128<float> high = Vector128.Create((float)short.MaxValue);
                for (; i <= source.Length - 8; i += 8)
                {
                    // Clamped to the int16 bounds first, so narrowing keeps every code.
                    Vector128<int> c0 = QuantizeFour(Vector128.LoadUnsafe(ref from, (nuint)i), s, z, low, high);
                    Vector128<int> c1 = QuantizeFour(Vector128.LoadUnsafe(ref from, (nuint)(i + 4)), s, z, low, high);
                    Vector128.Narrow(c0, c1).StoreUnsafe(ref to, (nuint)i);
                }
            }
#endif
            for (; i < source.Length; i++)
            {
                destination[i] = (short)QuantizeLinear(source[i], scale, zeroPoint, short.MinValue, short.MaxValue);
            }
        }

        /// <summary>DequantizeLinear over a span of int16 codes: (q − z) · s, one float product each.</summary>
        public static void DequantizeLinear(ReadOnlySpan<short> source, Span<float> destination, float scale, int zeroPoint)
        {
            if (destination.Length < source.Length)
            {
                throw new ArgumentException("Destination is too short.", nameof(destination));
            }

            int i = 0;
#if NET9_0_OR_GREATER
            if (Vector128.IsHardwareAccelerated)
            {
                ref short from = ref MemoryMarshal.GetReference(source);
                ref float to = ref MemoryMarshal.GetReference(destination);
                Vector128<int> z = Vector128.Create(zeroPoint);
                Vector128<float> s = Vector128.Create(scale);
                for (; i <= source.Length - 8; i += 8)
                {
                    // (q − z) is below 2^17 in magnitude: exact as int32 and as float.
                    Vector128<short> codes = Vector128.LoadUnsafe(ref from, (nuint)i);
                    (Vector128.ConvertToSingle(Vector128.WidenLower(codes) - z) * s).StoreUnsafe(ref to, (nuint)i);
                    (Vector128.ConvertToSingle(Vector128.WidenUpper(codes) - z) * s).StoreUnsafe(ref to, (nuint)(i + 4));
                }
            }
#endif
            for (; i < source.Length; i++)
            {
                destination[i] = DequantizeLinear(source[i], scale, zeroPoint);
            }
        }

#if NET9_0_OR_GREATER
        /// <summary>
        /// <see cref="QuantizeLinear(ReadOnlySpan{float}, Span{sbyte}, float, int)"/> over whole groups of 16 values
        /// (<see cref="GridCodes(Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float})"/>, then narrowed). Returns how many values it did.
        /// </summary>
        private static int QuantizeVectors(ReadOnlySpan<float> source, Span<sbyte> destination, float scale, int zeroPoint)
        {
            ref float from = ref MemoryMarshal.GetReference(source);
            ref sbyte to = ref MemoryMarshal.GetReference(destination);
            Vector128<float> s = Vector128.Create(scale);
            Vector128<float> z = Vector128.Create((float)zeroPoint);
            Vector128<float> low = Vector128.Create((float)sbyte.MinValue);
            Vector128<float> high = Vector128.Create((float)sbyte.MaxValue);
            int i = 0;
            for (; i <= source.Length - 16; i += 16)
            {
                Vector128<int> c0 = QuantizeFour(Vector128.LoadUnsafe(ref from, (nuint)i), s, z, low, high);
                Vector128<int> c1 = QuantizeFour(Vector128.LoadUnsafe(ref from, (nuint)(i + 4)), s, z, low, high);
                Vector128<int> c2 = QuantizeFour(Vector128.LoadUnsafe(ref from, (nuint)(i + 8)), s, z, low, high);
                Vector128<int> c3 = QuantizeFour(Vector128.LoadUnsafe(ref from, (nuint)(i + 12)), s, z, low, high);
                Vector128.Narrow(Vector128.Narrow(c0, c1), Vector128.Narrow(c2, c3)).StoreUnsafe(ref to, (nuint)i);
            }

            return i;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector128<int> QuantizeFour(Vector128<float> x, Vector128<float> s, Vector128<float> z, Vector128<float> low, Vector128<float> high)
        {
            return Vector128.ConvertToInt32(GridCodes(x, s, z, low, high));
        }

        /// <summary>
        /// QuantizeLinear's codes as floats, in float arithmetic: x / s rounded half to even is an integer float (exact:
        /// below 2^24 it is representable, above it x / s is an integer already), adding the zero point and clamping to
        /// [low, high] are exact for every value that is not clamped, and NaN gives the zero point — the scalar
        /// <see cref="QuantizeLinear(float, float, int, int, int)"/>'s result for every input.
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static Vector128<float> GridCodes(Vector128<float> x, Vector128<float> s, Vector128<float> z, Vector128<float> low, Vector128<float> high)
        {
            Vector128<float> ratio = x / s;
            Vector128<float> rounded = Vector128.ConditionalSelect(Vector128.Equals(ratio, ratio), Vector128.Round(ratio), Vector128<float>.Zero);
            return Vector128.Min(Vector128.Max(rounded + z, low), high);
        }

        /// <summary><see cref="GridCodes(Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float}, Vector128{float})"/> in 256-bit registers.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static Vector256<float> GridCodes(Vector256<float> x, Vector256<float> s, Vector256<float> z, Vector256<float> low, Vector256<float> high)
        {
            Vector256<float> ratio = x / s;
            Vector256<float> rounded = Vector256.ConditionalSelect(Vector256.Equals(ratio, ratio), Vector256.Round(ratio), Vector256<float>.Zero);
            return Vector256.Min(Vector256.Max(rounded + z, low), high);
        }
#endif

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static int Clamp(int value, int min, int max)
        {
            return value < min ? min : (value > max ? max : value);
        }

        public override string ToString()
        {
            return "scale=" + Scale.ToString("R", System.Globalization.CultureInfo.InvariantCulture) + " zp=" + ZeroPoint.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Integer grids (docs/algorithms/linear.md, "Integer grids").</summary>
    public static class QuantGrid
    {
        /// <summary>Signed full grid: [-2^(b-1), 2^(b-1)-1].</summary>
        public static void SignedFull(int bits, out int qmin, out int qmax)
        {
            CheckBits(bits);
            qmin = -(1 << (bits - 1));
            qmax = (1 << (bits - 1)) - 1;
        }

        /// <summary>Signed restricted (symmetric) grid: [-(2^(b-1)-1), 2^(b-1)-1]; b=1 is a single level and rejected.</summary>
        public static void SignedRestricted(int bits, out int qmin, out int qmax)
        {
            CheckBits(bits);
            if (bits == 1)
            {
                throw new ArgumentOutOfRangeException(nameof(bits), "A 1-bit restricted grid has a single level; use binary mode.");
            }

            qmax = (1 << (bits - 1)) - 1;
            qmin = -qmax;
        }

        /// <summary>Unsigned grid: [0, 2^b-1].</summary>
        public static void Unsigned(int bits, out int qmin, out int qmax)
        {
            CheckBits(bits);
            qmin = 0;
            qmax = (1 << bits) - 1;
        }

        private static void CheckBits(int bits)
        {
            if (bits < 1 || bits > 8)
            {
                throw new ArgumentOutOfRangeException(nameof(bits), bits, "Bit width must be 1..8.");
            }
        }
    }
}
