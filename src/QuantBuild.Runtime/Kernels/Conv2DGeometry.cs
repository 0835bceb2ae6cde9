using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Shapes and attributes of a 2-D convolution on NCHW tensors, validated once at prepare time.
    /// Weights are [OutChannels, InChannels/Groups, KernelHeight, KernelWidth].
    /// </summary>
    public sealed class Conv2DGeometry
    {
        public Conv2DGeometry(
            int batch, int inChannels, int inHeight, int inWidth,
            int outChannels, int kernelHeight, int kernelWidth,
            int strideHeight = 1, int strideWidth = 1,
            int padTop = 0, int padLeft = 0, int padBottom = 0, int padRight = 0,
            int dilationHeight = 1, int dilationWidth = 1, int groups = 1)
        {
            if (batch < 1 || inChannels < 1 || inHeight < 1 || inWidth < 1 || outChannels < 1 || kernelHeight < 1 || kernelWidth < 1)
            {
                throw new ArgumentException("Conv dimensions must be positive.");
            }

            if (strideHeight < 1 || strideWidth < 1 || dilationHeight < 1 || dilationWidth < 1)
            {
                throw new ArgumentException("Strides and dilations must be positive.");
            }

            if (padTop < 0 || padLeft < 0 || padBottom < 0 || padRight < 0)
            {
                throw new ArgumentException("Pads must be non-negative.");
            }

            if (groups < 1 || inChannels % groups != 0 || outChannels % groups != 0)
            {
                throw new ArgumentException("Groups must divide both the input and the output channel counts.");
            }

            Batch = batch;
            InChannels = inChannels;
            InHeight = inHeight;
            InWidth = inWidth;
            OutChannels = outChannels;
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
            Groups = groups;
            OutHeight = OutputSize(inHeight, padTop, padBottom, kernelHeight, strideHeight, dilationHeight);
            OutWidth = OutputSize(inWidth, padLeft, padRight, kernelWidth, strideWidth, dilationWidth);
            if (OutHeight < 1 || OutWidth < 1)
            {
                throw new ArgumentException("The kernel does not fit in the padded input.");
            }

            // Stored, not computed per read: the GEMM tiles read them per tile, and a division there showed in profiles.
            InChannelsPerGroup = inChannels / groups;
            OutChannelsPerGroup = outChannels / groups;
            FanIn = InChannelsPerGroup * kernelHeight * kernelWidth;
        }

        /// <summary>Output positions of a sliding window along one axis (floor rounding, as ONNX's default); shared with pooling.</summary>
        internal static int OutputSize(int input, int padBegin, int padEnd, int kernel, int stride, int dilation)
        {
            return (input + padBegin + padEnd - (dilation * (kernel - 1) + 1)) / stride + 1;
        }

        public int Batch { get; }

        public int InChannels { get; }

        public int InHeight { get; }

        public int InWidth { get; }

        public int OutChannels { get; }

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

        public int Groups { get; }

        public int OutHeight { get; }

        public int OutWidth { get; }

        public int InChannelsPerGroup { get; }

        public int OutChannelsPerGroup { get; }

        /// <summary>A 1×1, stride-1, unpadded, ungrouped convolution: one matrix product over the pixels.</summary>
        public bool IsPointwise
        {
            get
            {
                return KernelHeight == 1 && KernelWidth == 1 && StrideHeight == 1 && StrideWidth == 1
                    && PadTop == 0 && PadLeft == 0 && PadBottom == 0 && PadRight == 0 && Groups == 1;
            }
        }

        /// <summary>One input and one output channel per group.</summary>
        public bool IsDepthwise
        {
            get { return Groups == InChannels && OutChannels == InChannels; }
        }

        /// <summary>Reduction length of one output value: (C/G)·kH·kW.</summary>
        public int FanIn { get; }

        public int InputLength
        {
            get { return Batch * InChannels * InHeight * InWidth; }
        }

        public int OutputLength
        {
            get { return Batch * OutChannels * OutHeight * OutWidth; }
        }

        public int WeightLength
        {
            get { return OutChannels * FanIn; }
        }
    }
}
