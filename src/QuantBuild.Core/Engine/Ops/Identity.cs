using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Identity, and Dropout in inference mode (ratio ignored, mask all ones): both pass their input
/// through. The optional Dropout mask output is produced as all-true when requested.
/// </summary>
[OnnxOp("Identity")]
[OnnxOp("Dropout")]
public sealed class IdentityKernel : OpKernel
{
    public IdentityKernel(Node node, KernelContext context) : base(node, context)
    {
        if (node.OpType == "Dropout" && node.HasInput(2) && context.ConstantInput(2) is { } training && training.ToInt64Array()[0] != 0)
            throw node.Error(Diagnostics.DiagnosticCodes.InvalidAttribute, "training mode is not supported: QuantBuild runs models for inference");
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        // training_mode may arrive as a runtime input; with a non-zero ratio the output would be
        // random, which an inference engine must refuse rather than silently ignore.
        if (Node.OpType == "Dropout" && inputs.Length > 2 && inputs[2] is { } training && training.ToInt64Array()[0] != 0)
        {
            double ratio = inputs.Length > 1 && inputs[1] is { } r ? r.ToFloatArray()[0] : 0.5;
            if (ratio != 0)
                throw Node.Error(Diagnostics.DiagnosticCodes.InvalidInputValue, $"training mode with ratio {ratio} is random; QuantBuild runs models for inference");
        }
        if (Node.Outputs.Count > 1 && Node.Outputs[1].Length > 0)
        {
            var mask = new bool[x.Length];
            Array.Fill(mask, true);
            return new[] { x, new Tensor(DataType.Bool, x.Shape, mask) };
        }
        return new[] { x };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        result[0] = args.OutputGrads[0] ?? Tensor.Create(DataType.Float, args.Inputs[0]!.Shape);
        return result;
    }
}
