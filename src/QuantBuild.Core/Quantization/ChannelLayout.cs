namespace QuantBuild.Quantization;

/// <summary>
/// How a weight tensor splits into channels along its output-channel axis, in row-major order:
/// element (o, c, i) of the [Outer, AxisLength, Inner] view sits at (o·AxisLength + c)·Inner + i, so one
/// channel is Outer strided runs of Inner elements. Per-tensor quantization is one channel holding
/// everything. Shared by every weight quantizer that gathers or scatters a channel.
/// </summary>
public readonly record struct ChannelLayout(int Channels, int Outer, int Inner, int AxisLength)
{
    public static ChannelLayout Of(int[] shape, int axis, bool perChannel)
    {
        int inner = 1;
        for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        int outer = 1;
        for (int d = 0; d < axis; d++) outer *= shape[d];
        int axisLength = shape.Length == 0 ? 1 : shape[axis];
        return new ChannelLayout(perChannel ? shape[axis] : 1, outer, inner, axisLength);
    }
}
