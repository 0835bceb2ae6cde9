using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Convolution or transposed convolution over three or more spatial axes in float32 (N, C, spatial...):
    /// the N-d form of <see cref="ConvFloat"/> / <see cref="ConvTransposeFloat"/>. Conv weights are
    /// [M, C/group, k...] and each output starts at its bias and accumulates input channel by input
    /// channel, kernel position by kernel position; ConvTranspose weights are [C, M/group, k...] and every
    /// input element scatters its weighted kernel into the output at stride spacing.
    /// </summary>
    public sealed class ConvNdFloat : FloatKernel
    {
        private readonly bool transposed;
        private readonly int batch;
        private readonly int inChannels;
        private readonly int outChannels;
        private readonly int groups;
        private readonly WindowGeometryNd geometry;
        private readonly float[] weights;
        private readonly float[] bias;

        /// <param name="geometryInSpatial">
        /// spatial sizes of the tensor the window slides over: the input for Conv, the output for
        /// ConvTranspose (which is the input gradient of the Conv reading its output)
        /// </param>
        public ConvNdFloat(bool transposed, int batch, int inChannels, int outChannels, int groups,
            int[] geometryInSpatial, int[] geometryOutSpatial, int[] kernel, int[] strides, int[] padsBegin, int[] dilations, float[] weights, float[] bias)
        {
            if (groups <= 0 || inChannels % groups != 0 || outChannels % groups != 0)
            {
                throw new ArgumentException("Channels must divide into groups.", "groups");
            }

            this.transposed = transposed;
            this.batch = batch;
            this.inChannels = inChannels;
            this.outChannels = outChannels;
            this.groups = groups;
            geometry = new WindowGeometryNd(geometryInSpatial, geometryOutSpatial, kernel, strides, padsBegin, new int[kernel.Length], dilations);
            int expected = (transposed ? inChannels * (outChannels / groups) : outChannels * (inChannels / groups)) * geometry.KernelSize;
            if (weights.Length != expected || (bias.Length != 0 && bias.Length != outChannels))
            {
                throw new ArgumentException("Weight or bias length does not match the geometry.", "weights");
            }

            this.weights = weights;
            this.bias = bias;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            if (transposed)
            {
                EvalTransposed(a, y);
                return;
            }

            var g = geometry;
            if (g.OutSize == 0)
            {
                return;
            }

            int inPerGroup = inChannels / groups;
            int outPerGroup = outChannels / groups;
            Span<int> o = stackalloc int[WindowGeometryNd.MaxSpatialRank];
            Span<int> k = stackalloc int[WindowGeometryNd.MaxSpatialRank];
            o = o.Slice(0, g.Rank);
            k = k.Slice(0, g.Rank);
            for (int n = 0; n < batch; n++)
            {
                for (int m = 0; m < outChannels; m++)
                {
                    int group = m / outPerGroup;
                    int outBase = (n * outChannels + m) * g.OutSize;
                    o.Clear();
                    int j = 0;
                    do
                    {
                        float acc = bias.Length == 0 ? 0f : bias[m];
                        for (int ci = 0; ci < inPerGroup; ci++)
                        {
                            int inBase = (n * inChannels + group * inPerGroup + ci) * g.InSize;
                            int wBase = (m * inPerGroup + ci) * g.KernelSize;
                            k.Clear();
                            int t = 0;
                            do
                            {
                                int offset = g.InputOffset(o, k);
                                if (offset >= 0)
                                {
                                    acc += weights[wBase + t] * a[inBase + offset];
                                }

                                t++;
                            }
                            while (WindowGeometryNd.Next(k, g.Kernel));
                        }

                        y[outBase + j++] = acc;
                    }
                    while (WindowGeometryNd.Next(o, g.OutSpatial));
                }
            }
        }

        /// <summary>
        /// The geometry describes the Conv whose input gradient this is (it slides over ConvTranspose's
        /// output and produces its input): input element i, kernel position t lands on output element
        /// InputOffset(i, t).
        /// </summary>
        private void EvalTransposed(ReadOnlySpan<float> a, Span<float> y)
        {
            var g = geometry;
            int inPerGroup = inChannels / groups;
            int outPerGroup = outChannels / groups;
            Span<int> i = stackalloc int[WindowGeometryNd.MaxSpatialRank];
            Span<int> k = stackalloc int[WindowGeometryNd.MaxSpatialRank];
            i = i.Slice(0, g.Rank);
            k = k.Slice(0, g.Rank);
            for (int n = 0; n < batch; n++)
            {
                for (int m = 0; m < outChannels; m++)
                {
                    y.Slice((n * outChannels + m) * g.InSize, g.InSize).Fill(bias.Length == 0 ? 0f : bias[m]);
                }

                if (g.OutSize == 0)
                {
                    continue;
                }

                for (int ci = 0; ci < inChannels; ci++)
                {
                    int group = ci / inPerGroup;
                    int inBase = (n * inChannels + ci) * g.OutSize;
                    for (int mo = 0; mo < outPerGroup; mo++)
                    {
                        int m = group * outPerGroup + mo;
                        int outBase = (n * outChannels + m) * g.InSize;
                        int wBase = (ci * outPerGroup + mo) * g.KernelSize;
                        k.Clear();
                        int t = 0;
                        do
                        {
                            float w = weights[wBase + t++];
                            i.Clear();
                            int j = 0;
                            do
                            {
                                int offset = g.InputOffset(i, k);
                                if (offset >= 0)
                                {
                                    y[outBase + offset] += w * a[inBase + j];
                                }

                                j++;
                            }
                            while (WindowGeometryNd.Next(i, g.OutSpatial));
                        }
                        while (WindowGeometryNd.Next(k, g.Kernel));
                    }
                }
            }
        }
    }
}
