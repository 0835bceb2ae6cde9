using System.Diagnostics;
using System.Globalization;
using QuantBuild.Configuration;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Quantization.Eptq;

/// <summary>What one EPTQ run did, for the report, the notes and the tests.</summary>
/// <param name="Interest">layer outputs the distillation loss compares (one per quantized layer)</param>
/// <param name="LayerWeights">their weights in the loss (mean 1)</param>
/// <param name="InitialLoss">distillation loss over all optimization samples with nearest rounding</param>
/// <param name="FinalLoss">the same with the final hard-rounded weights, learned scales and biases</param>
/// <param name="LossCurve">the mini-batch distillation loss along the optimization, as (last step of a bucket, mean over the bucket):
/// at most <see cref="EptqOptimizer.CurvePoints"/> buckets of consecutive steps, for the report's chart</param>
public sealed record EptqResult(IReadOnlyList<string> Interest, IReadOnlyList<double> LayerWeights, int Layers, int Iterations,
    double InitialLoss, double FinalLoss, double FlippedFraction, TimeSpan Elapsed, IReadOnlyList<(int Step, double Loss)>? LossCurve = null);

/// <summary>
/// EPTQ (docs/algorithms/eptq.md): after every layer whose method is "eptq" has nearest-rounded linear codes,
/// optimizes all of them jointly — rounding, per-channel step sizes and biases — to make the quantized
/// student's layer outputs match the float teacher's on the calibration samples, each layer's squared
/// error normalized by its output energy and weighted by its label-free Hessian trace. Gradients come
/// from the engine's backward pass through a student graph with fake-quantized activations. The
/// result replaces those layers' <see cref="WeightQuantization"/> and the biases in the prepared graph,
/// so lowering and both emitters read it like any linear quantization.
/// </summary>
public static class EptqOptimizer
{
    public const string Method = "eptq";
    public const WeightMethod Quantizer = WeightMethod.Eptq;

    /// <summary>Teacher outputs are kept between steps while they fit in this many floats (256 MB).</summary>
    private const long TeacherCacheFloats = 64L << 20;

    /// <summary>Points of the loss curve kept for the report (steps are averaged in buckets beyond that).</summary>
    public const int CurvePoints = 100;

    public static bool Applies(QuantizedModel model) => model.Weights.Values.Any(w => w.Quantizer == Quantizer);

    public static EptqResult Run(QuantizedModel model, QuantizationContext context)
    {
        var clock = Stopwatch.StartNew();
        var options = context.Settings.Eptq;
        var graph = context.Graph;
        var progress = context.Progress;
        var consumers = graph.Consumers();

        var layers = new List<EptqLayer>();
        foreach (var node in graph.Nodes)
        {
            if (!model.Weights.TryGetValue(node.Name, out var wq) || wq.Quantizer != Quantizer || wq.Encoding != WeightEncoding.Linear) continue;
            // A weight or bias another node also reads cannot change for this layer alone.
            if (consumers.TryGetValue(wq.WeightName, out var readers) && readers.Count > 1) continue;
            string? biasName = null;
            float[]? bias = null;
            if (node.OpType is "Conv" or "ConvTranspose" or "Gemm" && node.HasInput(2) && graph.Initializers.TryGetValue(node.Inputs[2], out var b)
                && b.Type == DataType.Float && consumers[node.Inputs[2]].Count == 1)
            {
                biasName = node.Inputs[2];
                bias = b.Floats;
            }
            layers.Add(new EptqLayer(node, wq, graph.Initializers[wq.WeightName].Floats, biasName, bias,
                new EptqSettingsView(options.LearningRate, options.ParameterLearningRate)));
        }
        var interest = graph.Nodes.Where(n => model.Weights.ContainsKey(n.Name) && n.Outputs.Count > 0 && n.Outputs[0].Length > 0)
            .Select(n => n.Outputs[0]).Distinct(StringComparer.Ordinal).ToList();
        if (layers.Count == 0 || interest.Count == 0)
            return new EptqResult(interest, [], 0, 0, 0, 0, 0, clock.Elapsed);

        var samples = context.Samples(options.Samples).Select(s => s.Feeds).ToList();
        progress?.Report($"eptq: {layers.Count} layers, {interest.Count} compared outputs, {samples.Count} samples, {options.Iterations} steps, hessian {(options.Hessian == EptqHessian.Uniform ? "uniform" : "label-free")}");
        var teacher = new InferenceEngine(graph, context.EngineOptions);

        var weights = LayerWeights(teacher, samples, interest, options, progress);

        var student = StudentGraph.Build(graph, model);
        // Layers quantized by other methods are fixed at their quantized values.
        foreach (var (nodeName, wq) in model.Weights)
            if (wq.Quantizer != Quantizer || !layers.Any(l => l.Node.Name == nodeName))
                student.Initializers[wq.WeightName] = Tensor.FromFloats(wq.Dequantize(), wq.Shape);
        var studentEngine = new InferenceEngine(student, context.EngineOptions);
        var loss = new DistillationLoss(teacher, studentEngine, interest, weights, Batches(graph, samples, options));

        void Load(bool hard)
        {
            foreach (var layer in layers)
            {
                student.Initializers[layer.WeightName] = layer.Weights(hard);
                if (layer.BiasName is not null) student.Initializers[layer.BiasName] = layer.BiasTensor(graph.Initializers[layer.BiasName].Shape)!;
            }
        }

        Load(hard: true);
        double initialLoss = loss.Evaluate();
        progress?.Report($"eptq: distillation loss with nearest rounding {initialLoss:G4}");

        var wrt = layers.Select(l => l.WeightName).Concat(layers.Where(l => l.BiasName is not null).Select(l => l.BiasName!)).ToList();
        int total = options.Iterations;
        int reportEvery = Math.Max(1, total / 10);
        var order = new Random(options.Seed);
        int[] batchOrder = [];
        var stepLosses = new double[total];
        for (int step = 0; step < total; step++)
        {
            int position = step % loss.BatchCount;
            if (position == 0) batchOrder = Shuffled(loss.BatchCount, order);
            double beta = SoftRounding.Beta(step, total);
            Load(hard: false);
            var (distill, grads) = loss.Gradient(batchOrder[position], wrt);
            stepLosses[step] = distill;
            foreach (var layer in layers)
                layer.Step(grads[layer.WeightName].Floats, layer.BiasName is null ? null : grads[layer.BiasName].Floats,
                    beta, options.Regularization, options.LearnScales, options.LearnBiases);
            Compilation.StageProgress.Advance(progress, "eptq", step + 1, total);
            if ((step + 1) % reportEvery == 0 || step + 1 == total)
            {
                double reg = layers.Sum(l => l.Regularizer(beta));
                progress?.Report(string.Create(CultureInfo.InvariantCulture,
                    $"eptq: step {step + 1}/{total}, distillation {distill:G4}, rounding {reg:G4} (β {beta:F1}), {clock.Elapsed.TotalSeconds:F0}s"));
            }
        }

        Load(hard: true);
        double finalLoss = loss.Evaluate();
        long flipped = 0, count = 0;
        foreach (var layer in layers)
        {
            model.Weights[layer.Node.Name] = layer.Finalize();
            if (layer.BiasName is not null && options.LearnBiases)
                graph.Initializers[layer.BiasName] = layer.BiasTensor(graph.Initializers[layer.BiasName].Shape)!;
            flipped += (long)Math.Round(layer.FlippedFraction() * layer.Count);
            count += layer.Count;
        }
        var result = new EptqResult(interest, weights, layers.Count, total, initialLoss, finalLoss, count == 0 ? 0 : (double)flipped / count, clock.Elapsed,
            Curve(stepLosses));
        model.Eptq = result;
        progress?.Report(string.Create(CultureInfo.InvariantCulture,
            $"eptq: done in {clock.Elapsed.TotalSeconds:F1}s; distillation loss {initialLoss:G4} (nearest) -> {finalLoss:G4}; {100 * result.FlippedFraction:F1}% of weights rounded the other way"));
        model.Notes["eptq.hessian"] = options.Hessian == EptqHessian.Uniform ? "uniform" : "label-free";
        model.Notes["eptq.iterations"] = total.ToString(CultureInfo.InvariantCulture);
        model.Notes["eptq.samples"] = samples.Count.ToString(CultureInfo.InvariantCulture);
        model.Notes["eptq.seed"] = options.Seed.ToString(CultureInfo.InvariantCulture);
        model.Notes["eptq.loss"] = string.Create(CultureInfo.InvariantCulture, $"{initialLoss:G6} -> {finalLoss:G6}");
        return result;
    }

    /// <summary>Step losses averaged over at most <see cref="CurvePoints"/> equal buckets of consecutive steps (in step order: deterministic).</summary>
    private static List<(int Step, double Loss)> Curve(double[] losses)
    {
        var curve = new List<(int, double)>();
        int buckets = Math.Min(CurvePoints, losses.Length);
        for (int b = 0; b < buckets; b++)
        {
            int from = (int)((long)b * losses.Length / buckets), to = (int)((long)(b + 1) * losses.Length / buckets);
            double sum = 0;
            for (int i = from; i < to; i++) sum += losses[i];
            curve.Add((to, sum / Math.Max(1, to - from)));
        }
        return curve;
    }

    /// <summary>Weights of the compared outputs (docs/algorithms/eptq.md, "Normalization"), rescaled to mean 1 so both weightings meet the regularizer on equal terms.</summary>
    private static double[] LayerWeights(InferenceEngine teacher, List<IReadOnlyDictionary<string, Tensor>> samples, List<string> interest,
        EptqSettings options, IProgress<string>? progress)
    {
        double[] weights;
        if (options.Hessian == EptqHessian.Uniform || options.Iterations == 0)
            weights = interest.Select(_ => 1.0).ToArray();
        else
        {
            var hessianSamples = samples.Take(options.HessianSamples).ToList();
            var scores = LabelFreeHessian.Scores(teacher, hessianSamples, interest, options.HessianProbes, options.Seed, progress);
            weights = LabelFreeHessian.LogNormalize(scores);
            if (options.HessianFloor) weights = LabelFreeHessian.WithFloor(weights);
        }
        double mean = weights.Average();
        weights = weights.Select(w => w / mean).ToArray();
        progress?.Report("eptq: layer weights " + string.Join(", ", interest.Select((name, i) => string.Create(CultureInfo.InvariantCulture, $"{name} {weights[i]:F2}"))));
        return weights;
    }

    private static int[] Shuffled(int count, Random random)
    {
        var order = Enumerable.Range(0, count).ToArray();
        for (int i = count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>
    /// Fixed groups of samples (one seeded shuffle), each a list of engine feeds: one feed holding the
    /// whole group concatenated along the batch axis when every input's batch dimension is free, else
    /// one feed per sample (gradients are then summed over them).
    /// </summary>
    private static List<List<IReadOnlyDictionary<string, Tensor>>> Batches(ModelGraph graph, List<IReadOnlyDictionary<string, Tensor>> samples, EptqSettings options)
    {
        var order = Shuffled(samples.Count, new Random(options.Seed ^ 0x5eed));
        bool batchable = graph.Inputs.All(i => i.Shape is { Length: > 0 } s && s[0] is null);
        var result = new List<List<IReadOnlyDictionary<string, Tensor>>>();
        int size = Math.Max(1, Math.Min(options.BatchSize, samples.Count));
        for (int start = 0; start < order.Length; start += size)
        {
            var group = order.Skip(start).Take(size).Select(i => samples[i]).ToList();
            result.Add(batchable && group.Count > 1 ? [Concatenate(group)] : group);
        }
        return result;
    }

    private static IReadOnlyDictionary<string, Tensor> Concatenate(List<IReadOnlyDictionary<string, Tensor>> group)
    {
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in group[0].Keys)
        {
            var parts = group.Select(g => g[name]).ToList();
            int rows = parts.Sum(p => p.Shape[0]);
            var shape = (int[])parts[0].Shape.Clone();
            shape[0] = rows;
            var data = new float[parts.Sum(p => p.Length)];
            int offset = 0;
            foreach (var p in parts)
            {
                p.Floats.CopyTo(data, offset);
                offset += p.Length;
            }
            feeds[name] = Tensor.FromFloats(data, shape);
        }
        return feeds;
    }

    /// <summary>
    /// Σ_i w_i · ||Z_i^q − Z_i^f||² / ||Z_i^f||² / n over the compared outputs (MCT's normalized form; docs/algorithms/eptq.md, "Distillation loss"),
    /// averaged over the feeds of a batch, and its gradient through the student.
    /// </summary>
    private sealed class DistillationLoss(InferenceEngine teacher, InferenceEngine student, List<string> interest, double[] weights,
        List<List<IReadOnlyDictionary<string, Tensor>>> batches)
    {
        private readonly Dictionary<(int, int), Dictionary<string, Tensor>> _targets = new();
        private long _cachedFloats;

        public int BatchCount => batches.Count;

        private Dictionary<string, Tensor> Targets(int batch, int feed)
        {
            if (_targets.TryGetValue((batch, feed), out var cached)) return cached;
            var targets = teacher.Run(batches[batch][feed], interest);
            long floats = interest.Sum(n => (long)targets[n].Length);
            if (_cachedFloats + floats <= TeacherCacheFloats)
            {
                _targets[(batch, feed)] = targets;
                _cachedFloats += floats;
            }
            return targets;
        }

        /// <summary>The loss over every batch with the student's current initializers (no gradient).</summary>
        public double Evaluate()
        {
            double sum = 0;
            for (int b = 0; b < batches.Count; b++)
                for (int f = 0; f < batches[b].Count; f++)
                {
                    var outputs = student.Run(batches[b][f], interest);
                    sum += Loss(Targets(b, f), name => outputs[name], seeds: null) / batches[b].Count;
                }
            return sum / batches.Count;
        }

        public (double Loss, Dictionary<string, Tensor> Gradients) Gradient(int batch, List<string> wrt)
        {
            double total = 0;
            Dictionary<string, Tensor>? sum = null;
            int feeds = batches[batch].Count;
            for (int f = 0; f < feeds; f++)
            {
                var trace = student.Forward(batches[batch][f]);
                var seeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                total += Loss(Targets(batch, f), name => trace[name], seeds) / feeds;
                var grads = student.Backward(trace, seeds, wrt);
                // Copies: the engine may hand out arrays it shares with other gradients.
                if (sum is null) sum = grads.ToDictionary(kv => kv.Key, kv => Tensor.FromFloats((float[])kv.Value.Floats.Clone(), kv.Value.Shape), StringComparer.Ordinal);
                else
                    foreach (var name in wrt)
                    {
                        var acc = sum[name].Floats;
                        var g = grads[name].Floats;
                        for (int k = 0; k < acc.Length; k++) acc[k] += g[k];
                    }
            }
            if (feeds > 1)
                foreach (var name in wrt)
                {
                    var acc = sum![name].Floats;
                    for (int k = 0; k < acc.Length; k++) acc[k] /= feeds;
                }
            return (total, sum!);
        }

        private double Loss(Dictionary<string, Tensor> targets, Func<string, Tensor> actual, Dictionary<string, Tensor>? seeds)
        {
            double loss = 0;
            for (int i = 0; i < interest.Count; i++)
            {
                var zf = targets[interest[i]].Floats;
                var zq = actual(interest[i]);
                var q = zq.Floats;
                double energy = 1e-12, error = 0;
                for (int k = 0; k < zf.Length; k++)
                {
                    energy += (double)zf[k] * zf[k];
                    double d = q[k] - zf[k];
                    error += d * d;
                }
                double factor = weights[i] / interest.Count;
                loss += factor * error / energy;
                if (seeds is not null)
                {
                    var g = new float[q.Length];
                    double scale = factor * 2 / energy;
                    for (int k = 0; k < g.Length; k++) g[k] = (float)(scale * (q[k] - zf[k]));
                    seeds[interest[i]] = Tensor.FromFloats(g, zq.Shape);
                }
            }
            return loss;
        }
    }
}
