using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Resize / Upsample in float32: nearest, n-linear and n-cubic (with antialias, exclude_outside and every
    /// coordinate transformation already folded into the tables at build time). Each resampled axis has a
    /// small table, output coordinate → taps (source index, weight), plus a flag per output coordinate that
    /// lies outside a tf_crop_and_resize roi. The tables come from the build-time engine's own planning, and
    /// the axes are applied in the engine's pass order: pass p's value at an output element is
    /// Σ_t w_t · (pass p−1's value at the tap's source), accumulated from 0 in tap order and skipping zero
    /// weights, as the engine's separable passes do. Evaluating that nesting per output element instead of
    /// through intermediate tensors performs the same float operations in the same order, so the result
    /// is bit-identical to the engine on every CPU and Eval needs no scratch memory.
    /// </summary>
    public sealed class ResizeFloat : FloatKernel
    {
        private const int MaxRank = 8;
        private readonly int[] outShape;
        private readonly int[] inStrides;
        private readonly int[] passAxes;
        private readonly int[] passTaps;
        private readonly int[] tableStart;
        private readonly int[] outsideStart;
        private readonly int[] indices;
        private readonly float[] weights;
        private readonly bool[] outside;
        private readonly bool nearest;
        private readonly float extrapolation;
        private readonly int length;

        /// <param name="inShape">input shape</param>
        /// <param name="outShape">output shape</param>
        /// <param name="passAxes">the resampled axes, first pass first (axes absent here are copied)</param>
        /// <param name="passTaps">taps per output coordinate of each pass (1 for nearest)</param>
        /// <param name="indices">per pass, outShape[axis] × taps source indices along the axis, passes concatenated</param>
        /// <param name="weights">the matching weights (ignored for nearest)</param>
        /// <param name="outside">per pass, outShape[axis] flags: the coordinate takes <paramref name="extrapolation"/>; empty when none is</param>
        /// <param name="nearest">copy the single tap instead of weighting it</param>
        public ResizeFloat(int[] inShape, int[] outShape, int[] passAxes, int[] passTaps, int[] indices, float[] weights, bool[] outside, bool nearest, float extrapolation)
        {
            if (inShape.Length > MaxRank || outShape.Length != inShape.Length || passTaps.Length != passAxes.Length)
            {
                throw new ArgumentException("Shapes of equal rank ≤ 8 and one tap count per pass are needed.", "passTaps");
            }

            this.outShape = (int[])outShape.Clone();
            this.passAxes = (int[])passAxes.Clone();
            this.passTaps = (int[])passTaps.Clone();
            this.indices = indices;
            this.weights = weights;
            this.outside = outside;
            this.nearest = nearest;
            this.extrapolation = extrapolation;
            inStrides = new int[inShape.Length];
            int stride = 1;
            for (int d = inShape.Length - 1; d >= 0; d--)
            {
                inStrides[d] = stride;
                stride *= inShape[d];
            }

            tableStart = new int[passAxes.Length];
            outsideStart = new int[passAxes.Length];
            int table = 0;
            int flags = 0;
            for (int p = 0; p < passAxes.Length; p++)
            {
                int size = outShape[passAxes[p]];
                if (inShape[passAxes[p]] <= 0 && size > 0)
                {
                    throw new ArgumentException("A resampled axis needs a non-empty input.", "inShape");
                }

                tableStart[p] = table;
                outsideStart[p] = flags;
                table += size * passTaps[p];
                flags += size;
            }

            if (indices.Length != table || (!nearest && weights.Length != table) || (outside.Length != 0 && outside.Length != flags))
            {
                throw new ArgumentException("Tables do not match the output shape.", "indices");
            }

            length = Length(outShape);
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            if (y.Length < length)
            {
                throw new ArgumentException("Output is too short.", "y");
            }

            if (length == 0)
            {
                return;
            }

            int rank = outShape.Length;
            Span<int> coord = stackalloc int[MaxRank];
            Span<bool> resampled = stackalloc bool[MaxRank];
            coord.Clear();
            resampled.Clear();
            for (int p = 0; p < passAxes.Length; p++)
            {
                resampled[passAxes[p]] = true;
            }

            for (int i = 0; i < length; i++)
            {
                // Axes that are not resampled read the input at the output coordinate.
                int offset = 0;
                for (int d = 0; d < rank; d++)
                {
                    if (!resampled[d])
                    {
                        offset += coord[d] * inStrides[d];
                    }
                }

                y[i] = Value(passAxes.Length - 1, offset, a, coord);

                for (int d = rank - 1; d >= 0; d--)
                {
                    if (++coord[d] < outShape[d])
                    {
                        break;
                    }

                    coord[d] = 0;
                }
            }
        }

        /// <summary>The value after pass <paramref name="pass"/> at <paramref name="coord"/>, with the axes of later passes fixed in <paramref name="offset"/>.</summary>
        private float Value(int pass, int offset, ReadOnlySpan<float> a, Span<int> coord)
        {
            if (pass < 0)
            {
                return a[offset];
            }

            int x = coord[passAxes[pass]];
            if (outside.Length != 0 && outside[outsideStart[pass] + x])
            {
                return extrapolation;
            }

            int stride = inStrides[passAxes[pass]];
            int taps = passTaps[pass];
            int first = tableStart[pass] + x * taps;
            if (nearest)
            {
                return Value(pass - 1, offset + indices[first] * stride, a, coord);
            }

            float acc = 0f;
            for (int t = 0; t < taps; t++)
            {
                float w = weights[first + t];
                if (w == 0f)
                {
                    continue;
                }

                acc += w * Value(pass - 1, offset + indices[first + t] * stride, a, coord);
            }

            return acc;
        }
    }
}
