using QuantBuild.Engine;
using QuantBuild.Graph;

namespace QuantBuild.Tests.Infrastructure;

/// <summary>
/// Checks a node's backward pass against central finite differences of L = Σ seed·output,
/// evaluated through the real engine. Forward math is float32, so the comparison uses a tolerance
/// relative to the largest gradient entry.
/// </summary>
public static class GradientCheck
{
    /// <param name="differentiable">indices of inputs whose gradients are checked</param>
    /// <param name="constantInputs">indices of inputs fed as initializers (shapes, axes)</param>
    public static void Check(string opType, Tensor?[] inputs, int[] differentiable, Action<Node>? configure = null,
        int outputCount = 1, int opset = 17, double tolerance = 2e-2, float step = 1e-2f, int seed = 1234, int[]? constantInputs = null, int maxProbes = 64)
    {
        constantInputs ??= Array.Empty<int>();
        var constants = constantInputs.ToDictionary(i => i, i => inputs[i]!);
        var g = OpTester.SingleNodeGraph(opType, inputs, outputCount, configure, opset, constants);
        var engine = new InferenceEngine(g, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var rng = new Random(seed);

        Dictionary<string, Tensor> Feeds(Tensor?[] values)
        {
            var f = new Dictionary<string, Tensor>();
            for (int i = 0; i < values.Length; i++)
                if (values[i] is not null && !constants.ContainsKey(i)) f[$"in{i}"] = values[i]!;
            return f;
        }

        var trace = engine.Forward(Feeds(inputs));
        var seeds = new Dictionary<string, Tensor>();
        for (int o = 0; o < outputCount; o++)
        {
            var y = trace[$"out{o}"];
            if (y.Type != DataType.Float) continue;
            seeds[$"out{o}"] = OpTester.Random(rng, 1f, y.Shape);
        }
        var grads = engine.Backward(trace, seeds, differentiable.Select(i => $"in{i}"));

        double Loss(Tensor?[] values)
        {
            var r = engine.Run(Feeds(values));
            double sum = 0;
            foreach (var (name, s) in seeds)
            {
                var y = r[name].Floats;
                var sv = s.Floats;
                for (int k = 0; k < y.Length; k++) sum += (double)y[k] * sv[k];
            }
            return sum;
        }

        foreach (var i in differentiable)
        {
            var x = inputs[i]!;
            var analytic = grads[$"in{i}"].Floats;
            Assert.AreEqual(x.Length, analytic.Length, $"{opType}: gradient of input {i} has the wrong size");
            double maxAbs = analytic.Length == 0 ? 0 : analytic.Max(v => Math.Abs((double)v));
            // Probe a deterministic subset of entries for large inputs.
            var positions = Enumerable.Range(0, x.Length).ToList();
            if (positions.Count > maxProbes) positions = positions.OrderBy(_ => rng.Next()).Take(maxProbes).ToList();
            foreach (var p in positions)
            {
                var plus = x.Clone(); plus.Floats[p] += step;
                var minus = x.Clone(); minus.Floats[p] -= step;
                var vp = (Tensor?[])inputs.Clone(); vp[i] = plus;
                var vm = (Tensor?[])inputs.Clone(); vm[i] = minus;
                double numeric = (Loss(vp) - Loss(vm)) / (2.0 * step);
                double err = Math.Abs(numeric - analytic[p]);
                double scale = Math.Max(1.0, maxAbs);
                Assert.IsTrue(err <= tolerance * scale,
                    $"{opType}: d/d(input {i})[{p}] analytic {analytic[p]:G6} vs numeric {numeric:G6} (|err| {err:G3} > {tolerance * scale:G3})");
            }
        }
    }
}
