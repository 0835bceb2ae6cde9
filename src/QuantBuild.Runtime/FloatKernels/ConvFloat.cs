using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
#if NET8_0_OR_GREATER
using System.Numerics;
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
#if NET8_0_OR_GREATER
            if (kernelHeight == 1 && kernelWidth == 1 && strideHeight == 1 && strideWidth == 1 && padTop == 0 && padLeft == 0
                && outHeight == inHeight && outWidth == inWidth && Vector.IsHardwareAccelerated)
            {
                EvalPointwise(a, y);
                return;
            }
#endif
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
                if (strideWidth == 1)
                {
                    ow += FloatRow.MultiplyAdd(ref MemoryMarshal.GetReference(x.Slice(row + owStart)), ref MemoryMarshal.GetReference(plane.Slice(outRow + owStart)), w, owEnd - owStart + 1);
                }
#endif
                for (; ow <= owEnd; ow++)
                {
                    plane[outRow + ow] += w * x[row + ow * strideWidth];
                }
            }
        }

#if NET8_0_OR_GREATER
        /// <summary>
        /// 1×1, stride 1, no padding: a GEMM per group, y[m, p] = b[m] + Σ_ci w[m, ci] · x[ci, p] in ci order, as the
        /// direct loops add it. Register tiles of 4 output channels × 2 vectors of positions keep the sums in registers
        /// over all input channels instead of passing over the output plane once per input channel.
        /// </summary>
        private void EvalPointwise(ReadOnlySpan<float> a, Span<float> y)
        {
            int channelsPerGroup = inChannels / groups;
            int outPerGroup = outChannels / groups;
            int plane = inHeight * inWidth;
            ref float x0 = ref MemoryMarshal.GetReference(a);
            ref float y0 = ref MemoryMarshal.GetReference(y);
            for (int n = 0; n < batch; n++)
            {
                for (int g = 0; g < groups; g++)
                {
                    ref float x = ref Unsafe.Add(ref x0, (n * inChannels + g * channelsPerGroup) * plane);
                    int m = g * outPerGroup;
                    int end = m + outPerGroup;
                    for (; m + 4 <= end; m += 4)
                    {
                        PointwiseTile4(ref x, ref Unsafe.Add(ref y0, (n * outChannels + m) * plane), m, channelsPerGroup, plane);
                    }

                    for (; m < end; m++)
                    {
                        PointwiseRow(ref x, ref Unsafe.Add(ref y0, (n * outChannels + m) * plane), m, channelsPerGroup, plane);
                    }
                }
            }
        }

        /// <summary>Output channels m … m + 3 (rows of <paramref name="plane"/> values from <paramref name="y"/>) over input channels x[0 … count).</summary>
        private void PointwiseTile4(ref float x, ref float y, int m, int count, int plane)
        {
            int width = Vector<float>.Count;
            ref float w = ref weights[m * count];
            float b0 = 0f, b1 = 0f, b2 = 0f, b3 = 0f;
            if (bias.Length != 0)
            {
                b0 = bias[m]; b1 = bias[m + 1]; b2 = bias[m + 2]; b3 = bias[m + 3];
            }

            int p = 0;
            for (; p + 2 * width <= plane; p += 2 * width)
            {
                Vector<float> a0 = new Vector<float>(b0), c0 = a0, a1 = new Vector<float>(b1), c1 = a1;
                Vector<float> a2 = new Vector<float>(b2), c2 = a2, a3 = new Vector<float>(b3), c3 = a3;
                for (int ci = 0; ci < count; ci++)
                {
                    ref float xr = ref Unsafe.Add(ref x, ci * plane + p);
                    Vector<float> low = Load(ref xr, 0);
                    Vector<float> high = Load(ref xr, width);
                    // Multiply, then add: two roundings per product, as the direct loops.
                    Vector<float> w0 = new Vector<float>(Unsafe.Add(ref w, ci));
                    a0 += w0 * low; c0 += w0 * high;
                    Vector<float> w1 = new Vector<float>(Unsafe.Add(ref w, count + ci));
                    a1 += w1 * low; c1 += w1 * high;
                    Vector<float> w2 = new Vector<float>(Unsafe.Add(ref w, 2 * count + ci));
                    a2 += w2 * low; c2 += w2 * high;
                    Vector<float> w3 = new Vector<float>(Unsafe.Add(ref w, 3 * count + ci));
                    a3 += w3 * low; c3 += w3 * high;
                }

                Store(a0, ref y, p); Store(c0, ref y, p + width);
                Store(a1, ref y, plane + p); Store(c1, ref y, plane + p + width);
                Store(a2, ref y, 2 * plane + p); Store(c2, ref y, 2 * plane + p + width);
                Store(a3, ref y, 3 * plane + p); Store(c3, ref y, 3 * plane + p + width);
            }

            for (int r = 0; r < 4; r++)
            {
                PointwiseColumns(ref x, ref Unsafe.Add(ref y, r * plane), m + r, count, plane, p);
            }
        }

        /// <summary>One output channel <paramref name="m"/>: whole vectors, then the scalar columns.</summary>
        private void PointwiseRow(ref float x, ref float y, int m, int count, int plane)
        {
            int width = Vector<float>.Count;
            ref float w = ref weights[m * count];
            float b = bias.Length == 0 ? 0f : bias[m];
            int p = 0;
            for (; p + width <= plane; p += width)
            {
                Vector<float> acc = new Vector<float>(b);
                for (int ci = 0; ci < count; ci++)
                {
                    acc += new Vector<float>(Unsafe.Add(ref w, ci)) * Load(ref x, ci * plane + p);
                }

                Store(acc, ref y, p);
            }

            PointwiseColumns(ref x, ref y, m, count, plane, p);
        }

        /// <summary>Columns [<paramref name="from"/>, plane) of output channel <paramref name="m"/>, one value at a time in the same order.</summary>
        private void PointwiseColumns(ref float x, ref float y, int m, int count, int plane, int from)
        {
            float b = bias.Length == 0 ? 0f : bias[m];
            for (int p = from; p < plane; p++)
            {
                float acc = b;
                for (int ci = 0; ci < count; ci++)
                {
                    acc += weights[m * count + ci] * Unsafe.Add(ref x, ci * plane + p);
                }

                Unsafe.Add(ref y, p) = acc;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static Vector<float> Load(ref float source, int offset)
        {
            return Unsafe.ReadUnaligned<Vector<float>>(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref source, offset)));
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Store(Vector<float> value, ref float target, int offset)
        {
            Unsafe.WriteUnaligned(ref Unsafe.As<float, byte>(ref Unsafe.Add(ref target, offset)), value);
        }

#endif
    }
}
