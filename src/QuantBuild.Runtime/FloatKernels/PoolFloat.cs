using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// 2-D max or average pooling in float32 (1-D as height 1; global pooling as a window over the whole
    /// plane), NCHW. Windows are clipped to the image; the average divides by the window's size when
    /// padding counts, else by the number of pixels inside the image.
    /// </summary>
    public sealed class PoolFloat : FloatKernel
    {
        private readonly bool max;
        private readonly bool countIncludePad;
        private readonly int planes, inHeight, inWidth, outHeight, outWidth;
        private readonly int kernelHeight, kernelWidth, strideHeight, strideWidth, padTop, padLeft, padBottom, padRight, dilationHeight, dilationWidth;

        /// <param name="planes">batch · channels</param>
        public PoolFloat(bool max, bool countIncludePad, int planes, int inHeight, int inWidth, int outHeight, int outWidth,
            int kernelHeight, int kernelWidth, int strideHeight, int strideWidth, int padTop, int padLeft, int padBottom, int padRight, int dilationHeight, int dilationWidth)
        {
            this.max = max;
            this.countIncludePad = countIncludePad;
            this.planes = planes;
            this.inHeight = inHeight;
            this.inWidth = inWidth;
            this.outHeight = outHeight;
            this.outWidth = outWidth;
            this.kernelHeight = kernelHeight;
            this.kernelWidth = kernelWidth;
            this.strideHeight = strideHeight;
            this.strideWidth = strideWidth;
            this.padTop = padTop;
            this.padLeft = padLeft;
            this.padBottom = padBottom;
            this.padRight = padRight;
            this.dilationHeight = dilationHeight;
            this.dilationWidth = dilationWidth;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            int inPlane = inHeight * inWidth;
            int outPlane = outHeight * outWidth;
            for (int p = 0; p < planes; p++)
            {
                ReadOnlySpan<float> x = a.Slice(p * inPlane, inPlane);
                for (int oh = 0; oh < outHeight; oh++)
                {
                    for (int ow = 0; ow < outWidth; ow++)
                    {
                        float best = float.NegativeInfinity;
                        float sum = 0f;
                        int inside = 0;
                        for (int kh = 0; kh < kernelHeight; kh++)
                        {
                            int ih = oh * strideHeight - padTop + kh * dilationHeight;
                            if ((uint)ih >= (uint)inHeight)
                            {
                                continue;
                            }

                            for (int kw = 0; kw < kernelWidth; kw++)
                            {
                                int iw = ow * strideWidth - padLeft + kw * dilationWidth;
                                if ((uint)iw >= (uint)inWidth)
                                {
                                    continue;
                                }

                                float v = x[ih * inWidth + iw];
                                if (v > best || float.IsNaN(v)) best = v;
                                sum += v;
                                inside++;
                            }
                        }

                        float result;
                        if (max)
                        {
                            result = best;
                        }
                        else
                        {
                            int count = countIncludePad ? WindowWithPads(oh, ow) : inside;
                            result = count == 0 ? 0f : sum / count;
                        }

                        y[p * outPlane + oh * outWidth + ow] = result;
                    }
                }
            }
        }

        /// <summary>Window size counting padding but not the part beyond the padded image (ceil_mode tails).</summary>
        private int WindowWithPads(int oh, int ow)
        {
            int rows = 0, columns = 0;
            for (int kh = 0; kh < kernelHeight; kh++)
            {
                int ih = oh * strideHeight - padTop + kh * dilationHeight;
                if (ih < inHeight + padBottom && ih >= -padTop) rows++;
            }

            for (int kw = 0; kw < kernelWidth; kw++)
            {
                int iw = ow * strideWidth - padLeft + kw * dilationWidth;
                if (iw < inWidth + padRight && iw >= -padLeft) columns++;
            }

            return rows * columns;
        }
    }
}
