using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Data movement whose source offset is a sum of one term per output axis:
    /// y[destinationOffset + Σ_k o_k·destinationStrides[k]] = a[Σ_k table_k[o_k]] for every index o of
    /// <c>shape</c>, or <c>fill</c> where any table_k[o_k] is <see cref="Outside"/>.
    /// That one form covers Transpose (table_k[i] = i·stride of the permuted axis), Slice with any steps,
    /// Split, Concat (one call per input into its region of the output), Expand (zero strides), Tile
    /// (i mod d), Gather with constant indices along one axis, Pad in every mode, Resize-nearest and
    /// DepthToSpace/SpaceToDepth (a 6-D view) — the same per-axis offset tables the reference engine's
    /// SeparableGather uses. The build stores Σ shape[k] table entries, never one per element, so the
    /// generated code stays proportional to the model's dimensions rather than its activation sizes.
    /// Runs that are contiguous on both sides along the last axis move as block copies; the result is a
    /// plain copy either way, so it is identical on every CPU.
    /// </summary>
    public sealed class SeparableGatherFloat : FloatKernel
    {
        /// <summary>A table entry that writes <c>fill</c> instead of reading the input (a constant pad).</summary>
        public const int Outside = int.MinValue;

        /// <summary>Rank limit of the iteration shape (the fixed-size odometer below).</summary>
        public const int MaxRank = 8;

        private readonly int[] shape;
        private readonly int[] tableStart;
        private readonly int[] sourceOffsets;
        private readonly int[] destinationStrides;
        private readonly int destinationOffset;
        private readonly float fill;
        private readonly int sourceEnd;
        private readonly int destinationEnd;
        private readonly bool contiguousLastAxis;
        private readonly int count;

        /// <param name="shape">iteration shape (rank 0..8); for a plain gather, the output shape</param>
        /// <param name="sourceOffsets">the per-axis tables one after another (Σ shape[k] entries): input element offsets, or <see cref="Outside"/></param>
        /// <param name="destinationStrides">output stride per axis, or empty for a contiguous output written from <paramref name="destinationOffset"/></param>
        /// <param name="destinationOffset">first output element written</param>
        /// <param name="fill">value written where a table holds <see cref="Outside"/></param>
        public SeparableGatherFloat(int[] shape, int[] sourceOffsets, int[] destinationStrides, int destinationOffset, float fill)
        {
            if (shape == null || sourceOffsets == null || destinationStrides == null)
            {
                throw new ArgumentNullException(shape == null ? "shape" : sourceOffsets == null ? "sourceOffsets" : "destinationStrides");
            }

            if (shape.Length > MaxRank)
            {
                throw new ArgumentException("At most " + MaxRank + " axes.", "shape");
            }

            // A scalar is one element: an axis of size 1 whose table is its single offset.
            if (shape.Length == 0)
            {
                shape = new[] { 1 };
                if (destinationStrides.Length == 0)
                {
                    destinationStrides = new[] { 1 };
                }
            }

            int rank = shape.Length;
            if (destinationStrides.Length == 0)
            {
                destinationStrides = new int[rank];
                int stride = 1;
                for (int k = rank - 1; k >= 0; k--)
                {
                    destinationStrides[k] = stride;
                    stride = checked(stride * shape[k]);
                }
            }

            if (destinationStrides.Length != rank)
            {
                throw new ArgumentException("One destination stride per axis.", "destinationStrides");
            }

            if (destinationOffset < 0)
            {
                throw new ArgumentOutOfRangeException("destinationOffset");
            }

            this.shape = (int[])shape.Clone();
            this.sourceOffsets = sourceOffsets;
            this.destinationStrides = destinationStrides;
            this.destinationOffset = destinationOffset;
            this.fill = fill;
            tableStart = new int[rank];
            count = 1;
            int entries = 0;
            long sourceMax = 0, destinationMax = destinationOffset;
            bool reads = true;
            for (int k = 0; k < rank; k++)
            {
                if (shape[k] < 0 || destinationStrides[k] < 0)
                {
                    throw new ArgumentException("Sizes and destination strides must not be negative.");
                }

                tableStart[k] = entries;
                entries = checked(entries + shape[k]);
                count = checked(count * shape[k]);
                if (entries > sourceOffsets.Length)
                {
                    throw new ArgumentException("Fewer table entries than the shape needs.", "sourceOffsets");
                }

                int axisMax = 0;
                bool axisReads = false;
                for (int i = tableStart[k]; i < entries; i++)
                {
                    int o = sourceOffsets[i];
                    if (o == Outside)
                    {
                        continue;
                    }

                    if (o < 0)
                    {
                        throw new ArgumentException("Source offsets must not be negative.", "sourceOffsets");
                    }

                    axisMax = Math.Max(axisMax, o);
                    axisReads = true;
                }

                reads &= axisReads;
                sourceMax += axisMax;
                destinationMax += (long)Math.Max(0, shape[k] - 1) * destinationStrides[k];
            }

            if (entries != sourceOffsets.Length)
            {
                throw new ArgumentException("More table entries than the shape needs.", "sourceOffsets");
            }

            // Bounds every Eval checks once, so the loops below index without surprises.
            // (An axis with no readable entry, a pad of an empty input, reads nothing.)
            sourceEnd = reads ? checked((int)(sourceMax + 1)) : 0;
            destinationEnd = checked((int)(destinationMax + 1));

            int last = rank - 1;
            contiguousLastAxis = destinationStrides[last] == 1;
            for (int i = 1; i < shape[last] && contiguousLastAxis; i++)
            {
                int o = sourceOffsets[tableStart[last] + i];
                contiguousLastAxis = o != Outside && o == sourceOffsets[tableStart[last]] + i;
            }

            if (shape[last] > 0 && sourceOffsets[tableStart[last]] == Outside)
            {
                contiguousLastAxis = false;
            }
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            if (count == 0)
            {
                return;
            }

            if (y.Length < destinationEnd)
            {
                throw new ArgumentException("Output is too short.", "y");
            }

            if (a.Length < sourceEnd)
            {
                throw new ArgumentException("Input is too short.", "a");
            }

            int rank = shape.Length;
            int last = rank - 1;
            int inner = shape[last];
            int lastTable = tableStart[last];
            int lastStride = destinationStrides[last];
            int rows = count / inner;
            Span<int> index = stackalloc int[MaxRank];
            index.Clear();
            for (int r = 0; r < rows; r++)
            {
                // Offsets of this row from the outer axes.
                int source = 0, destination = destinationOffset;
                bool outside = false;
                for (int k = 0; k < last; k++)
                {
                    int o = sourceOffsets[tableStart[k] + index[k]];
                    if (o == Outside)
                    {
                        outside = true;
                    }
                    else
                    {
                        source += o;
                    }

                    destination += index[k] * destinationStrides[k];
                }

                if (outside)
                {
                    for (int i = 0; i < inner; i++)
                    {
                        y[destination + i * lastStride] = fill;
                    }
                }
                else if (contiguousLastAxis)
                {
                    a.Slice(source + sourceOffsets[lastTable], inner).CopyTo(y.Slice(destination, inner));
                }
                else
                {
                    for (int i = 0; i < inner; i++)
                    {
                        int o = sourceOffsets[lastTable + i];
                        y[destination + i * lastStride] = o == Outside ? fill : a[source + o];
                    }
                }

                // Next row: the odometer over every axis but the last.
                for (int k = last - 1; k >= 0; k--)
                {
                    if (++index[k] < shape[k])
                    {
                        break;
                    }

                    index[k] = 0;
                }
            }
        }
    }
}
