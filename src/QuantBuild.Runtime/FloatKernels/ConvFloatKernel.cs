using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// What <see cref="ConvFloat"/> and <see cref="ConvTransposeFloat"/> share: the NCHW geometry, the
    /// weights and the bias, validated once here. The two differ only in which channel count the weight
    /// tensor splits by group (Conv: [M, C/group, kH, kW]; ConvTranspose: [C, M/group, kH, kW]).
    /// </summary>
    public abstract class ConvFloatKernel : FloatKernel
    {
        protected readonly int batch, inChannels, inHeight, inWidth, outChannels, outHeight, outWidth;
        protected readonly int kernelHeight, kernelWidth, strideHeight, strideWidth, padTop, padLeft, dilationHeight, dilationWidth, groups;
        protected readonly float[] weights;
        protected readonly float[] bias;

        /// <param name="transposed">true when the weights are [C, M/group, kH, kW] (ConvTranspose).</param>
        protected ConvFloatKernel(bool transposed, int batch, int inChannels, int inHeight, int inWidth, int outChannels, int outHeight, int outWidth,
            int kernelHeight, int kernelWidth, int strideHeight, int strideWidth, int padTop, int padLeft,
            int dilationHeight, int dilationWidth, int groups, float[] weights, float[] bias)
        {
            if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            {
                throw new ArgumentException("Channels must divide into groups.", "groups");
            }

            int expectedWeights = transposed
                ? inChannels * (outChannels / groups) * kernelHeight * kernelWidth
                : outChannels * (inChannels / groups) * kernelHeight * kernelWidth;
            if (weights.Length != expectedWeights)
            {
                throw new ArgumentException("Weight length does not match the geometry.", "weights");
            }

            this.batch = batch;
            this.inChannels = inChannels;
            this.inHeight = inHeight;
            this.inWidth = inWidth;
            this.outChannels = outChannels;
            this.outHeight = outHeight;
            this.outWidth = outWidth;
            this.kernelHeight = kernelHeight;
            this.kernelWidth = kernelWidth;
            this.strideHeight = strideHeight;
            this.strideWidth = strideWidth;
            this.padTop = padTop;
            this.padLeft = padLeft;
            this.dilationHeight = dilationHeight;
            this.dilationWidth = dilationWidth;
            this.groups = groups;
            this.weights = weights;
            this.bias = bias;
        }
    }
}
