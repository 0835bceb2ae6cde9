using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// 2-D transposed convolution in float32 (1-D as height 1), NCHW, weights [C, M/group, kH, kW]: every
    /// input pixel scatters its weighted kernel into the output at stride spacing (output padding only
    /// changes the output size, which the constructor receives).
    /// </summary>
    public sealed class ConvTransposeFloat : ConvFloatKernel
    {
        public ConvTransposeFloat(int batch, int inChannels, int inHeight, int inWidth, int outChannels, int outHeight, int outWidth,
            int kernelHeight, int kernelWidth, int strideHeight, int strideWidth, int padTop, int padLeft,
            int dilationHeight, int dilationWidth, int groups, float[] weights, float[] bias)
            : base(true, batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth,
                strideHeight, strideWidth, padTop, padLeft, dilationHeight, dilationWidth, groups, weights, bias)
        {
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            int inPerGroup = inChannels / groups;
            int outPerGroup = outChannels / groups;
            int inPlane = inHeight * inWidth;
            int outPlane = outHeight * outWidth;
            for (int n = 0; n < batch; n++)
            {
                for (int m = 0; m < outChannels; m++)
                {
                    y.Slice((n * outChannels + m) * outPlane, outPlane).Fill(bias.Length == 0 ? 0f : bias[m]);
                }

                for (int ci = 0; ci < inChannels; ci++)
                {
                    int g = ci / inPerGroup;
                    ReadOnlySpan<float> x = a.Slice((n * inChannels + ci) * inPlane, inPlane);
                    for (int mo = 0; mo < outPerGroup; mo++)
                    {
                        int m = g * outPerGroup + mo;
                        Span<float> plane = y.Slice((n * outChannels + m) * outPlane, outPlane);
                        int wBase = (ci * outPerGroup + mo) * kernelHeight * kernelWidth;
                        for (int kh = 0; kh < kernelHeight; kh++)
                        {
                            for (int kw = 0; kw < kernelWidth; kw++)
                            {
                                float w = weights[wBase + kh * kernelWidth + kw];
                                for (int ih = 0; ih < inHeight; ih++)
                                {
                                    int oh = ih * strideHeight + kh * dilationHeight - padTop;
                                    if ((uint)oh >= (uint)outHeight)
                                    {
                                        continue;
                                    }

                                    for (int iw = 0; iw < inWidth; iw++)
                                    {
                                        int ow = iw * strideWidth + kw * dilationWidth - padLeft;
                                        if ((uint)ow < (uint)outWidth)
                                        {
                                            plane[oh * outWidth + ow] += w * x[ih * inWidth + iw];
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
