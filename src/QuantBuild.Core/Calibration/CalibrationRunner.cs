using QuantBuild.Calibration.Sources;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;

namespace QuantBuild.Calibration;

/// <summary>
/// The calibration files of every model input, matched and paired: file k of each input belongs to
/// the same sample group (sorted ordinally per input). Resolved before any computation so that a
/// missing file is reported first.
/// </summary>
public sealed class CalibrationPlan
{
    private CalibrationPlan(IReadOnlyDictionary<string, IReadOnlyList<string>> files, IReadOnlyDictionary<string, CalibrationInput> inputs, int groups, string? sidecar)
    {
        Sidecar = sidecar;
        FilesByInput = files;
        Inputs = inputs;
        GroupCount = groups;
    }

    /// <summary>Absolute file paths by model input, in pairing order (after any maxSamples subset).</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> FilesByInput { get; }

    /// <summary>The sidecar the plan came from (named in diagnostics); null without one.</summary>
    public string? Sidecar { get; }

    /// <summary>The sidecar entry of each model input: its pattern and how its files become samples.</summary>
    public IReadOnlyDictionary<string, CalibrationInput> Inputs { get; }

    /// <summary>The sidecar object the samples come from ("calibration" or "verify"), named in progress lines.</summary>
    public string Section { get; private init; } = "calibration";

    /// <summary>Files per input (each file holds one sample or a batch of them).</summary>
    public int GroupCount { get; }

    public IEnumerable<string> AllFiles => FilesByInput.Values.SelectMany(f => f).Order(StringComparer.Ordinal);

    /// <summary>
    /// Expands the sidecar patterns for every float model input. Errors: QB3103 when the sidecar gives no
    /// calibration data, QB3104 for an input the model lacks, a model input without data, or inputs with
    /// different file counts; QB3102 for a pattern matching nothing. Inputs with an image or audio recipe are
    /// checked against the model's declared shape, then every file they use is decoded once, so that a corrupt
    /// or mismatched file is reported here, before any long work (docs/calibration-data.md, "Errors").
    /// </summary>
    public static CalibrationPlan Resolve(ModelGraph graph, QuantizationSettings settings) => Resolve(graph, settings.Calibration, settings.SourcePath);

    /// <summary>
    /// The same for any set of samples the sidecar declares with calibration's syntax (<see cref="CalibrationSettings.Section"/>
    /// names it in diagnostics): the verify set is resolved, checked and read by this one code.
    /// </summary>
    public static CalibrationPlan Resolve(ModelGraph graph, CalibrationSettings c, string? sidecar)
    {
        var section = c.Section;
        if (c.Inputs.Count == 0)
        {
            var example = string.Join(", ", graph.Inputs.Select(i => $"\"{i.Name}\": \"calib/{OutputStem(i.Name)}_*.npy\""));
            throw new QuantBuildException(DiagnosticCodes.CalibrationDataMissing,
                "no calibration data: quantizing activations needs representative inputs. " +
                $"Add to the sidecar{(sidecar is null ? $" ({SidecarHint(graph)})" : "")}: " +
                $"\"calibration\": {{ \"inputs\": {{ {example} }} }} with one .npy per input per sample (or batches of samples), " +
                "or images or WAV files with a preprocessing recipe (docs/calibration-data.md)",
                sidecar ?? graph.SourcePath);
        }
        var byInput = new Dictionary<string, IReadOnlyList<string>>(StringComparer.Ordinal);
        foreach (var input in c.Inputs)
        {
            if (graph.Inputs.All(i => i.Name != input.Name))
                throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
                    $"{section}.inputs names '{input.Name}', but the model's inputs are {string.Join(", ", graph.Inputs.Select(i => $"'{i.Name}'"))}",
                    sidecar, input.Line, input.Column);
            CalibrationSources.CheckRecipeShape(input, graph.Inputs.First(i => i.Name == input.Name), sidecar);
            byInput[input.Name] = FileGlob.ExpandRequired(input, c.BaseDirectory, sidecar, section);
        }
        var missing = graph.Inputs.Where(i => !byInput.ContainsKey(i.Name)).Select(i => $"'{i.Name}' {i.ShapeString}").ToList();
        if (missing.Count > 0)
            throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
                $"{section}.inputs gives no data for model input{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)}", sidecar);
        var counts = byInput.Select(kv => (kv.Key, kv.Value.Count)).Distinct().ToList();
        if (counts.Select(x => x.Count).Distinct().Count() > 1)
            throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
                $"{section} inputs are paired by sorted file order, but their file counts differ: {string.Join(", ", counts.Select(x => $"'{x.Key}' {x.Count}"))}", sidecar);

        int groups = counts[0].Count;
        if (c.MaxSamples > 0 && groups > c.MaxSamples)
        {
            // A seeded subset of whole groups, kept in sorted order: the same subset on every machine.
            var chosen = SeededSubset(groups, c.MaxSamples, c.Seed);
            foreach (var key in byInput.Keys.ToList())
                byInput[key] = chosen.Select(k => byInput[key][k]).ToList();
            groups = chosen.Length;
        }
        var inputs = c.Inputs.ToDictionary(i => i.Name, StringComparer.Ordinal);
        var plan = new CalibrationPlan(byInput, inputs, groups, sidecar) { Section = section };
        foreach (var (name, files) in byInput)
        {
            if (inputs[name].Recipe is null) continue;
            var declared = graph.Inputs.First(i => i.Name == name);
            foreach (var file in files) plan.KeepDecoded(name, file, CalibrationSources.ReadSamples(inputs[name], file, declared, sidecar));
        }
        return plan;
    }

    /// <summary>
    /// Bytes of decoded image/audio samples the plan keeps from the check in <see cref="Resolve"/>, so that a
    /// typical set (256 BlazeFace inputs are 50 MB) is decoded once; files beyond it are decoded again when read.
    /// </summary>
    public const long MaxKeptDecodedBytes = 256L << 20;

    private readonly Dictionary<(string Input, string File), List<Tensor>> _decoded = new();
    private long _decodedBytes;

    private void KeepDecoded(string input, string file, List<Tensor> samples)
    {
        long bytes = samples.Sum(t => (long)t.Length * sizeof(float));
        if (_decodedBytes + bytes > MaxKeptDecodedBytes) return;
        _decoded[(input, file)] = samples;
        _decodedBytes += bytes;
    }

    /// <summary>The samples of one file of one input, in order, shaped as the model declares the input.</summary>
    public List<Tensor> ReadSamples(ValueInfo declared, string file) =>
        _decoded.TryGetValue((declared.Name, file), out var kept) ? kept : CalibrationSources.ReadSamples(Inputs[declared.Name], file, declared, Sidecar);

    /// <summary>The first calibration file of a model input as one tensor (a WAV file: its first window); null when the input has no files.</summary>
    public Tensor? ReadFirstFile(ValueInfo input) =>
        FilesByInput.TryGetValue(input.Name, out var files) && files.Count > 0 ? CalibrationSources.ReadTensor(Inputs[input.Name], files[0], input, Sidecar) : null;

    internal static int[] SeededSubset(int count, int take, int seed)
    {
        var indices = Enumerable.Range(0, count).ToArray();
        var random = new Random(seed);
        for (int i = 0; i < take; i++)
        {
            int j = i + random.Next(count - i);
            (indices[i], indices[j]) = (indices[j], indices[i]);
        }
        var chosen = indices[..take];
        Array.Sort(chosen);
        return chosen;
    }

    private static string OutputStem(string name) => string.Concat(name.Select(ch => char.IsLetterOrDigit(ch) ? ch : '_'));

    private static string SidecarHint(ModelGraph graph) =>
        graph.SourcePath is null ? "MODEL.quant.json beside the model" : Path.ChangeExtension(Path.GetFileName(graph.SourcePath), ".quant.json") + " beside the model";
}

/// <summary>What a calibration run saw.</summary>
public sealed record CalibrationResult(IReadOnlyDictionary<string, ActivationRange> Ranges, int SampleCount, IReadOnlyList<string> FilesRead);

/// <summary>
/// Runs the prepared float graph over the calibration samples and streams every requested activation
/// into its range collector. Samples are processed one at a time and dropped: memory depends on the
/// model, never on the number of samples. Order is fixed (file pairing order, then rows), so the
/// ranges are identical on every run.
/// </summary>
public sealed class CalibrationRunner(ModelGraph graph, EngineOptions? engineOptions = null)
{
    private readonly InferenceEngine _engine = new(graph, engineOptions);

    /// <param name="collectors">one collector per value to observe (graph inputs included); filled in place</param>
    public CalibrationResult Run(CalibrationPlan plan, IReadOnlyDictionary<string, IRangeCollector> collectors, int maxSamples = 0,
        IProgress<string>? progress = null, string? sidecar = null)
    {
        var names = collectors.Keys.Order(StringComparer.Ordinal).ToArray();
        var filesRead = new List<string>();
        int samples = 0;
        foreach (var sample in EnumerateSamples(graph, plan, maxSamples, sidecar, filesRead, progress))
        {
            // Each activation is folded into its collector the moment it is computed and then released with
            // the engine's other intermediates, so a sample holds only the values alive at one time, not every
            // observed activation (which for a 640x640 detector is gigabytes). Collectors are independent of
            // each other, so the execution order of the callbacks leaves every range as it was.
            _engine.Run(sample.Feeds, names, (name, value) =>
            {
                try
                {
                    collectors[name].Observe(value.Floats);
                }
                catch (ArgumentException e)
                {
                    throw new QuantBuildException(DiagnosticCodes.InvalidCalibrationValue,
                        $"value '{name}' is NaN or infinite for calibration sample {samples + 1} ({string.Join(", ", sample.Files)}): {e.Message}",
                        sidecar ?? graph.SourcePath, inner: e);
                }
            });
            samples++;
        }
        var ranges = names.ToDictionary(n => n, n => collectors[n].ComputeRange(), StringComparer.Ordinal);
        filesRead.Sort(StringComparer.Ordinal);
        return new CalibrationResult(ranges, samples, filesRead.Distinct(StringComparer.Ordinal).ToList());
    }

    /// <summary>One calibration sample: a tensor per model input, and the files it came from.</summary>
    public sealed record Sample(IReadOnlyDictionary<string, Tensor> Feeds, IReadOnlyList<string> Files);

    /// <summary>
    /// The calibration samples in their fixed order (file groups in pairing order, then rows), read lazily
    /// one file group at a time. Quantizers that optimize against data (EPTQ, bias correction, multipoint
    /// placement, sensitivity for mixed precision) take them from here, so they see exactly the samples
    /// calibration saw.
    /// </summary>
    /// <param name="filesRead">when given, receives every file opened</param>
    public static IEnumerable<Sample> EnumerateSamples(ModelGraph graph, CalibrationPlan plan, int maxSamples = 0, string? sidecar = null,
        List<string>? filesRead = null, IProgress<string>? progress = null)
    {
        int samples = 0;
        for (int group = 0; group < plan.GroupCount && (maxSamples <= 0 || samples < maxSamples); group++)
        {
            var batches = new Dictionary<string, List<Tensor>>(StringComparer.Ordinal);
            var files = new List<string>();
            foreach (var (input, inputFiles) in plan.FilesByInput)
            {
                var file = inputFiles[group];
                files.Add(file);
                filesRead?.Add(file);
                var declared = graph.Inputs.First(i => i.Name == input);
                batches[input] = plan.ReadSamples(declared, file);
            }
            var rowCounts = batches.Select(kv => kv.Value.Count).Distinct().ToList();
            if (rowCounts.Count > 1)
                throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
                    $"calibration file group {group + 1} holds different sample counts per input: " +
                    string.Join(", ", batches.Select(kv => $"'{kv.Key}' {kv.Value.Count} ({plan.FilesByInput[kv.Key][group]})")), sidecar);
            for (int row = 0; row < rowCounts[0] && (maxSamples <= 0 || samples < maxSamples); row++)
            {
                yield return new Sample(batches.ToDictionary(kv => kv.Key, kv => kv.Value[row], StringComparer.Ordinal), files);
                samples++;
            }
            Compilation.StageProgress.Advance(progress, plan.Section, group + 1, plan.GroupCount);
            int every = Math.Max(1, plan.GroupCount / 10);
            if ((group + 1) % every == 0 || group + 1 == plan.GroupCount)
                progress?.Report($"{plan.Section}: {samples} sample{(samples == 1 ? "" : "s")} ({group + 1}/{plan.GroupCount} files)");
        }
    }

    /// <summary>
    /// One file → samples the model accepts: as is when it matches the declared shape; a leading batch
    /// larger than a fixed declared batch is split into rows; a tensor one rank short gets a batch of 1.
    /// </summary>
    internal static List<Tensor> SplitIntoSamples(Tensor t, ValueInfo declared, string file, string? sidecar)
    {
        if (t.Type != declared.Type && declared.Type != DataType.Undefined)
            throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
                $"calibration file for input '{declared.Name}' holds {DataTypes.Name(t.Type)}, the model expects {DataTypes.Name(declared.Type)}", file);
        var shape = declared.Shape;
        if (shape is null) return [t];
        if (t.Rank == shape.Length - 1)
            t = t.Reshape([1, .. t.Shape]);
        if (t.Rank != shape.Length)
            throw Mismatch(t, declared, file);
        bool fits = true;
        for (int d = 0; d < t.Rank; d++) if (shape[d] is long v && v != t.Shape[d]) fits = false;
        // A symbolic batch still counts samples one row at a time, so maxSamples means the same for every layout.
        if (fits && (t.Rank == 0 || shape[0] is not null || t.Shape[0] <= 1)) return [t];
        // Only the batch dimension may differ, and only as a multiple of the declared batch.
        for (int d = 1; d < t.Rank; d++) if (shape[d] is long v && v != t.Shape[d]) throw Mismatch(t, declared, file);
        int batch = shape[0] is long fixedBatch ? (int)fixedBatch : 1;
        if (batch <= 0 || t.Shape[0] % batch != 0) throw Mismatch(t, declared, file);
        int rows = t.Shape[0] / batch;
        int rowLength = t.Length / rows;
        int[] rowShape = [batch, .. t.Shape[1..]];
        var samples = new List<Tensor>(rows);
        for (int r = 0; r < rows; r++)
        {
            var data = Array.CreateInstance(t.Data.GetType().GetElementType()!, rowLength);
            Array.Copy(t.Data, r * rowLength, data, 0, rowLength);
            samples.Add(new Tensor(t.Type, rowShape, data));
        }
        return samples;
    }

    private static QuantBuildException Mismatch(Tensor t, ValueInfo declared, string file) =>
        new(DiagnosticCodes.CalibrationDataMismatch,
            $"calibration file holds {t.ShapeString} for input '{declared.Name}', which the model declares as {declared.ShapeString} " +
            "(a leading batch that is a multiple of the declared batch is split into samples)", file);
}
