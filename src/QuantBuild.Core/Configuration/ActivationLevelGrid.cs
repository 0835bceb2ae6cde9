namespace QuantBuild.Configuration;

/// <summary>Level grids a ReLU output can be re-coded on (the sidecar's <c>activations.levels</c>).</summary>
public enum ActivationLevelGrid
{
    /// <summary>No level grid: the activation stays linear int8 (today's behaviour, the default).</summary>
    Linear,
    /// <summary>LogQuant (docs/algorithms/logquant.md, "Activation grid"): powers of two below FSR = round(log2 max) + 1.</summary>
    Log,
    /// <summary>WEQ activations (docs/algorithms/weq.md, "Activation levels"): base 2^(step/16) and offset searched to maximize weighted entropy.</summary>
    WeightedLog,
    /// <summary>Evenly spaced levels 0, Δ, …, (N−1)·Δ up to the calibrated maximum: the equal-bits linear baseline.</summary>
    Uniform,
}
