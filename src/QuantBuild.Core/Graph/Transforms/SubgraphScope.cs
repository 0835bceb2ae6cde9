using QuantBuild.Onnx.Proto;

namespace QuantBuild.Graph.Transforms;

/// <summary>Name scoping of ONNX subgraphs (If's branches): what a subgraph defines and what it reads from outside.</summary>
public static class SubgraphScope
{
    /// <summary>Names a subgraph defines itself: its inputs, initializers and node outputs (not those of deeper subgraphs).</summary>
    public static HashSet<string> DefinedNames(GraphProto graph)
    {
        var defined = new HashSet<string>(StringComparer.Ordinal);
        foreach (var i in graph.Input) defined.Add(i.Name);
        foreach (var i in graph.Initializer) defined.Add(i.Name);
        foreach (var n in graph.Node)
            foreach (var o in n.Output)
                if (o.Length > 0) defined.Add(o);
        return defined;
    }

    /// <summary>
    /// Outer-scope names the subgraphs read (node inputs and graph outputs they do not define), including
    /// those nested subgraphs read through them; sorted, so every order built from it is deterministic.
    /// </summary>
    public static IReadOnlyCollection<string> FreeNames(IEnumerable<GraphProto> graphs)
    {
        var free = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var g in graphs) Collect(g, free);
        return free;
    }

    private static void Collect(GraphProto graph, SortedSet<string> free)
    {
        var defined = DefinedNames(graph);
        void Read(string name)
        {
            if (name.Length > 0 && !defined.Contains(name)) free.Add(name);
        }
        foreach (var n in graph.Node)
        {
            foreach (var i in n.Input) Read(i);
            foreach (var a in n.Attribute)
            {
                var nested = new SortedSet<string>(StringComparer.Ordinal);
                if (a.G is not null) Collect(a.G, nested);
                foreach (var g in a.Graphs) Collect(g, nested);
                foreach (var name in nested) Read(name);
            }
        }
        foreach (var o in graph.Output) Read(o.Name);
    }
}
