using System.Diagnostics;
using System.Globalization;
using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Graph.Transforms;
using QuantBuild.Quantization.MixedPrecision;
using QuantBuild.Tensors;

namespace QuantBuild.Quantization;

/// <summary>What one pipeline run produced besides the model: inputs it read and how long each stage took.</summary>
/// <param name="SampleShapes">the concrete shape of one sample per model input (from the first calibration
/// file; batch 1), which fixes symbolic dimensions such as an image width for the statically shaped
/// integer plan</param>
public sealed record PipelineResult(QuantizedModel Model, QuantizationSettings Settings, IReadOnlyList<string> CalibrationFilesRead,
    IReadOnlyDictionary<string, ActivationRange> Ranges, IReadOnlyList<(string Stage, TimeSpan Elapsed)> Timings,
    IReadOnlyDictionary<string, int[]> SampleShapes)
{
    /// <summary>The sidecar's verify samples, resolved and checked with the calibration files (null without verify).</summary>
    public CalibrationPlan? VerifyPlan { get; init; }
}

/// <summary>
/// import → prepare (fold, infer shapes) → opset upgrade (≥ 13, for QDQ) → calibrate → quantize.
/// Checks are ordered so that the cheapest, most fundamental errors come first: unsupported operators,
/// then configuration (layers naming no node, calibration files), and only then the calibration run.
/// </summary>
public static class QuantizationPipeline
{
    /// <summary>
    /// The float model as the pipeline prepares it before quantizing (imported, constants folded, dead nodes
    /// removed, shapes inferred), with the calibration plan: the reference the build measures its outputs against.
    /// Prepared afresh so that passes which change the graph's floats (EPTQ, bias correction) do not leak into it.
    /// </summary>
    public static ModelGraph PrepareReference(string modelPath, QuantizationSettings settings, out CalibrationPlan calibration)
    {
        var graph = LoadPrepared(modelPath);
        calibration = CalibrationPlan.Resolve(graph, settings);
        InferShapes(graph, calibration);
        return graph;
    }

    /// <summary>The model imported with its constants folded and the dead nodes folding leaves behind removed.</summary>
    private static ModelGraph LoadPrepared(string modelPath)
    {
        var graph = OnnxImporter.Load(modelPath);
        GraphPreparation.Prepare(graph, inferShapes: false);
        // Folding leaves the originals of folded constants (BatchNormalization parameters, pre-fold weights) behind.
        graph.RemoveDeadNodes();
        return graph;
    }

    public static PipelineResult Run(string modelPath, QuantizationSettings settings, EngineOptions? engineOptions = null, IProgress<string>? progress = null)
    {
        var timings = new List<(string, TimeSpan)>();
        var clock = Stopwatch.StartNew();
        var graph = LoadPrepared(modelPath);
        var originalOpset = graph.OpsetVersion;
        var plan = PlanNodes(graph, settings);
        CheckWeightsFinite(graph, plan, modelPath);
        var calibrationPlan = CalibrationPlan.Resolve(graph, settings);
        var verifyPlan = ResolveVerify(graph, settings, calibrationPlan);
        InferShapes(graph, calibrationPlan);
        // 4-bit weights are stored as INT4 (two per byte), which DequantizeLinear accepts from opset 21.
        // The opset is settled before mixed precision chooses widths, so that everything the generated
        // runtime cannot run is reported before the long sensitivity and calibration runs.
        bool mayUseInt4 = plan.Weighted.Any(w => w.Settings.Bits <= 4) || settings.BitCandidates.Any(b => b <= 4);
        int targetOpset = mayUseInt4 ? OpsetUpgrade.Int4Opset : OpsetUpgrade.QdqMinimumOpset;
        if (graph.OpsetVersion < targetOpset)
        {
            OpsetUpgrade.Apply(graph, targetOpset);
            InferShapes(graph, calibrationPlan);
            plan = PlanNodes(graph, settings);
        }
        if (settings.Outputs.CSharp) CheckGeneratedRuntimeCoverage(graph, settings);
        var context = new QuantizationContext(graph, settings, calibrationPlan, modelPath, engineOptions, progress);
        timings.Add(("prepare", clock.Elapsed));

        clock.Restart();
        var allocation = BitAllocation.Allocate(context, plan);
        plan = BitAllocation.Apply(plan, allocation);
        if (allocation is not null) timings.Add(("mixed precision", clock.Elapsed));
        var activations = SelectActivations(graph, plan);

        clock.Restart();
        var bits = ActivationBits(graph, settings, activations);
        var levelCoded = settings.Activations.Levels == ActivationLevelGrid.Linear ? new HashSet<string>() : LevelGridActivations(graph, plan, activations);
        levelCoded.RemoveWhere(a => bits[a] > 8);
        var collectors = activations.Where(a => !graph.IsConstant(a))
            .ToDictionary(a => a, a =>
            {
                var range = RangeCollectors.Create(settings.Activations.Method, settings.Activations.Percentile, bits[a]);
                return levelCoded.Contains(a) ? new LevelGridCollector(range) : range;
            }, StringComparer.Ordinal);
        var calibration = new CalibrationRunner(graph, engineOptions)
            .Run(calibrationPlan, collectors, settings.Calibration.MaxSamples, progress, settings.SourcePath);
        timings.Add(("calibrate", clock.Elapsed));
        progress?.Report($"calibration: {calibration.SampleCount} samples, {collectors.Count} activations");

        clock.Restart();
        var model = new QuantizedModel(graph) { BitAllocation = allocation };
        var ranges = new Dictionary<string, ActivationRange>(calibration.Ranges, StringComparer.Ordinal);
        foreach (var name in activations)
        {
            if (graph.IsConstant(name))
            {
                // A constant operand (an Add's bias, a Mul's factor) is quantized over its own values.
                var values = graph.Initializers[name].Floats;
                ranges[name] = values.Length == 0 ? new(0, 0) : new(values.Min(), values.Max());
            }
            model.Activations[name] = LinearQuantizer.QuantizeActivation(name, ranges[name], bits[name], settings.Activations.Symmetric);
            if (collectors.GetValueOrDefault(name) is LevelGridCollector grid)
                model.LevelActivations[name] = LogActivationQuantizer.Quantize(settings.Activations.Levels, settings.Activations.LevelBits, model.Activations[name], grid.Histogram);
        }
        foreach (var node in plan.Float) model.FloatNodes.Add(node.Name);
        foreach (var (node, weightIndex, axis, weightSettings) in plan.Weighted)
        {
            var name = node.Inputs[weightIndex];
            var w = graph.Initializers[name];
            try
            {
                model.Weights[node.Name] = WeightQuantizers.For(weightSettings.Method)
                    .Quantize(new WeightQuantizationRequest(node, name, w.Floats, w.Shape, axis, weightSettings, context));
            }
            catch (ArgumentException e)
            {
                throw new QuantBuildException(DiagnosticCodes.InvalidCalibrationValue, $"weight '{name}' of node '{node.Name}': {e.Message}", modelPath, node: node.Name, inner: e);
            }
        }
        // Before the passes that optimize against the deployed model (EPTQ, bias correction), so that
        // they see the activations the integer plan really rounds.
        var sampleShapes = SampleShapes(graph, calibrationPlan);
        DropFusedIntermediates(model, sampleShapes);
        timings.Add(("quantize", clock.Elapsed));
        if (Eptq.EptqOptimizer.Applies(model))
        {
            // Whole-model pass: replaces the "eptq" layers' codes and scales and their biases in the graph.
            clock.Restart();
            Eptq.EptqOptimizer.Run(model, context);
            timings.Add(("eptq", clock.Elapsed));
        }
        var corrected = plan.Weighted.Where(w => w.Settings.BiasCorrection).Select(w => w.Node).ToList();
        if (corrected.Count > 0)
        {
            clock.Restart();
            model.BiasCorrections.AddRange(BiasCorrection.Apply(model, context, corrected));
            timings.Add(("bias correction", clock.Elapsed));
        }

        long quantBytes = model.Weights.Values.Sum(QuantizedWeightBytes);
        if (BitAllocation.BudgetBytes(graph, plan, settings) is long budget && quantBytes > budget)
            throw new QuantBuildException(DiagnosticCodes.WeightBudgetExceeded,
                $"quantized weights take {quantBytes} bytes, over budget.weightBytes = {budget}; lower weights.bits (globally or per layer in \"layers\") or raise the budget",
                settings.SourcePath ?? modelPath);

        model.Notes["weights.method"] = WeightMethods.Name(settings.Weights.Method);
        model.Notes["weights.range"] = settings.Weights.Range == WeightRangeMethod.Mse ? "mse" : "minmax";
        model.Notes["weights.bits"] = settings.Weights.Bits.ToString(CultureInfo.InvariantCulture);
        model.Notes["weights.granularity"] = settings.Weights.PerChannel ? "per-channel" : "per-tensor";
        model.Notes["activations.method"] = settings.Activations.Method.ToString().ToLowerInvariant();
        model.Notes["activations.bits"] = settings.Activations.Bits.ToString(CultureInfo.InvariantCulture);
        model.Notes["activations.symmetric"] = settings.Activations.Symmetric ? "true" : "false";
        if (settings.Activations.Levels != ActivationLevelGrid.Linear)
        {
            model.Notes["activations.levels"] = SidecarParser.ActivationLevels[(int)settings.Activations.Levels];
            model.Notes["activations.levelBits"] = settings.Activations.LevelBits.ToString(CultureInfo.InvariantCulture);
        }
        model.Notes["calibration.samples"] = calibration.SampleCount.ToString(CultureInfo.InvariantCulture);
        model.Notes["source.opset"] = originalOpset.ToString(CultureInfo.InvariantCulture);
        model.Notes["opset"] = graph.OpsetVersion.ToString(CultureInfo.InvariantCulture);
        return new PipelineResult(model, settings, calibration.FilesRead, ranges, timings, sampleShapes) { VerifyPlan = verifyPlan };
    }

    /// <summary>
    /// The verify samples (docs/verify.md), resolved and decoded by the calibration code before any long work, with the
    /// checks that need no quantized model: each input's first verify sample has the shape the statically shaped
    /// integer plan is built for (the calibration samples'), and ONNX Runtime's native library loads (QB4108).
    /// </summary>
    private static CalibrationPlan? ResolveVerify(ModelGraph graph, QuantizationSettings settings, CalibrationPlan calibration)
    {
        if (settings.Verify is not { } verify) return null;
        var plan = CalibrationPlan.Resolve(graph, verify.Samples, settings.SourcePath);
        var planShapes = SampleShapes(graph, calibration);
        foreach (var (name, shape) in SampleShapes(graph, plan))
        {
            if (planShapes.TryGetValue(name, out var expected) && !expected.SequenceEqual(shape))
            {
                var input = verify.Samples.Inputs.First(i => i.Name == name);
                throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
                    $"verify input '{name}' gives samples of [{string.Join(",", shape)}] ({plan.FilesByInput[name][0]}), but the generated code is built for " +
                    $"the calibration samples' [{string.Join(",", expected)}]; give verify samples the calibration samples' shape",
                    settings.SourcePath, input.Line, input.Column);
            }
        }
        Verification.OnnxRuntimeLibrary.Require(settings.SourcePath, verify.Line, verify.Column);
        return plan;
    }

    /// <summary>
    /// The declared width of every activation: layers[NODE].activations.bits for the values NODE produces (docs/wide-activations.md),
    /// activations.bits for the others (graph inputs, constants).
    /// </summary>
    private static Dictionary<string, int> ActivationBits(ModelGraph graph, QuantizationSettings settings, IReadOnlyList<string> activations)
    {
        var producers = graph.Producers();
        return activations.ToDictionary(a => a,
            a => producers.TryGetValue(a, out var p) ? settings.ActivationBitsForNode(p.Name) : settings.Activations.Bits, StringComparer.Ordinal);
    }

    /// <summary>
    /// Values the integer plan computes inside one fused step — a Conv/Gemm output that goes straight
    /// into its Relu or Clip, the intermediates of a hard-swish chain — are never rounded to int8 by the
    /// runtime, so they must not be quantized in the QDQ file either: ONNX Runtime would otherwise round
    /// them (a Conv output before Relu has twice the step of the Relu output) and compute a coarser model
    /// than the one the app runs. Without their Q/DQ pair ONNX Runtime still folds Relu/Clip into the
    /// following QuantizeLinear and runs the Conv as one int8 kernel. Values a fused step does round
    /// (<see cref="Lowering.PlanStep.KeptIntermediates"/>: an Add's sum before its Relu, a Conv output before its
    /// code maps) keep their quantization.
    /// </summary>
    private static void DropFusedIntermediates(QuantizedModel model, IReadOnlyDictionary<string, int[]> sampleShapes)
    {
        var plan = Lowering.IntegerLowering.Lower(model, sampleShapes);
        var nodes = model.Graph.Nodes.ToDictionary(n => n.Name, StringComparer.Ordinal);
        foreach (var step in plan.Steps)
        {
            if (step.FusedNodes.Count < 2) continue;
            var stepOutputs = step.Outputs.Select(o => o.Name).Concat(step.KeptIntermediates).ToHashSet(StringComparer.Ordinal);
            foreach (var name in step.FusedNodes)
                if (nodes.TryGetValue(name, out var node))
                    foreach (var value in node.Outputs)
                        if (!stepOutputs.Contains(value) && !model.Graph.IsGraphOutput(value))
                            model.Activations.Remove(value);
        }
    }

    /// <summary>
    /// The activations that get a level grid (docs/activation-levels.md, "Which tensors": only ReLU outputs; the network input and
    /// the logits stay linear): values produced by a Relu — or by a MaxPool or reshape-like view of such a
    /// value, since max and views commute with a monotone quantizer, so coding after them equals coding the
    /// ReLU output itself — whose every reader is the data input of a Conv/Gemm/MatMul with quantized
    /// single-point weights, and which are not model outputs.
    /// </summary>
    public static HashSet<string> LevelGridActivations(ModelGraph graph, NodePlan plan, IReadOnlyCollection<string> activations)
    {
        var producers = graph.Producers();
        var consumers = graph.Consumers();
        var weighted = plan.Weighted.Where(w => w.Settings.Method != WeightMethod.Multipoint).Select(w => w.Node).ToHashSet(ReferenceEqualityComparer.Instance);
        var floats = plan.Float.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        bool FromRelu(string value, int depth)
        {
            if (depth > 16 || !producers.TryGetValue(value, out var p) || p.Domain.Length != 0) return false;
            return p.OpType switch
            {
                "Relu" => true,
                "MaxPool" or "Reshape" or "Flatten" or "Squeeze" or "Unsqueeze" or "Identity" or "Dropout" => p.Outputs.IndexOf(value) == 0 && FromRelu(p.Inputs[0], depth + 1),
                _ => false,
            };
        }
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in activations)
        {
            if (graph.IsConstant(name) || graph.IsGraphOutput(name) || !FromRelu(name, 0)) continue;
            if (!consumers.TryGetValue(name, out var readers) || readers.Count == 0) continue;
            if (readers.All(n => weighted.Contains(n) && !floats.Contains(n.Name) && n.OpType is "Conv" or "Gemm" or "MatMul"
                    && n.Inputs.IndexOf(name) == 0 && n.Inputs.LastIndexOf(name) == 0))
                result.Add(name);
        }
        return result;
    }

    /// <summary>One sample's shape per input: the first calibration file, its batch dimension set to 1.</summary>
    private static Dictionary<string, int[]> SampleShapes(ModelGraph graph, CalibrationPlan calibration)
    {
        var shapes = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var input in graph.Inputs)
        {
            if (calibration.ReadFirstFile(input) is not { } first) continue;
            if (SampleShape(input, first.Shape) is { } shape) shapes[input.Name] = shape;
        }
        return shapes;
    }

    /// <summary>
    /// The shape one sample of <paramref name="input"/> takes in the statically shaped integer plan, from
    /// the shape of some data for it (with or without the batch axis): symbolic sizes (an image width)
    /// take the data's, a symbolic batch becomes 1. Null when the data cannot be such a sample.
    /// </summary>
    public static int[]? SampleShape(ValueInfo input, IReadOnlyList<int> dataShape)
    {
        if (input.Shape is null) return null;
        int[] shape = dataShape.Count == input.Shape.Length ? dataShape.ToArray()
            : dataShape.Count == input.Shape.Length - 1 ? dataShape.Prepend(1).ToArray()
            : Array.Empty<int>();
        if (shape.Length == 0) return null;
        if (input.Shape[0] is null) shape[0] = 1;
        return shape;
    }

    /// <summary>
    /// Types and shapes of every value. Shape inference runs on small synthetic inputs; a model that
    /// cannot run on those (an STFT front end needs a minimum signal length) is inferred again with its
    /// named non-batch dimensions bound to the first calibration sample's sizes.
    /// </summary>
    private static void InferShapes(ModelGraph graph, CalibrationPlan calibration)
    {
        try
        {
            ShapeInference.Apply(graph);
            return;
        }
        catch (QuantBuildException first)
        {
            var bindings = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var input in graph.Inputs)
            {
                if (input.Shape is null || calibration.ReadFirstFile(input) is not { } sample) continue;
                int offset = sample.Rank - input.Shape.Length;
                for (int d = 1; d < input.Shape.Length; d++)
                    if (input.Shape[d] is null && input.DimParams?[d] is string p && d + offset >= 0 && d + offset < sample.Rank)
                        bindings[p] = sample.Shape[d + offset];
            }
            if (bindings.Count == 0) throw;
            // The model's declared output shapes stay as declared (symbolic), whatever the bound run says.
            var declared = graph.Outputs.Select(o => (o.Shape?.ToArray(), o.DimParams?.ToArray())).ToList();
            try { ShapeInference.Apply(graph, bindings); }
            catch (QuantBuildException) { throw first; }
            for (int i = 0; i < graph.Outputs.Count; i++)
                if (declared[i].Item1 is not null) (graph.Outputs[i].Shape, graph.Outputs[i].DimParams) = declared[i];
        }
    }

    /// <summary>
    /// Generated C# runs every node either on an integer kernel or on a float kernel of QuantBuild.Runtime;
    /// a node that has neither is reported here, before calibration, rather than at emit time.
    /// </summary>
    private static void CheckGeneratedRuntimeCoverage(ModelGraph graph, QuantizationSettings settings)
    {
        var missing = Lowering.FloatKernelBinding.UnsupportedNodes(graph);
        if (missing.Count == 0) return;
        throw new QuantBuildException(DiagnosticCodes.UnsupportedOperator,
            $"the generated C# runtime cannot run {missing.Count} node(s) (no float kernel, or a non-float value computed from the input data): " +
            string.Join(", ", missing.Take(10).Select(n => $"{n.OpType} '{n.Name}'")) + (missing.Count > 10 ? ", ..." : "") +
            "; turn the C# output off (\"outputs\": {\"csharp\": false}) to produce only the QDQ ONNX model",
            settings.SourcePath ?? graph.SourcePath, node: missing[0].Name);
    }

    /// <summary>
    /// Bytes the codes take packed at their bit width, plus one float32 scale per channel, the int8 level
    /// tables of codebook weights (one per channel, or one shared) and the rows and scales of extra multipoint points.
    /// </summary>
    public static long QuantizedWeightBytes(WeightQuantization w) =>
        ((long)(w.Codes.Length + (long)w.ExtraPoints.Count * w.ChannelLength) * w.Bits + 7) / 8 + 4L * (w.Scales.Length + w.ExtraPoints.Count)
        + (w.CodebookLevels?.Sum(t => (long)t.Length) ?? 0);

    /// <summary>Which nodes carry a quantizable constant weight, with their settings, and which stay float.</summary>
    /// <summary>
    /// A NaN or infinity in a weight (or bias) the quantizer will read, named with its initializer before
    /// calibration starts: otherwise it reaches the activations first and the calibration data is blamed.
    /// </summary>
    private static void CheckWeightsFinite(ModelGraph graph, NodePlan plan, string modelPath)
    {
        foreach (var (node, _, _, _) in plan.Weighted)
            foreach (var name in node.Inputs)
                if (name.Length > 0 && graph.Initializers.TryGetValue(name, out var t) && t.Data is float[] values
                    && Array.FindIndex(values, v => !float.IsFinite(v)) is var bad and >= 0)
                    throw new QuantBuildException(DiagnosticCodes.InvalidInitializerValue,
                        $"initializer '{name}' of {node.OpType} node '{node.Name}' holds {values[bad].ToString(CultureInfo.InvariantCulture)} at element {bad}; " +
                        "weights must be finite to be quantized (fix or retrain the model)", modelPath, node: node.Name);
    }

    public sealed record NodePlan(List<(Node Node, int WeightIndex, int Axis, WeightSettings Settings)> Weighted, List<Node> Float);

    public static NodePlan PlanNodes(ModelGraph graph, QuantizationSettings settings)
    {
        // A layers key that names nothing is almost always a typo or a stale name after re-export.
        foreach (var layer in settings.Layers)
            if (!graph.Nodes.Any(n => layer.Matches(n.Name)))
                throw new QuantBuildException(DiagnosticCodes.InvalidConfiguration,
                    $"layers[\"{layer.Pattern}\"] matches no node of the model (after constant folding); node names are e.g. " +
                    string.Join(", ", graph.Nodes.Take(5).Select(n => $"'{n.Name}'")),
                    settings.SourcePath, layer.Line, layer.Column);

        var weighted = new List<(Node, int, int, WeightSettings)>();
        var floats = new List<Node>();
        foreach (var node in graph.Nodes)
        {
            var (weights, skip) = settings.ForNode(node.Name);
            if (skip) { floats.Add(node); continue; }
            if (WeightInput(graph, node) is (int index, int axis))
                weighted.Add((node, index, axis, weights));
        }
        return new NodePlan(weighted, floats);
    }

    /// <summary>The constant weight input of a Conv/ConvTranspose/Gemm/MatMul and its output-channel axis, or null.</summary>
    public static (int Index, int Axis)? WeightInput(ModelGraph graph, Node node)
    {
        if (node.Domain.Length != 0 || !node.HasInput(1) || !graph.Initializers.TryGetValue(node.Inputs[1], out var w) || w.Type != DataType.Float)
            return null;
        switch (node.OpType)
        {
            case "Conv":
                return (1, 0);
            case "ConvTranspose":
                // Weight [C_in, C_out/group, k...]: output channels run along axis 1 (only all of them when group = 1).
                return (1, node.GetInt("group", 1) == 1 ? 1 : 0);
            case "Gemm":
                return w.Rank == 2 ? (1, node.GetInt("transB", 0) != 0 ? 0 : 1) : null;
            case "MatMul":
                return w.Rank >= 2 ? (1, w.Rank - 1) : null;
            default:
                return null;
        }
    }

    /// <summary>
    /// Whether input <paramref name="index"/> of <paramref name="node"/> carries data that flows through
    /// the quantized network (as opposed to a weight, a bias, a shape, indices, axes or a clip bound).
    /// </summary>
    public static bool IsDataInput(ModelGraph graph, Node node, int index)
    {
        bool constant = node.HasInput(index) && graph.IsConstant(node.Inputs[index]);
        return node.OpType switch
        {
            "Conv" or "ConvTranspose" => index == 0,
            "Gemm" => index == 0 || !constant,
            "MatMul" => index == 0 || !constant,
            "Clip" or "Reshape" or "Expand" or "Slice" or "Pad" or "Resize" or "Upsample" or "Squeeze" or "Unsqueeze" or "Split"
                or "Tile" or "Gather" or "GatherElements" or "TopK" or "Dropout" or "ReduceMean" or "ReduceSum" or "ReduceMax"
                or "ReduceMin" or "ReduceProd" or "ReduceL1" or "ReduceL2" or "ReduceLogSumExp" or "ReduceSumSquare" or "CumSum" => index == 0,
            "Shape" or "Size" or "ConstantOfShape" or "Range" or "NonZero" => false,
            "Where" => index > 0,
            _ => true,
        };
    }

    /// <summary>
    /// Activations to quantize, in graph order: float values produced or read as data by a quantized node,
    /// and the graph's float inputs. Values that only feed shape computations and integer values are left out.
    /// </summary>
    public static List<string> SelectActivations(ModelGraph graph, NodePlan plan)
    {
        var floatNodes = plan.Float.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var weightNames = plan.Weighted.Select(w => w.Node.Inputs[w.WeightIndex]).ToHashSet(StringComparer.Ordinal);
        var consumers = graph.Consumers();

        bool IsFloat(string name) =>
            graph.Initializers.TryGetValue(name, out var t) ? t.Type == DataType.Float
            : graph.ValueInfos.TryGetValue(name, out var vi) ? vi.Type == DataType.Float
            : graph.Inputs.FirstOrDefault(i => i.Name == name) is { } input ? input.Type == DataType.Float
            : graph.Outputs.FirstOrDefault(o => o.Name == name) is { } output && output.Type == DataType.Float;

        // A value read only as a shape, an index or a parameter is not data.
        bool FeedsData(string name) =>
            graph.IsGraphOutput(name)
            || (consumers.TryGetValue(name, out var readers) && readers.Any(n => n.Inputs.Select((x, k) => (x, k)).Any(p => p.x == name && IsDataInput(graph, n, p.k))));

        var ordered = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Consider(string name)
        {
            if (name.Length == 0 || weightNames.Contains(name) || !seen.Add(name)) return;
            if (IsFloat(name) && FeedsData(name)) ordered.Add(name);
        }
        // An input read only by float nodes stays float: quantizing it would only add error in front of them.
        foreach (var input in graph.Inputs)
            if (graph.IsGraphOutput(input.Name) || !consumers.TryGetValue(input.Name, out var readers) || readers.Any(n => !floatNodes.Contains(n.Name)))
                Consider(input.Name);
        foreach (var node in graph.Nodes)
        {
            if (floatNodes.Contains(node.Name)) continue;
            for (int k = 0; k < node.Inputs.Count; k++)
                if (node.HasInput(k) && IsDataInput(graph, node, k)) Consider(node.Inputs[k]);
            foreach (var o in node.Outputs) Consider(o);
        }
        return ordered;
    }
}
