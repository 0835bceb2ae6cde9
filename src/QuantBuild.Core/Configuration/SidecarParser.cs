using System.Globalization;
using System.Text.Json;
using QuantBuild.Calibration;
using QuantBuild.Calibration.Sources;
using QuantBuild.Diagnostics;

namespace QuantBuild.Configuration;

/// <summary>
/// Reads the sidecar (<c>MODEL.quant.json</c>; schema build/QuantBuild.sidecar.schema.json, README "Using it"). Strict on purpose: an unknown key,
/// a wrong type, a bad enum value or a bit width outside 2..8 is QB3101 with the file, line and column,
/// because a typo silently ignored ("bitz": 4) would ship a model quantized differently from what the
/// user asked for.
/// </summary>
public static class SidecarParser
{
    /// <summary>
    /// Every key the parser accepts, by object path ("" = root, "layers/*" = any entry of layers).
    /// build/QuantBuild.sidecar.schema.json must list exactly these (a test checks it).
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string[]> KnownKeys = new Dictionary<string, string[]>
    {
        [""] = ["$schema", "weights", "activations", "calibration", "layers", "budget", "outputs", "eptq", "quality", "verify"],
        ["weights"] = WeightKeys,
        ["activations"] = ["method", "bits", "symmetric", "percentile", "levels", "levelBits", "autoPrecision", "autoPrecisionMaxTensors"],
        ["calibration"] = ["inputs", "maxSamples", "seed"],
        ["calibration/inputs/*"] = SampleSourceKeys,
        ["verify"] = ["inputs", "maxSamples", "seed", .. VerifyThresholdKeys],
        ["verify/inputs/*"] = SampleSourceKeys,
        ["layers/*"] = ["weights", "skip", "activations"],
        ["layers/*/activations"] = ["bits"],
        ["layers/*/weights"] = WeightKeys,
        ["weights/multipoint"] = MultipointKeys,
        ["layers/*/weights/multipoint"] = MultipointKeys,
        ["budget"] = ["weightBytes", "averageBits", "bits", "sensitivitySamples"],
        ["outputs"] = ["onnx", "csharp", "report", "qdqIntegerType"],
        ["quality"] = ["samples", "outputSqnrFloorDb"],
        ["eptq"] = ["iterations", "samples", "batchSize", "seed", "hessian", "hessianFloor", "hessianSamples", "hessianProbes",
            "learningRate", "parameterLearningRate", "regularization", "learnScales", "learnBiases"],
    };

    private static string[] WeightKeys => ["method", "bits", "perChannel", "symmetric", "range", "multipoint", "biasCorrection"];
    private static string[] MultipointKeys => ["extraPoints", "maxPoints", "samples"];
    /// <summary>An object entry of calibration.inputs names its files with exactly one of these.</summary>
    private static string[] CalibrationSourceKeys => ["tensors", "images", "audio"];
    private static string[] SampleSourceKeys => [.. CalibrationSourceKeys, "scale", .. ImageRecipeKeys, .. AudioRecipeKeys];
    private static string[] VerifyThresholdKeys => ["minTop1Agreement", "minSqnrDb", "maxAbsError"];
    private static string[] ImageRecipeKeys => ["resize", "fit", "pad", "channelOrder", "layout", "mean", "std"];
    private static string[] AudioRecipeKeys => ["sampleRate", "window", "hop", "fileSampleRate", "fileChannels"];
    public static readonly string[] ImageFits = ["stretch", "crop", "letterbox"];
    public static readonly string[] ChannelOrders = ["rgb", "bgr", "gray"];
    public static readonly string[] ImageLayouts = ["NCHW", "NHWC"];
    /// <summary>Largest resize side and audio window accepted: far beyond any model input, small enough for 32-bit index arithmetic.</summary>
    public const int MaxImageSide = 16384, MaxAudioWindow = 1 << 24;

    /// <summary>Weight quantizers a sidecar may name (the registry says which are implemented).</summary>
    public static IReadOnlyList<string> WeightMethods => Quantization.WeightMethods.Names;
    public static IReadOnlyCollection<string> ImplementedWeightMethods => Quantization.WeightQuantizers.Implemented.Select(Quantization.WeightMethods.Name).ToList();
    public static readonly string[] WeightRanges = ["minmax", "mse"];
    public static readonly string[] ActivationMethods = ["minmax", "percentile", "mse", "entropy"];
    /// <summary>Level grids of activations.levels ("linear" = plain int8, the default).</summary>
    public static readonly string[] ActivationLevels = ["linear", "log", "weighted-log", "uniform"];
    public static readonly string[] QdqIntegerTypes = ["uint8", "int8"];

    public const int MinBits = 2, MaxBits = 8;

    /// <summary>The wide activation width (docs/wide-activations.md): activations.bits is 2..8 or this.</summary>
    public const int WideActivationBits = 16;

    /// <summary>A sidecar is a few KB of settings; 16 MiB leaves room for huge layer tables and refuses a wrong file before it is read.</summary>
    public const long MaxSidecarBytes = 16L << 20;

    /// <summary>Reads a sidecar file; patterns in it are relative to its folder.</summary>
    public static QuantizationSettings Load(string path)
    {
        var bytes = QuantBuild.Onnx.IO.InputFile.ReadAllBytes(path, "sidecar", MaxSidecarBytes);
        return Parse(bytes, path, Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    public static QuantizationSettings Parse(string json, string path, string baseDirectory) =>
        Parse(System.Text.Encoding.UTF8.GetBytes(json), path, baseDirectory);

    public static QuantizationSettings Parse(byte[] utf8, string path, string baseDirectory)
    {
        // Editors on Windows like to write a BOM; the JSON reader does not accept one.
        if (utf8.Length >= 3 && utf8[0] == 0xEF && utf8[1] == 0xBB && utf8[2] == 0xBF) utf8 = utf8[3..];
        var root = PositionedJson.Parse(utf8, path);
        var reader = new Reader(path);
        reader.ExpectObject(root, "the sidecar");
        reader.CheckKeys(root, "", "the sidecar");

        var settings = new QuantizationSettings { SourcePath = Path.GetFullPath(path), Calibration = new CalibrationSettings { BaseDirectory = baseDirectory } };
        foreach (var (key, _, _, value) in root.Members)
        {
            switch (key)
            {
                case "$schema": reader.ExpectString(value, "$schema"); break;
                case "weights": settings = settings with { Weights = ReadWeights(reader, value, "weights", settings.Weights) }; break;
                case "activations": settings = settings with { Activations = ReadActivations(reader, value) }; break;
                case "calibration": settings = settings with { Calibration = ReadCalibration(reader, value, baseDirectory) }; break;
                case "layers": settings = settings with { Layers = ReadLayers(reader, value) }; break;
                case "eptq": settings = settings with { Eptq = ReadEptq(reader, value) }; break;
                case "quality": settings = settings with { Quality = ReadQuality(reader, value) }; break;
                case "verify": settings = settings with { Verify = ReadVerify(reader, value, baseDirectory) }; break;
                case "budget": settings = ReadBudget(reader, value, settings); break;
                case "outputs":
                {
                    reader.ExpectObject(value, "outputs");
                    reader.CheckKeys(value, "outputs", "outputs");
                    var outputs = settings.Outputs;
                    foreach (var (k, _, _, v) in value.Members)
                    {
                        if (k == "qdqIntegerType")
                        {
                            outputs = outputs with { QdqIntegerType = reader.Enum(v, "outputs.qdqIntegerType", QdqIntegerTypes) == "int8" ? QdqIntegerType.Int8 : QdqIntegerType.UInt8 };
                            continue;
                        }
                        bool on = reader.Boolean(v, $"outputs.{k}");
                        outputs = k switch
                        {
                            "onnx" => outputs with { Onnx = on },
                            "csharp" => outputs with { CSharp = on },
                            _ => outputs with { Report = on },
                        };
                    }
                    settings = settings with { Outputs = outputs };
                    break;
                }
            }
        }
        return settings;
    }

    private static WeightSettings ReadWeights(Reader reader, PositionedJson value, string where, WeightSettings defaults)
    {
        var o = ReadWeightOverride(reader, value, where, "weights");
        return defaults with
        {
            Method = o.Method ?? defaults.Method,
            Bits = o.Bits ?? defaults.Bits,
            PerChannel = o.PerChannel ?? defaults.PerChannel,
            Symmetric = o.Symmetric ?? defaults.Symmetric,
            Range = o.Range ?? defaults.Range,
            Multipoint = o.Multipoint ?? defaults.Multipoint,
            BiasCorrection = o.BiasCorrection ?? defaults.BiasCorrection,
        };
    }

    /// <summary>budget: a byte bound (weightBytes or averageBits) and, for mixed precision, candidate widths.</summary>
    private static QuantizationSettings ReadBudget(Reader reader, PositionedJson value, QuantizationSettings settings)
    {
        reader.ExpectObject(value, "budget");
        reader.CheckKeys(value, "budget", "budget");
        foreach (var (k, _, _, v) in value.Members)
        {
            switch (k)
            {
                case "weightBytes": settings = settings with { WeightByteBudget = reader.Integer(v, "budget.weightBytes", 1, long.MaxValue) }; break;
                case "averageBits": settings = settings with { AverageBitsBudget = reader.Number(v, "budget.averageBits", MinBits, MaxBits) }; break;
                case "sensitivitySamples": settings = settings with { SensitivitySamples = (int)reader.Integer(v, "budget.sensitivitySamples", 1, 100_000) }; break;
                case "bits":
                {
                    if (v.Kind != JsonValueKind.Array || v.Items.Count == 0)
                        throw reader.Error(DiagnosticCodes.InvalidConfiguration, v, $"budget.bits must be a non-empty array of bit widths such as [2, 4, 8], found {v.KindName}");
                    var bits = new List<int>();
                    foreach (var item in v.Items)
                    {
                        int b = (int)reader.Integer(item, "budget.bits[]", MinBits, MaxBits);
                        if (bits.Contains(b)) throw reader.Error(DiagnosticCodes.InvalidConfiguration, item, $"budget.bits lists {b} twice");
                        bits.Add(b);
                    }
                    settings = settings with { BitCandidates = bits };
                    break;
                }
            }
        }
        if (settings.WeightByteBudget is not null && settings.AverageBitsBudget is not null)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, value, "budget: give either weightBytes or averageBits, not both");
        if (settings.BitCandidates.Count > 0 && settings.WeightByteBudget is null && settings.AverageBitsBudget is null)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, value, "budget.bits (mixed precision) needs a bound: add weightBytes or averageBits");
        return settings;
    }

    private static LayerOverride ReadWeightOverride(Reader reader, PositionedJson value, string where, string keyPath, LayerOverride? into = null)
    {
        reader.ExpectObject(value, where);
        reader.CheckKeys(value, keyPath, where);
        var o = into ?? new LayerOverride { Pattern = "" };
        foreach (var (k, _, _, v) in value.Members)
        {
            switch (k)
            {
                case "method":
                {
                    var method = reader.Enum(v, $"{where}.method", WeightMethods.ToArray());
                    if (!ImplementedWeightMethods.Contains(method))
                        throw reader.Error(DiagnosticCodes.UnsupportedSetting, v,
                            $"{where}.method \"{method}\" is not implemented yet; use \"linear\"");
                    o = o with { Method = Quantization.WeightMethods.FromLabel(method) };
                    break;
                }
                case "bits": o = o with { Bits = (int)reader.Integer(v, $"{where}.bits", MinBits, MaxBits) }; break;
                case "perChannel": o = o with { PerChannel = reader.Boolean(v, $"{where}.perChannel") }; break;
                case "symmetric":
                {
                    bool symmetric = reader.Boolean(v, $"{where}.symmetric");
                    // The integer kernels and WeightQuantization assume zero-point-free weights.
                    if (!symmetric)
                        throw reader.Error(DiagnosticCodes.UnsupportedSetting, v,
                            $"{where}.symmetric false (weights with zero points) is not supported: QuantBuild's integer kernels need symmetric weights");
                    o = o with { Symmetric = true };
                    break;
                }
                case "range":
                    o = o with { Range = reader.Enum(v, $"{where}.range", WeightRanges) == "mse" ? WeightRangeMethod.Mse : WeightRangeMethod.MinMax };
                    break;
                case "multipoint": o = o with { Multipoint = ReadMultipoint(reader, v, $"{where}.multipoint", keyPath + "/multipoint") }; break;
                case "biasCorrection": o = o with { BiasCorrection = reader.Boolean(v, $"{where}.biasCorrection") }; break;
            }
        }
        return o;
    }

    private static MultipointSettings ReadMultipoint(Reader reader, PositionedJson value, string where, string keyPath)
    {
        reader.ExpectObject(value, where);
        reader.CheckKeys(value, keyPath, where);
        var m = new MultipointSettings();
        foreach (var (k, _, _, v) in value.Members)
        {
            m = k switch
            {
                "extraPoints" => m with { ExtraPoints = reader.Number(v, $"{where}.extraPoints", 0, 3) },
                "maxPoints" => m with { MaxPoints = (int)reader.Integer(v, $"{where}.maxPoints", 1, 8) },
                _ => m with { Samples = (int)reader.Integer(v, $"{where}.samples", 0, 4096) },
            };
        }
        if (m.ExtraPoints > m.MaxPoints - 1)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, value,
                $"{where}.extraPoints {m.ExtraPoints.ToString(System.Globalization.CultureInfo.InvariantCulture)} cannot be placed with maxPoints {m.MaxPoints} (at most maxPoints − 1 extra points per channel)");
        return m;
    }

    private static ActivationSettings ReadActivations(Reader reader, PositionedJson value)
    {
        reader.ExpectObject(value, "activations");
        reader.CheckKeys(value, "activations", "activations");
        var a = new ActivationSettings();
        foreach (var (k, _, _, v) in value.Members)
        {
            a = k switch
            {
                "method" => a with
                {
                    Method = reader.Enum(v, "activations.method", ActivationMethods) switch
                    {
                        "percentile" => CalibrationMethod.Percentile,
                        "mse" => CalibrationMethod.Mse,
                        "entropy" => CalibrationMethod.Entropy,
                        _ => CalibrationMethod.MinMax,
                    },
                },
                "bits" => a with { Bits = ActivationBits(reader, v, "activations.bits") },
                "autoPrecision" => a with { AutoPrecision = reader.Boolean(v, "activations.autoPrecision") },
                "autoPrecisionMaxTensors" => a with { AutoPrecisionMaxTensors = (int)reader.Integer(v, "activations.autoPrecisionMaxTensors", 0, 100_000) },
                "symmetric" => a with { Symmetric = reader.Boolean(v, "activations.symmetric") },
                "levels" => a with
                {
                    Levels = reader.Enum(v, "activations.levels", ActivationLevels) switch
                    {
                        "log" => ActivationLevelGrid.Log,
                        "weighted-log" => ActivationLevelGrid.WeightedLog,
                        "uniform" => ActivationLevelGrid.Uniform,
                        _ => ActivationLevelGrid.Linear,
                    },
                },
                "levelBits" => a with { LevelBits = (int)reader.Integer(v, "activations.levelBits", MinBits, MaxBits) },
                _ => a with { Percentile = reader.Number(v, "activations.percentile", 50, 100) },
            };
        }
        return a;
    }

    /// <summary>An activation width: 2..8 (int8 storage) or 16 (docs/wide-activations.md); anything else is QB3101 at the value.</summary>
    private static int ActivationBits(Reader reader, PositionedJson v, string where)
    {
        long bits = reader.Integer(v, where, MinBits, WideActivationBits);
        if (bits > MaxBits && bits != WideActivationBits)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, v, $"{where} must be in {MinBits}..{MaxBits} or {WideActivationBits}, found {bits}");
        return (int)bits;
    }

    private static QualitySettings ReadQuality(Reader reader, PositionedJson value)
    {
        reader.ExpectObject(value, "quality");
        reader.CheckKeys(value, "quality", "quality");
        var q = new QualitySettings();
        foreach (var (k, _, _, v) in value.Members)
        {
            q = k switch
            {
                "samples" => q with { Samples = (int)reader.Integer(v, "quality.samples", 0, 10_000) },
                _ => q with { OutputSqnrFloorDb = reader.Number(v, "quality.outputSqnrFloorDb", -100, 200) },
            };
        }
        return q;
    }

    private static EptqSettings ReadEptq(Reader reader, PositionedJson value)
    {
        reader.ExpectObject(value, "eptq");
        reader.CheckKeys(value, "eptq", "eptq");
        var e = new EptqSettings();
        foreach (var (k, _, _, v) in value.Members)
        {
            var where = $"eptq.{k}";
            e = k switch
            {
                "iterations" => e with { Iterations = (int)reader.Integer(v, where, 0, 10_000_000) },
                "samples" => e with { Samples = (int)reader.Integer(v, where, 1, 1_000_000) },
                "batchSize" => e with { BatchSize = (int)reader.Integer(v, where, 1, 4096) },
                "seed" => e with { Seed = (int)reader.Integer(v, where, int.MinValue, int.MaxValue) },
                "hessian" => e with { Hessian = reader.Enum(v, where, ["label-free", "uniform"]) == "uniform" ? EptqHessian.Uniform : EptqHessian.LabelFree },
                "hessianFloor" => e with { HessianFloor = reader.Boolean(v, where) },
                "hessianSamples" => e with { HessianSamples = (int)reader.Integer(v, where, 1, 100_000) },
                "hessianProbes" => e with { HessianProbes = (int)reader.Integer(v, where, 1, 10_000) },
                "learningRate" => e with { LearningRate = reader.Number(v, where, 0, 10) },
                "parameterLearningRate" => e with { ParameterLearningRate = reader.Number(v, where, 0, 10) },
                "regularization" => e with { Regularization = reader.Number(v, where, 0, 1000) },
                "learnScales" => e with { LearnScales = reader.Boolean(v, where) },
                _ => e with { LearnBiases = reader.Boolean(v, where) },
            };
        }
        return e;
    }

    private static CalibrationSettings ReadCalibration(Reader reader, PositionedJson value, string baseDirectory) =>
        ReadSampleSet(reader, value, baseDirectory, "calibration", new CalibrationSettings { BaseDirectory = baseDirectory });

    /// <summary>
    /// A set of samples (calibration, verify): <c>inputs</c> with the same source and recipe syntax in both, and
    /// <c>maxSamples</c>/<c>seed</c>. Keys of the section that are not about samples are left to the caller.
    /// </summary>
    private static CalibrationSettings ReadSampleSet(Reader reader, PositionedJson value, string baseDirectory, string section, CalibrationSettings defaults)
    {
        reader.ExpectObject(value, section);
        reader.CheckKeys(value, section, section);
        var c = defaults with { BaseDirectory = baseDirectory, Section = section };
        foreach (var (k, _, _, v) in value.Members)
        {
            switch (k)
            {
                case "inputs":
                {
                    reader.ExpectObject(v, $"{section}.inputs");
                    var inputs = new List<CalibrationInput>();
                    reader.CheckUniqueKeys(v, $"{section}.inputs");
                    foreach (var (name, _, _, entry) in v.Members)
                        inputs.Add(entry.Kind == JsonValueKind.Object ? ReadCalibrationSource(reader, name, entry, section) : new(name, ReadPattern(reader, entry, $"{section}.inputs.{name}"), entry.Line, entry.Column));
                    c = c with { Inputs = inputs };
                    break;
                }
                case "maxSamples": c = c with { MaxSamples = (int)reader.Integer(v, $"{section}.maxSamples", 0, int.MaxValue) }; break;
                case "seed": c = c with { Seed = (int)reader.Integer(v, $"{section}.seed", int.MinValue, int.MaxValue) }; break;
            }
        }
        return c;
    }

    /// <summary>
    /// verify: held-out samples (as calibration's, every matched file by default) and the thresholds. No samples is
    /// QB3108 at the object: a verify block that checks nothing would pass every build.
    /// </summary>
    private static VerifySettings ReadVerify(Reader reader, PositionedJson value, string baseDirectory)
    {
        var samples = ReadSampleSet(reader, value, baseDirectory, "verify", new CalibrationSettings { MaxSamples = 0 });
        if (samples.Inputs.Count == 0)
            throw reader.Error(DiagnosticCodes.VerifySetEmpty, value,
                "verify names no held-out samples: add \"inputs\" with a file pattern (or images/audio with a recipe) per model input, as in calibration.inputs");
        var v = new VerifySettings { Samples = samples, Line = value.Line, Column = value.Column };
        var positions = new Dictionary<string, (int, int)>(StringComparer.Ordinal);
        foreach (var (k, line, column, x) in value.Members)
        {
            if (!VerifyThresholdKeys.Contains(k)) continue;
            positions[k] = (x.Line, x.Column);
            v = k switch
            {
                "minTop1Agreement" => v with { MinTop1Agreement = reader.Number(x, "verify.minTop1Agreement", 0, 1) },
                "minSqnrDb" => v with { MinSqnrDb = reader.Number(x, "verify.minSqnrDb", -1000, 1000) },
                _ => v with { MaxAbsError = reader.Number(x, "verify.maxAbsError", 0, double.MaxValue) },
            };
        }
        return v with { KeyPositions = positions };
    }

    private static string ReadPattern(Reader reader, PositionedJson value, string where)
    {
        var text = reader.ExpectString(value, where);
        if (text.Length == 0) throw reader.Error(DiagnosticCodes.InvalidConfiguration, value, $"{where} is empty; give a path or a glob such as \"calib/*.npy\"");
        return text;
    }

    /// <summary>
    /// An object entry of calibration.inputs: one source key (tensors, images or audio) with its files, and the
    /// recipe keys of that kind of source (docs/calibration-data.md). A key of another kind is QB3101 at its line.
    /// </summary>
    private static CalibrationInput ReadCalibrationSource(Reader reader, string name, PositionedJson entry, string section)
    {
        var where = $"{section}.inputs.{name}";
        reader.CheckKeys(entry, $"{section}/inputs/*", where);
        var sources = entry.Members.Where(m => CalibrationSourceKeys.Contains(m.Key)).ToList();
        if (sources.Count != 1)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, sources.Count == 0 ? entry.Line : sources[1].Line, sources.Count == 0 ? entry.Column : sources[1].Column,
                $"{where} must name its files with exactly one of \"tensors\", \"images\" or \"audio\"");
        var (kind, _, _, patternValue) = sources[0];
        var pattern = ReadPattern(reader, patternValue, $"{where}.{kind}");
        string[] allowed = kind switch { "images" => [.. ImageRecipeKeys, "scale"], "audio" => [.. AudioRecipeKeys, "scale"], _ => [] };
        foreach (var (k, line, column, _) in entry.Members)
            if (k != kind && !allowed.Contains(k))
                throw reader.Error(DiagnosticCodes.InvalidConfiguration, line, column,
                    $"{where}.{k} does not apply to \"{kind}\"" + (allowed.Length == 0 ? " (tensor files are used as they are)" : $"; allowed with it: {string.Join(", ", allowed)}"));
        CalibrationRecipe? recipe = kind switch
        {
            "images" => ReadImageRecipe(reader, entry, where),
            "audio" => ReadAudioRecipe(reader, entry, where),
            _ => null,
        };
        return new CalibrationInput(name, pattern, patternValue.Line, patternValue.Column, recipe);
    }

    private static ImageRecipe ReadImageRecipe(Reader reader, PositionedJson entry, string where)
    {
        var r = new ImageRecipe();
        PositionedJson? fitAt = null, padAt = null;
        foreach (var (k, _, _, v) in entry.Members)
        {
            var at = $"{where}.{k}";
            switch (k)
            {
                case "resize":
                {
                    var side = reader.Numbers(v, at, 2, 2, 1, MaxImageSide, integers: true);
                    r = r with { Resize = [(int)side[0], (int)side[1]] };
                    break;
                }
                case "fit":
                    fitAt = v;
                    r = r with { Fit = reader.Enum(v, at, ImageFits) switch { "crop" => ImageFit.Crop, "letterbox" => ImageFit.Letterbox, _ => ImageFit.Stretch } };
                    break;
                case "pad": padAt = v; r = r with { Pad = reader.Number(v, at, 0, 255) }; break;
                case "channelOrder":
                    r = r with { ChannelOrder = reader.Enum(v, at, ChannelOrders) switch { "bgr" => ChannelOrder.Bgr, "gray" => ChannelOrder.Gray, _ => ChannelOrder.Rgb } };
                    break;
                case "layout": r = r with { Layout = reader.Enum(v, at, ImageLayouts) == "NHWC" ? ImageLayout.Nhwc : ImageLayout.Nchw }; break;
                case "scale": r = r with { Scale = reader.Number(v, at, -1e6, 1e6) }; break;
                case "mean": r = r with { Mean = reader.Numbers(v, at, 1, 3, -1e6, 1e6) }; break;
                case "std": r = r with { Std = reader.Numbers(v, at, 1, 3, -1e6, 1e6) }; break;
            }
        }
        if (fitAt is not null && r.Resize is null)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, fitAt, $"{where}.fit needs resize: [height, width]");
        if (padAt is not null && r.Fit != ImageFit.Letterbox)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, padAt, $"{where}.pad only applies to fit \"letterbox\"");
        foreach (var (key, values) in new[] { ("mean", r.Mean), ("std", r.Std) })
        {
            var at = entry.Members.FirstOrDefault(m => m.Key == key).Value ?? entry;
            if (values.Length != 1 && values.Length != r.Channels)
                throw reader.Error(DiagnosticCodes.InvalidConfiguration, at,
                    $"{where}.{key} has {values.Length} values; channelOrder \"{ChannelOrders[(int)r.ChannelOrder]}\" has {r.Channels} channel{(r.Channels == 1 ? "" : "s")} (give {r.Channels} or 1 for all)");
            if (key == "std" && values.Any(x => x == 0))
                throw reader.Error(DiagnosticCodes.InvalidConfiguration, at, $"{where}.std must not be 0 (values are divided by it)");
        }
        return r;
    }

    private static AudioRecipe ReadAudioRecipe(Reader reader, PositionedJson entry, string where)
    {
        int? rate = null, window = null;
        var r = new AudioRecipe { SampleRate = 0, Window = 0 };
        PositionedJson? hopAt = null;
        foreach (var (k, _, _, v) in entry.Members)
        {
            var at = $"{where}.{k}";
            switch (k)
            {
                case "sampleRate": rate = (int)reader.Integer(v, at, 1, WavFile.MaxSampleRate); break;
                case "window": window = (int)reader.Integer(v, at, 1, MaxAudioWindow); break;
                case "hop": hopAt = v; r = r with { Hop = (int)reader.Integer(v, at, 1, MaxAudioWindow) }; break;
                case "fileSampleRate": r = r with { FileSampleRate = (int)reader.Integer(v, at, 1, WavFile.MaxSampleRate) }; break;
                case "fileChannels": r = r with { FileChannels = (int)reader.Integer(v, at, 1, WavFile.MaxChannels) }; break;
                case "scale": r = r with { Scale = reader.Number(v, at, -1e9, 1e9) }; break;
            }
        }
        if (rate is null || window is null)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, entry,
                $"{where} needs {(rate is null ? "sampleRate (the rate the model expects, in Hz)" : "window (samples per model input)")}");
        if (r.FileSampleRate is int fileRate && fileRate != rate)
            throw reader.Error(DiagnosticCodes.InvalidConfiguration, entry, $"{where}: fileSampleRate {fileRate} differs from sampleRate {rate}; drop fileSampleRate to resample");
        return r with { SampleRate = rate.Value, Window = window.Value };
    }

    private static List<LayerOverride> ReadLayers(Reader reader, PositionedJson value)
    {
        reader.ExpectObject(value, "layers");
        var layers = new List<LayerOverride>();
        foreach (var (pattern, line, column, entry) in value.Members)
        {
            var where = $"layers[\"{pattern}\"]";
            if (pattern.Length == 0) throw reader.Error(DiagnosticCodes.InvalidConfiguration, line, column, "layers: a key must be a node name or a glob, not \"\"");
            reader.ExpectObject(entry, where);
            reader.CheckKeys(entry, "layers/*", where);
            var o = new LayerOverride { Pattern = pattern, Line = line, Column = column };
            foreach (var (k, _, _, v) in entry.Members)
            {
                if (k == "skip") o = o with { Skip = reader.Boolean(v, $"{where}.skip") };
                else if (k == "activations")
                {
                    reader.ExpectObject(v, $"{where}.activations");
                    reader.CheckKeys(v, "layers/*/activations", $"{where}.activations");
                    foreach (var (_, _, _, bits) in v.Members) o = o with { ActivationBits = ActivationBits(reader, bits, $"{where}.activations.bits") };
                }
                else o = ReadWeightOverride(reader, v, $"{where}.weights", "layers/*/weights", o);
            }
            layers.Add(o);
        }
        return layers;
    }

    /// <summary>Type checks that throw QB3101 at the value's position.</summary>
    private sealed class Reader(string file)
    {
        public QuantBuildException Error(string code, PositionedJson at, string message) => new(code, message, file, at.Line, at.Column);

        public QuantBuildException Error(string code, int line, int column, string message) => new(code, message, file, line, column);

        public void ExpectObject(PositionedJson v, string where)
        {
            if (v.Kind != JsonValueKind.Object) throw Error(DiagnosticCodes.InvalidConfiguration, v, $"{where} must be an object, found {v.KindName}");
        }

        public string ExpectString(PositionedJson v, string where) =>
            v.Kind == JsonValueKind.String ? v.String! : throw Error(DiagnosticCodes.InvalidConfiguration, v, $"{where} must be a string, found {v.KindName}");

        public bool Boolean(PositionedJson v, string where) =>
            v.Kind is JsonValueKind.True or JsonValueKind.False ? v.Boolean
                : throw Error(DiagnosticCodes.InvalidConfiguration, v, $"{where} must be true or false, found {v.KindName}");

        public long Integer(PositionedJson v, string where, long min, long max)
        {
            if (v.Kind != JsonValueKind.Number || !long.TryParse(v.NumberText, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
                throw Error(DiagnosticCodes.InvalidConfiguration, v, $"{where} must be an integer, found {(v.Kind == JsonValueKind.Number ? v.NumberText : v.KindName)}");
            if (n < min || n > max)
                throw Error(DiagnosticCodes.InvalidConfiguration, v, max == long.MaxValue
                    ? $"{where} must be at least {min}, found {n}"
                    : $"{where} must be in {min}..{max}, found {n}");
            return n;
        }

        public double Number(PositionedJson v, string where, double min, double max)
        {
            if (v.Kind != JsonValueKind.Number || !double.TryParse(v.NumberText, NumberStyles.Float, CultureInfo.InvariantCulture, out var x))
                throw Error(DiagnosticCodes.InvalidConfiguration, v, $"{where} must be a number, found {v.KindName}");
            if (x < min || x > max)
                throw Error(DiagnosticCodes.InvalidConfiguration, v, $"{where} must be in {min.ToString(CultureInfo.InvariantCulture)}..{max.ToString(CultureInfo.InvariantCulture)}, found {v.NumberText}");
            return x;
        }

        /// <summary>An array of <paramref name="minCount"/>..<paramref name="maxCount"/> numbers in [min, max].</summary>
        public double[] Numbers(PositionedJson v, string where, int minCount, int maxCount, double min, double max, bool integers = false)
        {
            if (v.Kind != JsonValueKind.Array || v.Items.Count < minCount || v.Items.Count > maxCount)
                throw Error(DiagnosticCodes.InvalidConfiguration, v,
                    $"{where} must be an array of {(minCount == maxCount ? $"{minCount}" : $"{minCount} to {maxCount}")} {(integers ? "integers" : "numbers")}, found {(v.Kind == JsonValueKind.Array ? $"{v.Items.Count} values" : v.KindName)}");
            return v.Items.Select(item => integers ? Integer(item, $"{where}[]", (long)min, (long)max) : Number(item, $"{where}[]", min, max)).ToArray();
        }

        /// <summary>A member name twice (a map whose keys are free, such as model input names).</summary>
        public void CheckUniqueKeys(PositionedJson obj, string where)
        {
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (key, line, column, _) in obj.Members)
                if (!seen.Add(key)) throw Error(DiagnosticCodes.InvalidConfiguration, line, column, $"key \"{key}\" appears twice in {where}");
        }

        public string Enum(PositionedJson v, string where, string[] allowed)
        {
            var text = ExpectString(v, where);
            return allowed.Contains(text, StringComparer.Ordinal) ? text
                : throw Error(DiagnosticCodes.InvalidConfiguration, v, $"{where} \"{text}\" is not one of {string.Join(", ", allowed.Select(a => $"\"{a}\""))}");
        }

        public void CheckKeys(PositionedJson obj, string keyPath, string where)
        {
            var known = KnownKeys[keyPath];
            foreach (var (key, line, column, _) in obj.Members)
            {
                if (!known.Contains(key, StringComparer.Ordinal))
                {
                    var near = known.FirstOrDefault(k => string.Equals(k, key, StringComparison.OrdinalIgnoreCase));
                    throw Error(DiagnosticCodes.InvalidConfiguration, line, column,
                        $"unknown key \"{key}\" in {where}" + (near is null ? "" : $" (did you mean \"{near}\"?)") +
                        $"; allowed: {string.Join(", ", known)}");
                }
            }
            CheckUniqueKeys(obj, where);
        }
    }
}
