using QuantBuild.Tensors;
using System.Numerics;
using System.Numerics.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Add, Sub, Mul, Div with multidirectional broadcasting, for every numeric element type (shape
/// arithmetic runs these on int64). Gradients are float-only and reduce over broadcast axes.
/// </summary>
[OnnxOp("Add")]
[OnnxOp("Sub")]
[OnnxOp("Mul")]
[OnnxOp("Div")]
public sealed class BinaryArithmeticKernel : OpKernel
{
    internal enum Kind { Add, Sub, Mul, Div }

    private readonly Kind _kind;

    public BinaryArithmeticKernel(Node node, KernelContext context) : base(node, context)
    {
        _kind = node.OpType switch
        {
            "Add" => Kind.Add,
            "Sub" => Kind.Sub,
            "Mul" => Kind.Mul,
            _ => Kind.Div,
        };
        // Opset < 7 expressed broadcasting with attributes; the importer only admits opset >= 7,
        // so any "broadcast" attribute here is a malformed model rather than something to honour.
        if (node.HasAttribute("broadcast") && node.GetInt("broadcast", 0) != 0 && node.HasAttribute("axis"))
            throw node.Error(DiagnosticCodes.InvalidAttribute, "legacy broadcast with an explicit axis (opset < 7) is not supported");
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var a = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input A is missing");
        var b = inputs[1] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input B is missing");
        if (a.Type != b.Type)
            throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"inputs have different element types ({DataTypes.Name(a.Type)} and {DataTypes.Name(b.Type)})");
        var outShape = Broadcast.Shape(a.Shape, b.Shape);
        var data = NumericDispatch.Run<Action, Array>(a.Type, new Action(_kind, a, b, outShape, Context.Parallel));
        return new[] { new Tensor(a.Type, outShape, data) };
    }

    private readonly struct Action(Kind kind, Tensor a, Tensor b, int[] outShape, ParallelOptions parallel) : INumericAction<Array>
    {
        public Array Invoke<T>() where T : unmanaged, INumber<T>
        {
            var x = (T[])a.Data;
            var y = (T[])b.Data;
            if (typeof(T) == typeof(float))
            {
                // Float32 rows run through plain vector loops (FloatKernels) rather than the generic span routines.
                var xf = (float[])(object)x;
                var yf = (float[])(object)y;
                return kind switch
                {
                    Kind.Add => Broadcast.Apply<float, FloatBinaryOp<FloatAdd>>(xf, a.Shape, yf, b.Shape, outShape, parallel),
                    Kind.Sub => Broadcast.Apply<float, FloatBinaryOp<FloatSub>>(xf, a.Shape, yf, b.Shape, outShape, parallel),
                    Kind.Mul => Broadcast.Apply<float, FloatBinaryOp<FloatMul>>(xf, a.Shape, yf, b.Shape, outShape, parallel),
                    _ => Broadcast.Apply<float, FloatBinaryOp<FloatDiv>>(xf, a.Shape, yf, b.Shape, outShape, parallel),
                };
            }
            return kind switch
            {
                Kind.Add => Broadcast.Apply<T, AddOp<T>>(x, a.Shape, y, b.Shape, outShape, parallel),
                Kind.Sub => Broadcast.Apply<T, SubOp<T>>(x, a.Shape, y, b.Shape, outShape, parallel),
                Kind.Mul => Broadcast.Apply<T, MulOp<T>>(x, a.Shape, y, b.Shape, outShape, parallel),
                _ => DivideChecked(x, y),
            };
        }

        private T[] DivideChecked<T>(T[] x, T[] y) where T : unmanaged, INumber<T>
        {
            // Integer division by zero is undefined in ONNX; report it instead of crashing with a CLR exception.
            if (typeof(T) != typeof(float) && typeof(T) != typeof(double) && typeof(T) != typeof(Half) && Array.IndexOf(y, T.Zero) >= 0)
                throw new QuantBuildException(DiagnosticCodes.InvalidInputValue, "integer division by zero");
            return Broadcast.Apply<T, DivOp<T>>(x, a.Shape, y, b.Shape, outShape, parallel);
        }
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.OutputGrads[0] is not Tensor gt) return result;
        var a = args.Inputs[0]!;
        var b = args.Inputs[1]!;
        var g = gt.Floats;
        var outShape = gt.Shape;
        bool needA = args.NeedInputGrad[0], needB = args.NeedInputGrad[1];
        switch (_kind)
        {
            case Kind.Add:
            case Kind.Sub:
                if (needA) result[0] = Tensor.FromFloats(Broadcast.ReduceTo(g, outShape, a.Shape), a.Shape);
                if (needB)
                {
                    var gb = Broadcast.ReduceTo(g, outShape, b.Shape);
                    if (_kind == Kind.Sub) TensorPrimitives.Negate(gb, gb);
                    result[1] = Tensor.FromFloats(gb, b.Shape);
                }
                break;
            case Kind.Mul:
                if (needA) result[0] = Tensor.FromFloats(Broadcast.ReduceTo(Broadcast.Apply<float, MulOp<float>>(g, outShape, b.Floats, b.Shape, outShape), outShape, a.Shape), a.Shape);
                if (needB) result[1] = Tensor.FromFloats(Broadcast.ReduceTo(Broadcast.Apply<float, MulOp<float>>(g, outShape, a.Floats, a.Shape, outShape), outShape, b.Shape), b.Shape);
                break;
            case Kind.Div:
                if (needA) result[0] = Tensor.FromFloats(Broadcast.ReduceTo(Broadcast.Apply<float, DivOp<float>>(g, outShape, b.Floats, b.Shape, outShape), outShape, a.Shape), a.Shape);
                if (needB)
                {
                    // d(a/b)/db = -(a/b)/b = -y/b, using the forward output instead of recomputing a/b².
                    var gy = new float[g.Length];
                    TensorPrimitives.Multiply(g, args.Outputs[0].Floats, gy);
                    var t = Broadcast.Apply<float, DivOp<float>>(gy, outShape, b.Floats, b.Shape, outShape);
                    var gb = Broadcast.ReduceTo(t, outShape, b.Shape);
                    TensorPrimitives.Negate(gb, gb);
                    result[1] = Tensor.FromFloats(gb, b.Shape);
                }
                break;
        }
        return result;
    }
}

/// <summary>
/// Pow: the result has the base's type; the exponent may be any numeric type (opset 12+).
/// Float bases compute in float32 like ONNX Runtime; integer bases compute in double and convert back.
/// </summary>
[OnnxOp("Pow")]
public sealed class PowKernel : OpKernel
{
    public PowKernel(Node node, KernelContext context) : base(node, context) { }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input X is missing");
        var y = inputs[1] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input Y is missing");
        var outShape = Broadcast.Shape(x.Shape, y.Shape);
        if (x.Type == DataType.Float)
        {
            var e = y.Type == DataType.Float ? y.Floats : y.ToFloatArray();
            return new[] { Tensor.FromFloats(Broadcast.Apply<float, PowOp<float>>(x.Floats, x.Shape, e, y.Shape, outShape, Context.Parallel), outShape) };
        }
        if (!NumericDispatch.IsNumeric(x.Type) || !NumericDispatch.IsNumeric(y.Type))
            throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"Pow of {DataTypes.Name(x.Type)} by {DataTypes.Name(y.Type)} is not supported");
        var xd = (double[])CastKernel.Convert(x, DataType.Double).Data;
        var yd = (double[])CastKernel.Convert(y, DataType.Double).Data;
        var rd = Broadcast.Apply<double, PowOp<double>>(xd, x.Shape, yd, y.Shape, outShape, Context.Parallel);
        return new[] { CastKernel.Convert(new Tensor(DataType.Double, outShape, rd), x.Type) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.OutputGrads[0] is not Tensor gt) return result;
        var x = args.Inputs[0]!;
        var y = args.Inputs[1]!;
        var g = gt.Floats;
        var outShape = gt.Shape;
        var xe = Broadcast.Expand(x.Floats, x.Shape, outShape);
        var ye = Broadcast.Expand(y.Type == DataType.Float ? y.Floats : y.ToFloatArray(), y.Shape, outShape);
        if (args.NeedInputGrad[0])
        {
            var d = new float[g.Length];
            for (int i = 0; i < d.Length; i++)
            {
                float p = ye[i];
                // d(x^p)/dx = p·x^(p-1); written out for p = 1 and 2 so x = 0 does not produce 0·inf.
                d[i] = g[i] * (p == 0f ? 0f : p == 1f ? 1f : p == 2f ? 2f * xe[i] : p * MathF.Pow(xe[i], p - 1f));
            }
            result[0] = Tensor.FromFloats(Broadcast.ReduceTo(d, outShape, x.Shape), x.Shape);
        }
        if (args.NeedInputGrad[1] && y.Type == DataType.Float)
        {
            var z = args.Outputs[0].Floats;
            var d = new float[g.Length];
            // d(x^p)/dp = x^p·ln x, defined for x > 0; elsewhere the exponent gets no gradient (as PyTorch does for x = 0).
            for (int i = 0; i < d.Length; i++) d[i] = xe[i] > 0f ? g[i] * z[i] * MathF.Log(xe[i]) : 0f;
            result[1] = Tensor.FromFloats(Broadcast.ReduceTo(d, outShape, y.Shape), y.Shape);
        }
        return result;
    }
}

/// <summary>Variadic Max, Min, Sum, Mean with broadcasting. Max/Min send each gradient element to the first input that attains the extreme.</summary>
[OnnxOp("Max")]
[OnnxOp("Min")]
[OnnxOp("Sum")]
[OnnxOp("Mean")]
public sealed class VariadicKernel : OpKernel
{
    private enum Kind { Max, Min, Sum, Mean }

    private readonly Kind _kind;

    public VariadicKernel(Node node, KernelContext context) : base(node, context)
    {
        _kind = node.OpType switch { "Max" => Kind.Max, "Min" => Kind.Min, "Sum" => Kind.Sum, _ => Kind.Mean };
        if (node.Inputs.Count == 0) throw node.Error(DiagnosticCodes.MissingInput, "needs at least one input");
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var list = inputs.Select((t, i) => t ?? throw Node.Error(DiagnosticCodes.MissingInput, $"input {i} is missing")).ToArray();
        var type = list[0].Type;
        foreach (var t in list)
            if (t.Type != type) throw Node.Error(DiagnosticCodes.UnsupportedDataType, "inputs have different element types");
        var outShape = Broadcast.Shape(list.Select(t => t.Shape));
        var data = NumericDispatch.Run<Action, Array>(type, new Action(_kind, list, outShape, Context.Parallel));
        return new[] { new Tensor(type, outShape, data) };
    }

    private readonly struct Action(Kind kind, Tensor[] list, int[] outShape, ParallelOptions parallel) : INumericAction<Array>
    {
        public Array Invoke<T>() where T : unmanaged, INumber<T>
        {
            var acc = (T[])list[0].Data;
            var accShape = list[0].Shape;
            if (list.Length == 1) acc = Broadcast.Expand(acc, accShape, outShape);
            for (int i = 1; i < list.Length; i++)
            {
                var next = (T[])list[i].Data;
                var shape = Broadcast.Shape(accShape, list[i].Shape);
                acc = kind switch
                {
                    Kind.Max => Broadcast.Apply<T, MaxOp<T>>(acc, accShape, next, list[i].Shape, shape, parallel),
                    Kind.Min => Broadcast.Apply<T, MinOp<T>>(acc, accShape, next, list[i].Shape, shape, parallel),
                    _ => Broadcast.Apply<T, AddOp<T>>(acc, accShape, next, list[i].Shape, shape, parallel),
                };
                accShape = shape;
            }
            if (kind == Kind.Mean && list.Length > 1)
                TensorPrimitives.Divide(acc, T.CreateChecked(list.Length), acc);
            return acc;
        }
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (args.OutputGrads[0] is not Tensor gt) return result;
        var g = gt.Floats;
        var outShape = gt.Shape;
        int n = args.Inputs.Length;
        if (_kind is Kind.Sum or Kind.Mean)
        {
            for (int i = 0; i < n; i++)
            {
                if (!args.NeedInputGrad[i]) continue;
                var shape = args.Inputs[i]!.Shape;
                var d = Broadcast.ReduceTo(g, outShape, shape);
                if (_kind == Kind.Mean) TensorPrimitives.Divide(d, n, d);
                result[i] = Tensor.FromFloats(d, shape);
            }
            return result;
        }
        var y = args.Outputs[0].Floats;
        var claimed = new bool[y.Length];
        for (int i = 0; i < n; i++)
        {
            var x = args.Inputs[i]!;
            var xe = Broadcast.Expand(x.Floats, x.Shape, outShape);
            var d = new float[g.Length];
            for (int k = 0; k < d.Length; k++)
            {
                if (claimed[k] || xe[k] != y[k]) continue;
                claimed[k] = true;
                d[k] = g[k];
            }
            if (args.NeedInputGrad[i]) result[i] = Tensor.FromFloats(Broadcast.ReduceTo(d, outShape, x.Shape), x.Shape);
        }
        return result;
    }
}
