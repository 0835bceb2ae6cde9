using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Tensors;

namespace QuantBuild.Graph.Transforms;

/// <summary>
/// Fills <see cref="ModelGraph.ValueInfos"/> with the element type and shape of every value.
/// Every supported op's kernel already implements ONNX's shape rules for concrete shapes, so
/// inference runs the graph on synthetic inputs rather than keeping a second copy of each rule.
/// It runs twice, binding symbolic dimensions (batch "N", width "W"...) to two different sizes: a
/// dimension that comes out equal in both runs is static, one that differs stays symbolic.
/// </summary>
public static class ShapeInference
{
    /// <param name="bindings">sizes for symbolic input dimensions by name (unnamed unknown dims use the defaults)</param>
    public static void Apply(ModelGraph graph, IReadOnlyDictionary<string, int>? bindings = null, ParallelOptions? parallel = null)
    {
        var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = parallel?.MaxDegreeOfParallelism ?? 1 });
        // Only types and shapes are kept, so each value is released after its last reader: bound to a
        // calibration sample's size (a 640x640 image) a full trace of every value would be gigabytes.
        Dictionary<string, (DataType Type, int[] Shape)> ShapesOf(int variant)
        {
            var shapes = new Dictionary<string, (DataType, int[])>(StringComparer.Ordinal);
            engine.Run(SyntheticInputs(graph, bindings, variant), observe: null, (name, t) => shapes[name] = (t.Type, t.Shape));
            return shapes;
        }
        var first = ShapesOf(1);
        bool hasSymbolic = graph.Inputs.Any(i => i.Shape is null || !i.IsFullyKnown);
        var second = hasSymbolic ? ShapesOf(2) : first;

        foreach (var (name, t) in first)
        {
            if (graph.Initializers.ContainsKey(name)) continue;
            var other = second.TryGetValue(name, out var o) ? o : t;
            int rank = t.Shape.Length;
            var dims = new long?[rank];
            string?[] dimParams = new string?[rank];
            for (int d = 0; d < rank; d++)
            {
                if (other.Shape.Length == rank && other.Shape[d] == t.Shape[d]) dims[d] = t.Shape[d];
                else dimParams[d] = $"{name}_d{d}";
            }
            if (graph.Inputs.FirstOrDefault(i => i.Name == name) is { } declared)
            {
                // Keep the model's own names for its input dimensions.
                declared.Type = t.Type;
                continue;
            }
            var info = new ValueInfo(name, t.Type, dims, dimParams);
            if (graph.Outputs.FirstOrDefault(x => x.Name == name) is { } output)
            {
                output.Type = t.Type;
                if (output.Shape is null || output.Shape.Length != rank) { output.Shape = dims; output.DimParams = dimParams; }
                else for (int d = 0; d < rank; d++) output.Shape[d] ??= dims[d];
            }
            graph.ValueInfos[name] = info;
        }
        IfInlining.CheckSelectShapes(graph);
    }

    /// <summary>
    /// A zero-filled input of <paramref name="input"/>'s declared type (float when undeclared) and the given
    /// dimensions. Type and dimensions come from the model file, so both are checked before anything is
    /// allocated: a type without storage is QB1003, a size over the limits QB2009, each naming the model.
    /// </summary>
    internal static Tensor DeclaredInput(ModelGraph graph, ValueInfo input, long[] dims)
    {
        var type = input.Type == DataType.Undefined ? DataType.Float : input.Type;
        if (!Enum.IsDefined(type) || type == DataType.String)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType,
                $"graph input '{input.Name}' has element type {(int)input.Type}, which QuantBuild cannot feed", graph.SourcePath);
        try
        {
            TensorLimits.CheckedElementCount(type, dims, $"model input '{input.Name}'");
        }
        catch (QuantBuildException e)
        {
            throw new QuantBuildException(e.Code, e.Message, graph.SourcePath, inner: e);
        }
        return Tensor.Create(type, Array.ConvertAll(dims, d => (int)d));
    }

    /// <summary>Inputs of the declared types and shapes; symbolic dimensions bound to <paramref name="variant"/>-dependent sizes.</summary>
    public static Dictionary<string, Tensor> SyntheticInputs(ModelGraph graph, IReadOnlyDictionary<string, int>? bindings, int variant)
    {
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var input in graph.Inputs)
        {
            var dims = input.Shape?.Select((d, i) =>
                d is long v ? v
                : input.DimParams?[i] is string p && bindings is not null && bindings.TryGetValue(p, out var b) ? b
                : variant == 1 ? 1L : 3L).ToArray() ?? Array.Empty<long>();
            var t = DeclaredInput(graph, input, dims);
            // Small non-zero values keep Log/Div/Sqrt finite; integer inputs stay zero (valid indices).
            if (t.Data is float[] f) Array.Fill(f, 0.5f);
            feeds[input.Name] = t;
        }
        return feeds;
    }
}
