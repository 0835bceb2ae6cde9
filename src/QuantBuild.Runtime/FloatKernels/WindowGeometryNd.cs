using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Spatial geometry of an N-d sliding window (3-D convolutions and pools; 1-D and 2-D have their own
    /// kernels): per spatial axis the input and output sizes, kernel, stride, dilation and padding, plus
    /// row-major odometer helpers that walk positions without allocating.
    /// </summary>
    public sealed class WindowGeometryNd
    {
        public const int MaxSpatialRank = 6;

        public WindowGeometryNd(int[] inSpatial, int[] outSpatial, int[] kernel, int[] strides, int[] padsBegin, int[] padsEnd, int[] dilations)
        {
            int r = inSpatial.Length;
            if (r == 0 || r > MaxSpatialRank || outSpatial.Length != r || kernel.Length != r || strides.Length != r
                || padsBegin.Length != r || padsEnd.Length != r || dilations.Length != r)
            {
                throw new ArgumentException("One value per spatial axis (1 to 6 axes) is needed.", "kernel");
            }

            InSpatial = (int[])inSpatial.Clone();
            OutSpatial = (int[])outSpatial.Clone();
            Kernel = (int[])kernel.Clone();
            Strides = (int[])strides.Clone();
            PadsBegin = (int[])padsBegin.Clone();
            PadsEnd = (int[])padsEnd.Clone();
            Dilations = (int[])dilations.Clone();
            InSize = Length(inSpatial);
            OutSize = Length(outSpatial);
            KernelSize = Length(kernel);
        }

        public int[] InSpatial { get; }
        public int[] OutSpatial { get; }
        public int[] Kernel { get; }
        public int[] Strides { get; }
        public int[] PadsBegin { get; }
        public int[] PadsEnd { get; }
        public int[] Dilations { get; }
        public int Rank => InSpatial.Length;
        public int InSize { get; }
        public int OutSize { get; }
        public int KernelSize { get; }

        /// <summary>Advances a row-major index over <paramref name="shape"/>; false after the last position.</summary>
        public static bool Next(Span<int> index, int[] shape)
        {
            for (int d = shape.Length - 1; d >= 0; d--)
            {
                if (++index[d] < shape[d])
                {
                    return true;
                }

                index[d] = 0;
            }

            return false;
        }

        /// <summary>
        /// The input offset (row-major in the input plane) that output position <paramref name="o"/> reads
        /// through kernel position <paramref name="k"/>, or −1 when it falls in the padding.
        /// </summary>
        public int InputOffset(ReadOnlySpan<int> o, ReadOnlySpan<int> k)
        {
            int offset = 0;
            for (int d = 0; d < InSpatial.Length; d++)
            {
                int i = o[d] * Strides[d] - PadsBegin[d] + k[d] * Dilations[d];
                if ((uint)i >= (uint)InSpatial[d])
                {
                    return -1;
                }

                offset = offset * InSpatial[d] + i;
            }

            return offset;
        }

        private static int Length(int[] shape)
        {
            int n = 1;
            for (int i = 0; i < shape.Length; i++)
            {
                n = checked(n * shape[i]);
            }

            return n;
        }
    }
}
