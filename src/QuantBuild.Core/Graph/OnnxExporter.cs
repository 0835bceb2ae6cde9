using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;

namespace QuantBuild.Graph;

/// <summary>Writes a <see cref="ModelGraph"/> back to an ONNX <see cref="ModelProto"/>.</summary>
public static class OnnxExporter
{
    public static ModelProto Export(ModelGraph graph, int? opsetVersion = null, string producer = "QuantBuild")
    {
        var model = new ModelProto
        {
            IrVersion = Math.Max(graph.IrVersion, 3),
            ProducerName = producer,
            ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
            Graph = new GraphProto { Name = graph.Name.Length > 0 ? graph.Name : "graph" },
        };
        var source = graph.SourceModel;
        if (source is not null)
        {
            model.Domain = source.Domain;
            model.ModelVersion = source.ModelVersion;
            model.DocString = source.DocString;
            model.MetadataProps.AddRange(source.MetadataProps.Select(p => p.Clone()));
            model.Functions.AddRange(source.Functions.Select(f => f.Clone()));
            foreach (var o in source.OpsetImport)
                if (o.Domain is not ("" or "ai.onnx")) model.OpsetImport.Add(o.Clone());
        }
        model.OpsetImport.Insert(0, new OperatorSetIdProto { Domain = "", Version = opsetVersion ?? graph.OpsetVersion });

        var g = model.Graph;
        foreach (var (name, tensor) in graph.Initializers)
            g.Initializer.Add(TensorProtoConverter.FromTensor(tensor, name));
        foreach (var i in graph.Inputs) g.Input.Add(ToProto(i));
        foreach (var o in graph.Outputs) g.Output.Add(ToProto(o));
        foreach (var vi in graph.ValueInfos.Values.OrderBy(v => v.Name, StringComparer.Ordinal))
            if (!graph.Initializers.ContainsKey(vi.Name) && graph.Inputs.All(i => i.Name != vi.Name) && graph.Outputs.All(o => o.Name != vi.Name))
                g.ValueInfo.Add(ToProto(vi));
        foreach (var n in graph.Nodes)
        {
            var np = new NodeProto { Name = n.Name, OpType = n.OpType, Domain = n.Domain, DocString = n.Source?.DocString ?? "" };
            np.Input.AddRange(n.Inputs);
            np.Output.AddRange(n.Outputs);
            foreach (var a in n.Attributes.Values) np.Attribute.Add(a.Clone());
            g.Node.Add(np);
        }
        return model;
    }

    public static ValueInfoProto ToProto(ValueInfo vi)
    {
        var tt = new TypeProto.Types.Tensor { ElemType = (int)vi.Type };
        if (vi.Shape is not null)
        {
            tt.Shape = new TensorShapeProto();
            for (int i = 0; i < vi.Shape.Length; i++)
            {
                var d = new TensorShapeProto.Types.Dimension();
                if (vi.Shape[i] is long v) d.DimValue = v;
                else if (vi.DimParams?[i] is string p) d.DimParam = p;
                tt.Shape.Dim.Add(d);
            }
        }
        return new ValueInfoProto { Name = vi.Name, Type = new TypeProto { TensorType = tt } };
    }
}
