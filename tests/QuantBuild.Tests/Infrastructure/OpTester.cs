using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Tests.Infrastructure;

/// <summary>
/// Builds a one-node graph and runs it through the real engine, so op tests exercise the same
/// path a model does (kernel construction, attribute parsing, engine plumbing).
/// </summary>
public static class OpTester
{
    public static ModelGraph SingleNodeGraph(string opType, Tensor?[] inputs, int outputCount = 1, Action<Node>? configure = null, int opset = 17, IReadOnlyDictionary<int, Tensor>? constants = null)
    {
        var g = new ModelGraph { OpsetVersion = opset, IrVersion = 8, Name = "test" };
        var inputNames = new List<string>();
        for (int i = 0; i < inputs.Length; i++)
        {
            if (inputs[i] is null) { inputNames.Add(""); continue; }
            var name = $"in{i}";
            inputNames.Add(name);
            if (constants is not null && constants.TryGetValue(i, out var c)) g.Initializers[name] = c;
            else g.Inputs.Add(new ValueInfo(name, inputs[i]!.Type, inputs[i]!.Shape.Select(d => (long?)d).ToArray()));
        }
        var outputs = Enumerable.Range(0, outputCount).Select(i => $"out{i}").ToList();
        var node = new Node("node0", opType, inputNames, outputs);
        configure?.Invoke(node);
        g.Nodes.Add(node);
        foreach (var o in outputs) g.Outputs.Add(new ValueInfo(o, DataType.Undefined, null));
        return g;
    }

    /// <summary>Runs one op; inputs listed in <paramref name="constantInputs"/> become initializers (as shapes, axes and weights usually are).</summary>
    public static Tensor[] Run(string opType, Tensor?[] inputs, int outputCount = 1, Action<Node>? configure = null, int opset = 17, params int[] constantInputs)
    {
        var constants = constantInputs.ToDictionary(i => i, i => inputs[i]!);
        var g = SingleNodeGraph(opType, inputs, outputCount, configure, opset, constants);
        var engine = new InferenceEngine(g);
        var feeds = new Dictionary<string, Tensor>();
        for (int i = 0; i < inputs.Length; i++)
            if (inputs[i] is not null && !constants.ContainsKey(i)) feeds[$"in{i}"] = inputs[i]!;
        var result = engine.Run(feeds);
        return Enumerable.Range(0, outputCount).Select(i => result[$"out{i}"]).ToArray();
    }

    public static AttributeProto Ints(string name, params long[] v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public static Tensor Random(Random rng, float scale, params int[] shape)
    {
        var data = new float[(int)Tensor.ElementCount(shape)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return Tensor.FromFloats(data, shape);
    }
}
