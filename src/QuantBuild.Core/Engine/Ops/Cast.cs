using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Cast and CastLike between the numeric types and bool. Floating to integer truncates toward
/// zero (out-of-range values are undefined in ONNX; .NET saturates). Only a cast between floating
/// types carries a gradient: the engine's gradients are float32, so anything through an integer
/// cast is a step function with zero derivative.
/// </summary>
[OnnxOp("Cast")]
[OnnxOp("CastLike")]
public sealed class CastKernel : OpKernel
{
    private readonly DataType _to;

    public CastKernel(Node node, KernelContext context) : base(node, context)
    {
        if (node.OpType == "Cast")
        {
            _to = (DataType)node.GetInt("to");
            if (!IsSupported(_to))
                throw node.Error(DiagnosticCodes.UnsupportedDataType, $"cast to element type {_to} is not supported");
        }
    }

    public override bool IsDifferentiable => true;

    public static bool IsSupported(DataType type) => NumericDispatch.IsNumeric(type) || type == DataType.Bool;

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0] ?? throw Node.Error(DiagnosticCodes.MissingInput, "input is missing");
        var to = Node.OpType == "CastLike" ? (inputs[1] ?? throw Node.Error(DiagnosticCodes.MissingInput, "target_type input is missing")).Type : _to;
        if (!IsSupported(to) || !IsSupported(x.Type))
            throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"cast from {DataTypes.Name(x.Type)} to {DataTypes.Name(to)} is not supported");
        return new[] { Convert(x, to) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        var x = args.Inputs[0]!;
        if (args.NeedInputGrad[0] && args.OutputGrads[0] is Tensor g && x.Type == DataType.Float && g.Type == DataType.Float)
            result[0] = g;
        return result;
    }

    /// <summary>Converts a tensor to another numeric/bool element type (a new buffer unless the type already matches).</summary>
    public static Tensor Convert(Tensor source, DataType to)
    {
        if (source.Type == to) return source;
        Array result;
        if (source.Data is float[] or double[] or Half[])
        {
            var d = source.Data switch
            {
                float[] f => Array.ConvertAll(f, v => (double)v),
                Half[] h => Array.ConvertAll(h, v => (double)v),
                _ => (double[])source.Data,
            };
            result = to switch
            {
                DataType.Float => Array.ConvertAll(d, v => (float)v),
                DataType.Double => d,
                DataType.Float16 => Array.ConvertAll(d, v => (Half)v),
                DataType.Bool => Array.ConvertAll(d, v => v != 0),
                DataType.Int8 => Array.ConvertAll(d, v => unchecked((sbyte)(long)v)),
                DataType.UInt8 => Array.ConvertAll(d, v => unchecked((byte)(long)v)),
                DataType.Int16 => Array.ConvertAll(d, v => unchecked((short)(long)v)),
                DataType.UInt16 => Array.ConvertAll(d, v => unchecked((ushort)(long)v)),
                DataType.Int32 => Array.ConvertAll(d, v => unchecked((int)(long)v)),
                DataType.UInt32 => Array.ConvertAll(d, v => unchecked((uint)(long)v)),
                DataType.Int64 => Array.ConvertAll(d, v => (long)v),
                DataType.UInt64 => Array.ConvertAll(d, v => (ulong)v),
                _ => throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"cast to {DataTypes.Name(to)} is not supported"),
            };
            return new Tensor(to, source.Shape, result);
        }
        if (source.Data is ulong[] u64)
        {
            result = to switch
            {
                DataType.Float => Array.ConvertAll(u64, v => (float)v),
                DataType.Double => Array.ConvertAll(u64, v => (double)v),
                DataType.Float16 => Array.ConvertAll(u64, v => (Half)v),
                _ => null!,
            };
            if (result is not null) return new Tensor(to, source.Shape, result);
        }
        var l = source.ToInt64Array();
        result = to switch
        {
            DataType.Float => Array.ConvertAll(l, v => (float)v),
            DataType.Double => Array.ConvertAll(l, v => (double)v),
            DataType.Float16 => Array.ConvertAll(l, v => (Half)v),
            DataType.Bool => Array.ConvertAll(l, v => v != 0),
            DataType.Int8 => Array.ConvertAll(l, v => unchecked((sbyte)v)),
            DataType.UInt8 => Array.ConvertAll(l, v => unchecked((byte)v)),
            DataType.Int16 => Array.ConvertAll(l, v => unchecked((short)v)),
            DataType.UInt16 => Array.ConvertAll(l, v => unchecked((ushort)v)),
            DataType.Int32 => Array.ConvertAll(l, v => unchecked((int)v)),
            DataType.UInt32 => Array.ConvertAll(l, v => unchecked((uint)v)),
            DataType.Int64 => l,
            DataType.UInt64 => Array.ConvertAll(l, v => unchecked((ulong)v)),
            _ => throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"cast to {DataTypes.Name(to)} is not supported"),
        };
        return new Tensor(to, source.Shape, result);
    }
}
