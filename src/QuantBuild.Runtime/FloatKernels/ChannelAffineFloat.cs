using System;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// y = x·scale[c] + shift[c] per channel c of a (batch, channels, inner) layout: inference-mode
    /// BatchNormalization with its statistics folded at build time (scale = γ/√(var+ε), shift = β − mean·scale,
    /// computed by the engine's own fold). One multiply and one add, each rounded to float, in that order
    /// (never fused), as the engine does.
    /// </summary>
    public sealed class ChannelAffineFloat : FloatKernel
    {
        private readonly int channels;
        private readonly int inner;
        private readonly float[] scale;
        private readonly float[] shift;

        public ChannelAffineFloat(int channels, int inner, float[] scale, float[] shift)
        {
            if (scale.Length != channels || shift.Length != channels)
            {
                throw new ArgumentException("One scale and shift per channel are needed.", "scale");
            }

            this.channels = channels;
            this.inner = inner;
            this.scale = scale;
            this.shift = shift;
        }

        public override void Eval(ReadOnlySpan<float> a, ReadOnlySpan<float> b, ReadOnlySpan<float> c, Span<float> y)
        {
            int n = y.Length;
            if (a.Length < n)
            {
                throw new ArgumentException("Input is too short.", "a");
            }

            if (inner == 0)
            {
                return;
            }

            int planes = n / inner;
            for (int p = 0; p < planes; p++)
            {
                int ch = p % channels;
                float s = scale[ch];
                float t = shift[ch];
                int start = p * inner;
                for (int i = start; i < start + inner; i++)
                {
                    float product = a[i] * s;
                    y[i] = product + t;
                }
            }
        }
    }
}
