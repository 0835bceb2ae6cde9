using System;

namespace QuantBuild.Runtime
{
    /// <summary>Shapes and attributes of a 2-D pooling window on NCHW tensors (floor output size).</summary>
    public sealed class Pool2DGeometry
    {
        public Pool2DGeometry(
            int batch, int channels, int inHeight, int inWidth,
            int kernelHeight, int kernelWidth,
            int strideHeight = 1, int strideWidth = 1,
            int padTop = 0, int padLeft = 0, int padBottom = 0, int padRight = 0,
            int dilationHeight = 1, int dilationWidth = 1)
        {
            if (batch < 1 || channels < 1 || inHeight < 1 || inWidth < 1 || kernelHeight < 1 || kernelWidth < 1
                || strideHeight < 1 || strideWidth < 1 || dilationHeight < 1 || dilationWidth < 1)
            {
                throw new ArgumentException("Pool dimensions, strides and dilations must be positive.");
            }

            if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0)
            {
                throw new ArgumentException("Pads must be non-negative.");
            }

            Batch = batch;
            Channels = channels;
            InHeight = inHeight;
            InWidth = inWidth;
            KernelHeight = kernelHeight;
            KernelWidth = kernelWidth;
            StrideHeight = strideHeight;
            StrideWidth = strideWidth;
            PadTop = padTop;
            PadLeft = padLeft;
            PadBottom = padBottom;
            PadRight = padRight;
            DilationHeight = dilationHeight;
            DilationWidth = dilationWidth;
            OutHeight = Conv2DGeometry.OutputSize(inHeight, padTop, padBottom, kernelHeight, strideHeight, dilationHeight);
            OutWidth = Conv2DGeometry.OutputSize(inWidth, padLeft, padRight, kernelWidth, strideWidth, dilationWidth);
            if (OutHeight < 1 || OutWidth < 1)
            {
                throw new ArgumentException("The window does not fit in the padded input.");
            }
        }

        public int Batch { get; }

        public int Channels { get; }

        public int InHeight { get; }

        public int InWidth { get; }

        public int KernelHeight { get; }

        public int KernelWidth { get; }

        public int StrideHeight { get; }

        public int StrideWidth { get; }

        public int PadTop { get; }

        public int PadLeft { get; }

        public int PadBottom { get; }

        public int PadRight { get; }

        public int DilationHeight { get; }

        public int DilationWidth { get; }

        public int OutHeight { get; }

        public int OutWidth { get; }

        public int InputLength
        {
            get { return Batch * Channels * InHeight * InWidth; }
        }

        public int OutputLength
        {
            get { return Batch * Channels * OutHeight * OutWidth; }
        }
    }
}
