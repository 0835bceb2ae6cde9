using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Quantization.Eptq;

/// <summary>
/// Label-free Hessian traces (docs/algorithms/eptq.md, "Label-free Hessian estimator" and "Normalization"): for each interest tensor z, a Hutchinson estimate
/// of E_x ||∂ŷ/∂z||_F², i.e. the Gauss–Newton trace of the Hessian of an MSE output loss, which needs no
/// label. One probe v (Rademacher, E[vvᵀ] = I) at the output and one backward pass give v·∂ŷ/∂z for
/// every tensor at once; Σ (v·∂ŷ/∂z)² is an unbiased estimate of the trace.
/// </summary>
public static class LabelFreeHessian
{
    /// <summary>Probes before the stopping rule may fire, and its relative tolerance on the running mean.</summary>
    public const int MinProbes = 10;
    public const double Tolerance = 1e-3;

    /// <summary>
    /// The values ŷ the traces are taken against: the graph outputs, except that an output computed by a
    /// trailing Softmax/LogSoftmax is replaced by that node's input (the logits), as MCT does.
    /// </summary>
    public static List<string> OutputValues(ModelGraph graph)
    {
        var producers = graph.Producers();
        var result = new List<string>();
        foreach (var output in graph.Outputs)
        {
            string name = output.Name;
            if (producers.TryGetValue(name, out var node) && node.OpType is "Softmax" or "LogSoftmax" && node.HasInput(0)) name = node.Inputs[0];
            if (!result.Contains(name)) result.Add(name);
        }
        return result;
    }

    /// <summary>
    /// Per-sample traces for each of <paramref name="interest"/>, each sample's scores divided by their sum
    /// (docs/algorithms/eptq.md, "Label-free Hessian estimator"), averaged over the samples. A tensor the output does not depend on scores 0.
    /// </summary>
    public static double[] Scores(InferenceEngine engine, IReadOnlyList<IReadOnlyDictionary<string, Tensor>> samples,
        IReadOnlyList<string> interest, int maxProbes, int seed, IProgress<string>? progress = null)
    {
        var outputs = OutputValues(engine.Graph);
        var average = new double[interest.Count];
        for (int s = 0; s < samples.Count; s++)
        {
            var raw = SampleTraces(engine, samples[s], outputs, interest, maxProbes, seed * 1_000_003 + s);
            double sum = raw.Sum();
            if (sum > 0)
                for (int i = 0; i < raw.Length; i++) average[i] += raw[i] / sum / samples.Count;
            progress?.Report($"eptq: label-free Hessian, sample {s + 1}/{samples.Count}");
        }
        return average;
    }

    /// <summary>Hutchinson estimates of ||∂ŷ/∂z||_F² for one sample, times 2/D (the MSE output Hessian).</summary>
    public static double[] SampleTraces(InferenceEngine engine, IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string> outputs,
        IReadOnlyList<string> interest, int maxProbes, int seed)
    {
        var trace = engine.Forward(feeds);
        var random = new Random(seed);
        long dimension = outputs.Sum(o => (long)trace[o].Length);
        var mean = new double[interest.Count];
        for (int probe = 1; probe <= maxProbes; probe++)
        {
            var seeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var o in outputs)
            {
                var v = new float[trace[o].Length];
                for (int k = 0; k < v.Length; k++) v[k] = random.Next(2) == 0 ? -1f : 1f;
                seeds[o] = Tensor.FromFloats(v, trace[o].Shape);
            }
            var grads = engine.Backward(trace, seeds, interest);
            double worstChange = 0;
            for (int i = 0; i < interest.Count; i++)
            {
                double t = 0;
                foreach (var g in grads[interest[i]].Floats) t += (double)g * g;
                double next = mean[i] + (t - mean[i]) / probe;
                worstChange = Math.Max(worstChange, Math.Abs(next - mean[i]) / (Math.Abs(next) + 1e-6));
                mean[i] = next;
            }
            if (probe > MinProbes && worstChange < Tolerance) break;
        }
        for (int i = 0; i < mean.Length; i++) mean[i] *= 2.0 / Math.Max(1, dimension);
        return mean;
    }

    /// <summary>
    /// Log normalization (docs/algorithms/eptq.md, "Normalization"): zero scores take the smallest non-zero score, then
    /// w_i = log10(ℓ_i) − min_k log10(ℓ_k), so the least sensitive tensor weighs 0. A single tensor weighs 1;
    /// all scores zero (nothing reaches the output) gives uniform weights.
    /// </summary>
    public static double[] LogNormalize(double[] scores)
    {
        if (scores.Length == 1) return [1.0];
        var positive = scores.Where(s => s > 0).ToArray();
        if (positive.Length == 0) return scores.Select(_ => 1.0).ToArray();
        double floor = positive.Min();
        var logs = scores.Select(s => Math.Log10(s > 0 ? s : floor)).ToArray();
        double min = logs.Min();
        var weights = logs.Select(l => l - min).ToArray();
        // Every tensor exactly as sensitive as the others: uniform.
        return weights.All(w => w == 0) ? scores.Select(_ => 1.0).ToArray() : weights;
    }

    /// <summary>
    /// The optional floor (docs/algorithms/eptq.md, "Normalization"; MCT's <c>LfhFloor</c>): weights scaled to [0, 1] plus 1/n each, so the least
    /// sensitive layer still sees some distillation signal instead of only the rounding regularizer.
    /// </summary>
    public static double[] WithFloor(double[] weights)
    {
        double max = weights.Max();
        if (max <= 0) return weights.Select(_ => 1.0).ToArray();
        return weights.Select(w => w / max + 1.0 / weights.Length).ToArray();
    }
}
