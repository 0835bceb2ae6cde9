using QuantBuild.Graph;

namespace QuantBuild.MnistTrainer;

/// <summary>
/// Adam (Kingma &amp; Ba) over the graph's initializers. Each step writes a NEW tensor into
/// <see cref="ModelGraph.Initializers"/>: tensors are immutable values in QuantBuild, and a trace
/// from the previous forward pass may still reference the old one.
/// </summary>
public sealed class AdamOptimizer
{
    private readonly Dictionary<string, float[]> _firstMoment = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float[]> _secondMoment = new(StringComparer.Ordinal);
    private int _step;

    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;

    public void Step(ModelGraph graph, IReadOnlyDictionary<string, Tensor> gradients, double learningRate)
    {
        _step++;
        // Bias corrections folded into the step size, as in the paper's efficient form.
        double correction1 = 1 - Math.Pow(Beta1, _step);
        double correction2 = 1 - Math.Pow(Beta2, _step);
        float stepSize = (float)(learningRate * Math.Sqrt(correction2) / correction1);
        float epsilon = (float)(Epsilon * Math.Sqrt(correction2));
        float b1 = (float)Beta1, b2 = (float)Beta2;

        foreach (var (name, gradient) in gradients)
        {
            var current = graph.Initializers[name];
            var g = gradient.Floats;
            var w = current.Floats;
            if (g.Length != w.Length) throw new InvalidOperationException($"gradient of '{name}' has {g.Length} values, the parameter {w.Length}");
            if (!_firstMoment.TryGetValue(name, out var m)) _firstMoment[name] = m = new float[w.Length];
            if (!_secondMoment.TryGetValue(name, out var v)) _secondMoment[name] = v = new float[w.Length];
            var updated = new float[w.Length];
            for (int i = 0; i < w.Length; i++)
            {
                m[i] = b1 * m[i] + (1 - b1) * g[i];
                v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
                updated[i] = w[i] - stepSize * m[i] / (MathF.Sqrt(v[i]) + epsilon);
            }
            graph.Initializers[name] = Tensor.FromFloats(updated, current.Shape);
        }
    }
}
