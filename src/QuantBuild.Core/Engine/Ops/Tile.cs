using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>Tile: repeats the input 'repeats[d]' times along each axis; output index i on axis d reads i mod dim. The gradient sums the copies.</summary>
[OnnxOp("Tile")]
public sealed class TileKernel : OpKernel, ISeparableMovementKernel
{
    public TileKernel(Node node, KernelContext context) : base(node, context) { }

    private (int[][] Offsets, int[] Shape) Plan(Tensor x, Tensor repeatsTensor) => Plan(x.Shape, x.Type, repeatsTensor);

    private (int[][] Offsets, int[] Shape) Plan(int[] xShape, DataType type, Tensor repeatsTensor)
    {
        var repeats = repeatsTensor.ToInt64Array();
        if (repeats.Length != xShape.Length) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"repeats has {repeats.Length} entries for a rank-{xShape.Length} input");
        var sizes = new long[xShape.Length];
        for (int d = 0; d < xShape.Length; d++)
        {
            if (repeats[d] < 0) throw Node.Error(DiagnosticCodes.InvalidInputValue, $"repeats[{d}] = {repeats[d]} is negative");
            // A repeat count beyond 32 bits makes a dimension the check below refuses; saturate rather than wrap.
            sizes[d] = repeats[d] > int.MaxValue ? (xShape[d] == 0 ? 0 : long.MaxValue) : xShape[d] * repeats[d];
        }
        var shape = ShapeOpHelpers.CheckedOutputShape(type, sizes);
        var strides = ShapeOpHelpers.Strides(xShape);
        var offsets = new int[xShape.Length][];
        for (int d = 0; d < xShape.Length; d++)
        {
            var t = new int[shape[d]];
            for (int i = 0; i < t.Length; i++) t[i] = (i % xShape[d]) * strides[d];
            offsets[d] = t;
        }
        return (offsets, shape);
    }

    public SeparableMovement Separable(Tensor?[] inputs, int[] inputShape)
    {
        var (offsets, shape) = Plan(inputShape, DataType.Float, inputs[1]!);
        return new SeparableMovement(offsets, shape, 0f);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        var (offsets, shape) = Plan(x, inputs[1]!);
        return new[] { ShapeOpHelpers.SeparableGather(x, offsets, shape, Context.Parallel) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var x = args.Inputs[0]!;
        var (offsets, shape) = Plan(x, args.Inputs[1]!);
        var gx = new float[x.Length];
        if (args.OutputGrads[0] is { } g) ShapeOpHelpers.SeparableScatterAdd(g.Floats, offsets, shape, gx);
        result[0] = Tensor.FromFloats(gx, x.Shape);
        return result;
    }
}
