using System.Numerics.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// LayerNormalization (opset 17): each row of the dimensions from <c>axis</c> on is normalized
/// to zero mean and unit variance, then scaled and shifted. Optional outputs Mean and InvStdDev
/// have the input's leading dimensions followed by ones.
/// </summary>
[OnnxOp("LayerNormalization")]
public sealed class LayerNormalizationKernel : OpKernel
{
    private readonly long _axis;
    private readonly float _epsilon;

    public LayerNormalizationKernel(Node node, KernelContext context) : base(node, context)
    {
        _axis = node.GetInt("axis", -1);
        _epsilon = node.GetFloat("epsilon", 1e-5f);
        if (node.GetInt("stash_type", 1) != 1)
            throw node.Error(DiagnosticCodes.InvalidAttribute, "only stash_type = 1 (float32 statistics) is supported");
    }

    private (int Axis, int Rows, int N) Layout(int[] shape)
    {
        int axis = Broadcast.NormalizeAxis(_axis, shape.Length, Node);
        long rows = 1, n = 1;
        for (int i = 0; i < axis; i++) rows *= shape[i];
        for (int i = axis; i < shape.Length; i++) n *= shape[i];
        return (axis, (int)rows, (int)n);
    }

    /// <summary>Scale or bias stretched to the normalized shape (they are usually exactly that shape already).</summary>
    private float[] Parameter(Tensor p, int[] normalizedShape, string what)
    {
        if (p.Type != DataType.Float) throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"{what} must be float32");
        if (!Broadcast.CanBroadcastTo(p.Shape, normalizedShape))
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"{what} {p.ShapeString} does not broadcast to the normalized shape [{string.Join(",", normalizedShape)}]");
        return p.Length == Tensor.ElementCount(normalizedShape) ? p.Floats : Broadcast.Expand(p.Floats, p.Shape, normalizedShape);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input X is missing");
        var scaleT = inputs[1] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input Scale is missing");
        if (x.Type != DataType.Float) throw Node.Error(DiagnosticCodes.UnsupportedDataType, "only float32 is supported");
        var (axis, rows, n) = Layout(x.Shape);
        var normalizedShape = x.Shape[axis..];
        var scale = Parameter(scaleT, normalizedShape, "Scale");
        var bias = inputs.Length > 2 && inputs[2] is Tensor b ? Parameter(b, normalizedShape, "B") : null;
        var xf = x.Floats;
        var y = new float[xf.Length];
        var mean = new float[rows];
        var invStd = new float[rows];
        void Row(int r)
        {
            var src = xf.AsSpan(r * n, n);
            var dst = y.AsSpan(r * n, n);
            float m = TensorPrimitives.Sum(src) / n;
            TensorPrimitives.Subtract(src, m, dst);
            float variance = TensorPrimitives.SumOfSquares(dst) / n;
            float inv = 1f / MathF.Sqrt(variance + _epsilon);
            TensorPrimitives.Multiply(dst, inv, dst);
            TensorPrimitives.Multiply(dst, scale, dst);
            if (bias is not null) TensorPrimitives.Add(dst, bias, dst);
            mean[r] = m;
            invStd[r] = inv;
        }
        if (rows > 1 && xf.Length >= Broadcast.ParallelThreshold && Context.Parallel.MaxDegreeOfParallelism != 1)
            Parallel.For(0, rows, Context.Parallel, Row);
        else
            for (int r = 0; r < rows; r++) Row(r);
        var statShape = x.Shape.Select((d, i) => i < axis ? d : 1).ToArray();
        return new[] { Tensor.FromFloats(y, x.Shape), Tensor.FromFloats(mean, statShape), Tensor.FromFloats(invStd, statShape) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.OutputGrads[0] is not Tensor gt) return result;
        var x = args.Inputs[0]!;
        var scaleT = args.Inputs[1]!;
        var (axis, rows, n) = Layout(x.Shape);
        var normalizedShape = x.Shape[axis..];
        var scale = Parameter(scaleT, normalizedShape, "Scale");
        // Statistics are recomputed rather than read from the optional Mean/InvStdDev outputs, which a graph may omit.
        var xf = x.Floats;
        var mean = new float[rows];
        var invStd = new float[rows];
        var centered = new float[n];
        for (int r = 0; r < rows; r++)
        {
            var src = xf.AsSpan(r * n, n);
            mean[r] = TensorPrimitives.Sum(src) / n;
            TensorPrimitives.Subtract(src, mean[r], centered);
            invStd[r] = 1f / MathF.Sqrt(TensorPrimitives.SumOfSquares(centered) / n + _epsilon);
        }
        var g = gt.Floats;
        var dx = args.NeedInputGrad[0] ? new float[xf.Length] : null;
        var dScale = args.NeedInputGrad[1] ? new float[n] : null;
        bool hasBias = args.Inputs.Length > 2 && args.Inputs[2] is not null;
        var dBias = hasBias && args.NeedInputGrad[2] ? new float[n] : null;
        var xhat = new float[n];
        var dxhat = new float[n];
        for (int r = 0; r < rows; r++)
        {
            var xr = xf.AsSpan(r * n, n);
            var gr = g.AsSpan(r * n, n);
            TensorPrimitives.Subtract(xr, mean[r], xhat);
            TensorPrimitives.Multiply(xhat, invStd[r], xhat);
            if (dScale is not null)
                for (int i = 0; i < n; i++) dScale[i] += gr[i] * xhat[i];
            if (dBias is not null) TensorPrimitives.Add(dBias, gr, dBias);
            if (dx is null) continue;
            // dx = inv·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)), with dx̂ = g·scale.
            TensorPrimitives.Multiply(gr, scale, dxhat);
            float meanD = TensorPrimitives.Sum(dxhat) / n;
            float meanDX = TensorPrimitives.Dot(dxhat, xhat) / n;
            var dr = dx.AsSpan(r * n, n);
            for (int i = 0; i < n; i++) dr[i] = invStd[r] * (dxhat[i] - meanD - xhat[i] * meanDX);
        }
        if (dx is not null) result[0] = Tensor.FromFloats(dx, x.Shape);
        if (dScale is not null) result[1] = Tensor.FromFloats(Broadcast.ReduceTo(dScale, normalizedShape, scaleT.Shape), scaleT.Shape);
        if (dBias is not null)
        {
            var biasShape = args.Inputs[2]!.Shape;
            result[2] = Tensor.FromFloats(Broadcast.ReduceTo(dBias, normalizedShape, biasShape), biasShape);
        }
        return result;
    }
}

/// <summary>
/// BatchNormalization in inference mode: y = scale·(x − mean)/√(var + ε) + B per channel (dim 1).
/// Usually folded into the preceding Conv by the importer; this kernel serves graphs where it
/// cannot be. Training mode (batch statistics) is refused: QuantBuild runs models for inference.
/// </summary>
[OnnxOp("BatchNormalization")]
public sealed class BatchNormalizationKernel : OpKernel
{
    private readonly float _epsilon;

    public BatchNormalizationKernel(Node node, KernelContext context) : base(node, context)
    {
        _epsilon = node.GetFloat("epsilon", 1e-5f);
        if (node.GetInt("training_mode", 0) != 0)
            throw node.Error(DiagnosticCodes.InvalidAttribute, "training_mode = 1 is not supported: QuantBuild runs models for inference");
        if (context.OpsetVersion < 9 && node.GetInt("spatial", 1) == 0)
            throw node.Error(DiagnosticCodes.InvalidAttribute, "spatial = 0 (per-activation statistics) is not supported");
        if (node.GetInt("is_test", 1) == 0 && context.OpsetVersion < 7)
            throw node.Error(DiagnosticCodes.InvalidAttribute, "is_test = 0 (training) is not supported");
    }

    private static (int N, int C, int Spatial) Layout(int[] shape)
    {
        int n = shape.Length > 0 ? shape[0] : 1;
        int c = shape.Length > 1 ? shape[1] : 1;
        long s = 1;
        for (int i = 2; i < shape.Length; i++) s *= shape[i];
        return (n, c, (int)s);
    }

    /// <summary>Per-channel a = scale/√(var+ε) and b = B − mean·a, so the forward is one multiply-add per element.</summary>
    private (float[] A, float[] B, float[] Inv) Coefficients(Tensor?[] inputs, int c)
    {
        var p = new float[4][];
        for (int i = 0; i < 4; i++)
        {
            var t = inputs[i + 1] ?? throw Node.Error(DiagnosticCodes.MissingInput, $"input {i + 1} is missing");
            if (t.Type != DataType.Float || t.Length != c)
                throw Node.Error(DiagnosticCodes.ShapeMismatch, $"input {i + 1} must be a float32 vector of {c} channels, got {DataTypes.Name(t.Type)}{t.ShapeString}");
            p[i] = t.Floats;
        }
        return Fold(p[0], p[1], p[2], p[3], _epsilon);
    }

    /// <summary>
    /// The per-channel multiplier a, offset b (and 1/√(var+ε)) of inference-mode BatchNormalization, in
    /// float. The generated runtime folds a standalone BatchNormalization with this same function, so
    /// both compute y = x·a + b from identical a and b.
    /// </summary>
    public static (float[] A, float[] B, float[] Inv) Fold(float[] scale, float[] bias, float[] mean, float[] variance, float epsilon)
    {
        int c = scale.Length;
        var a = new float[c];
        var b = new float[c];
        var inv = new float[c];
        for (int k = 0; k < c; k++)
        {
            inv[k] = 1f / MathF.Sqrt(variance[k] + epsilon);
            a[k] = scale[k] * inv[k];
            b[k] = bias[k] - mean[k] * a[k];
        }
        return (a, b, inv);
    }

    /// <summary>(batch, channels, spatial) of an input shape: channels are dimension 1.</summary>
    public static (int N, int C, int Spatial) ChannelLayout(int[] shape) => Layout(shape);

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input X is missing");
        if (x.Type != DataType.Float) throw Node.Error(DiagnosticCodes.UnsupportedDataType, "only float32 is supported");
        var (n, c, spatial) = Layout(x.Shape);
        var (a, b, _) = Coefficients(inputs, c);
        var xf = x.Floats;
        var y = OutputBuffers.Floats(xf.Length); // every plane is written below
        void Plane(int p)
        {
            int ch = p % c;
            var dst = y.AsSpan(p * spatial, spatial);
            TensorPrimitives.Multiply(xf.AsSpan(p * spatial, spatial), a[ch], dst);
            TensorPrimitives.Add(dst, b[ch], dst);
        }
        if (xf.Length >= Broadcast.ParallelThreshold && Context.Parallel.MaxDegreeOfParallelism != 1)
            Parallel.For(0, n * c, Context.Parallel, Plane);
        else
            for (int p = 0; p < n * c; p++) Plane(p);
        return new[] { Tensor.FromFloats(y, x.Shape) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.OutputGrads[0] is not Tensor gt) return result;
        var x = args.Inputs[0]!;
        var (n, c, spatial) = Layout(x.Shape);
        var (a, _, inv) = Coefficients(args.Inputs, c);
        var scale = args.Inputs[1]!.Floats;
        var mean = args.Inputs[3]!.Floats;
        var xf = x.Floats;
        var g = gt.Floats;
        // Per-channel sums of g and g·(x − mean), accumulated in (n, spatial) order on one thread.
        var sumG = new double[c];
        var sumGX = new double[c];
        var dx = args.NeedInputGrad[0] ? new float[xf.Length] : null;
        for (int p = 0; p < n * c; p++)
        {
            int ch = p % c;
            var gp = g.AsSpan(p * spatial, spatial);
            var xp = xf.AsSpan(p * spatial, spatial);
            sumG[ch] += TensorPrimitives.Sum(gp);
            double s = 0;
            for (int i = 0; i < spatial; i++) s += (double)gp[i] * (xp[i] - mean[ch]);
            sumGX[ch] += s;
            if (dx is not null) TensorPrimitives.Multiply(gp, a[ch], dx.AsSpan(p * spatial, spatial));
        }
        if (dx is not null) result[0] = Tensor.FromFloats(dx, x.Shape);
        float[] PerChannel(Func<int, double> f) => Enumerable.Range(0, c).Select(k => (float)f(k)).ToArray();
        if (args.NeedInputGrad[1]) result[1] = Tensor.FromFloats(PerChannel(k => sumGX[k] * inv[k]), args.Inputs[1]!.Shape);
        if (args.NeedInputGrad[2]) result[2] = Tensor.FromFloats(PerChannel(k => sumG[k]), args.Inputs[2]!.Shape);
        if (args.NeedInputGrad[3]) result[3] = Tensor.FromFloats(PerChannel(k => -a[k] * sumG[k]), args.Inputs[3]!.Shape);
        if (args.NeedInputGrad[4])
            result[4] = Tensor.FromFloats(PerChannel(k => -0.5 * scale[k] * inv[k] * inv[k] * inv[k] * sumGX[k]), args.Inputs[4]!.Shape);
        return result;
    }
}
