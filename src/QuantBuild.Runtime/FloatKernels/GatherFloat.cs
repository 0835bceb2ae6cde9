using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Data movement as a table: y[destination[i]] = x[source[i]], or <c>fill</c> where source[i] is −1.
    /// Transpose, Slice, Gather with constant indices, Pad, Concat (one call per input), Split (one call
    /// per output), Expand, Tile, Resize-nearest and the reshape family are all fixed index maps on a
    /// static-shaped graph; the build computes the table once by running the reference engine on the
    /// element indices, so the generated code reproduces the engine exactly whatever the attributes.
    /// </summary>
    public sealed class GatherFloat : FloatKernel
    {
        private readonly int[] source;
        private readonly int[] destination;
        private readonly float fill;

        /// <param name="source">input element per written element, −1 for the fill value</param>
        /// <param name="destination">output element per entry, or empty when entry i writes y[i]</param>
        public GatherFloat(int[] source, int[] destination, float fill)
        {
            if (destination.Length != 0 && destination.Length != source.Length)
            {
                throw new ArgumentException("Source and destination tables differ in length.", "destination");
            }

            this.source = source;
            this.destination = destination;
            this.fill = fill;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            if (destination.Length == 0)
            {
                for (int i = 0; i < source.Length; i++)
                {
                    int s = source[i];
                    y[i] = s < 0 ? fill : a[s];
                }

                return;
            }

            for (int i = 0; i < source.Length; i++)
            {
                int s = source[i];
                y[destination[i]] = s < 0 ? fill : a[s];
            }
        }
    }
}
