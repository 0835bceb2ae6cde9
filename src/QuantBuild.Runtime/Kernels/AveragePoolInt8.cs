using System;
using System.Runtime.CompilerServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// AveragePool on int8 (NCHW). Sums deviations (x − z_x) of the valid taps in int32 (padded taps are
    /// real 0), with count = kernel size (count_include_pad) or the number of valid taps.
    /// Same input/output parameters: y = z_y + sum/count rounded half away from zero (TFLite).
    /// Otherwise: y = z_y + MBQM(sum, M_count) with M_count = s_x/(s_y·count), one multiplier per possible
    /// count prepared up front, so the division and the rescale round only once.
    /// </summary>
    public sealed class AveragePoolInt8
    {
        private readonly Pool2DGeometry geometry;
        private readonly bool countIncludePad;
        private readonly int inputZeroPoint;
        private readonly int outputZeroPoint;
        private readonly bool sameParameters;
        private readonly int[] multipliers;
        private readonly int[] shifts;

        public AveragePoolInt8(Pool2DGeometry geometry, QuantParams input, QuantParams output, bool countIncludePad = false)
        {
            if (geometry == null)
            {
                throw new ArgumentNullException(nameof(geometry));
            }

            this.geometry = geometry;
            this.countIncludePad = countIncludePad;
            inputZeroPoint = input.ZeroPoint;
            outputZeroPoint = output.ZeroPoint;
            sameParameters = input.Scale == output.Scale;
            int maxCount = geometry.KernelHeight * geometry.KernelWidth;
            multipliers = new int[maxCount + 1];
            shifts = new int[maxCount + 1];
            for (int count = 1; count <= maxCount; count++)
            {
                FixedPoint.QuantizeMultiplier((double)input.Scale / ((double)output.Scale * count), out multipliers[count], out shifts[count]);
            }
        }

        /// <summary>sum / count rounded half away from zero (count &gt; 0).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int DivideRoundingHalfAwayFromZero(int sum, int count)
        {
            return sum >= 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            Pool2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            int o = 0;
            for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            {
                int inBase = plane * g.InHeight * g.InWidth;
                for (int oy = 0; oy < g.OutHeight; oy++)
                {
                    for (int ox = 0; ox < g.OutWidth; ox++)
                    {
                        int sum = 0;
                        int valid = 0;
                        for (int ky = 0; ky < g.KernelHeight; ky++)
                        {
                            int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                            if (iy < 0 || iy >= g.InHeight)
                            {
                                continue;
                            }

                            for (int kx = 0; kx < g.KernelWidth; kx++)
                            {
                                int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                                if (ix < 0 || ix >= g.InWidth)
                                {
                                    continue;
                                }

                                sum += input[inBase + iy * g.InWidth + ix] - inputZeroPoint;
                                valid++;
                            }
                        }

                        int count = countIncludePad ? g.KernelHeight * g.KernelWidth : valid;
                        int y;
                        if (count == 0)
                        {
                            y = outputZeroPoint;
                        }
                        else if (sameParameters)
                        {
                            y = outputZeroPoint + DivideRoundingHalfAwayFromZero(sum, count);
                        }
                        else
                        {
                            y = outputZeroPoint + FixedPoint.MultiplyByQuantizedMultiplierSingleRounding(sum, multipliers[count], shifts[count]);
                        }

                        output[o++] = (sbyte)QuantParams.Clamp(y, sbyte.MinValue, sbyte.MaxValue);
                    }
                }
            }
        }
    }
}
