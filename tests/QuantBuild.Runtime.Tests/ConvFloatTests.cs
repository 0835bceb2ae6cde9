using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary>
/// <see cref="ConvFloat"/> (the float step of a plan: layers kept in float, 16-bit activations) against the definition
/// written out here: each output starts at its bias and adds w · x one product at a time, input channel, then kernel
/// row, then kernel column, every product rounded to float before the add. Bit for bit, so the vector rows are checked
/// to keep that order on every CPU the runtime tests run on (AVX2, SSE, no intrinsics, Arm64).
/// </summary>
[TestClass]
public sealed class ConvFloatTests
{
    [TestMethod]
    [DataRow(1, 3, 9, 13, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, DisplayName = "3x3 pad 1, odd width (vector rows and a scalar tail)")]
    [DataRow(1, 24, 16, 16, 24, 3, 3, 1, 1, 1, 1, 1, 1, 24, DisplayName = "depthwise 3x3 (BlazeFace's float step)")]
    [DataRow(2, 8, 7, 21, 6, 1, 1, 1, 1, 0, 0, 1, 1, 2, DisplayName = "grouped 1x1, batch 2")]
    [DataRow(1, 24, 16, 16, 24, 1, 1, 1, 1, 0, 0, 1, 1, 1, DisplayName = "pointwise 24 -> 24 (BlazeFace's float 1x1)")]
    [DataRow(1, 13, 5, 7, 11, 1, 1, 1, 1, 0, 0, 1, 1, 1, DisplayName = "pointwise with channel and column remainders")]
    [DataRow(1, 6, 4, 5, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, DisplayName = "padded 1x1 (not the pointwise form)")]
    [DataRow(1, 4, 11, 19, 4, 3, 5, 2, 2, 1, 2, 1, 1, 1, DisplayName = "stride 2 (scalar columns)")]
    [DataRow(1, 2, 12, 30, 3, 3, 3, 1, 1, 2, 2, 2, 2, 1, DisplayName = "dilation 2, pad 2")]
    [DataRow(1, 5, 1, 40, 7, 1, 5, 1, 1, 0, 3, 1, 1, 1, DisplayName = "1-D as height 1, left pad 3")]
    [DataRow(1, 3, 6, 5, 2, 2, 7, 1, 1, 0, 4, 1, 1, 1, DisplayName = "kernel wider than the image")]
    public void MatchesTheDefinitionBitForBit(int batch, int inChannels, int inHeight, int inWidth, int outChannels, int kernelHeight, int kernelWidth,
        int strideHeight, int strideWidth, int padTop, int padLeft, int dilationHeight, int dilationWidth, int groups)
    {
        // Symmetric pads; output size as ONNX's Conv computes it.
        int outHeight = (inHeight + 2 * padTop - dilationHeight * (kernelHeight - 1) - 1) / strideHeight + 1;
        int outWidth = (inWidth + 2 * padLeft - dilationWidth * (kernelWidth - 1) - 1) / strideWidth + 1;
        int perGroup = inChannels / groups;
        var rng = new Random(inChannels * 1000 + inWidth);
        float[] x = Enumerable.Range(0, batch * inChannels * inHeight * inWidth).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        float[] w = Enumerable.Range(0, outChannels * perGroup * kernelHeight * kernelWidth).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        float[] bias = Enumerable.Range(0, outChannels).Select(_ => (float)rng.NextDouble()).ToArray();

        var expected = new float[batch * outChannels * outHeight * outWidth];
        for (int n = 0; n < batch; n++)
        for (int m = 0; m < outChannels; m++)
        for (int oh = 0; oh < outHeight; oh++)
        for (int ow = 0; ow < outWidth; ow++)
        {
            float acc = bias[m];
            int g = m / (outChannels / groups);
            for (int ci = 0; ci < perGroup; ci++)
            for (int kh = 0; kh < kernelHeight; kh++)
            for (int kw = 0; kw < kernelWidth; kw++)
            {
                int ih = oh * strideHeight + kh * dilationHeight - padTop;
                int iw = ow * strideWidth + kw * dilationWidth - padLeft;
                if (ih < 0 || ih >= inHeight || iw < 0 || iw >= inWidth) continue;
                float product = w[((m * perGroup + ci) * kernelHeight + kh) * kernelWidth + kw] * x[((n * inChannels + g * perGroup + ci) * inHeight + ih) * inWidth + iw];
                acc += product;
            }
            expected[((n * outChannels + m) * outHeight + oh) * outWidth + ow] = acc;
        }

        var kernel = new ConvFloat(batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth, kernelHeight, kernelWidth,
            strideHeight, strideWidth, padTop, padLeft, dilationHeight, dilationWidth, groups, w, bias);
        var actual = new float[expected.Length];
        kernel.Eval(x, ReadOnlySpan<float>.Empty, ReadOnlySpan<float>.Empty, actual);
        for (int i = 0; i < expected.Length; i++)
            Assert.AreEqual(BitConverter.SingleToInt32Bits(expected[i]), BitConverter.SingleToInt32Bits(actual[i]), $"value {i}: {actual[i]} vs {expected[i]}");
    }
}
