using QuantBuild.Emit;
using QuantBuild.Graph.Transforms;
using System.CommandLine;
using System.Globalization;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;

namespace QuantBuild.Cli.Commands;

/// <summary>
/// <c>quantbuild run MODEL.onnx --input NAME=FILE.npy … --out DIR [--threads N]</c>: runs the model in the
/// float reference engine and writes one <c>.npy</c> per model output. With <c>--int</c> the model is a
/// quantized <c>.quant.onnx</c> run by the integer runtime (the kernels the generated C# calls).
/// </summary>
public static class RunCommand
{
    /// <param name="error">where warnings go (stdout carries only the results)</param>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var model = new Argument<string>("model")
        {
            Description = "The ONNX model to run (external data files are read from the model's folder).",
            HelpName = "MODEL.onnx",
        };
        var inputs = new Option<string[]>("--input", "-i")
        {
            Description = "A model input as NAME=FILE.npy; repeat for each input. For a model with a single input, FILE.npy alone is enough.",
            HelpName = "NAME=FILE.npy",
            AllowMultipleArgumentsPerToken = true,
            DefaultValueFactory = _ => [],
        };
        var outDir = new Option<string>("--out", "-o")
        {
            Description = "Folder for the results: one OUTPUT.npy per model output, named after the output. Characters that are not allowed in " +
                          "file names (such as ':' '/' '\\' '*' '?') become '_'; the printed summary shows which file holds which output.",
            HelpName = "DIR",
            Required = true,
        };
        var threads = CommonOptions.Threads("Maximum threads the engine may use (results are bit-identical for any value). Default: all processors.");
        var maxTensor = CommonOptions.MaxTensorBytes();
        var maxMemory = CommonOptions.MaxMemoryBytes();

        var integer = new Option<bool>("--int")
        {
            Description = "Run a quantized model (DIR/<Name>.quant.onnx) with the integer runtime: inputs are quantized, every layer computes in " +
                          "integers with the kernels the generated C# calls, outputs are dequantized.",
        };

        var command = new Command("run", "Run a model in the float reference engine (or the integer runtime with --int) and write its outputs as .npy files.");
        command.Arguments.Add(model);
        command.Options.Add(inputs);
        command.Options.Add(outDir);
        command.Options.Add(threads);
        command.Options.Add(integer);
        command.Options.Add(maxTensor);
        command.Options.Add(maxMemory);
        command.SetAction(parse =>
        {
            using var limits = TensorLimits.Use(CommonOptions.Limits(parse, maxTensor, maxMemory));
            return parse.GetValue(integer)
                ? ExecuteInteger(parse.GetRequiredValue(model), parse.GetValue(inputs) ?? [], parse.GetRequiredValue(outDir), output, error)
                : Execute(
                    parse.GetRequiredValue(model),
                    parse.GetValue(inputs) ?? [],
                    parse.GetRequiredValue(outDir),
                    parse.GetValue(threads) ?? Environment.ProcessorCount,
                    output);
        });
        return command;
    }

    public static int Execute(string modelPath, IReadOnlyList<string> inputSpecs, string outDir, int threads, TextWriter output)
    {
        if (threads < 1)
            throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--threads must be at least 1, got {threads}");
        CommonOptions.RequireFolder(outDir);

        var graph = OnnxImporter.Load(modelPath);
        // Validates every node first, so an unsupported operator is reported before any input is read;
        // then folds constants and BatchNormalization exactly as a build does.
        GraphPreparation.Prepare(graph, inferShapes: false);
        var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = threads });

        var files = AssignInputs(graph, inputSpecs, modelPath);
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, file) in files)
            feeds[name] = NpyFile.Read(file);

        var results = engine.Run(feeds);

        var fileNames = OutputFileNames.Assign(graph.Outputs.Select(o => o.Name).ToList());
        foreach (var o in graph.Outputs)
        {
            var tensor = results[o.Name];
            var path = Path.Combine(outDir, fileNames[o.Name]);
            NpyFile.Write(path, tensor);
            output.WriteLine(Summary(o.Name, tensor, path));
        }
        return ExitCodes.Success;
    }

    /// <summary>
    /// The integer plan has the static shapes it was lowered for (batch 1 by default); a batch of B
    /// samples in the input files runs sample by sample and the outputs are stacked along axis 0.
    /// </summary>
    private static Dictionary<string, Tensor> RunBatched(IntegerModelRunner runner, IntegerPlan plan, Dictionary<string, Tensor> feeds, string modelPath)
    {
        bool exact = plan.Inputs.All(i => feeds.TryGetValue(i.Name, out var t) && t.Shape.SequenceEqual(i.Shape));
        if (exact) return runner.Run(feeds);
        int batch = -1;
        foreach (var input in plan.Inputs)
        {
            if (feeds[input.Name].Length == 0)
                throw new QuantBuildException(DiagnosticCodes.InvalidInputValue,
                    $"input '{input.Name}' has shape {feeds[input.Name].ShapeString}, which holds no sample; the integer model takes [{string.Join(",", input.Shape)}] (or a stack of such samples along axis 0)", modelPath);
            var t = feeds[input.Name];
            bool stackable = input.Shape.Length > 0 && input.Shape[0] == 1 && t.Rank == input.Shape.Length && t.Shape.Skip(1).SequenceEqual(input.Shape.Skip(1));
            if (!stackable || (batch >= 0 && t.Shape[0] != batch))
                throw new QuantBuildException(DiagnosticCodes.InvalidInputValue,
                    $"input '{input.Name}' has shape {t.ShapeString}; the integer model takes [{string.Join(",", input.Shape)}] (or a stack of such samples along axis 0)", modelPath);
            batch = t.Shape[0];
        }
        // The stacked outputs are batch times the plan's: checked before the first sample runs.
        foreach (var o in plan.Outputs)
        {
            var dims = Array.ConvertAll(o.Shape, d => (long)d);
            if (dims.Length > 0) dims[0] *= batch;
            try { TensorLimits.CheckedElementCount(DataType.Float, dims, $"output '{o.Name}' for {batch} samples"); }
            catch (QuantBuildException e) { throw new QuantBuildException(e.Code, e.Message, modelPath, inner: e); }
        }
        var stacked = new Dictionary<string, List<Tensor>>(StringComparer.Ordinal);
        for (int b = 0; b < batch; b++)
        {
            var sample = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var input in plan.Inputs)
            {
                var t = feeds[input.Name];
                int size = t.Length / batch;
                var slice = Array.CreateInstance(t.Data.GetType().GetElementType()!, size);
                Array.Copy(t.Data, b * size, slice, 0, size);
                sample[input.Name] = new Tensor(t.Type, input.Shape, slice);
            }
            foreach (var (name, value) in runner.Run(sample))
                (stacked.TryGetValue(name, out var list) ? list : stacked[name] = new List<Tensor>()).Add(value);
        }
        var results = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, parts) in stacked)
        {
            var first = parts[0];
            var data = Array.CreateInstance(first.Data.GetType().GetElementType()!, first.Length * parts.Count);
            for (int b = 0; b < parts.Count; b++) Array.Copy(parts[b].Data, 0, data, b * first.Length, first.Length);
            var shape = first.Shape.ToArray();
            shape[0] *= parts.Count;
            results[name] = new Tensor(first.Type, shape, data);
        }
        return results;
    }

    /// <summary><c>run --int</c>: the quantized model through lowering and the in-process integer runner.</summary>
    public static int ExecuteInteger(string modelPath, IReadOnlyList<string> inputSpecs, string outDir, TextWriter output, TextWriter? error = null)
    {
        CommonOptions.RequireFolder(outDir);
        var quantized = QdqOnnxImporter.Load(modelPath);
        if (quantized.Weights.Count == 0 && quantized.Activations.Count == 0)
            throw new QuantBuildException(DiagnosticCodes.InvalidQdqModel,
                "not a quantized model: it has no QuantizeLinear/DequantizeLinear pairs. `run --int` takes a <Name>.quant.onnx written by `quantbuild quantize`; run a float model without --int",
                modelPath);
        var graph = quantized.Graph;
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (name, file) in AssignInputs(graph, inputSpecs, modelPath))
        {
            feeds[name] = NpyFile.Read(file);
            // Quantizing maps NaN to a code like any other value: the outputs would look finite and mean nothing.
            if (feeds[name].Data is float[] values && Array.FindIndex(values, v => !float.IsFinite(v)) is var bad and >= 0)
                throw new QuantBuildException(DiagnosticCodes.InvalidInputValue,
                    $"input '{name}' holds {values[bad].ToString(CultureInfo.InvariantCulture)} at element {bad}; the integer runtime quantizes its inputs and needs finite values", file);
        }
        // The integer plan is statically shaped: symbolic dimensions (an image width) take the sizes of
        // the given inputs, one sample at a time.
        var sampleShapes = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var input in graph.Inputs)
            if (feeds.TryGetValue(input.Name, out var feed) && QuantizationPipeline.SampleShape(input, feed.Shape) is { } shape)
                sampleShapes[input.Name] = shape;
        var plan = IntegerLowering.Lower(quantized, sampleShapes);
        var runner = new IntegerModelRunner(plan);
        var results = RunBatched(runner, plan, feeds, modelPath);
        // Canonical form on stderr, as quantize prints it: stdout carries only the results.
        foreach (var warning in plan.Warnings) (error ?? output).WriteLine($"{modelPath}: warning {DiagnosticCodes.QuantizationWarning}: {warning}");
        if (plan.FloatNodeNames.Count > 0)
            output.WriteLine($"{plan.FloatNodeNames.Count} node(s) ran in float: {string.Join(", ", plan.FloatNodeNames)}");
        var fileNames = OutputFileNames.Assign(graph.Outputs.Select(o => o.Name).ToList());
        foreach (var o in graph.Outputs)
        {
            var tensor = results[o.Name];
            var path = Path.Combine(outDir, fileNames[o.Name]);
            NpyFile.Write(path, tensor);
            output.WriteLine(Summary(o.Name, tensor, path));
        }
        return ExitCodes.Success;
    }

    /// <summary>Maps each model input to the file given for it, checking that every input is given exactly once.</summary>
    private static List<(string Name, string File)> AssignInputs(ModelGraph graph, IReadOnlyList<string> specs, string modelPath)
    {
        var known = graph.Inputs.Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        string Expected() => string.Join(", ", graph.Inputs.Select(i => $"{i.Name} {DataTypes.Name(i.Type)}{i.ShapeString}"));

        var assigned = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var spec in specs)
        {
            var (name, file) = SplitSpec(spec, known, graph.Inputs.Count == 1 ? graph.Inputs[0].Name : null);
            if (!known.Contains(name))
                throw new QuantBuildException(DiagnosticCodes.InvalidArguments,
                    $"--input '{spec}': the model has no input '{name}' (inputs: {Expected()})");
            if (!assigned.TryAdd(name, file))
                throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--input '{name}' is given more than once");
        }
        var missing = graph.Inputs.Where(i => !assigned.ContainsKey(i.Name)).ToList();
        if (missing.Count > 0)
            throw new QuantBuildException(DiagnosticCodes.MissingInput,
                $"no --input for model input{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Select(i => $"'{i.Name}' {DataTypes.Name(i.Type)}{i.ShapeString}"))}; pass --input NAME=FILE.npy",
                modelPath);
        return graph.Inputs.Select(i => (i.Name, assigned[i.Name])).ToList();
    }

    /// <summary>
    /// Splits NAME=FILE. Input names may themselves contain '=', so the split point is the '=' after which the
    /// prefix is a real input name; failing that, the first '='. Without '=', a single-input model takes the whole text as the file.
    /// </summary>
    private static (string Name, string File) SplitSpec(string spec, HashSet<string> known, string? onlyInput)
    {
        for (int i = spec.IndexOf('='); i >= 0; i = spec.IndexOf('=', i + 1))
            if (known.Contains(spec[..i])) return (spec[..i], spec[(i + 1)..]);
        int first = spec.IndexOf('=');
        if (first > 0) return (spec[..first], spec[(first + 1)..]);
        if (first < 0 && onlyInput is not null && spec.Length > 0) return (onlyInput, spec);
        throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--input '{spec}' must have the form NAME=FILE.npy");
    }

    private static string Summary(string name, Tensor t, string path)
    {
        var text = $"{name}: {DataTypes.Name(t.Type)}{t.ShapeString} -> {path}";
        if (t.Length == 0) return text + " (empty)";
        var values = t.ToFloatArray();
        double min = double.PositiveInfinity, max = double.NegativeInfinity, sum = 0;
        int nonFinite = 0;
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) { nonFinite++; continue; }
            min = Math.Min(min, v);
            max = Math.Max(max, v);
            sum += v;
        }
        int finite = values.Length - nonFinite;
        var stats = finite == 0 ? "no finite values"
            : string.Create(CultureInfo.InvariantCulture, $"min {min:G6}, max {max:G6}, mean {sum / finite:G6}");
        return text + $" ({stats}{(nonFinite > 0 ? $", {nonFinite} NaN/Inf" : "")})";
    }
}
