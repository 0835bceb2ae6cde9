namespace QuantBuild.Quantization;

/// <summary>
/// Which weight quantizer produced (or is asked to produce) a layer's weights. Code that behaves
/// differently per quantizer branches on this type; the sidecar and the report use <see cref="WeightMethods.Name"/>.
/// </summary>
public enum WeightMethod
{
    /// <summary>Uniform grid, per-channel scale (docs/algorithms/linear.md).</summary>
    Linear,
    /// <summary>Power-of-two levels, a codebook (docs/algorithms/logquant.md).</summary>
    Log,
    /// <summary>Weighted-entropy levels, a codebook (docs/algorithms/weq.md).</summary>
    Weq,
    /// <summary>Extra points on the worst channels (docs/algorithms/multipoint.md).</summary>
    Multipoint,
    /// <summary>Hessian-weighted rounding (docs/algorithms/eptq.md).</summary>
    Eptq,
    /// <summary>Read back from a QDQ file whose metadata names no method we know: behaves by its encoding only.</summary>
    Imported,
}

/// <summary>The sidecar names of <see cref="WeightMethod"/> and the labels recorded in reports and QDQ metadata.</summary>
public static class WeightMethods
{
    /// <summary>Names a sidecar may select, in <see cref="WeightMethod"/> order.</summary>
    public static readonly string[] Names = ["linear", "log", "weq", "multipoint", "eptq"];

    public static string Name(WeightMethod method) => method == WeightMethod.Imported ? "imported" : Names[(int)method];

    /// <summary>The method of a sidecar name or of a recorded label ("linear-mse" is linear with MSE scales); unknown labels are <see cref="WeightMethod.Imported"/>.</summary>
    public static WeightMethod FromLabel(string label)
    {
        if (label == "linear-mse") return WeightMethod.Linear;
        int i = Array.IndexOf(Names, label);
        return i >= 0 ? (WeightMethod)i : WeightMethod.Imported;
    }
}
