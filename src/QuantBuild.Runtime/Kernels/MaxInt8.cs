using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Elementwise Max of two int8 tensors: both inputs are rescaled to the output's code space
    /// (unclamped), the larger is taken, then clamped. Rescaling is monotone, so this equals the max
    /// of the real values up to the rounding of each input.
    /// </summary>
    public sealed class MaxInt8 : IBinaryInt8Kernel
    {
        private readonly Broadcast4D shape;
        private Operator op;
        private readonly sbyte[] scalarTable;
        private readonly Int8CodeTable scalarCodeTable;

        public MaxInt8(int[] shapeA, QuantParams a, int[] shapeB, QuantParams b, QuantParams output)
        {
            shape = new Broadcast4D(shapeA, shapeB);
            op = new Operator { A = RescaleTable(new Int8Rescale(a, output)), B = RescaleTable(new Int8Rescale(b, output)) };
            scalarTable = new sbyte[256];
            scalarCodeTable = new Int8CodeTable(code => 0);
        }

        /// <summary>Each operand's rescaled value depends on its code alone: tabulated once, exactly.</summary>
        private static int[] RescaleTable(Int8Rescale rescale)
        {
            var table = new int[256];
            for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
            {
                table[(byte)code] = rescale.ApplyUnclamped(code);
            }

            return table;
        }

        public int OutputLength
        {
            get { return shape.OutputLength; }
        }

        /// <summary>The definition for one pair of codes.</summary>
        public sbyte Invoke(int a, int b)
        {
            return op.Invoke(a, b);
        }

        public void Eval(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
        {
            if (b.Length == 1 && shape.LengthA == shape.OutputLength && a.Length == shape.LengthA && output.Length == shape.OutputLength)
            {
                // Max against one value (a clamp, e.g. tf2onnx's ReLU): a per-call table over a's 256 codes.
                sbyte[] lookup = scalarTable;
                for (int code = sbyte.MinValue; code <= sbyte.MaxValue; code++)
                {
                    lookup[(byte)code] = op.Invoke(code, b[0]);
                }

                scalarCodeTable.Update(lookup);
                scalarCodeTable.Map(a, output);
                return;
            }

            BroadcastDriver.Run(shape, ref op, a, b, output);
        }

        private struct Operator : IBinaryInt8Operator
        {
            public int[] A;
            public int[] B;

            public int InvokeRow(ReadOnlySpan<sbyte> a, ReadOnlySpan<sbyte> b, Span<sbyte> output)
            {
                return 0; // per-code tables: no vector form
            }

            public sbyte Invoke(int a, int b)
            {
                int y = Math.Max(A[(byte)a], B[(byte)b]);
                return (sbyte)QuantParams.Clamp(y, sbyte.MinValue, sbyte.MaxValue);
            }
        }
    }
}
