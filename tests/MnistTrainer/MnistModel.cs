using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.MnistTrainer;

/// <summary>
/// The digit classifier as a QuantBuild graph. Every trainable parameter is a graph initializer,
/// so the engine's backward pass gives its gradient by name and the exporter writes it as-is.
/// <code>
/// input [N,1,28,28] → Conv(1→16,3×3,pad 1) → Relu → MaxPool 2×2
///                   → Conv(16→32,3×3,pad 1) → Relu → MaxPool 2×2
///                   → Flatten → Gemm(1568→64) → Relu → Gemm(64→10) → logits [N,10]
/// </code>
/// </summary>
public static class MnistModel
{
    public const string InputName = "input";
    public const string OutputName = "logits";
    public const int Opset = 13;
    public const long IrVersion = 7;

    private const int Conv1Channels = 16;
    private const int Conv2Channels = 32;
    private const int HiddenUnits = 64;
    private const int FlatFeatures = Conv2Channels * 7 * 7;

    /// <summary>Builds the graph with freshly initialised parameters (deterministic for a given seed).</summary>
    public static ModelGraph Build(int seed)
    {
        var graph = new ModelGraph { Name = "mnist_cnn", OpsetVersion = Opset, IrVersion = IrVersion };
        graph.Inputs.Add(new ValueInfo(InputName, DataType.Float, [null, 1, 28, 28], ["N", null, null, null]));
        graph.Outputs.Add(new ValueInfo(OutputName, DataType.Float, [null, 10], ["N", null]));

        var rng = new Random(seed);
        // He initialisation (std = sqrt(2 / fan_in)) for layers followed by Relu; the logits layer has
        // no Relu after it, so it gets std = sqrt(1 / fan_in) to start with unit-scale logits.
        AddParameter(graph, "conv1.weight", HeNormal(rng, [Conv1Channels, 1, 3, 3], fanIn: 1 * 9, gain: 2));
        AddParameter(graph, "conv1.bias", Tensor.Zeros(Conv1Channels));
        AddParameter(graph, "conv2.weight", HeNormal(rng, [Conv2Channels, Conv1Channels, 3, 3], fanIn: Conv1Channels * 9, gain: 2));
        AddParameter(graph, "conv2.bias", Tensor.Zeros(Conv2Channels));
        // Gemm with transB=1 stores weights as [out, in], the layout PyTorch and most exporters use.
        AddParameter(graph, "fc1.weight", HeNormal(rng, [HiddenUnits, FlatFeatures], fanIn: FlatFeatures, gain: 2));
        AddParameter(graph, "fc1.bias", Tensor.Zeros(HiddenUnits));
        AddParameter(graph, "fc2.weight", HeNormal(rng, [10, HiddenUnits], fanIn: HiddenUnits, gain: 1));
        AddParameter(graph, "fc2.bias", Tensor.Zeros(10));

        var conv1 = Add(graph, "conv1", "Conv", [InputName, "conv1.weight", "conv1.bias"], "conv1_out");
        SetConv3x3(conv1);
        Add(graph, "relu1", "Relu", ["conv1_out"], "relu1_out");
        SetPool2x2(Add(graph, "pool1", "MaxPool", ["relu1_out"], "pool1_out"));

        var conv2 = Add(graph, "conv2", "Conv", ["pool1_out", "conv2.weight", "conv2.bias"], "conv2_out");
        SetConv3x3(conv2);
        Add(graph, "relu2", "Relu", ["conv2_out"], "relu2_out");
        SetPool2x2(Add(graph, "pool2", "MaxPool", ["relu2_out"], "pool2_out"));

        Add(graph, "flatten", "Flatten", ["pool2_out"], "flat").SetInt("axis", 1);
        Add(graph, "fc1", "Gemm", ["flat", "fc1.weight", "fc1.bias"], "fc1_out").SetInt("transB", 1);
        Add(graph, "relu3", "Relu", ["fc1_out"], "relu3_out");
        Add(graph, "fc2", "Gemm", ["relu3_out", "fc2.weight", "fc2.bias"], OutputName).SetInt("transB", 1);
        return graph;
    }

    /// <summary>Names of the trainable initializers, in graph order.</summary>
    public static IReadOnlyList<string> ParameterNames(ModelGraph graph) => graph.Initializers.Keys.ToList();

    private static void AddParameter(ModelGraph graph, string name, Tensor value) => graph.Initializers[name] = value;

    private static Node Add(ModelGraph graph, string name, string opType, string[] inputs, string output)
    {
        var node = new Node(name, opType, inputs, [output]);
        graph.Nodes.Add(node);
        return node;
    }

    private static void SetConv3x3(Node conv)
    {
        conv.SetInts("kernel_shape", [3, 3]);
        conv.SetInts("pads", [1, 1, 1, 1]);
        conv.SetInts("strides", [1, 1]);
    }

    private static void SetPool2x2(Node pool)
    {
        pool.SetInts("kernel_shape", [2, 2]);
        pool.SetInts("strides", [2, 2]);
    }

    /// <summary>Normal(0, gain / fanIn) samples via Box–Muller on the seeded generator.</summary>
    private static Tensor HeNormal(Random rng, int[] shape, int fanIn, double gain)
    {
        var data = new float[(int)Tensor.ElementCount(shape)];
        double std = Math.Sqrt(gain / fanIn);
        for (int i = 0; i < data.Length; i++)
        {
            double u1 = 1.0 - rng.NextDouble(); // (0,1]: log stays finite
            double u2 = rng.NextDouble();
            data[i] = (float)(std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return Tensor.FromFloats(data, shape);
    }
}
