using System.Numerics.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Softmax and LogSoftmax. Before opset 13 the input is viewed as a 2-D matrix
/// [prod(dims before axis), prod(dims from axis)] and each row is normalized (default axis 1);
/// from 13 only the single axis is normalized (default -1). Both become the same loop over
/// [outer, n, inner] blocks: inner = 1 (the usual last-axis case) runs row by row with SIMD,
/// inner > 1 runs vectorized across the inner dimension.
/// </summary>
[OnnxOp("Softmax")]
[OnnxOp("LogSoftmax")]
public sealed class SoftmaxKernel : OpKernel
{
    private readonly bool _log;
    private readonly long _axis;
    private readonly bool _flattenFromAxis;

    public SoftmaxKernel(Node node, KernelContext context) : base(node, context)
    {
        _log = node.OpType == "LogSoftmax";
        _flattenFromAxis = context.OpsetVersion < 13;
        _axis = node.GetInt("axis", _flattenFromAxis ? 1 : -1);
    }

    private (int Outer, int N, int Inner) Layout(int[] shape)
    {
        int rank = shape.Length;
        int axis = rank == 0 ? 0 : Broadcast.NormalizeAxis(_axis, rank, Node);
        long outer = 1, n = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= shape[i];
        if (_flattenFromAxis) for (int i = axis; i < rank; i++) n *= shape[i];
        else
        {
            if (rank > 0) n = shape[axis];
            for (int i = axis + 1; i < rank; i++) inner *= shape[i];
        }
        return ((int)outer, (int)n, (int)inner);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input is missing");
        if (x.Type != DataType.Float)
        {
            if (x.Type is DataType.Double or DataType.Float16)
                return new[] { CastKernel.Convert(Forward(new Tensor?[] { CastKernel.Convert(x, DataType.Float) })[0], x.Type) };
            throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"element type {DataTypes.Name(x.Type)} is not supported");
        }
        var (outer, n, inner) = Layout(x.Shape);
        var xf = x.Floats;
        var y = new float[xf.Length];
        int block = n * inner;
        void Block(int b)
        {
            var src = xf.AsSpan(b * block, block);
            var dst = y.AsSpan(b * block, block);
            if (inner == 1) Row(src, dst);
            else Strided(src, dst, n, inner);
        }
        if (outer > 1 && xf.Length >= Broadcast.ParallelThreshold && Context.Parallel.MaxDegreeOfParallelism != 1)
            Parallel.For(0, outer, Context.Parallel, Block);
        else
            for (int b = 0; b < outer; b++) Block(b);
        return new[] { new Tensor(DataType.Float, x.Shape, y) };
    }

    private void Row(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length == 0) return;
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max)) max = 0f; // an all -inf row: let exp give 0/0 = NaN like the reference
        TensorPrimitives.Subtract(x, max, y);
        if (_log)
        {
            // y = x − max − log Σ exp(x − max); exp goes into y temporarily and is then overwritten.
            TensorPrimitives.Exp(y, y);
            float logSum = MathF.Log(TensorPrimitives.Sum(y));
            TensorPrimitives.Subtract(x, max, y);
            TensorPrimitives.Subtract(y, logSum, y);
        }
        else
        {
            TensorPrimitives.Exp(y, y);
            float sum = TensorPrimitives.Sum(y);
            TensorPrimitives.Divide(y, sum, y);
        }
    }

    private void Strided(ReadOnlySpan<float> x, Span<float> y, int n, int inner)
    {
        var max = new float[inner];
        var sum = new float[inner];
        x[..inner].CopyTo(max);
        for (int k = 1; k < n; k++) TensorPrimitives.Max(max, x.Slice(k * inner, inner), max);
        for (int j = 0; j < inner; j++) if (float.IsNegativeInfinity(max[j])) max[j] = 0f;
        for (int k = 0; k < n; k++)
        {
            var yk = y.Slice(k * inner, inner);
            TensorPrimitives.Subtract(x.Slice(k * inner, inner), max, yk);
            TensorPrimitives.Exp(yk, yk);
            TensorPrimitives.Add(sum, yk, sum);
        }
        if (_log)
        {
            TensorPrimitives.Log(sum, sum);
            for (int k = 0; k < n; k++)
            {
                var yk = y.Slice(k * inner, inner);
                TensorPrimitives.Subtract(x.Slice(k * inner, inner), max, yk);
                TensorPrimitives.Subtract(yk, sum, yk);
            }
        }
        else
            for (int k = 0; k < n; k++)
            {
                var yk = y.Slice(k * inner, inner);
                TensorPrimitives.Divide(yk, sum, yk);
            }
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0] || args.OutputGrads[0] is not Tensor gt) return result;
        var y = args.Outputs[0].Floats;
        var g = gt.Floats;
        var (outer, n, inner) = Layout(gt.Shape);
        var d = new float[g.Length];
        for (int b = 0; b < outer; b++)
        {
            int baseIndex = b * n * inner;
            for (int j = 0; j < inner; j++)
            {
                // Softmax: dx = y ⊙ (g − Σ g·y); LogSoftmax: dx = g − softmax ⊙ Σ g.
                double s = 0;
                for (int k = 0; k < n; k++)
                {
                    int i = baseIndex + k * inner + j;
                    s += _log ? g[i] : (double)g[i] * y[i];
                }
                for (int k = 0; k < n; k++)
                {
                    int i = baseIndex + k * inner + j;
                    d[i] = _log ? (float)(g[i] - MathF.Exp(y[i]) * s) : (float)(y[i] * (g[i] - s));
                }
            }
        }
        result[0] = Tensor.FromFloats(d, gt.Shape);
        return result;
    }
}
