using QuantBuild.Engine;

namespace QuantBuild.Graph.Transforms;

/// <summary>
/// Evaluates nodes whose inputs are all constants and replaces them with initializers, so
/// weight-preprocessing subgraphs (transposes, reshapes, casts of exported weights) vanish before
/// quantization and the quantizers see the tensors the model really multiplies by.
/// </summary>
public static class ConstantFolding
{
    /// <summary>Folding must not blow a small model up (ConstantOfShape can make huge tensors).</summary>
    public const int MaxFoldedElements = 1 << 22;

    /// <returns>the number of nodes folded</returns>
    public static int Apply(ModelGraph graph, ParallelOptions? parallel = null)
    {
        parallel ??= new ParallelOptions { MaxDegreeOfParallelism = 1 };
        int folded = 0;
        foreach (var node in graph.Nodes.ToList())
        {
            if (!OpRegistry.IsSupported(node)) continue;
            if (node.Inputs.Count == 0 && node.OpType != "ConstantOfShape") continue;
            if (!node.Inputs.All(i => i.Length == 0 || graph.IsConstant(i))) continue;
            if (node.Outputs.Any(graph.IsGraphOutput)) continue; // keep the model's interface as declared

            var kernel = OpRegistry.Create(node, new KernelContext(graph.OpsetVersion,
                k => node.HasInput(k) ? graph.Initializers[node.Inputs[k]] : null, parallel));
            var inputs = node.Inputs.Select(i => i.Length == 0 ? null : graph.Initializers[i]).ToArray();
            var outputs = kernel.Forward(inputs);
            if (outputs.Any(o => o.Length > MaxFoldedElements)) continue;
            for (int k = 0; k < node.Outputs.Count && k < outputs.Length; k++)
                if (node.Outputs[k].Length > 0) graph.Initializers[node.Outputs[k]] = outputs[k];
            graph.Nodes.Remove(node);
            folded++;
        }
        if (folded > 0) graph.RemoveDeadNodes();
        return folded;
    }
}
