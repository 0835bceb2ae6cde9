using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Quantization;
using QuantBuild.Runtime;

namespace QuantBuild.Tests.Lowering;

/// <summary>
/// TEST FIXTURE, not the product quantizer (that lives on another branch): builds a
/// <see cref="QuantizedModel"/> the simplest way so lowering, the integer runner and the C# emitter can
/// be tested on real models. Weights of Conv/Gemm/MatMul: per-channel symmetric on the restricted grid
/// (±127 for int8, ±7 for int4). Activations: asymmetric int8 from the min/max the float engine sees on
/// the given calibration inputs.
/// </summary>
public static class TestQuantizer
{
    public static QuantizedModel Quantize(string modelPath, IEnumerable<Dictionary<string, Tensor>> calibration, int weightBits = 8, Func<Node, bool>? keepFloat = null)
    {
        var graph = OnnxImporter.Load(modelPath);
        GraphPreparation.Prepare(graph);
        return Quantize(graph, calibration, weightBits, keepFloat);
    }

    public static QuantizedModel Quantize(ModelGraph graph, IEnumerable<Dictionary<string, Tensor>> calibration, int weightBits = 8, Func<Node, bool>? keepFloat = null)
    {
        var model = new QuantizedModel(graph);
        var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 2 });
        var min = new Dictionary<string, float>(StringComparer.Ordinal);
        var max = new Dictionary<string, float>(StringComparer.Ordinal);
        foreach (var feeds in calibration)
        {
            var trace = engine.Forward(feeds);
            foreach (var (name, value) in trace.Values)
            {
                if (value.Type != DataType.Float || graph.Initializers.ContainsKey(name)) continue;
                var data = value.Floats;
                float lo = data.Length == 0 ? 0 : data.Min(), hi = data.Length == 0 ? 0 : data.Max();
                min[name] = min.TryGetValue(name, out var m) ? Math.Min(m, lo) : lo;
                max[name] = max.TryGetValue(name, out var x) ? Math.Max(x, hi) : hi;
            }
        }
        foreach (var name in min.Keys.Order(StringComparer.Ordinal))
        {
            var q = QuantParams.FromRange(min[name], max[name], -128, 127, symmetric: false);
            model.Activations[name] = new ActivationQuantization(name, q.Scale, q.ZeroPoint);
        }
        foreach (var node in graph.Nodes)
        {
            if (keepFloat?.Invoke(node) == true) { model.FloatNodes.Add(node.Name); continue; }
            int axis;
            switch (node.OpType)
            {
                case "Conv": axis = 0; break;
                case "Gemm": axis = node.GetInt("transB", 0) != 0 ? 0 : 1; break;
                case "MatMul": axis = 1; break;
                default: continue;
            }
            if (!node.HasInput(1) || !graph.Initializers.TryGetValue(node.Inputs[1], out var weight)) continue;
            if (node.OpType == "MatMul" && weight.Rank != 2) continue;
            model.Weights[node.Name] = QuantizeWeight(node, weight, axis, weightBits);
        }
        return model;
    }

    public static WeightQuantization QuantizeWeight(Node node, Tensor weight, int axis, int bits)
    {
        int qmax = (1 << (bits - 1)) - 1;
        var w = weight.Floats;
        int channels = weight.Shape[axis];
        int inner = 1;
        for (int d = axis + 1; d < weight.Rank; d++) inner *= weight.Shape[d];
        var absMax = new float[channels];
        for (int i = 0; i < w.Length; i++)
        {
            int c = i / inner % channels;
            absMax[c] = Math.Max(absMax[c], Math.Abs(w[i]));
        }
        var scales = absMax.Select(a => a > 0 ? a / qmax : 1f).ToArray();
        var codes = new sbyte[w.Length];
        for (int i = 0; i < w.Length; i++)
            codes[i] = (sbyte)Math.Clamp((int)MathF.Round(w[i] / scales[i / inner % channels], MidpointRounding.ToEven), -qmax, qmax);
        return new WeightQuantization
        {
            NodeName = node.Name,
            WeightName = node.Inputs[1],
            Shape = weight.Shape.ToArray(),
            Axis = axis,
            Bits = bits,
            Codes = codes,
            Scales = scales,
        };
    }
}
