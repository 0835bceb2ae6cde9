using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// DepthToSpace (modes DCR, default, and CRD) and SpaceToDepth on NCHW tensors: each is a reshape to
/// 6-D, a transpose, and a reshape back, so forward and gradient reuse <see cref="TransposeKernel.Permute"/>.
/// </summary>
[OnnxOp("DepthToSpace")]
[OnnxOp("SpaceToDepth")]
public sealed class DepthToSpaceKernel : OpKernel
{
    private readonly int _block;
    private readonly bool _toSpace;
    private readonly bool _crd;

    public DepthToSpaceKernel(Node node, KernelContext context) : base(node, context)
    {
        long block = node.GetInt("blocksize");
        if (block < 1) throw node.Error(DiagnosticCodes.InvalidAttribute, $"blocksize must be positive, got {block}");
        _block = (int)block;
        _toSpace = node.OpType == "DepthToSpace";
        var mode = node.GetString("mode", "DCR");
        if (mode is not ("DCR" or "CRD")) throw node.Error(DiagnosticCodes.InvalidAttribute, $"unknown mode '{mode}'");
        _crd = _toSpace && mode == "CRD";
    }

    /// <summary>The 6-D view of the input, the transpose applied to it and the output shape (the float-kernel binding copies with them).</summary>
    public (int[] Shape6, int[] Perm, int[] OutShape) Plan(int[] s)
    {
        if (s.Length != 4) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"expects a 4-D NCHW input, got rank {s.Length}");
        int n = s[0], c = s[1], h = s[2], w = s[3], b = _block;
        if (_toSpace)
        {
            if (c % (b * b) != 0) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"channels {c} are not divisible by blocksize² {b * b}");
            int oc = c / (b * b);
            var outShape = new[] { n, oc, h * b, w * b };
            return _crd
                ? (new[] { n, oc, b, b, h, w }, new[] { 0, 1, 4, 2, 5, 3 }, outShape)
                : (new[] { n, b, b, oc, h, w }, new[] { 0, 3, 4, 1, 5, 2 }, outShape);
        }
        if (h % b != 0 || w % b != 0) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"spatial size {h}x{w} is not divisible by blocksize {b}");
        return (new[] { n, c, h / b, b, w / b, b }, new[] { 0, 3, 5, 1, 2, 4 }, new[] { n, c * b * b, h / b, w / b });
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var (shape6, perm, outShape) = Plan(x.Shape);
        return new[] { TransposeKernel.Permute(x.Reshape(shape6), perm, Context.Parallel).Reshape(outShape) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var x = args.Inputs[0]!;
        var (shape6, perm, _) = Plan(x.Shape);
        var inverse = new int[6];
        for (int d = 0; d < 6; d++) inverse[perm[d]] = d;
        var permutedShape = perm.Select(p => shape6[p]).ToArray();
        var g = ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape).Reshape(permutedShape);
        result[0] = TransposeKernel.Permute(g, inverse, Context.Parallel).Reshape(x.Shape);
        return result;
    }
}
