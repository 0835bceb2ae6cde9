using System.Globalization;
using System.Text.Json;
using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Quantization;

namespace QuantBuild.Emit;

/// <summary>
/// <c>&lt;Name&gt;.report.json</c>: model, settings, per-layer weight bits/method/scale range/SQNR,
/// activation ranges and parameters, fp32 vs quantized weight bytes, float nodes. Everything in it is
/// a function of the inputs (no timestamps, no absolute paths, no timings — those go to the log), so
/// identical inputs give a byte-identical report and build outputs stay reproducible.
/// </summary>
public static class QuantizationReport
{
    public const int FormatVersion = 1;

    /// <param name="calls">the compiled plan of the generated C#, when it is emitted: its steps, kernels and data are summarized under generatedCode</param>
    /// <param name="qdq">the QDQ model as the .quant.onnx holds it, when the caller emitted it already (its stored constants are counted; otherwise it is emitted here)</param>
    /// <param name="quality">the build's measurement of the integer plan against the float model (docs/output-quality.md), when it ran</param>
    /// <param name="verify">build-time verification on held-out samples (docs/verify.md), when the sidecar asks for it: the last section</param>
    /// <param name="precision">what automatic 16-bit promotion did (docs/wide-activations.md), when it ran</param>
    public static byte[] Write(string modelFileName, PipelineResult result, IReadOnlyDictionary<string, long>? outputSizes = null, Lowering.KernelPlan? calls = null,
        Onnx.Proto.ModelProto? qdq = null, Compilation.OutputQualityResult? quality = null, Verification.VerifyResult? verify = null,
        Compilation.PrecisionChoices? precision = null)
    {
        var model = result.Model;
        var settings = result.Settings;
        var graph = model.Graph;
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            json.WriteStartObject();
            json.WriteNumber("formatVersion", FormatVersion);
            json.WriteString("model", modelFileName);
            json.WriteString("represents",
                "QDQ ONNX: weight codes with per-channel scales (int8; 4 bits or less as opset-21 INT4, two per byte; 5-7 bits as int8 codes inside the narrower grid), int32 biases, " +
                "and QuantizeLinear/DequantizeLinear pairs on quantized activations; ONNX Runtime fuses them into its integer kernels. " +
                "Nodes listed under floatNodes compute in float on dequantized inputs." +
                (model.Weights.Values.Any(w => w.Encoding == WeightEncoding.Codebook)
                    ? " Codebook weights (layers with encoding \"codebook\": LogQuant/WEQ) are a uint8 index tensor Gathered from a DequantizeLinear'd int8 level table " +
                      "(one per layer or per output channel, flattened with channel offsets), or, where all channels share one table (\"codebooks\": 1 with per-channel \"codebookScales\"), " +
                      "the int8 levels Gathered from that table and DequantizeLinear'd with the channels' scales; ONNX Runtime runs those layers in float on the decoded weights, which equal level·scale exactly."
                    : "") +
                (model.Activations.Values.Any(a => a.Bits > 8)
                    ? " 16-bit activations (bits 16 under activations; chosen automatically ones are listed under precisionChoices) have int16 QuantizeLinear/DequantizeLinear, " +
                      "which need opset 21, so the file is at opset 21; the generated code holds them as float32 values rounded to the same 16-bit grid and runs the nodes next to them in float."
                    : "") +
                (model.LevelActivations.Count > 0
                    ? " Level-coded activations (listed under levelActivations: ReLU outputs re-coded on a log, weighted-log or uniform grid) keep their linear QuantizeLinear; " +
                      "the codes are Cast to int32, offset by −qmin and Gathered from a float table of 256 entries (one per code) holding the value of the level that code maps to " +
                      "(the generated code's int16 level · table scale, exactly), and the consuming Conv/Gemm/MatMul reads those values: ONNX Runtime runs those layers in float, " +
                      "on the same values the integer runtime's level kernels multiply."
                    : ""));

            json.WriteStartObject("settings");
            json.WriteString("sidecar", settings.SourcePath is null ? null : Path.GetFileName(settings.SourcePath));
            json.WriteStartObject("weights");
            json.WriteString("method", WeightMethods.Name(settings.Weights.Method));
            json.WriteNumber("bits", settings.Weights.Bits);
            json.WriteBoolean("perChannel", settings.Weights.PerChannel);
            json.WriteBoolean("symmetric", settings.Weights.Symmetric);
            json.WriteString("range", settings.Weights.Range == WeightRangeMethod.Mse ? "mse" : "minmax");
            json.WriteEndObject();
            json.WriteStartObject("activations");
            json.WriteString("method", settings.Activations.Method.ToString().ToLowerInvariant());
            json.WriteNumber("bits", settings.Activations.Bits);
            json.WriteBoolean("symmetric", settings.Activations.Symmetric);
            if (settings.Activations.Method == CalibrationMethod.Percentile) json.WriteNumber("percentile", settings.Activations.Percentile);
            if (settings.Activations.Levels != ActivationLevelGrid.Linear)
            {
                json.WriteString("levels", SidecarParser.ActivationLevels[(int)settings.Activations.Levels]);
                json.WriteNumber("levelBits", settings.Activations.LevelBits);
            }
            json.WriteEndObject();
            json.WriteStartObject("calibration");
            json.WriteNumber("samples", int.Parse(model.Notes.GetValueOrDefault("calibration.samples", "0"), CultureInfo.InvariantCulture));
            json.WriteNumber("files", result.CalibrationFilesRead.Count);
            json.WriteNumber("maxSamples", settings.Calibration.MaxSamples);
            json.WriteNumber("seed", settings.Calibration.Seed);
            json.WriteEndObject();
            if (settings.WeightByteBudget is long budget) json.WriteNumber("weightByteBudget", budget);
            if (settings.AverageBitsBudget is double averageBits) json.WriteNumber("weightAverageBitsBudget", averageBits);
            json.WriteEndObject();

            json.WriteStartObject("notes");
            foreach (var (k, v) in model.Notes.OrderBy(kv => kv.Key, StringComparer.Ordinal)) json.WriteString(k, v);
            json.WriteEndObject();

            long floatBytes = 0, quantBytes = 0;
            var measured = quality?.Activations.Select(a => a.Name).ToHashSet(StringComparer.Ordinal);
            var consumers = graph.Consumers();
            json.WriteStartArray("layers");
            foreach (var node in graph.Nodes)
            {
                if (!model.Weights.TryGetValue(node.Name, out var w)) continue;
                var original = graph.Initializers[w.WeightName].Floats;
                var dequantized = w.Dequantize();
                long fb = 4L * original.Length, qb = QuantizationPipeline.QuantizedWeightBytes(w);
                floatBytes += fb;
                quantBytes += qb;
                json.WriteStartObject();
                json.WriteString("node", node.Name);
                json.WriteString("op", node.OpType);
                json.WriteString("weight", w.WeightName);
                json.WriteStartArray("shape");
                foreach (var d in w.Shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteNumber("bits", w.Bits);
                json.WriteString("method", w.Method);
                json.WriteString("granularity", w.Scales.Length > 1 ? "per-channel" : "per-tensor");
                json.WriteNumber("axis", w.Axis);
                if (w.Encoding == WeightEncoding.Codebook)
                {
                    json.WriteString("encoding", "codebook");
                    // int8 level tables as stored: one per channel, one per layer, or one shared by channels that keep their own scales.
                    json.WriteNumber("codebooks", w.CodebookLevels?.Length ?? w.Codebooks?.Length ?? 0);
                    json.WriteNumber("codebookEntries", 1 << w.Bits);
                    json.WriteNumber("codebookScales", w.Scales.Length);
                }
                else if (w.DecodedFromBits is int indexBits)
                {
                    // The method's levels, stored as int8 codes: smaller than its indices and tables here.
                    json.WriteString("encoding", "decoded-codebook");
                    json.WriteNumber("codebookIndexBits", indexBits);
                }
                WriteFloat(json, "scaleMin", w.Scales.Min());
                WriteFloat(json, "scaleMax", w.Scales.Max());
                WriteFloat(json, "sqnrDb", LinearQuantizer.Sqnr(original, dequantized));
                json.WriteNumber("fp32Bytes", fb);
                json.WriteNumber("quantizedBytes", qb);
                if (w.Quantizer == WeightMethod.Multipoint)
                {
                    json.WriteNumber("extraPoints", w.ExtraPoints.Count);
                    json.WriteNumber("maxPointsPerChannel", 1 + (w.ExtraPoints.Count == 0 ? 0 : w.ExtraPoints.GroupBy(p => p.Channel).Max(g => g.Count())));
                }
                if (model.Activations.TryGetValue(node.Inputs[0], out var input)) json.WriteString("input", input.Name);
                if (measured is not null && MeasuredOutput(node, measured, consumers) is { } output) json.WriteString("measuredOutput", output);
                ReportDistributions.WriteWeights(json, w, original, dequantized);
                json.WriteEndObject();
            }
            json.WriteEndArray();

            json.WriteStartArray("activations");
            foreach (var (name, a) in model.Activations)
            {
                json.WriteStartObject();
                json.WriteString("name", name);
                if (result.Ranges.TryGetValue(name, out var r))
                {
                    WriteFloat(json, "min", r.Min);
                    WriteFloat(json, "max", r.Max);
                }
                WriteFloat(json, "scale", a.Scale);
                json.WriteNumber("zeroPoint", a.ZeroPoint);
                json.WriteNumber("bits", a.Bits);
                json.WriteBoolean("signed", a.Signed);
                json.WriteEndObject();
            }
            json.WriteEndArray();

            if (model.LevelActivations.Count > 0) WriteLevelActivations(json, model);
            if (quality is not null) WriteQuality(json, quality);
            if (precision is not null) WritePrecisionChoices(json, precision);

            json.WriteStartArray("floatNodes");
            foreach (var n in model.FloatNodes.Order(StringComparer.Ordinal)) json.WriteStringValue(n);
            json.WriteEndArray();

            if (calls is not null)
            {
                // What the generated C# really runs in float: the excluded nodes plus any node without an
                // integer kernel, each between dequantize and quantize of its int8 neighbours.
                var plan = calls.Plan;
                json.WriteStartObject("generatedCode");
                json.WriteNumber("integerSteps", plan.Steps.Count(s => !s.IsFloat));
                json.WriteNumber("floatSteps", plan.Steps.Count(s => s.IsFloat));
                // The runtime kernels the generated class constructs, by type, and the bytes of constant data it compiles in.
                json.WriteStartObject("kernels");
                foreach (var g in calls.Kernels.GroupBy(k => k.Type.Name).OrderBy(g => g.Key, StringComparer.Ordinal)) json.WriteNumber(g.Key, g.Count());
                json.WriteEndObject();
                json.WriteStartObject("dataBytes");
                foreach (var g in calls.Data.GroupBy(d => d.Role).OrderBy(g => g.Key)) json.WriteNumber(char.ToLowerInvariant(g.Key.ToString()[0]) + g.Key.ToString()[1..], g.Sum(d => d.ByteLength));
                json.WriteEndObject();
                json.WriteNumber("arenaBytes", calls.ArenaBytes);
                json.WriteStartArray("floatNodes");
                foreach (var f in plan.Steps.OfType<Lowering.FloatStep>())
                {
                    json.WriteStartObject();
                    json.WriteString("node", f.NodeName);
                    json.WriteString("op", f.OpType);
                    json.WriteString("reason", f.Reason);
                    json.WriteEndObject();
                }
                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteStartObject("sizes");
            json.WriteNumber("weightsFp32Bytes", floatBytes);
            json.WriteNumber("weightsQuantizedBytes", quantBytes);
            WriteFloat(json, "weightCompression", quantBytes == 0 ? 0 : (double)floatBytes / quantBytes);
            if (model.Weights.Values.Any(w => w.Quantizer == WeightMethod.Multipoint))
            {
                // Against single-point quantization at the same bits: what the extra points add.
                var mp = MultipointOverhead.Of(model);
                json.WriteStartObject("multipoint");
                json.WriteNumber("layers", mp.Layers);
                json.WriteNumber("channels", mp.Channels);
                json.WriteNumber("extraPoints", mp.ExtraPoints);
                json.WriteNumber("extraBytes", mp.ExtraBytes);
                json.WriteNumber("extraStoredBytes", mp.ExtraStoredBytes);
                WriteFloat(json, "memoryOverhead", mp.MemoryOverhead);
                json.WriteNumber("singlePointMacs", mp.SingleMacs);
                json.WriteNumber("extraMacs", mp.ExtraMacs);
                WriteFloat(json, "macOverhead", mp.MacOverhead);
                json.WriteEndObject();
            }
            if (outputSizes is not null)
                foreach (var (file, size) in outputSizes.OrderBy(kv => kv.Key, StringComparer.Ordinal)) json.WriteNumber(file, size);
            WriteStoredConstants(json, result, calls, qdq);
            json.WriteEndObject();
            QuantizationReportSections.Write(json, model);
            if (verify is not null) VerifyReportSection.Write(json, verify);
            json.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
        return stream.ToArray();
    }

    /// <summary>
    /// What each output really stores, against one fp32 reference: weightCompression above counts only the
    /// quantized layers' weights, while the files also hold biases, scales, folded constants (a padding block
    /// of zeros) and, in generated code, the data of float steps — BlazeFace's QDQ file was larger than its
    /// fp32 one while weightCompression said 3.68. Bytes are binary sizes (not the C# text that spells them).
    /// </summary>
    private static void WriteStoredConstants(Utf8JsonWriter json, PipelineResult result, Lowering.KernelPlan? calls, Onnx.Proto.ModelProto? qdq)
    {
        var graph = result.Model.Graph;
        long fp32;
        string reference;
        if (graph.SourcePath is { } source && File.Exists(source))
        {
            // The fp32 file's own constants as it serializes them (initializers and Constant nodes), so a
            // ConstantOfShape block counts as the few bytes the fp32 file spends on it, not as a tensor.
            var proto = Onnx.IO.OnnxModelFile.Load(source, inlineExternalData: true);
            fp32 = proto.Graph.Initializer.Sum(t => (long)t.CalculateSize())
                + proto.Graph.Node.SelectMany(n => n.Attribute).Where(a => a.T is not null).Sum(a => (long)a.T.CalculateSize());
            reference = "the fp32 model file's initializers and Constant-node tensors, serialized";
        }
        else
        {
            fp32 = graph.Initializers.Values.Sum(t => (long)Tensors.DataTypes.SizeInBytes(t.Type) * t.Length);
            reference = "every constant of the prepared fp32 graph at its element size (the source file was not at hand)";
        }
        json.WriteStartObject("storedConstants");
        json.WriteString("fp32Reference", reference);
        json.WriteNumber("fp32Bytes", fp32);
        if (result.Settings.Outputs.Onnx)
        {
            // The initializers exactly as the .quant.onnx serializes them (codes, scales, zero points, biases, shapes).
            qdq ??= QdqOnnxEmitter.Emit(result.Model, result.Settings.Outputs.QdqIntegerType);
            long onnx = qdq.Graph.Initializer.Sum(t => (long)t.CalculateSize());
            json.WriteNumber("quantOnnxBytes", onnx);
            WriteFloat(json, "quantOnnxCompression", onnx == 0 ? 0 : (double)fp32 / onnx);
        }
        if (calls is not null)
        {
            long code = calls.Data.Sum(CSharpEmitter.StoredBytes);
            json.WriteNumber("generatedCodeBytes", code);
            WriteFloat(json, "generatedCodeCompression", code == 0 ? 0 : (double)fp32 / code);
        }
        json.WriteEndObject();
    }

    /// <summary>
    /// The stored activation whose measured SQNR (quality.activations) stands for a layer's output: the layer's own output,
    /// or, when the plan fuses it with what follows (a Conv into its Relu or Clip), the first value of that single-reader
    /// chain the plan stores. Null when none within four nodes is measured.
    /// </summary>
    private static string? MeasuredOutput(Graph.Node node, HashSet<string> measured, Dictionary<string, List<Graph.Node>> consumers)
    {
        var current = node;
        for (int hop = 0; hop < 4 && current.Outputs.Count > 0; hop++)
        {
            var value = current.Outputs[0];
            if (measured.Contains(value)) return value;
            if (!consumers.TryGetValue(value, out var readers) || readers.Count != 1) return null;
            current = readers[0];
        }
        return null;
    }

    /// <summary>Floats (scales, ranges) in their shortest round-trip form.</summary>
    /// <summary>Each level-coded activation: its grid, base and offset (log grids), levels as deployed, and the searched S.</summary>
    /// <summary>quality: per model output and per stored int8 activation (plan order), SQNR of the integer plan against the float model.</summary>
    private static void WriteQuality(Utf8JsonWriter json, Compilation.OutputQualityResult quality)
    {
        json.WriteStartObject("quality");
        json.WriteNumber("samples", quality.Samples);
        WriteFloat(json, "outputSqnrFloorDb", quality.FloorDb);
        void Values(string name, IReadOnlyList<Compilation.ValueQuality> values, bool quantized)
        {
            json.WriteStartArray(name);
            foreach (var v in values)
            {
                json.WriteStartObject();
                json.WriteString("name", v.Name);
                WriteFloat(json, "sqnrDb", v.SqnrDb);
                WriteFloat(json, "observedMin", v.ObservedMin);
                WriteFloat(json, "observedMax", v.ObservedMax);
                if (quantized)
                {
                    WriteFloat(json, "rangeMin", v.RangeMin);
                    WriteFloat(json, "rangeMax", v.RangeMax);
                    WriteFloat(json, "clippedFraction", v.ClippedFraction);
                    v.Histogram?.Write(json, "histogram");
                }
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        Values("outputs", quality.Outputs, quantized: false);
        Values("activations", quality.Activations, quantized: true);
        json.WriteEndObject();
    }

    /// <summary>
    /// precisionChoices: what automatic 16-bit promotion did (docs/wide-activations.md) — the outputs before and after, every promoted
    /// activation with its SQNR before/after and its byte and time cost, every measured trial, and why it stopped.
    /// </summary>
    private static void WritePrecisionChoices(Utf8JsonWriter json, Compilation.PrecisionChoices p)
    {
        json.WriteStartObject("precisionChoices");
        WriteFloat(json, "outputSqnrFloorDb", p.FloorDb);
        json.WriteNumber("maxTensors", p.MaxTensors);
        json.WriteString("stopped", p.Stopped);
        json.WriteString("objective", "sum over model outputs of min(output SQNR, outputSqnrFloorDb), dB, on the quality samples");
        void Outputs(string name, IReadOnlyDictionary<string, double> values)
        {
            json.WriteStartObject(name);
            foreach (var (output, db) in values) WriteFloat(json, output, db);
            json.WriteEndObject();
        }
        Outputs("outputsBeforeDb", p.OutputsBeforeDb);
        Outputs("outputsAfterDb", p.OutputsAfterDb);
        json.WriteStartArray("promoted");
        foreach (var a in p.Promoted)
        {
            json.WriteStartObject();
            json.WriteString("name", a.Name);
            json.WriteNumber("trial", a.Trial);
            json.WriteNumber("bits", Configuration.SidecarParser.WideActivationBits);
            json.WriteNumber("elements", a.Elements);
            WriteFloat(json, "sensitivity", a.Sensitivity);
            WriteFloat(json, "sqnrBeforeDb", a.SqnrBeforeDb);
            WriteFloat(json, "sqnrAfterDb", a.SqnrAfterDb);
            WriteFloat(json, "objectiveBeforeDb", a.ObjectiveBeforeDb);
            WriteFloat(json, "objectiveAfterDb", a.ObjectiveAfterDb);
            json.WriteNumber("arenaBytesAdded", a.ArenaBytesAdded);
            json.WriteNumber("dataBytesAdded", a.DataBytesAdded);
            json.WriteNumber("macsMovedToFloat", a.MacsMovedToFloat);
            json.WriteStartArray("stepsMovedToFloat");
            foreach (var n in a.StepsMovedToFloat) json.WriteStringValue(n);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteStartArray("trials");
        foreach (var t in p.Trials)
        {
            json.WriteStartObject();
            json.WriteNumber("trial", t.Round);
            json.WriteStartArray("names");
            foreach (var n in t.Names) json.WriteStringValue(n);
            json.WriteEndArray();
            WriteFloat(json, "sensitivity", t.Sensitivity);
            WriteFloat(json, "objectiveDb", t.ObjectiveDb);
            Outputs("outputsDb", t.OutputSqnrDb);
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteLevelActivations(Utf8JsonWriter json, QuantizedModel model)
    {
        json.WriteStartArray("levelActivations");
        foreach (var (name, l) in model.LevelActivations.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            json.WriteStartObject();
            json.WriteString("name", name);
            json.WriteString("grid", SidecarParser.ActivationLevels[(int)l.Grid]);
            json.WriteNumber("levelBits", l.Bits);
            if (l.Grid != ActivationLevelGrid.Uniform)
            {
                // Level n ≥ 1 = 2^((offset + (n−1)·step)/16): base 2^(step/16), first level 2^(offset/16).
                json.WriteNumber("stepSixteenths", l.Step);
                json.WriteNumber("offsetSixteenths", l.Offset);
                WriteFloat(json, "base", Math.Pow(2, l.Step / 16.0));
                WriteFloat(json, "firstLevel", (float)l.Levels[1]);
                if (double.IsFinite(l.WeightedEntropy)) WriteFloat(json, "weightedEntropy", l.WeightedEntropy);
            }
            WriteFloat(json, "tableScale", l.TableScale);
            json.WriteStartArray("levels");
            for (int n = 0; n < l.LevelCount; n++) json.WriteNumberValue(l.DeployedLevel(n));
            json.WriteEndArray();
            json.WriteNumber("levelsInUse", l.EncodingTable().Distinct().Count());
            json.WriteEndObject();
        }
        json.WriteEndArray();
    }

    private static void WriteFloat(Utf8JsonWriter json, string name, float value) => json.WriteNumber(name, value);

    /// <summary>Derived figures (SQNR, ratios) to 4 decimals with invariant culture; ±∞ (an exact layer's SQNR) becomes a string, which JSON allows.</summary>
    private static void WriteFloat(Utf8JsonWriter json, string name, double value)
    {
        if (double.IsFinite(value)) json.WriteNumber(name, Math.Round(value, 4));
        else json.WriteString(name, double.IsPositiveInfinity(value) ? "inf" : double.IsNegativeInfinity(value) ? "-inf" : "nan");
    }
}
