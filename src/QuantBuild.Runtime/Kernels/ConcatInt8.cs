using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Concat of int8 tensors along an axis, each input rescaled to the output parameters (a block copy
    /// when they already match). Eval is called once per input, so no array of spans is needed.
    /// An input passed as a single code stands for that code repeated over the input's whole shape: a
    /// constant block of one value (the zero channels a channel-padding Concat appends) is stored as one
    /// byte instead of one per element.
    /// </summary>
    public sealed class ConcatInt8
    {
        private readonly int outer;
        private readonly int outputInner;
        private readonly int[] inputInner;
        private readonly int[] offsets;
        private readonly Int8Rescale[] rescales;

        public ConcatInt8(int[][] inputShapes, QuantParams[] inputParams, QuantParams output, int axis)
        {
            if (inputShapes == null || inputParams == null || inputShapes.Length == 0 || inputShapes.Length != inputParams.Length)
            {
                throw new ArgumentException("Expected one shape and one parameter set per input.");
            }

            int rank = inputShapes[0].Length;
            if (axis < 0)
            {
                axis += rank;
            }

            if (axis < 0 || axis >= rank)
            {
                throw new ArgumentOutOfRangeException(nameof(axis));
            }

            outer = 1;
            for (int d = 0; d < axis; d++)
            {
                outer *= inputShapes[0][d];
            }

            inputInner = new int[inputShapes.Length];
            offsets = new int[inputShapes.Length];
            rescales = new Int8Rescale[inputShapes.Length];
            for (int i = 0; i < inputShapes.Length; i++)
            {
                int[] shape = inputShapes[i];
                if (shape.Length != rank)
                {
                    throw new ArgumentException("All inputs must have the same rank.");
                }

                int inner = 1;
                for (int d = 0; d < rank; d++)
                {
                    if (d != axis && shape[d] != inputShapes[0][d])
                    {
                        throw new ArgumentException("Inputs differ outside the concatenation axis.");
                    }

                    if (d >= axis)
                    {
                        inner *= shape[d];
                    }
                }

                inputInner[i] = inner;
                offsets[i] = outputInner;
                outputInner += inner;
                rescales[i] = new Int8Rescale(inputParams[i], output);
            }
        }

        public int OutputLength
        {
            get { return outer * outputInner; }
        }

        /// <summary>Writes input number <paramref name="inputIndex"/> into its slots of the output.</summary>
        public void Eval(int inputIndex, ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            int inner = inputInner[inputIndex];
            bool repeated = input.Length == 1 && outer * inner != 1;
            if ((input.Length != outer * inner && !repeated) || output.Length != OutputLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared shapes.");
            }

            Int8Rescale rescale = rescales[inputIndex];
            if (repeated)
            {
                sbyte code = rescale.IsIdentity ? input[0] : rescale.Apply(input[0]);
                for (int o = 0; o < outer; o++)
                {
                    output.Slice(o * outputInner + offsets[inputIndex], inner).Fill(code);
                }

                return;
            }

            for (int o = 0; o < outer; o++)
            {
                ReadOnlySpan<sbyte> source = input.Slice(o * inner, inner);
                Span<sbyte> destination = output.Slice(o * outputInner + offsets[inputIndex], inner);
                if (rescale.IsIdentity)
                {
                    source.CopyTo(destination);
                    continue;
                }

                for (int i = 0; i < inner; i++)
                {
                    destination[i] = rescale.Apply(source[i]);
                }
            }
        }
    }
}
