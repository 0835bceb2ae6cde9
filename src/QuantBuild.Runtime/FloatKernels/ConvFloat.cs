using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// 2-D convolution in float32 (1-D runs as height 1), NCHW, weights [M, C/group, kH, kW], any pads,
    /// strides, dilations and groups. Direct loops ordered so the innermost one walks an output row:
    /// no scratch memory. The output starts at the bias and accumulates one weight at a time, each step a float
    /// multiply then a float add (never fused), in the order input channel, kernel row, kernel column. The vector
    /// rows (stride-1 columns) keep that order for every output value, so every path gives the same bits.
    /// </summary>
    public sealed class ConvFloat : ConvFloatKernel
    {
        public ConvFloat(int batch, int inChannels, int inHeight, int inWidth, int outChannels, int outHeight, int outWidth,
            int kernelHeight, int kernelWidth, int strideHeight, int strideWidth, int padTop, int padLeft,
            int dilationHeight, int dilationWidth, int groups, float[] weights, float[] bias)
            : base(false, batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth,
                strideHeight, strideWidth, padTop, padLeft, dilationHeight, dilationWidth, groups, weights, bias)
        {
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            int channelsPerGroup = inChannels / groups;
            int outPerGroup = outChannels / groups;
            int inPlane = inHeight * inWidth;
            int outPlane = outHeight * outWidth;
            for (int n = 0; n < batch; n++)
            {
                for (int m = 0; m < outChannels; m++)
                {
                    Span<float> plane = y.Slice((n * outChannels + m) * outPlane, outPlane);
                    plane.Fill(bias.Length == 0 ? 0f : bias[m]);
                    int g = m / outPerGroup;
                    for (int ci = 0; ci < channelsPerGroup; ci++)
                    {
                        ReadOnlySpan<float> x = a.Slice((n * inChannels + g * channelsPerGroup + ci) * inPlane, inPlane);
                        int wBase = (m * channelsPerGroup + ci) * kernelHeight * kernelWidth;
                        for (int kh = 0; kh < kernelHeight; kh++)
                        {
                            for (int kw = 0; kw < kernelWidth; kw++)
                            {
                                float w = weights[wBase + kh * kernelWidth + kw];
                                AccumulateTap(x, plane, w, kh * dilationHeight - padTop, kw * dilationWidth - padLeft);
                            }
                        }
                    }
                }
            }
        }

        /// <summary>plane[oh, ow] += w · x[oh·sH + dy, ow·sW + dx] over the outputs whose input lies inside the image.</summary>
        private void AccumulateTap(ReadOnlySpan<float> x, Span<float> plane, float w, int dy, int dx)
        {
            // First/last output column whose input column is inside [0, inWidth).
            int owStart = dx >= 0 ? 0 : (-dx + strideWidth - 1) / strideWidth;
            int owEnd = inWidth - 1 - dx < 0 ? -1 : Math.Min(outWidth - 1, (inWidth - 1 - dx) / strideWidth);
            if (owStart > owEnd)
            {
                return;
            }

            for (int oh = 0; oh < outHeight; oh++)
            {
                int ih = oh * strideHeight + dy;
                if ((uint)ih >= (uint)inHeight)
                {
                    continue;
                }

                int row = ih * inWidth + dx;
                int outRow = oh * outWidth;
                int ow = owStart;
#if NET8_0_OR_GREATER
                if (strideWidth == 1 && Vector128.IsHardwareAccelerated)
                {
                    ow += AccumulateRow(ref MemoryMarshal.GetReference(x.Slice(row + owStart)), ref MemoryMarshal.GetReference(plane.Slice(outRow + owStart)), w, owEnd - owStart + 1);
                }
#endif
                for (; ow <= owEnd; ow++)
                {
                    plane[outRow + ow] += w * x[row + ow * strideWidth];
                }
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>target[i] += w · source[i] over whole vectors of <paramref name="count"/>; returns how many it did (the rest is the caller's scalar tail).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static int AccumulateRow(ref float source, ref float target, float w, int count)
        {
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> weight = Vector256.Create(w);
                for (; i <= count - 8; i += 8)
                {
                    // Multiply, then add: two roundings, as the scalar loop does.
                    (Vector256.LoadUnsafe(ref target, (nuint)i) + weight * Vector256.LoadUnsafe(ref source, (nuint)i)).StoreUnsafe(ref target, (nuint)i);
                }
            }

            Vector128<float> weight4 = Vector128.Create(w);
            for (; i <= count - 4; i += 4)
            {
                (Vector128.LoadUnsafe(ref target, (nuint)i) + weight4 * Vector128.LoadUnsafe(ref source, (nuint)i)).StoreUnsafe(ref target, (nuint)i);
            }

            return i;
        }
#endif
    }
}
