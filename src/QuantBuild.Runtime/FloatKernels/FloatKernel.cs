using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// A float32 kernel of the generated runtime: one graph node (or one part of it, e.g. one output of a
    /// Split) that has no integer kernel or that the sidecar keeps in float. Every geometry, attribute and
    /// constant is fixed by the constructor, so <see cref="Eval"/> only reads its inputs and writes its
    /// output, without allocating. The single signature (up to three inputs, one output; unused inputs are
    /// empty) lets the generated code and the build-time runner call every float kernel the same way.
    /// </summary>
    public abstract class FloatKernel
    {
        /// <summary>Computes the output from inputs <paramref name="a"/>, <paramref name="b"/>, <paramref name="c"/> (empty when unused).</summary>
        public abstract void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y);

        /// <summary>
        /// Strides of a tensor of <paramref name="shape"/> read as if broadcast (numpy rules, right-aligned) to
        /// <paramref name="outShape"/>: 0 along broadcast dimensions.
        /// </summary>
        public static int[] BroadcastStrides(int[] shape, int[] outShape)
        {
            var strides = new int[outShape.Length];
            int stride = 1;
            for (int d = outShape.Length - 1, s = shape.Length - 1; d >= 0; d--, s--)
            {
                int size = s >= 0 ? shape[s] : 1;
                strides[d] = size == 1 ? 0 : stride;
                stride *= size;
            }
            return strides;
        }

        /// <summary>Largest output rank the broadcasting kernels (<see cref="BroadcastBinaryFloat"/>, <see cref="SelectFloat"/>) walk.</summary>
        public const int MaxBroadcastRank = 8;

        /// <summary>Refuses an output rank beyond <see cref="MaxBroadcastRank"/> (their odometer lives on the stack).</summary>
        protected static void CheckBroadcastRank(int[] outShape)
        {
            if (outShape.Length > MaxBroadcastRank)
            {
                throw new ArgumentException("Broadcasting is limited to rank 8.", "outShape");
            }
        }

        /// <summary>Number of elements of a shape.</summary>
        public static int Length(int[] shape)
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
