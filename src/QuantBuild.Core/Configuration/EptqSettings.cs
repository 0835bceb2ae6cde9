namespace QuantBuild.Configuration;

/// <summary>How EPTQ weighs each layer's distillation term (docs/algorithms/eptq.md, "Normalization" and "Distillation loss").</summary>
public enum EptqHessian
{
    /// <summary>Log-normalized label-free Hessian traces of the output w.r.t. each layer's output.</summary>
    LabelFree,
    /// <summary>Every layer weighs 1 (the paper's ablation baseline).</summary>
    Uniform,
}

/// <summary>
/// Options of the EPTQ whole-model optimization (the sidecar's <c>eptq</c> object). The defaults are
/// sized for a build: a few minutes on two cores for the real models the tests use (tests/fetch-assets.sh), not the paper's 80K GPU
/// steps; raise <see cref="Iterations"/> for more.
/// </summary>
public sealed record EptqSettings
{
    /// <summary>Gradient steps of the distillation (each over <see cref="BatchSize"/> samples).</summary>
    public int Iterations { get; init; } = 400;
    /// <summary>Calibration samples the optimization cycles through (the first ones, in calibration order).</summary>
    public int Samples { get; init; } = 64;
    /// <summary>Samples per gradient step.</summary>
    public int BatchSize { get; init; } = 8;
    /// <summary>Seed of the Hessian probes and of the batch order.</summary>
    public int Seed { get; init; }
    public EptqHessian Hessian { get; init; } = EptqHessian.LabelFree;
    /// <summary>Lift every log-normalized weight by a floor (MCT's LfhFloor; docs/algorithms/eptq.md, "Normalization") so no layer weighs 0.</summary>
    public bool HessianFloor { get; init; } = true;
    /// <summary>Samples the label-free Hessian traces are averaged over (16 as in MCT v1.10; docs/algorithms/eptq.md, "Label-free Hessian estimator").</summary>
    public int HessianSamples { get; init; } = 16;
    /// <summary>Most Hutchinson probes per sample (stops earlier once the running mean settles; docs/algorithms/eptq.md, "Label-free Hessian estimator").</summary>
    public int HessianProbes { get; init; } = 32;
    /// <summary>Adam learning rate of the rounding variables (3e-2 as in current MCT; docs/algorithms/eptq.md, "Parameters").</summary>
    public double LearningRate { get; init; } = 3e-2;
    /// <summary>Adam learning rate of the biases and of the per-channel step-size multipliers.</summary>
    public double ParameterLearningRate { get; init; } = 1e-3;
    /// <summary>λ of the rounding regularizer (docs/algorithms/eptq.md, "Regularizer and annealing"), applied to each layer's mean; 0.1 (not MCT's 0.01 on sums) so that a few hundred steps end with h at 0 or 1 and hard rounding keeps what the soft weights learned.</summary>
    public double Regularization { get; init; } = 0.1;
    public bool LearnScales { get; init; } = true;
    public bool LearnBiases { get; init; } = true;
}
