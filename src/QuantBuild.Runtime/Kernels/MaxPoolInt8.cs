using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// MaxPool on int8 codes (NCHW). Padded taps are ignored (ONNX pads MaxPool with −∞). The max is taken
    /// on input codes and then rescaled if the output parameters differ: the rescale is monotone, so
    /// max-then-rescale equals rescale-then-max.
    /// </summary>
    public sealed class MaxPoolInt8
    {
        private readonly Pool2DGeometry geometry;
        private readonly Int8Rescale rescale;

        public MaxPoolInt8(Pool2DGeometry geometry, QuantParams input, QuantParams output)
        {
            if (geometry == null)
            {
                throw new ArgumentNullException(nameof(geometry));
            }

            this.geometry = geometry;
            rescale = new Int8Rescale(input, output);
        }

        public Pool2DGeometry Geometry
        {
            get { return geometry; }
        }

        public void Eval(ReadOnlySpan<sbyte> input, Span<sbyte> output)
        {
            Pool2DGeometry g = geometry;
            if (input.Length != g.InputLength || output.Length != g.OutputLength)
            {
                throw new ArgumentException("Buffer lengths do not match the prepared geometry.");
            }

            int o = 0;
            for (int plane = 0; plane < g.Batch * g.Channels; plane++)
            {
                int inBase = plane * g.InHeight * g.InWidth;
                for (int oy = 0; oy < g.OutHeight; oy++)
                {
                    for (int ox = 0; ox < g.OutWidth; ox++)
                    {
                        int best = int.MinValue;
                        for (int ky = 0; ky < g.KernelHeight; ky++)
                        {
                            int iy = oy * g.StrideHeight - g.PadTop + ky * g.DilationHeight;
                            if (iy < 0 || iy >= g.InHeight)
                            {
                                continue;
                            }

                            for (int kx = 0; kx < g.KernelWidth; kx++)
                            {
                                int ix = ox * g.StrideWidth - g.PadLeft + kx * g.DilationWidth;
                                if (ix < 0 || ix >= g.InWidth)
                                {
                                    continue;
                                }

                                int v = input[inBase + iy * g.InWidth + ix];
                                if (v > best)
                                {
                                    best = v;
                                }
                            }
                        }

                        // A window entirely in padding (only possible with huge pads) yields the lowest code.
                        output[o++] = best == int.MinValue ? sbyte.MinValue : rescale.Apply(best);
                    }
                }
            }
        }
    }
}
