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
    /// GlobalAveragePool on int8 (NCHW → NC11): the mean of each plane's deviations, divided rounding half
    /// away from zero (same parameters) or rescaled with M = s_x/(s_y·H·W) in one rounding.
    /// The sum is int64 so any plane size is safe.
    /// </summary>
    public sealed class GlobalAveragePoolInt8
    {
        private readonly int planes;
        private readonly int planeSize;
        private readonly int inputZeroPoint;
        private readonly int outputZeroPoint;
        private readonly bool sameParameters;
        private readonly int multiplier;
        private readonly int shift;

        public GlobalAveragePoolInt8(int batch, int channels, int height, int width, QuantParams input, QuantParams output)
        {
            if (batch < 1 || channels < 1 || height < 1 || width < 1)
            {
                throw new ArgumentException("Dimensions must be positive.");
            }

            planes = batch * channels;
            planeSize = height * width;
            inputZeroPoint = input.ZeroPoint;
            outputZeroPoint = output.ZeroPoint;
            sameParameters = input.Scale == output.Scale;
            FixedPoint.QuantizeMultiplier((double)input.Scale / ((double)output.Scale * planeSize), out multiplier, out shift);
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            if (input.Length != planes * planeSize || output.Length != planes)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shape.");
            }

            for (int p = 0; p < planes; p++)
            {
                long sum = Sum(input.Slice(p * planeSize, planeSize)) - (long)inputZeroPoint * planeSize;
                long y;
                if (sameParameters)
                {
                    long half = planeSize / 2;
                    y = outputZeroPoint + (sum >= 0 ? (sum + half) / planeSize : (sum - half) / planeSize);
                }
                else
                {
                    y = outputZeroPoint + FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(sum, multiplier, shift);
                }

                output[p] = (sbyte)(y < sbyte.MinValue ? sbyte.MinValue : (y > sbyte.MaxValue ? sbyte.MaxValue : y));
            }
        }

        /// <summary>
        /// Σ codes, exactly: on x64 vpsadbw sums eight (code + 128) bytes per 64-bit lane, elsewhere 128-bit vectors widen
        /// (code + 128) to 32-bit lanes; 128 per code is taken off at the end. The tail is a plain loop.
        /// </summary>
        [MethodImpl(KernelJit.Optimize)]
        private static long Sum(ReadOnlySpan<sbyte> values)
        {
            long sum = 0;
            int i = 0;
#if NET8_0_OR_GREATER
            if (Avx2.IsSupported && values.Length >= 32)
            {
                ref byte start = ref MemoryMarshal.GetReference(MemoryMarshal.AsBytes(values));
                Vector256<byte> flip = Vector256.Create((byte)0x80);
                Vector256<long> lanes = Vector256<long>.Zero;
                for (; i <= values.Length - 32; i += 32)
                {
                    lanes += Avx2.SumAbsoluteDifferences(Vector256.LoadUnsafe(ref start, (nuint)i) ^ flip, Vector256<byte>.Zero).AsInt64();
                }

                sum = Vector256.Sum(lanes) - 128L * i;
            }
            else if (Vector128.IsHardwareAccelerated && values.Length >= 16)
            {
                // Arm64 and x64 without AVX2: codes + 128 widened to 16 and then 32 bits. A 32-bit lane gains at most
                // 4·255 per 16 codes, so over a block of 2^22 codes it stays below 2^28 and the four lanes' sum below 2^30.
                ref byte start = ref MemoryMarshal.GetReference(MemoryMarshal.AsBytes(values));
                Vector128<byte> flip = Vector128.Create((byte)0x80);
                int blocks = values.Length / 16 * 16;
                while (i < blocks)
                {
                    Vector128<uint> lanes = Vector128<uint>.Zero;
                    int end = Math.Min(blocks, i + (1 << 22));
                    for (; i < end; i += 16)
                    {
                        (Vector128<ushort> low, Vector128<ushort> high) = Vector128.Widen(Vector128.LoadUnsafe(ref start, (nuint)i) ^ flip);
                        (Vector128<uint> a, Vector128<uint> b) = Vector128.Widen(low + high);
                        lanes += a + b;
                    }

                    sum += Vector128.Sum(lanes);
                }

                sum -= 128L * i;
            }
#endif
            for (; i < values.Length; i++)
            {
                sum += values[i];
            }

            return sum;
        }
    }
}
