using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Engine;

/// <summary>
/// Marks a kernel class as the implementation of an ONNX operator (default domain). A class may
/// carry several of these when one room serves a family (e.g. unary elementwise functions).
/// The class must have a public constructor <c>(Node node, KernelContext context)</c> that parses
/// and validates attributes, so a bad model fails when the engine is built, before anything runs.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true, Inherited = false)]
public sealed class OnnxOpAttribute(string opType) : Attribute
{
    public string OpType { get; } = opType;
}

/// <summary>What a kernel may know while it is being built.</summary>
public sealed class KernelContext
{
    public KernelContext(int opsetVersion, Func<int, Tensor?> constantInput, ParallelOptions parallel)
    {
        OpsetVersion = opsetVersion;
        ConstantInputAccessor = constantInput;
        Parallel = parallel;
    }

    public int OpsetVersion { get; }

    /// <summary>Options every parallel loop must use, so a user's thread cap is honoured.</summary>
    public ParallelOptions Parallel { get; }

    private Func<int, Tensor?> ConstantInputAccessor { get; }

    /// <summary>The value of input <paramref name="index"/> when it is an initializer, else null.</summary>
    public Tensor? ConstantInput(int index) => ConstantInputAccessor(index);
}

/// <summary>Everything a backward pass of one node sees.</summary>
public readonly struct BackwardArgs
{
    public BackwardArgs(Tensor?[] inputs, Tensor[] outputs, Tensor?[] outputGrads, bool[] needInputGrad)
    {
        Inputs = inputs;
        Outputs = outputs;
        OutputGrads = outputGrads;
        NeedInputGrad = needInputGrad;
    }

    /// <summary>The forward inputs (null for omitted optional inputs).</summary>
    public Tensor?[] Inputs { get; }
    /// <summary>The forward outputs.</summary>
    public Tensor[] Outputs { get; }
    /// <summary>dLoss/dOutput per output; null means zero (that output does not reach the loss).</summary>
    public Tensor?[] OutputGrads { get; }
    /// <summary>Which input gradients the caller wants; kernels skip the rest (e.g. weight grads during LFH).</summary>
    public bool[] NeedInputGrad { get; }
}

/// <summary>
/// One operator instance, compiled once from its node. Kernels must be thread-safe for concurrent
/// <see cref="Forward"/> calls (no mutable state after construction) and deterministic: the same
/// inputs give the same bits whatever the thread count, so parallel loops partition output
/// elements and never split a reduction across threads.
/// </summary>
public abstract class OpKernel
{
    protected OpKernel(Node node, KernelContext context)
    {
        Node = node;
        Context = context;
    }

    public Node Node { get; }
    protected KernelContext Context { get; }

    /// <summary>Computes the outputs. <paramref name="inputs"/> has one slot per node input; omitted optional inputs are null.</summary>
    public abstract Tensor[] Forward(Tensor?[] inputs);

    /// <summary>False for ops with no gradient (Shape, Cast to int, ...); the engine then stops gradient flow there.</summary>
    public virtual bool IsDifferentiable => true;

    /// <summary>
    /// Vector–Jacobian product: given dL/dOutputs, returns dL/dInput for each input where
    /// <see cref="BackwardArgs.NeedInputGrad"/> is set (null elsewhere, and for inputs without a gradient such as shapes and indices).
    /// </summary>
    public virtual Tensor?[] Backward(in BackwardArgs args) =>
        throw Node.Error(QuantBuild.Diagnostics.DiagnosticCodes.NotDifferentiable, "has no backward pass");
}
