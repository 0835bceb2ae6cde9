using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Max or average pooling over three or more spatial axes in float32 (N, C, spatial...): the N-d form
    /// of <see cref="PoolFloat"/>, with the same rules (windows clipped to the input; the average divides by
    /// the window's size within the padded input when padding counts, else by the elements inside).
    /// </summary>
    public sealed class PoolNdFloat : FloatKernel
    {
        private readonly bool max;
        private readonly bool countIncludePad;
        private readonly int planes;
        private readonly WindowGeometryNd geometry;

        /// <param name="planes">batch · channels</param>
        public PoolNdFloat(bool max, bool countIncludePad, int planes, int[] inSpatial, int[] outSpatial, int[] kernel, int[] strides, int[] padsBegin, int[] padsEnd, int[] dilations)
        {
            this.max = max;
            this.countIncludePad = countIncludePad;
            this.planes = planes;
            geometry = new WindowGeometryNd(inSpatial, outSpatial, kernel, strides, padsBegin, padsEnd, dilations);
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            var g = geometry;
            if (g.OutSize == 0)
            {
                return;
            }

            Span<int> o = stackalloc int[WindowGeometryNd.MaxSpatialRank];
            Span<int> k = stackalloc int[WindowGeometryNd.MaxSpatialRank];
            o = o.Slice(0, g.Rank);
            k = k.Slice(0, g.Rank);
            for (int p = 0; p < planes; p++)
            {
                ReadOnlySpan<float> x = a.Slice(p * g.InSize, g.InSize);
                o.Clear();
                int outIndex = p * g.OutSize;
                do
                {
                    float best = float.NegativeInfinity;
                    float sum = 0f;
                    int inside = 0;
                    k.Clear();
                    do
                    {
                        int offset = g.InputOffset(o, k);
                        if (offset < 0)
                        {
                            continue;
                        }

                        float v = x[offset];
                        if (v > best || float.IsNaN(v)) best = v;
                        sum += v;
                        inside++;
                    }
                    while (WindowGeometryNd.Next(k, g.Kernel));

                    float result;
                    if (max)
                    {
                        result = best;
                    }
                    else
                    {
                        int count = countIncludePad ? WindowWithPads(o) : inside;
                        result = count == 0 ? 0f : sum / count;
                    }

                    y[outIndex++] = result;
                }
                while (WindowGeometryNd.Next(o, g.OutSpatial));
            }
        }

        /// <summary>Window size counting padding but not the part beyond the padded input (ceil_mode tails).</summary>
        private int WindowWithPads(ReadOnlySpan<int> o)
        {
            var g = geometry;
            int count = 1;
            for (int d = 0; d < g.Rank; d++)
            {
                int along = 0;
                for (int t = 0; t < g.Kernel[d]; t++)
                {
                    int i = o[d] * g.Strides[d] - g.PadsBegin[d] + t * g.Dilations[d];
                    if (i < g.InSpatial[d] + g.PadsEnd[d] && i >= -g.PadsBegin[d]) along++;
                }

                count *= along;
            }

            return count;
        }
    }
}
