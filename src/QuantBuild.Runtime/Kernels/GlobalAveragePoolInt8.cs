using System;

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
                ReadOnlySpan<sbyte> plane = input.Slice(p * planeSize, planeSize);
                long sum = 0;
                for (int i = 0; i < plane.Length; i++)
                {
                    sum += plane[i];
                }

                sum -= (long)inputZeroPoint * planeSize;
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
    }
}
