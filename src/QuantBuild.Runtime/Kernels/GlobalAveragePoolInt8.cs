using System;
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
        /// Σ codes, exactly: on x64 vpsadbw sums eight (code + 128) bytes per 64-bit lane, and 128 per byte is taken off
        /// at the end; elsewhere a plain loop.
        /// </summary>
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
#endif
            for (; i < values.Length; i++)
            {
                sum += values[i];
            }

            return sum;
        }
    }
}
