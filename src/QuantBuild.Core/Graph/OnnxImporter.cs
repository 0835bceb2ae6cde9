using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Graph;

/// <summary>
/// Turns an ONNX <see cref="ModelProto"/> into a <see cref="ModelGraph"/>: initializers decoded
/// (including external data), Constant nodes turned into initializers, graph inputs that merely
/// name an initializer (IR &lt; 4 style) dropped from the input list, and the nodes sorted.
/// Models of opset 1..6 are rewritten to opset-7 form by <see cref="Transforms.LegacyOpsetUpgrade"/>.
/// </summary>
public static class OnnxImporter
{
    public const int MinOpset = 1;
    public const int MaxOpset = 21;

    public static ModelGraph Load(string path)
    {
        var model = OnnxModelFile.Load(path);
        return Import(model, Path.GetDirectoryName(Path.GetFullPath(path)), path);
    }

    public static ModelGraph Import(ModelProto model, string? baseDirectory = null, string? sourcePath = null)
    {
        var g = model.Graph;
        var graph = new ModelGraph
        {
            IrVersion = model.IrVersion,
            Name = g.Name,
            SourcePath = sourcePath,
            SourceModel = model,
        };
        var opset = model.OpsetImport.FirstOrDefault(o => o.Domain is "" or "ai.onnx");
        if (opset is null)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedOpset, "the model imports no default ONNX opset", sourcePath);
        graph.OpsetVersion = (int)opset.Version;
        if (graph.OpsetVersion < MinOpset || graph.OpsetVersion > MaxOpset)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedOpset, $"opset {graph.OpsetVersion} is outside the supported range {MinOpset}..{MaxOpset}", sourcePath);

        foreach (var init in g.Initializer)
            graph.Initializers[init.Name] = TensorProtoConverter.ToTensor(init, baseDirectory, sourcePath);
        if (g.SparseInitializer.Count > 0)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, "sparse initializers are not supported", sourcePath);

        // Every value has exactly one definition (SSA): an input declared twice or a tensor two nodes write
        // would otherwise be resolved silently by whichever definition a consumer happens to see.
        var definedBy = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in graph.Initializers.Keys) definedBy[name] = $"initializer '{name}'";
        foreach (var input in g.Input)
        {
            if (graph.Initializers.ContainsKey(input.Name)) continue;
            if (!definedBy.TryAdd(input.Name, $"graph input '{input.Name}'"))
                throw new QuantBuildException(DiagnosticCodes.DuplicateDefinition, $"graph input '{input.Name}' is declared more than once", sourcePath);
            graph.Inputs.Add(ToValueInfo(input));
        }
        foreach (var output in g.Output)
            graph.Outputs.Add(ToValueInfo(output));
        foreach (var vi in g.ValueInfo)
            graph.ValueInfos[vi.Name] = ToValueInfo(vi);

        int index = 0;
        foreach (var np in g.Node)
        {
            string name = np.Name.Length > 0 ? np.Name : $"{np.OpType}_{index}";
            index++;
            foreach (var output in np.Output)
                if (output.Length > 0 && !definedBy.TryAdd(output, $"{np.OpType} node '{name}'"))
                    throw new QuantBuildException(DiagnosticCodes.DuplicateDefinition,
                        $"{np.OpType} node '{name}' writes '{output}', which {definedBy[output]} already defines", sourcePath, node: name);
            if (np.OpType == "Constant" && np.Domain is "" or "ai.onnx")
            {
                if (np.Output.Count != 1 || np.Output[0].Length == 0)
                    throw new QuantBuildException(DiagnosticCodes.InvalidModel, $"Constant node '{name}' must have exactly one named output", sourcePath, node: name);
                graph.Initializers[np.Output[0]] = ConstantValue(np, name, baseDirectory, sourcePath);
                continue;
            }
            var node = new Node(name, np.OpType, np.Input, np.Output, np.Domain == "ai.onnx" ? "" : np.Domain) { Source = np };
            foreach (var a in np.Attribute) node.Attributes[a.Name] = a;
            graph.Nodes.Add(node);
        }
        graph.SortTopologically();
        Transforms.LegacyOpsetUpgrade.Apply(graph);
        return graph;
    }

    /// <summary>The value of a Constant node, whichever of its value attributes is set.</summary>
    internal static Tensor ConstantValue(NodeProto np, string name, string? baseDirectory, string? file)
    {
        foreach (var a in np.Attribute)
        {
            switch (a.Name)
            {
                // A "value" attribute without a tensor in it falls through to the error below.
                case "value" when a.T is not null: return TensorProtoConverter.ToTensor(a.T, baseDirectory, file);
                case "value_float": return Tensor.Scalar(a.F);
                case "value_floats": return Tensor.FromFloats(a.Floats.ToArray(), a.Floats.Count);
                case "value_int": return new Tensor(DataType.Int64, ReadOnlySpan<int>.Empty, new[] { a.I });
                case "value_ints": return Tensor.FromInt64(a.Ints.ToArray(), a.Ints.Count);
            }
        }
        throw new QuantBuildException(DiagnosticCodes.InvalidAttribute, $"Constant node '{name}' has no value attribute QuantBuild can read (sparse or string constants are not supported)", file, node: name);
    }

    public static ValueInfo ToValueInfo(ValueInfoProto vi)
    {
        var tt = vi.Type?.TensorType;
        if (tt is null) return new ValueInfo(vi.Name, DataType.Undefined, null);
        if (tt.Shape is null) return new ValueInfo(vi.Name, (DataType)tt.ElemType, null);
        var dims = new long?[tt.Shape.Dim.Count];
        var names = new string?[dims.Length];
        for (int i = 0; i < dims.Length; i++)
        {
            var d = tt.Shape.Dim[i];
            if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue && d.DimValue >= 0) dims[i] = d.DimValue;
            else if (d.ValueCase == TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam) names[i] = d.DimParam;
        }
        return new ValueInfo(vi.Name, (DataType)tt.ElemType, dims, names);
    }
}
