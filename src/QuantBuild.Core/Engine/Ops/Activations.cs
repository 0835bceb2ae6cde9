using QuantBuild.Tensors;
using System.Numerics;
using System.Numerics.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Elementwise functions of one tensor. Float32 runs vectorized through TensorPrimitives in
/// pieces split across threads (each output element is written by one piece, so thread count
/// cannot change a bit); double runs scalar; integer types get the ops that make sense for them.
/// </summary>
[OnnxOp("Relu")]
[OnnxOp("LeakyRelu")]
[OnnxOp("Sigmoid")]
[OnnxOp("Tanh")]
[OnnxOp("HardSigmoid")]
[OnnxOp("HardSwish")]
[OnnxOp("Sqrt")]
[OnnxOp("Exp")]
[OnnxOp("Log")]
[OnnxOp("Erf")]
[OnnxOp("Neg")]
[OnnxOp("Abs")]
[OnnxOp("Reciprocal")]
[OnnxOp("Floor")]
[OnnxOp("Ceil")]
public sealed class UnaryKernel : OpKernel
{
    private enum Kind { Relu, LeakyRelu, Sigmoid, Tanh, HardSigmoid, HardSwish, Sqrt, Exp, Log, Erf, Neg, Abs, Reciprocal, Floor, Ceil }

    private readonly Kind _kind;
    private readonly float _alpha;
    private readonly float _beta;

    public UnaryKernel(Node node, KernelContext context) : base(node, context)
    {
        _kind = Enum.Parse<Kind>(node.OpType);
        switch (_kind)
        {
            case Kind.LeakyRelu:
                _alpha = node.GetFloat("alpha", 0.01f);
                break;
            case Kind.HardSigmoid:
                _alpha = node.GetFloat("alpha", 0.2f);
                _beta = node.GetFloat("beta", 0.5f);
                break;
        }
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input X is missing");
        switch (x.Data)
        {
            case float[] xf:
            {
                var y = OutputBuffers.Floats(xf.Length);
                Broadcast.ForChunks(xf.Length, Context.Parallel, (start, len) => ForwardFloat(xf.AsSpan(start, len), y.AsSpan(start, len)));
                return new[] { new Tensor(DataType.Float, x.Shape, y) };
            }
            case double[] xd:
                return new[] { new Tensor(DataType.Double, x.Shape, Array.ConvertAll(xd, ScalarDouble)) };
            case Half[] xh:
                return new[] { new Tensor(DataType.Float16, x.Shape, Array.ConvertAll(xh, v => (Half)ScalarDouble((double)v))) };
        }
        if (_kind is Kind.Relu or Kind.Neg or Kind.Abs or Kind.Floor or Kind.Ceil && NumericDispatch.IsNumeric(x.Type))
            return new[] { new Tensor(x.Type, x.Shape, NumericDispatch.Run<IntegerAction, Array>(x.Type, new IntegerAction(_kind, x.Data))) };
        throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"element type {DataTypes.Name(x.Type)} is not supported");
    }

    private readonly struct IntegerAction(Kind kind, Array data) : INumericAction<Array>
    {
        public Array Invoke<T>() where T : unmanaged, INumber<T>
        {
            var x = (T[])data;
            var y = new T[x.Length];
            switch (kind)
            {
                case Kind.Relu: TensorPrimitives.Max(x, T.Zero, y); break;
                case Kind.Neg: TensorPrimitives.Negate(x, y); break;
                case Kind.Abs:
                    for (int i = 0; i < x.Length; i++) y[i] = T.Abs(x[i]);
                    break;
                default: x.CopyTo(y, 0); break; // Floor/Ceil of an integer is itself
            }
            return y;
        }
    }

    private void ForwardFloat(ReadOnlySpan<float> x, Span<float> y)
    {
        switch (_kind)
        {
            case Kind.Relu: Clamp(x, 0f, float.PositiveInfinity, y); break;
            case Kind.LeakyRelu:
                LeakyRelu(x, _alpha, y);
                break;
            case Kind.Sigmoid: TensorPrimitives.Sigmoid(x, y); break;
            case Kind.Tanh: TensorPrimitives.Tanh(x, y); break;
            case Kind.HardSigmoid:
                TensorPrimitives.Multiply(x, _alpha, y);
                TensorPrimitives.Add(y, _beta, y);
                TensorPrimitives.Max(y, 0f, y);
                TensorPrimitives.Min(y, 1f, y);
                break;
            case Kind.HardSwish:
                TensorPrimitives.Multiply(x, 1f / 6f, y);
                TensorPrimitives.Add(y, 0.5f, y);
                TensorPrimitives.Max(y, 0f, y);
                TensorPrimitives.Min(y, 1f, y);
                TensorPrimitives.Multiply(x, y, y);
                break;
            case Kind.Sqrt: TensorPrimitives.Sqrt(x, y); break;
            case Kind.Exp: TensorPrimitives.Exp(x, y); break;
            case Kind.Log: TensorPrimitives.Log(x, y); break;
            case Kind.Erf:
                for (int i = 0; i < x.Length; i++) y[i] = SpecialFunctions.Erf(x[i]);
                break;
            case Kind.Neg: TensorPrimitives.Negate(x, y); break;
            case Kind.Abs: TensorPrimitives.Abs(x, y); break;
            case Kind.Reciprocal: TensorPrimitives.Reciprocal(x, y); break;
            case Kind.Floor: TensorPrimitives.Floor(x, y); break;
            case Kind.Ceil: TensorPrimitives.Ceiling(x, y); break;
        }
    }

    private static unsafe void LeakyRelu(ReadOnlySpan<float> x, float alpha, Span<float> y)
    {
        fixed (float* px = x, py = y) FloatKernels.LeakyRelu(px, alpha, py, y.Length);
    }

    private static unsafe void Clamp(ReadOnlySpan<float> x, float min, float max, Span<float> y)
    {
        fixed (float* px = x, py = y) FloatKernels.Clamp(px, min, max, py, y.Length);
    }

    private double ScalarDouble(double v) => _kind switch
    {
        Kind.Relu => System.Math.Max(v, 0),
        Kind.LeakyRelu => v >= 0 ? v : _alpha * v,
        Kind.Sigmoid => 1 / (1 + System.Math.Exp(-v)),
        Kind.Tanh => System.Math.Tanh(v),
        Kind.HardSigmoid => System.Math.Clamp(_alpha * v + _beta, 0, 1),
        Kind.HardSwish => v * System.Math.Clamp(v / 6 + 0.5, 0, 1),
        Kind.Sqrt => System.Math.Sqrt(v),
        Kind.Exp => System.Math.Exp(v),
        Kind.Log => System.Math.Log(v),
        Kind.Erf => SpecialFunctions.Erf(v),
        Kind.Neg => -v,
        Kind.Abs => System.Math.Abs(v),
        Kind.Reciprocal => 1 / v,
        Kind.Floor => System.Math.Floor(v),
        _ => System.Math.Ceiling(v),
    };

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0] || args.OutputGrads[0] is not Tensor gt) return result;
        var g = gt.Floats;
        var x = args.Inputs[0]!.Floats;
        var y = args.Outputs[0].Floats;
        var d = new float[g.Length];
        switch (_kind)
        {
            case Kind.Relu:
                for (int i = 0; i < d.Length; i++) d[i] = x[i] > 0f ? g[i] : 0f;
                break;
            case Kind.LeakyRelu:
                for (int i = 0; i < d.Length; i++) d[i] = x[i] >= 0f ? g[i] : _alpha * g[i];
                break;
            case Kind.Sigmoid:
                for (int i = 0; i < d.Length; i++) d[i] = g[i] * y[i] * (1f - y[i]);
                break;
            case Kind.Tanh:
                for (int i = 0; i < d.Length; i++) d[i] = g[i] * (1f - y[i] * y[i]);
                break;
            case Kind.HardSigmoid:
                for (int i = 0; i < d.Length; i++)
                {
                    float t = _alpha * x[i] + _beta;
                    d[i] = t > 0f && t < 1f ? _alpha * g[i] : 0f;
                }
                break;
            case Kind.HardSwish:
                for (int i = 0; i < d.Length; i++)
                    d[i] = x[i] <= -3f ? 0f : x[i] >= 3f ? g[i] : g[i] * (2f * x[i] + 3f) / 6f;
                break;
            case Kind.Sqrt:
                for (int i = 0; i < d.Length; i++) d[i] = 0.5f * g[i] / y[i];
                break;
            case Kind.Exp: TensorPrimitives.Multiply(g, y, d); break;
            case Kind.Log: TensorPrimitives.Divide(g, x, d); break;
            case Kind.Erf:
                for (int i = 0; i < d.Length; i++) d[i] = g[i] * (float)(1.1283791670955126 * System.Math.Exp(-(double)x[i] * x[i]));
                break;
            case Kind.Neg: TensorPrimitives.Negate(g, d); break;
            case Kind.Abs:
                for (int i = 0; i < d.Length; i++) d[i] = x[i] > 0f ? g[i] : x[i] < 0f ? -g[i] : 0f;
                break;
            case Kind.Reciprocal:
                for (int i = 0; i < d.Length; i++) d[i] = -g[i] * y[i] * y[i];
                break;
            case Kind.Floor:
            case Kind.Ceil:
                break; // piecewise constant: zero almost everywhere
        }
        result[0] = Tensor.FromFloats(d, gt.Shape);
        return result;
    }
}

/// <summary>PRelu: y = x for x ≥ 0, slope·x otherwise; slope broadcasts to X (unidirectionally).</summary>
[OnnxOp("PRelu")]
public sealed class PReluKernel : OpKernel
{
    public PReluKernel(Node node, KernelContext context) : base(node, context) { }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input X is missing");
        var slope = inputs[1] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input slope is missing");
        if (x.Type != DataType.Float || slope.Type != DataType.Float)
            throw Node.Error(DiagnosticCodes.UnsupportedDataType, "only float32 is supported");
        var outShape = Broadcast.Shape(x.Shape, slope.Shape);
        if (!Tensor.SameShape(outShape, x.Shape))
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"slope {slope.ShapeString} does not broadcast to X {x.ShapeString}");
        return new[] { Tensor.FromFloats(Broadcast.Apply<float, PReluOp>(x.Floats, x.Shape, slope.Floats, slope.Shape, outShape, Context.Parallel), outShape) };
    }

    private readonly struct PReluOp : IBinaryOp<float>
    {
        public static float Invoke(float x, float s) => x >= 0f ? x : s * x;

        public static void Invoke(ReadOnlySpan<float> x, ReadOnlySpan<float> s, Span<float> d)
        {
            for (int i = 0; i < d.Length; i++) d[i] = x[i] >= 0f ? x[i] : s[i] * x[i];
        }

        public static void Invoke(ReadOnlySpan<float> x, float s, Span<float> d)
        {
            // Per-channel slope (the common case): max(x, s·x) is PRelu for s <= 1, min(x, s·x) for s > 1.
            TensorPrimitives.Multiply(x, s, d);
            if (s <= 1f) TensorPrimitives.Max(x, d, d);
            else TensorPrimitives.Min(x, d, d);
        }

        public static void Invoke(float x, ReadOnlySpan<float> s, Span<float> d)
        {
            if (x >= 0f) d.Fill(x);
            else TensorPrimitives.Multiply(s, x, d);
        }
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.OutputGrads[0] is not Tensor gt) return result;
        var x = args.Inputs[0]!;
        var slope = args.Inputs[1]!;
        var g = gt.Floats;
        var xf = x.Floats;
        if (args.NeedInputGrad[0])
        {
            var s = Broadcast.Expand(slope.Floats, slope.Shape, x.Shape);
            var d = new float[g.Length];
            for (int i = 0; i < d.Length; i++) d[i] = xf[i] >= 0f ? g[i] : s[i] * g[i];
            result[0] = Tensor.FromFloats(d, x.Shape);
        }
        if (args.NeedInputGrad[1])
        {
            var d = new float[g.Length];
            for (int i = 0; i < d.Length; i++) d[i] = xf[i] >= 0f ? 0f : xf[i] * g[i];
            result[1] = Tensor.FromFloats(Broadcast.ReduceTo(d, x.Shape, slope.Shape), slope.Shape);
        }
        return result;
    }
}

/// <summary>
/// Clip: bounds are attributes before opset 11 and optional scalar inputs from 11 on. The
/// gradient passes where min &lt; x &lt; max; a clamped element's gradient goes to the bound it hit.
/// </summary>
[OnnxOp("Clip")]
public sealed class ClipKernel : OpKernel
{
    private readonly bool _boundsAreInputs;
    private readonly float _attrMin = float.NegativeInfinity;
    private readonly float _attrMax = float.PositiveInfinity;

    public ClipKernel(Node node, KernelContext context) : base(node, context)
    {
        _boundsAreInputs = context.OpsetVersion >= 11;
        if (!_boundsAreInputs)
        {
            _attrMin = node.GetFloat("min", float.NegativeInfinity);
            _attrMax = node.GetFloat("max", float.PositiveInfinity);
        }
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input is missing");
        Tensor? lo = null, hi = null;
        if (_boundsAreInputs)
        {
            lo = inputs.Length > 1 ? inputs[1] : null;
            hi = inputs.Length > 2 ? inputs[2] : null;
            foreach (var b in new[] { lo, hi })
                if (b is not null && (b.Length != 1 || b.Type != x.Type))
                    throw Node.Error(DiagnosticCodes.InvalidInputValue, $"bounds must be scalars of the input's type, got {DataTypes.Name(b.Type)}{b.ShapeString}");
        }
        if (x.Data is float[] xf)
        {
            float min = lo?.Floats[0] ?? _attrMin, max = hi?.Floats[0] ?? _attrMax;
            var y = OutputBuffers.Floats(xf.Length);
            Broadcast.ForChunks(xf.Length, Context.Parallel, (start, len) =>
            {
                var src = xf.AsSpan(start, len);
                var dst = y.AsSpan(start, len);
                ClampFloats(src, min, max, dst);
            });
            return new[] { new Tensor(DataType.Float, x.Shape, y) };
        }
        return new[] { new Tensor(x.Type, x.Shape, NumericDispatch.Run<GenericAction, Array>(x.Type, new GenericAction(x.Data, lo?.Data, hi?.Data))) };
    }

    private static unsafe void ClampFloats(ReadOnlySpan<float> x, float min, float max, Span<float> y)
    {
        fixed (float* px = x, py = y) FloatKernels.Clamp(px, min, max, py, y.Length);
    }

    private readonly struct GenericAction(Array data, Array? lo, Array? hi) : INumericAction<Array>
    {
        public Array Invoke<T>() where T : unmanaged, INumber<T>
        {
            var x = (T[])data;
            var y = (T[])x.Clone();
            if (lo is T[] l) TensorPrimitives.Max(y, l[0], y);
            if (hi is T[] h) TensorPrimitives.Min(y, h[0], y);
            return y;
        }
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.OutputGrads[0] is not Tensor gt) return result;
        var x = args.Inputs[0]!.Floats;
        var g = gt.Floats;
        float min = _attrMin, max = _attrMax;
        if (_boundsAreInputs)
        {
            if (args.Inputs.Length > 1 && args.Inputs[1] is Tensor lo) min = lo.Floats[0];
            if (args.Inputs.Length > 2 && args.Inputs[2] is Tensor hi) max = hi.Floats[0];
        }
        var dx = new float[g.Length];
        double dMin = 0, dMax = 0;
        for (int i = 0; i < dx.Length; i++)
        {
            // Order matches the forward min(max(x, lo), hi): when lo > hi every element is hi.
            if (min > max || x[i] > max) dMax += g[i];
            else if (x[i] < min) dMin += g[i];
            else if (x[i] > min && x[i] < max) dx[i] = g[i];
        }
        if (args.NeedInputGrad[0]) result[0] = Tensor.FromFloats(dx, gt.Shape);
        if (_boundsAreInputs)
        {
            if (args.Inputs.Length > 1 && args.NeedInputGrad[1] && args.Inputs[1] is Tensor lo) result[1] = new Tensor(DataType.Float, lo.Shape, new[] { (float)dMin });
            if (args.Inputs.Length > 2 && args.NeedInputGrad[2] && args.Inputs[2] is Tensor hi) result[2] = new Tensor(DataType.Float, hi.Shape, new[] { (float)dMax });
        }
        return result;
    }
}
