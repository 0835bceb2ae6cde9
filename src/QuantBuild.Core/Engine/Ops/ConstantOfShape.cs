using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>ConstantOfShape: a tensor of the given int64 shape filled with the one-element 'value' tensor (default float 0).</summary>
[OnnxOp("ConstantOfShape")]
public sealed class ConstantOfShapeKernel : OpKernel
{
    private readonly Tensor _value;

    public ConstantOfShapeKernel(Node node, KernelContext context) : base(node, context)
    {
        _value = node.GetTensor("value") ?? Tensor.Scalar(0f);
        if (_value.Length != 1) throw node.Error(DiagnosticCodes.InvalidAttribute, $"value must hold one element, it holds {_value.Length}");
    }

    public override bool IsDifferentiable => false;

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var dims = inputs[0]!.ToInt64Array();
        var shape = ShapeOpHelpers.CheckedOutputShape(_value.Type, dims);
        var y = Tensor.Create(_value.Type, shape);
        if (y.Length == 0) return new[] { y };
        switch (DataTypes.SizeInBytes(_value.Type))
        {
            case 1: ShapeOpHelpers.Raw<byte>(y.Data).Fill(ShapeOpHelpers.Raw<byte>(_value.Data)[0]); break;
            case 2: ShapeOpHelpers.Raw<ushort>(y.Data).Fill(ShapeOpHelpers.Raw<ushort>(_value.Data)[0]); break;
            case 4: ShapeOpHelpers.Raw<uint>(y.Data).Fill(ShapeOpHelpers.Raw<uint>(_value.Data)[0]); break;
            default: ShapeOpHelpers.Raw<ulong>(y.Data).Fill(ShapeOpHelpers.Raw<ulong>(_value.Data)[0]); break;
        }
        return new[] { y };
    }
}
