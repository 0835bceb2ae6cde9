using System.Numerics;
using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Equal, Greater, GreaterOrEqual, Less, LessOrEqual with numpy broadcasting; bool output. Both inputs
/// must have the same element type. Floating types compare by value as IEEE does (−0 equals +0, NaN
/// compares false with everything, so NaN ≥ NaN is false); Equal also takes bool and compares other
/// types by their bits. No gradient: the output is bool.
/// </summary>
[OnnxOp("Equal")]
[OnnxOp("Greater")]
[OnnxOp("GreaterOrEqual")]
[OnnxOp("Less")]
[OnnxOp("LessOrEqual")]
public sealed class ComparisonKernel : OpKernel
{
    internal enum Kind { Equal, Greater, GreaterOrEqual, Less, LessOrEqual }

    private readonly Kind _kind;

    public ComparisonKernel(Node node, KernelContext context) : base(node, context)
    {
        _kind = node.OpType switch
        {
            "Equal" => Kind.Equal,
            "Greater" => Kind.Greater,
            "GreaterOrEqual" => Kind.GreaterOrEqual,
            "Less" => Kind.Less,
            _ => Kind.LessOrEqual,
        };
    }

    public override bool IsDifferentiable => false;

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var a = inputs[0]!;
        var b = inputs[1]!;
        if (a.Type != b.Type) throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"inputs are {DataTypes.Name(a.Type)} and {DataTypes.Name(b.Type)}");
        var shape = ShapeOpHelpers.BroadcastShape(Node, a.Shape, b.Shape);
        var ab = ShapeOpHelpers.BroadcastTo(a, shape, Context.Parallel);
        var bb = ShapeOpHelpers.BroadcastTo(b, shape, Context.Parallel);
        var r = new bool[ab.Length];
        if (_kind == Kind.Equal && !(ab.Data is float[] or double[] or Half[]))
        {
            // Integers and bool: equal exactly when the bits are.
            switch (DataTypes.SizeInBytes(a.Type))
            {
                case 1: SameBits<byte>(ab.Data, bb.Data, r); break;
                case 2: SameBits<ushort>(ab.Data, bb.Data, r); break;
                case 4: SameBits<uint>(ab.Data, bb.Data, r); break;
                default: SameBits<ulong>(ab.Data, bb.Data, r); break;
            }
        }
        else
        {
            if (!NumericDispatch.IsNumeric(a.Type))
                throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"{Node.OpType} of {DataTypes.Name(a.Type)} is not defined");
            NumericDispatch.Run<Compare, bool>(a.Type, new Compare(_kind, ab.Data, bb.Data, r));
        }
        return new[] { new Tensor(DataType.Bool, shape, r) };
    }

    /// <summary>The comparison itself, one definition for every element type (and for the tests' expectations).</summary>
    internal static bool Holds<T>(Kind kind, T x, T y) where T : INumber<T> => kind switch
    {
        Kind.Equal => x == y,
        Kind.Greater => x > y,
        Kind.GreaterOrEqual => x >= y,
        Kind.Less => x < y,
        _ => x <= y,
    };

    private readonly struct Compare(Kind kind, Array a, Array b, bool[] r) : INumericAction<bool>
    {
        public bool Invoke<T>() where T : unmanaged, INumber<T>
        {
            var x = (T[])a;
            var y = (T[])b;
            for (int i = 0; i < r.Length; i++) r[i] = Holds(kind, x[i], y[i]);
            return true;
        }
    }

    private static void SameBits<T>(Array a, Array b, bool[] r) where T : unmanaged, IEquatable<T>
    {
        var x = ShapeOpHelpers.Raw<T>(a);
        var y = ShapeOpHelpers.Raw<T>(b);
        for (int i = 0; i < r.Length; i++) r[i] = x[i].Equals(y[i]);
    }
}

/// <summary>And, Or, Xor (bool, numpy broadcasting) and Not (bool, elementwise). No gradient.</summary>
[OnnxOp("And")]
[OnnxOp("Or")]
[OnnxOp("Xor")]
[OnnxOp("Not")]
public sealed class LogicalKernel : OpKernel
{
    public LogicalKernel(Node node, KernelContext context) : base(node, context) { }

    public override bool IsDifferentiable => false;

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var a = inputs[0]!;
        if (a.Type != DataType.Bool) throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"input A is {DataTypes.Name(a.Type)}; {Node.OpType} takes bool");
        if (Node.OpType == "Not")
        {
            var x = a.Bools;
            var n = new bool[x.Length];
            for (int i = 0; i < n.Length; i++) n[i] = !x[i];
            return new[] { new Tensor(DataType.Bool, a.Shape, n) };
        }
        var b = inputs[1]!;
        if (b.Type != DataType.Bool) throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"input B is {DataTypes.Name(b.Type)}; {Node.OpType} takes bool");
        var shape = ShapeOpHelpers.BroadcastShape(Node, a.Shape, b.Shape);
        var p = ShapeOpHelpers.BroadcastTo(a, shape, Context.Parallel).Bools;
        var q = ShapeOpHelpers.BroadcastTo(b, shape, Context.Parallel).Bools;
        var r = new bool[p.Length];
        switch (Node.OpType)
        {
            case "And": for (int i = 0; i < r.Length; i++) r[i] = p[i] & q[i]; break;
            case "Or": for (int i = 0; i < r.Length; i++) r[i] = p[i] | q[i]; break;
            default: for (int i = 0; i < r.Length; i++) r[i] = p[i] ^ q[i]; break;
        }
        return new[] { new Tensor(DataType.Bool, shape, r) };
    }
}
