using QuantBuild.Diagnostics;
using QuantBuild.Engine.Ops;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tensors;

namespace QuantBuild.Graph.Transforms;

/// <summary>What <see cref="IfInlining.Apply"/> did: Ifs replaced by their taken branch, and Ifs turned into a select.</summary>
public readonly record struct IfInliningSummary(int Folded, int Selected)
{
    public int Total => Folded + Selected;
}

/// <summary>
/// Removes ONNX <c>If</c> nodes so every later stage (engine, calibration, QDQ emission, lowering) sees one flat
/// graph (docs/control-flow.md). A condition that is a constant after folding (the usual case: it depends only on
/// shapes) selects one branch, whose nodes replace the If. A condition computed from the data (openWakeWord's
/// verifier gate) becomes a select: both branches are inlined and each If output is
/// <c>Where(condition, then output, else output)</c>. Branches are pure functions of the values they read, so the
/// selected values are exactly the If's, provided both branches can be evaluated at the model's shapes and return
/// the same shapes, which is checked where the file declares them and by shape inference.
/// </summary>
public static class IfInlining
{
    private const string ThenBranch = "then_branch", ElseBranch = "else_branch";

    public static IfInliningSummary Apply(ModelGraph graph)
    {
        int folded = 0, selected = 0;
        var ifs = graph.Nodes.Where(IsIf).ToList();
        if (ifs.Count == 0) return default;
        var used = UsedNames(graph);
        string baseDirectory = graph.SourcePath is null ? "" : Path.GetDirectoryName(Path.GetFullPath(graph.SourcePath)) ?? "";
        foreach (var node in ifs)
        {
            var thenBranch = Branch(graph, node, ThenBranch);
            var elseBranch = Branch(graph, node, ElseBranch);
            CheckOutputs(graph, node, thenBranch, elseBranch);
            var added = new List<Node>();
            var inliner = new BranchInliner(graph, node, used, baseDirectory, added);
            if ((graph.Initializers.TryGetValue(node.Inputs[0], out var condition) ? condition : ShapeCondition(graph, node)) is { } fixedCondition)
            {
                condition = fixedCondition;
                bool taken = ConditionValue(graph, node, condition);
                inliner.Inline(taken ? thenBranch : elseBranch, taken ? "then" : "else", node.Outputs);
                folded++;
            }
            else
            {
                var thenValues = inliner.Inline(thenBranch, "then", targets: null);
                var elseValues = inliner.Inline(elseBranch, "else", targets: null);
                // The condition holds one element of any rank ≤ 1; as a scalar it broadcasts to each output's own shape.
                var emptyShape = inliner.Fresh(node.Name + "/scalar_shape");
                graph.Initializers[emptyShape] = Tensor.FromInt64(Array.Empty<long>(), 0);
                var scalar = inliner.Fresh(node.Name + "/condition");
                added.Add(new Node(inliner.Fresh(node.Name + "/condition_scalar"), "Reshape", [node.Inputs[0], emptyShape], [scalar]));
                for (int k = 0; k < node.Outputs.Count; k++)
                {
                    if (node.Outputs[k].Length == 0) continue;
                    var select = new Node(inliner.Fresh($"{node.Name}/select_{k}"), "Where", [scalar, thenValues[k], elseValues[k]], [node.Outputs[k]]);
                    graph.IfSelects[select.Name] = node.Name;
                    added.Add(select);
                }
                selected++;
            }
            graph.Nodes.InsertRange(graph.Nodes.IndexOf(node), added);
            graph.Nodes.Remove(node);
        }
        graph.SortTopologically();
        // A folded If leaves the nodes that computed its condition (and the untaken branch's captures) unread.
        graph.RemoveDeadNodes();
        return new IfInliningSummary(folded, selected);
    }

    /// <summary>
    /// After shape inference: a selected If's two branch outputs must have the same shape, or Where's broadcasting
    /// would return a shape neither branch does. The file's declarations are checked earlier; this covers the rest.
    /// </summary>
    public static void CheckSelectShapes(ModelGraph graph)
    {
        foreach (var node in graph.Nodes)
        {
            if (!graph.IfSelects.TryGetValue(node.Name, out var ifName)) continue;
            if (!graph.ValueInfos.TryGetValue(node.Inputs[1], out var a) || !graph.ValueInfos.TryGetValue(node.Inputs[2], out var b)) continue;
            if (a.Shape is null || b.Shape is null) continue;
            bool differ = a.Shape.Length != b.Shape.Length || a.Shape.Zip(b.Shape).Any(d => d.First is long x && d.Second is long y && x != y);
            if (differ)
                throw new QuantBuildException(DiagnosticCodes.UnsupportedOperator,
                    $"If node '{ifName}': its condition depends on the input data and its branches return different shapes " +
                    $"({ShapeText(a.Shape)} and {ShapeText(b.Shape)}), which a static-shaped plan cannot hold", graph.SourcePath, node: ifName);
        }
    }

    public static bool IsIf(Node node) => node.OpType == "If" && node.Domain is "" or "ai.onnx";

    private static GraphProto Branch(ModelGraph graph, Node node, string name)
    {
        if (!node.Attributes.TryGetValue(name, out var a) || a.G is null)
            throw new QuantBuildException(DiagnosticCodes.InvalidAttribute, $"If node '{node.Name}' has no {name} graph", graph.SourcePath, node: node.Name);
        if (a.G.Input.Count > 0)
            throw new QuantBuildException(DiagnosticCodes.InvalidModel, $"If node '{node.Name}': its {name} declares inputs; If branches take none", graph.SourcePath, node: node.Name);
        return a.G;
    }

    /// <summary>Both branches return one tensor per If output; where both declare element type and shape, they agree.</summary>
    private static void CheckOutputs(ModelGraph graph, Node node, GraphProto thenBranch, GraphProto elseBranch)
    {
        QuantBuildException Fail(string why) => new(DiagnosticCodes.UnsupportedOperator, $"If node '{node.Name}': {why}", graph.SourcePath, node: node.Name);
        if (thenBranch.Output.Count != node.Outputs.Count || elseBranch.Output.Count != node.Outputs.Count)
            throw new QuantBuildException(DiagnosticCodes.InvalidModel,
                $"If node '{node.Name}' has {node.Outputs.Count} output(s) but its branches return {thenBranch.Output.Count} and {elseBranch.Output.Count}", graph.SourcePath, node: node.Name);
        for (int k = 0; k < node.Outputs.Count; k++)
        {
            var a = thenBranch.Output[k];
            var b = elseBranch.Output[k];
            foreach (var o in new[] { a, b })
                if (o.Type is { } t && t.ValueCase != TypeProto.ValueOneofCase.TensorType && t.ValueCase != TypeProto.ValueOneofCase.None)
                    throw Fail($"branch output '{o.Name}' is a {t.ValueCase}, not a tensor; QuantBuild inlines tensor-valued branches only");
            var ia = OnnxImporter.ToValueInfo(a);
            var ib = OnnxImporter.ToValueInfo(b);
            if (ia.Type != DataType.Undefined && ib.Type != DataType.Undefined && ia.Type != ib.Type)
                throw Fail($"output {k} is {DataTypes.Name(ia.Type)} in then_branch but {DataTypes.Name(ib.Type)} in else_branch");
            if (graph.Initializers.ContainsKey(node.Inputs[0]) || ia.Shape is null || ib.Shape is null) continue;
            if (ia.Shape.Length != ib.Shape.Length || ia.Shape.Zip(ib.Shape).Any(d => d.First is long x && d.Second is long y && x != y))
                throw Fail($"its condition depends on the input data and its branches return different shapes for output {k} " +
                           $"({ShapeText(ia.Shape)} and {ShapeText(ib.Shape)}), which a static-shaped plan cannot hold");
        }
    }

    /// <summary>
    /// The condition's value when it depends only on input shapes (Shape → Gather → Equal, as exporters write
    /// shape-dependent code) and every input shape is static: the nodes computing it run once on placeholder
    /// inputs. Null when it depends on input values or on a symbolic dimension (the If then becomes a select,
    /// which is correct for any value).
    /// </summary>
    private static Tensor? ShapeCondition(ModelGraph graph, Node node)
    {
        var condition = node.Inputs[0];
        if (graph.Inputs.Any(i => !i.IsFullyKnown) || Lowering.FloatKernelBinding.DataDependentValues(graph).Contains(condition)) return null;
        var producers = graph.Producers();
        var needed = new HashSet<Node>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<string>([condition]);
        while (pending.Count > 0)
        {
            if (!producers.TryGetValue(pending.Pop(), out var producer) || !needed.Add(producer)) continue;
            if (IsIf(producer)) return null; // decided once that If is inlined
            foreach (var input in producer.ReadNames) pending.Push(input);
        }
        var sub = new ModelGraph { OpsetVersion = graph.OpsetVersion, IrVersion = graph.IrVersion, SourcePath = graph.SourcePath };
        foreach (var (name, value) in graph.Initializers) sub.Initializers[name] = value;
        sub.Inputs.AddRange(graph.Inputs);
        sub.Nodes.AddRange(graph.Nodes.Where(needed.Contains));
        sub.Outputs.Add(new ValueInfo(condition, DataType.Undefined, null));
        var engine = new Engine.InferenceEngine(sub, new Engine.EngineOptions { MaxDegreeOfParallelism = 1 });
        return engine.Run(ShapeInference.SyntheticInputs(sub, null, 1))[condition];
    }

    private static string ShapeText(long?[] shape) => "[" + string.Join(",", shape.Select(d => d?.ToString() ?? "?")) + "]";

    private static bool ConditionValue(ModelGraph graph, Node node, Tensor condition)
    {
        if (condition.Length != 1)
            throw new QuantBuildException(DiagnosticCodes.InvalidInputValue,
                $"If node '{node.Name}': its condition '{node.Inputs[0]}' has {condition.Length} elements; it must hold exactly one", graph.SourcePath, node: node.Name);
        if (!CastKernel.IsSupported(condition.Type))
            throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType,
                $"If node '{node.Name}': its condition is {DataTypes.Name(condition.Type)}; it must be bool", graph.SourcePath, node: node.Name);
        return CastKernel.Convert(condition, DataType.Bool).Bools[0];
    }

    private static HashSet<string> UsedNames(ModelGraph graph)
    {
        var used = new HashSet<string>(graph.Initializers.Keys, StringComparer.Ordinal);
        foreach (var i in graph.Inputs) used.Add(i.Name);
        foreach (var o in graph.Outputs) used.Add(o.Name);
        foreach (var n in graph.Nodes)
        {
            used.Add(n.Name);
            used.UnionWith(n.Inputs);
            used.UnionWith(n.Outputs);
        }
        return used;
    }

    /// <summary>Copies a branch's initializers and nodes into the outer graph under fresh names.</summary>
    private sealed class BranchInliner(ModelGraph graph, Node ifNode, HashSet<string> used, string baseDirectory, List<Node> added)
    {
        public string Fresh(string stem)
        {
            var name = stem;
            for (int k = 1; !used.Add(name); k++) name = $"{stem}_{k}";
            return name;
        }

        /// <summary>
        /// Inlines <paramref name="branch"/>. With <paramref name="targets"/> (the If's outputs) each branch output is
        /// written under the If output's name; returns the names holding the branch outputs.
        /// </summary>
        public string[] Inline(GraphProto branch, string label, IReadOnlyList<string>? targets)
        {
            var defined = SubgraphScope.DefinedNames(branch);
            // One definition per name, as the importer requires of the outer graph (renaming would merge two).
            var definitions = branch.Initializer.Select(i => i.Name).Concat(branch.Node.SelectMany(n => n.Output).Where(o => o.Length > 0));
            if (definitions.GroupBy(n => n, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } twice)
                throw new QuantBuildException(DiagnosticCodes.DuplicateDefinition,
                    $"If node '{ifNode.Name}': its {label} branch defines '{twice.Key}' more than once", graph.SourcePath, node: ifNode.Name);
            var rename = new Dictionary<string, string>(StringComparer.Ordinal);
            var producedByNode = new HashSet<string>(branch.Node.Where(n => n.OpType != "Constant").SelectMany(n => n.Output), StringComparer.Ordinal);
            var copies = new List<(string From, string To)>();
            if (targets is not null)
                for (int k = 0; k < targets.Count; k++)
                {
                    var inner = branch.Output[k].Name;
                    if (targets[k].Length == 0) continue;
                    // A value the branch computes is written straight under the If's output name; a captured outer
                    // value, a constant or a value returned twice is copied by an Identity.
                    if (producedByNode.Contains(inner) && !rename.ContainsKey(inner)) rename[inner] = targets[k];
                    else copies.Add((inner, targets[k]));
                }
            foreach (var name in defined.Order(StringComparer.Ordinal))
                if (!rename.ContainsKey(name)) rename[name] = Fresh($"{ifNode.Name}/{label}/{name}");
            string Map(string name) => name.Length > 0 && rename.TryGetValue(name, out var to) ? to : name;

            foreach (var init in branch.Initializer)
                graph.Initializers[rename[init.Name]] = TensorProtoConverter.ToTensor(init, baseDirectory, graph.SourcePath);
            foreach (var np in branch.Node)
            {
                string nodeName = Fresh($"{ifNode.Name}/{label}/{(np.Name.Length > 0 ? np.Name : np.OpType)}");
                if (np.OpType == "Constant" && np.Domain is "" or "ai.onnx")
                {
                    if (np.Output.Count != 1 || np.Output[0].Length == 0)
                        throw new QuantBuildException(DiagnosticCodes.InvalidModel, $"Constant node '{nodeName}' must have exactly one named output", graph.SourcePath, node: nodeName);
                    graph.Initializers[Map(np.Output[0])] = OnnxImporter.ConstantValue(np, nodeName, baseDirectory, graph.SourcePath);
                    continue;
                }
                var node = new Node(nodeName, np.OpType, np.Input.Select(Map), np.Output.Select(Map), np.Domain == "ai.onnx" ? "" : np.Domain) { Source = np };
                foreach (var a in np.Attribute)
                    node.Attributes[a.Name] = a.G is null && a.Graphs.Count == 0 ? a : RenameCaptured(a, rename);
                added.Add(node);
            }
            foreach (var (from, to) in copies)
                added.Add(new Node(Fresh($"{ifNode.Name}/{label}/output_{to}"), "Identity", [Map(from)], [to]));
            return branch.Output.Select(o => Map(o.Name)).ToArray();
        }

        /// <summary>A nested subgraph attribute whose reads of the inlined branch's values follow their new names.</summary>
        private static AttributeProto RenameCaptured(AttributeProto attribute, Dictionary<string, string> rename)
        {
            var copy = attribute.Clone();
            if (copy.G is not null) RenameIn(copy.G, rename);
            foreach (var g in copy.Graphs) RenameIn(g, rename);
            return copy;
        }

        private static void RenameIn(GraphProto graph, Dictionary<string, string> rename)
        {
            // Names this subgraph defines shadow nothing (ONNX forbids it), so only its outer reads change.
            var defined = SubgraphScope.DefinedNames(graph);
            string Map(string name) => !defined.Contains(name) && rename.TryGetValue(name, out var to) ? to : name;
            foreach (var n in graph.Node)
            {
                for (int i = 0; i < n.Input.Count; i++) n.Input[i] = Map(n.Input[i]);
                foreach (var a in n.Attribute)
                {
                    if (a.G is not null) RenameIn(a.G, rename);
                    foreach (var g in a.Graphs) RenameIn(g, rename);
                }
            }
            foreach (var o in graph.Output) o.Name = Map(o.Name);
        }
    }
}
