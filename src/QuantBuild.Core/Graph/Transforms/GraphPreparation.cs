namespace QuantBuild.Graph.Transforms;

/// <summary>What <see cref="GraphPreparation.Prepare"/> changed, for the report and the log.</summary>
public sealed record PreparationSummary(int ConstantsFolded, int BatchNormsFolded, int NodesBefore, int NodesAfter, int IfsInlined = 0);

/// <summary>The import pipeline every command uses: fold constants, inline If branches, fold BatchNormalization, infer shapes.</summary>
public static class GraphPreparation
{
    public static PreparationSummary Prepare(ModelGraph graph, bool inferShapes = true, IReadOnlyDictionary<string, int>? bindings = null)
    {
        // Unsupported operators are reported before anything is computed (folding runs kernels).
        Engine.InferenceEngine.ValidateOperators(graph);
        int before = graph.Nodes.Count;
        int constants = ConstantFolding.Apply(graph);
        // If conditions usually become constants in the first fold; inlined branches may hold more constants and
        // nested Ifs, so fold and inline until none is left (each round removes at least one If).
        int ifs = 0;
        for (var inlined = IfInlining.Apply(graph); inlined.Total > 0; inlined = IfInlining.Apply(graph))
        {
            ifs += inlined.Total;
            // Branch nodes are now graph nodes: check their arity before folding runs their kernels.
            Engine.InferenceEngine.ValidateOperators(graph);
            constants += ConstantFolding.Apply(graph);
        }
        int bn = BatchNormFolding.Apply(graph);
        // Folding BN can make new constant-only subgraphs (rare); one more pass is cheap.
        if (bn > 0) constants += ConstantFolding.Apply(graph);
        graph.SortTopologically();
        if (inferShapes) ShapeInference.Apply(graph, bindings);
        return new PreparationSummary(constants, bn, before, graph.Nodes.Count, ifs);
    }
}
