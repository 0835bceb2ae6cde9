using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Reshape: a view over the input buffer (no copy). In the target shape 0 copies the input's
/// dimension (unless allowzero=1, opset 14+, where 0 is a real zero) and one -1 is inferred.
/// Opset 1-4 took the shape as an attribute; the engine's floor is opset 7, so it is always an input.
/// </summary>
[OnnxOp("Reshape")]
public sealed class ReshapeKernel : OpKernel
{
    private readonly bool _allowZero;

    public ReshapeKernel(Node node, KernelContext context) : base(node, context)
    {
        _allowZero = node.GetInt("allowzero", 0) != 0;
        if (!node.HasInput(1) && !node.HasAttribute("shape"))
            throw node.Error(DiagnosticCodes.MissingInput, "the target shape input is missing");
        if (_allowZero && context.ConstantInput(1) is { } shape)
        {
            var s = shape.ToInt64Array();
            if (s.Contains(0) && s.Contains(-1))
                throw node.Error(DiagnosticCodes.InvalidAttribute, "with allowzero=1 the shape may not hold both 0 and -1");
        }
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var requested = inputs.Length > 1 && inputs[1] is { } s ? s.ToInt64Array() : Node.GetInts("shape")!;
        return new[] { x.Reshape(ResolveShape(Node, x.Shape, requested, _allowZero)) };
    }

    public static int[] ResolveShape(Node node, int[] inShape, long[] requested, bool allowZero)
    {
        var result = new int[requested.Length];
        int inferAt = -1;
        long known = 1;
        for (int d = 0; d < requested.Length; d++)
        {
            long v = requested[d];
            if (v == -1)
            {
                if (inferAt >= 0) throw node.Error(DiagnosticCodes.ShapeMismatch, "the target shape has more than one -1");
                inferAt = d;
                continue;
            }
            if (v == 0 && !allowZero)
            {
                if (d >= inShape.Length) throw node.Error(DiagnosticCodes.ShapeMismatch, $"target dimension {d} is 0 (copy) but the input has rank {inShape.Length}");
                v = inShape[d];
            }
            if (v < 0) throw node.Error(DiagnosticCodes.ShapeMismatch, $"invalid target dimension {v}");
            result[d] = ShapeOpHelpers.CheckedDim(node, v);
            // A wrapped product could match the input's count by accident.
            try { known = checked(known * v); }
            catch (OverflowException) { throw node.Error(DiagnosticCodes.TensorTooLarge, $"target shape [{string.Join(",", requested)}] has more elements than 64-bit arithmetic can count"); }
        }
        long total = Tensor.ElementCount(inShape);
        if (inferAt >= 0)
        {
            if (known == 0 || total % known != 0)
                throw node.Error(DiagnosticCodes.ShapeMismatch, $"cannot reshape {ShapeOpHelpers.ShapeText(inShape)} to [{string.Join(",", requested)}]");
            result[inferAt] = (int)(total / known);
        }
        else if (known != total)
            throw node.Error(DiagnosticCodes.ShapeMismatch, $"cannot reshape {ShapeOpHelpers.ShapeText(inShape)} ({total} elements) to [{string.Join(",", requested)}]");
        return result;
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.NeedInputGrad[0])
            result[0] = ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape).Reshape(args.Inputs[0]!.Shape);
        return result;
    }
}
