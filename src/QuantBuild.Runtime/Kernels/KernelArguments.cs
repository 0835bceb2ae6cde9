using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Prepare-time argument checks shared by the convolution and fully-connected kernels (int8, int4,
    /// codebook, multipoint), so every kernel rejects the same bad input with the same message.
    /// </summary>
    internal static class KernelArguments
    {
        public static void RequireGeometry(Conv2DGeometry geometry)
        {
            if (geometry == null)
            {
                throw new ArgumentNullException(nameof(geometry));
            }
        }

        public static void RequireFullyConnectedShape(int batch, int inFeatures, int units)
        {
            if (batch < 1 || inFeatures < 1 || units < 1)
            {
                throw new ArgumentException("FullyConnected dimensions must be positive.");
            }
        }

        /// <summary>Kernels that pad or fold with z_x as an sbyte need it to be an int8 value.</summary>
        public static void RequireInt8ZeroPoint(QuantParams input)
        {
            if (input.ZeroPoint < sbyte.MinValue || input.ZeroPoint > sbyte.MaxValue)
            {
                throw new ArgumentException("The int8 input zero point must be in [-128, 127].", nameof(input));
            }
        }

        /// <summary>
        /// The bias as an owned array of <paramref name="count"/> values (zeros when none is given).
        /// </summary>
        /// <param name="perWhat">what one bias belongs to, for the message: "output channel", "unit"</param>
        public static int[] BiasPerChannel(ReadOnlySpan<int> bias, int count, string perWhat)
        {
            int[] copy = bias.IsEmpty ? new int[count] : bias.ToArray();
            if (copy.Length != count)
            {
                throw new ArgumentException("Expected one bias per " + perWhat + ".", nameof(bias));
            }

            return copy;
        }
    }
}
