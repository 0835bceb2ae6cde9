using System;

namespace QuantBuild.Runtime
{
    /// <summary>An int8 → int8 function of one code: the scalar definition of an elementwise kernel that reads one tensor.</summary>
    public interface IInt8CodeMap
    {
        /// <summary>The output code for input code <paramref name="code"/> (−128..127).</summary>
        sbyte Apply(int code);
    }

    /// <summary>An elementwise kernel of two int8 tensors by its scalar definition: the output code of one pair of codes.</summary>
    public interface IBinaryInt8Kernel
    {
        /// <summary>The output code for codes <paramref name="a"/> and <paramref name="b"/> (−128..127).</summary>
        sbyte Invoke(int a, int b);
    }

    /// <summary>
    /// A two-input kernel with one operand a one-element constant (PP-OCRv4's learnable affine scale and shift, a Sub or
    /// Div by a constant, tf2onnx's Max clamps): the kernel's scalar definition with that operand fixed, as a code map. The constant keeps its
    /// side of the operation.
    /// </summary>
    public sealed class ConstantOperandInt8 : IInt8CodeMap
    {
        private readonly IBinaryInt8Kernel kernel;
        private readonly int constant;
        private readonly bool constantFirst;

        public ConstantOperandInt8(IBinaryInt8Kernel kernel, int constantCode, bool constantFirst)
        {
            if (kernel == null)
            {
                throw new ArgumentNullException(nameof(kernel));
            }

            this.kernel = kernel;
            constant = constantCode;
            this.constantFirst = constantFirst;
        }

        public sbyte Apply(int code)
        {
            return constantFirst ? kernel.Invoke(constant, code) : kernel.Invoke(code, constant);
        }
    }

    /// <summary>
    /// Elementwise kernels applied one after another to a producer's int8 output, composed into one table: each stage
    /// still rounds to its own output parameters (the composition is of their exact code maps), so the result is the
    /// separate steps' bits in one pass. The producer (a convolution's output stage) maps its rows right after
    /// writing them, while they are in cache (docs/algorithms/requantization.md, "Fused code maps"). A chain longer
    /// than three stages nests: a composed map is itself a stage.
    /// </summary>
    public sealed class Int8CodeMap : IInt8CodeMap
    {
        /// <summary>No stage: kernels without a fused map hold this and skip the pass.</summary>
        public static readonly Int8CodeMap Identity = new Int8CodeMap(new IInt8CodeMap[0]);

        private readonly Int8CodeTable table;
        private readonly bool isIdentity;

        public Int8CodeMap(IInt8CodeMap first)
            : this(new[] { first })
        {
        }

        public Int8CodeMap(IInt8CodeMap first, IInt8CodeMap second)
            : this(new[] { first, second })
        {
        }

        public Int8CodeMap(IInt8CodeMap first, IInt8CodeMap second, IInt8CodeMap third)
            : this(new[] { first, second, third })
        {
        }

        private Int8CodeMap(IInt8CodeMap[] stages)
        {
            foreach (IInt8CodeMap stage in stages)
            {
                if (stage == null)
                {
                    throw new ArgumentNullException(nameof(stages));
                }
            }

            isIdentity = stages.Length == 0;
            table = new Int8CodeTable(code =>
            {
                int value = code;
                foreach (IInt8CodeMap stage in stages)
                {
                    value = stage.Apply(value);
                }

                return (sbyte)value;
            });
        }

        /// <summary>The composed code for <paramref name="code"/> (−128..127).</summary>
        public sbyte Apply(int code)
        {
            return table[code];
        }

        /// <summary>The composed code for <paramref name="code"/>.</summary>
        public sbyte this[int code]
        {
            get { return table[code]; }
        }

        public bool IsIdentity
        {
            get { return isIdentity; }
        }

        /// <summary>Maps <paramref name="codes"/> in place (nothing to do for <see cref="Identity"/>).</summary>
        public void MapInPlace(Span<sbyte> codes)
        {
            if (!isIdentity)
            {
                table.Map(codes, codes);
            }
        }
    }
}
