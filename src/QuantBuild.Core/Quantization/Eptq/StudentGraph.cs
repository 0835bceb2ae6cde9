using QuantBuild.Engine.Ops;
using QuantBuild.Graph;

namespace QuantBuild.Quantization.Eptq;

/// <summary>
/// The quantized "student" EPTQ trains: a copy of the prepared graph in which every quantized activation
/// passes through a fake quantizer with its calibrated (fixed) scale and zero point, and whose weight and
/// bias initializers the optimizer replaces before each run. Value names of the original graph keep
/// their meaning (a fake-quantized copy of X is named X + <see cref="Suffix"/>), so the teacher's and the
/// student's layer outputs are compared by name.
/// </summary>
public static class StudentGraph
{
    public const string Suffix = "::eptq_fq";

    public static ModelGraph Build(ModelGraph graph, QuantizedModel model)
    {
        var student = new ModelGraph { OpsetVersion = graph.OpsetVersion, IrVersion = graph.IrVersion, Name = graph.Name + "_eptq_student", SourcePath = graph.SourcePath };
        foreach (var (name, t) in graph.Initializers) student.Initializers[name] = t;
        student.Inputs.AddRange(graph.Inputs);
        student.Outputs.AddRange(graph.Outputs);
        foreach (var (name, vi) in graph.ValueInfos) student.ValueInfos[name] = vi;

        var quantized = model.Activations.Keys.Where(a => !graph.IsConstant(a)).ToHashSet(StringComparer.Ordinal);
        string Read(string name) => quantized.Contains(name) ? name + Suffix : name;

        void AddFakeQuant(string name)
        {
            var a = model.Activations[name];
            var fq = new Node($"{name}{Suffix}_node", FakeQuantizeKernel.OpType, [name], [name + Suffix]);
            fq.SetFloat("scale", a.Scale);
            fq.SetInt("zero_point", a.ZeroPoint);
            fq.SetInt("qmin", a.QMin);
            fq.SetInt("qmax", a.QMax);
            student.Nodes.Add(fq);
        }

        foreach (var input in graph.Inputs)
            if (quantized.Contains(input.Name)) AddFakeQuant(input.Name);
        foreach (var node in graph.Nodes)
        {
            // A quantized value reaches every reader quantized, float nodes included (they see its dequantized form).
            var copy = new Node(node.Name, node.OpType, node.Inputs.Select(i => i.Length == 0 ? i : Read(i)), node.Outputs, node.Domain);
            foreach (var (k, v) in node.Attributes) copy.Attributes[k] = v;
            student.Nodes.Add(copy);
            foreach (var o in node.Outputs)
                if (o.Length > 0 && quantized.Contains(o)) AddFakeQuant(o);
        }
        return student;
    }
}
