using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// QuantBuild's internal fake quantizer, y = (clamp(RNE(x / scale) + zero_point, qmin, qmax) − zero_point) · scale,
/// used only in graphs QuantBuild builds for itself (the EPTQ student); it is never exported. Its op
/// type carries a dot so it cannot collide with an ONNX operator. Backward is the clipped
/// straight-through estimator: the gradient passes where the code is inside the grid, else it is 0.
/// Attributes: scale (float), zero_point, qmin, qmax (ints).
/// </summary>
[OnnxOp(OpType)]
public sealed class FakeQuantizeKernel : OpKernel
{
    public const string OpType = "QuantBuild.FakeQuantize";

    private readonly float _scale;
    private readonly int _zeroPoint, _qmin, _qmax;

    public FakeQuantizeKernel(Node node, KernelContext context) : base(node, context)
    {
        _scale = node.GetFloat("scale", 1f);
        _zeroPoint = (int)node.GetInt("zero_point", 0);
        _qmin = (int)node.GetInt("qmin", -128);
        _qmax = (int)node.GetInt("qmax", 127);
        if (!(_scale > 0) || _qmin > _qmax)
            throw node.Error(Diagnostics.DiagnosticCodes.InvalidAttribute, $"needs scale > 0 and qmin <= qmax, got scale {_scale}, [{_qmin}, {_qmax}]");
    }

    /// <summary>The grid code of <paramref name="x"/> before clamping (float32 division, as ONNX QuantizeLinear).</summary>
    private float Code(float x) => MathF.Round(x / _scale, MidpointRounding.ToEven) + _zeroPoint;

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!.Floats;
        var y = new float[x.Length];
        for (int i = 0; i < x.Length; i++)
            y[i] = (Math.Clamp(Code(x[i]), _qmin, _qmax) - _zeroPoint) * _scale;
        return new[] { Tensor.FromFloats(y, inputs[0]!.Shape) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.OutputGrads[0] is not { } g) return result;
        var x = args.Inputs[0]!.Floats;
        var gy = g.Floats;
        var gx = new float[x.Length];
        for (int i = 0; i < x.Length; i++)
        {
            float code = Code(x[i]);
            gx[i] = code >= _qmin && code <= _qmax ? gy[i] : 0f;
        }
        result[0] = Tensor.FromFloats(gx, args.Inputs[0]!.Shape);
        return result;
    }
}
