using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>Shape: the input's dimensions as int64, optionally the range [start, end) (opset 15; negative counts from the end, then clamped).</summary>
[OnnxOp("Shape")]
public sealed class ShapeKernel : OpKernel
{
    private readonly long _start;
    private readonly long? _end;

    public ShapeKernel(Node node, KernelContext context) : base(node, context)
    {
        _start = node.GetInt("start", 0);
        _end = node.HasAttribute("end") ? node.GetInt("end") : null;
    }

    public override bool IsDifferentiable => false;

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        int rank = x.Rank;
        long start = _start < 0 ? _start + rank : _start;
        long end = _end is long e ? (e < 0 ? e + rank : e) : rank;
        start = Math.Clamp(start, 0, rank);
        end = Math.Clamp(end, 0, rank);
        int count = (int)Math.Max(0, end - start);
        var dims = new long[count];
        for (int i = 0; i < count; i++) dims[i] = x.Shape[start + i];
        return new[] { Tensor.FromInt64(dims, count) };
    }
}
