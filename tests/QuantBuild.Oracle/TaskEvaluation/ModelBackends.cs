using QuantBuild.Compilation;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;

namespace QuantBuild.Oracle.TaskEvaluation;

/// <summary>
/// Runs a one-input model on a stack of samples (axis 0) and returns its first output stacked the same
/// way. The task evaluations only need single-input models, and stacking lets ONNX Runtime take a whole
/// data set in one process.
/// </summary>
public interface IModelBackend
{
    string Name { get; }

    /// <param name="samples">[count, ...one sample's shape without its batch of 1]; every sample runs as a batch of 1.</param>
    Tensor RunEach(Tensor samples);
}

/// <summary>Splits and stacks along axis 0, for the in-process backends that run one sample at a time.</summary>
internal static class Stacking
{
    public static float[][] Rows(Tensor samples)
    {
        var all = samples.ToFloatArray();
        int count = samples.Shape[0], size = all.Length / count;
        var rows = new float[count][];
        for (int i = 0; i < count; i++) rows[i] = all.AsSpan(i * size, size).ToArray();
        return rows;
    }

    public static Tensor Stack(IReadOnlyList<Tensor> outputs)
    {
        var first = outputs[0];
        var data = new float[first.Length * outputs.Count];
        for (int i = 0; i < outputs.Count; i++) outputs[i].ToFloatArray().CopyTo(data, i * first.Length);
        var shape = first.Shape.ToArray();
        shape[0] *= outputs.Count;
        return Tensor.FromFloats(data, shape);
    }

    /// <summary>One sample with the model's batch of 1 put back in front.</summary>
    public static int[] SampleShape(Tensor samples) => [1, .. samples.Shape.AsSpan(1)];
}

/// <summary>Our float reference engine on the graph as a build prepares it (constants and BatchNormalization folded).</summary>
public sealed class EngineBackend : IModelBackend
{
    private readonly InferenceEngine _engine;
    private readonly string _input;
    private readonly string _output;

    public EngineBackend(string modelPath)
    {
        var graph = OnnxImporter.Load(modelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        _engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 1 });
        _input = graph.Inputs.Single().Name;
        _output = graph.Outputs[0].Name;
        Name = "engine:" + Path.GetFileName(modelPath);
    }

    public string Name { get; }

    public Tensor RunEach(Tensor samples)
    {
        var shape = Stacking.SampleShape(samples);
        var outputs = Stacking.Rows(samples)
            .Select(row => _engine.Run(new Dictionary<string, Tensor> { [_input] = Tensor.FromFloats(row, shape) })[_output])
            .ToList();
        return Stacking.Stack(outputs);
    }
}

/// <summary>Our integer runtime: the lowered plan run by <see cref="IntegerModelRunner"/>, the kernels the generated C# calls.</summary>
public sealed class IntegerBackend(KernelPlan calls, string name) : IModelBackend
{
    private readonly IntegerModelRunner _runner = new(calls);
    private readonly IntegerPlan plan = calls.Plan;

    public string Name { get; } = "int:" + name;

    public Tensor RunEach(Tensor samples)
    {
        var input = plan.Inputs.Single();
        var output = plan.Outputs[0].Name;
        var outputs = Stacking.Rows(samples)
            .Select(row => _runner.Run(new Dictionary<string, Tensor> { [input.Name] = Tensor.FromFloats(row, input.Shape) })[output])
            .ToList();
        return Stacking.Stack(outputs);
    }
}

/// <summary>ONNX Runtime in process: the whole stack in one session, one Run per sample.</summary>
public sealed class OrtBackend(OrtOracle oracle, string modelPath, string inputName, string outputName) : IModelBackend
{
    public string Name { get; } = "ort:" + Path.GetFileName(modelPath);

    public Tensor RunEach(Tensor samples) =>
        oracle.RunChunked(modelPath, new Dictionary<string, Tensor> { [inputName] = samples }, [outputName], chunk: 1)[outputName];
}
