using QuantBuild.Compilation;
using System.Text;
using System.Text.Json;
using QuantBuild.Configuration;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Oracle;
using QuantBuild.Quantization;
using QuantBuild.TestData;
using QuantBuild.Tensors;

/// <summary>
/// `mixed`: accuracy of mixed precision and bias correction against uniform widths, every variant run
/// through the pipeline a build runs (a sidecar) and evaluated on the integer runtime (the kernels the
/// generated code calls) against fp32 in the same run.
/// <list type="bullet">
/// <item>MNIST (samples/MnistDigits/Models/mnist.onnx): calibration = 200 training digits picked as
/// samples/run-sample.sh exports them (every 40th training digit); evaluation = the 2,000 held-out
/// digits: accuracy, top-1 agreement with fp32, logits SQNR.</item>
/// <item>openWakeWord embedding: its real input is mel frames, so the two speech clips of
/// .assets/inputs/oww-melspectrogram run through melspectrogram.onnx (float engine), are scaled as
/// openWakeWord does (mel/10 + 2) and cut into 76-frame windows every 4 frames; even windows calibrate,
/// odd windows evaluate (disjoint). Metric: embedding SQNR vs fp32 and the cosine similarity.</item>
/// </list>
/// Bytes are the budget's measure (codes packed at their width plus float32 scales) and the bytes the
/// generated code stores (int4 up to 4 bits, int8 above).
/// </summary>
static class MixedPrecisionSuite
{
    sealed record Variant(string Name, string Weights, string? Budget);

    sealed record Row(string Model, string Variant, double AverageBits, long PackedBytes, long StoredBytes, double? Accuracy, double Agreement,
        double SqnrDb, double Cosine, string ChosenBits, string? Error);

    private static readonly Variant[] Variants =
    [
        new("uniform W8", """{ "bits": 8 }""", null),
        new("uniform W5", """{ "bits": 5 }""", null),
        new("uniform W4", """{ "bits": 4 }""", null),
        new("uniform W3", """{ "bits": 3 }""", null),
        new("mixed avg 5 {2,3,4,8}", """{ "bits": 8 }""", """{ "averageBits": 5, "bits": [2, 3, 4, 8] }"""),
        new("mixed avg 5 {4,8}", """{ "bits": 8 }""", """{ "averageBits": 5, "bits": [4, 8] }"""),
        new("mixed avg 5 {2..8}", """{ "bits": 8 }""", """{ "averageBits": 5, "bits": [2, 3, 4, 5, 6, 7, 8] }"""),
        new("mixed avg 4 {2,3,4,8}", """{ "bits": 8 }""", """{ "averageBits": 4, "bits": [2, 3, 4, 8] }"""),
        new("W4 + bias correction", """{ "bits": 4, "biasCorrection": true }""", null),
        new("W3 + bias correction", """{ "bits": 3, "biasCorrection": true }""", null),
        new("mixed avg 4 + bias correction", """{ "bits": 8, "biasCorrection": true }""", """{ "averageBits": 4, "bits": [2, 3, 4, 8] }"""),
    ];

    public static int Run(BenchOptions options, string root)
    {
        var work = Path.Combine(root, "artifacts", "bench-mixed");
        Directory.CreateDirectory(work);
        var rows = new List<Row>();
        bool all = options.ModelIds is null;
        if (all || options.ModelIds!.Contains("mnist")) rows.AddRange(Mnist(root, work));
        if (all || options.ModelIds!.Contains("oww-embedding")) rows.AddRange(Embedding(root, work));

        var table = new StringBuilder();
        table.AppendLine("| model | variant | avg bits (packed) | weight bytes packed | weight bytes stored | accuracy | top-1 agreement | output SQNR dB | cosine | chosen bits (graph order) |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in rows)
            table.AppendLine(r.Error is not null ? $"| {r.Model} | {r.Variant} | error: {r.Error} | | | | | | | |"
                : $"| {r.Model} | {r.Variant} | {r.AverageBits:0.00} | {r.PackedBytes:N0} | {r.StoredBytes:N0} | {(r.Accuracy is double a ? $"{a:P2}" : "")} | {r.Agreement:P2} | {r.SqnrDb:0.00} | {r.Cosine:0.00000} | {r.ChosenBits} |");
        Console.WriteLine("weights quantized as listed, activations int8 (min-max), evaluated on the integer runtime against fp32 (float engine) in the same run:\n");
        Console.Write(table);
        var outPath = options.OutPath ?? Path.Combine(root, "artifacts", "bench-mixed.json");
        File.WriteAllText(outPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"\nwrote {outPath}");
        return rows.All(r => r.Error is null) ? 0 : 1;
    }

    private static IEnumerable<Row> Mnist(string root, string work)
    {
        var data = MnistBench.Load(root);
        var calibration = MnistBench.WriteCalibration(data, Path.Combine(work, "mnist-calibration"), 200);
        var evaluation = data.HeldOutIndices.Select(i => new Dictionary<string, Tensor> { ["input"] = MnistBench.Image(data, i) }).ToList();
        var labels = data.HeldOutIndices.Select(i => (int)data.Labels[i]).ToArray();
        return Evaluate("mnist", MnistBench.ModelPath(root), new() { ["input"] = calibration }, evaluation, labels, work);
    }

    private static IEnumerable<Row> Embedding(string root, string work)
    {
        var assets = Path.Combine(root, ".assets");
        var catalog = RealModelCatalog.Load(assets);
        var mel = catalog.First(m => m.Id == "oww-melspectrogram");
        var embedding = catalog.First(m => m.Id == "oww-embedding");
        var melGraph = OnnxImporter.Load(mel.ModelPath);
        QuantBuild.Graph.Transforms.GraphPreparation.Prepare(melGraph, inferShapes: false);
        var melEngine = new InferenceEngine(melGraph);
        var windows = new List<Tensor>();
        const int frames = 76, bands = 32, step = 4;
        foreach (var clip in mel.Cases)
        {
            var spectrogram = melEngine.Run(clip.LoadInputs()).Values.First().Floats;
            int total = spectrogram.Length / bands;
            for (int start = 0; start + frames <= total; start += step)
            {
                var window = new float[frames * bands];
                for (int k = 0; k < window.Length; k++) window[k] = spectrogram[start * bands + k] / 10f + 2f;
                windows.Add(Tensor.FromFloats(window, 1, frames, bands, 1));
            }
        }
        var calibration = Path.Combine(work, "oww-embedding-calibration");
        if (Directory.Exists(calibration)) Directory.Delete(calibration, recursive: true);
        Directory.CreateDirectory(calibration);
        var evaluation = new List<Dictionary<string, Tensor>>();
        for (int w = 0; w < windows.Count; w++)
        {
            if (w % 2 == 0) NpyFile.Write(Path.Combine(calibration, $"w{w:D3}.npy"), windows[w]);
            else evaluation.Add(new() { ["input_1"] = windows[w] });
        }
        Console.Error.WriteLine($"oww-embedding: {windows.Count} windows of {frames} mel frames ({(windows.Count + 1) / 2} calibrate, {evaluation.Count} evaluate)");
        return Evaluate("oww-embedding", embedding.ModelPath, new() { ["input_1"] = Path.Combine(calibration, "*.npy") }, evaluation, null, work);
    }

    private static List<Row> Evaluate(string id, string modelPath, Dictionary<string, string> calibration, List<Dictionary<string, Tensor>> evaluation,
        int[]? labels, string work)
    {
        var floatGraph = OnnxImporter.Load(modelPath);
        QuantBuild.Graph.Transforms.GraphPreparation.Prepare(floatGraph);
        var floatEngine = new InferenceEngine(floatGraph);
        var reference = evaluation.Select(feeds => floatEngine.Run(feeds).Values.First().Floats.ToArray()).ToList();
        var rows = new List<Row>();
        if (labels is not null)
            Console.Error.WriteLine($"{id}: fp32 accuracy {Enumerable.Range(0, labels.Length).Count(i => ArgMax(reference[i]) == labels[i]) / (double)labels.Length:P2}");
        foreach (var variant in Variants)
        {
            Console.Error.WriteLine($"{id}: {variant.Name} ...");
            var sidecar = Path.Combine(work, $"{id}-{string.Concat(variant.Name.Where(char.IsLetterOrDigit))}.quant.json");
            var inputs = string.Join(", ", calibration.Select(kv => $"{JsonSerializer.Serialize(kv.Key)}: {JsonSerializer.Serialize(kv.Value)}"));
            File.WriteAllText(sidecar, $$"""
                { "weights": {{variant.Weights}}, "calibration": { "inputs": { {{inputs}} }, "maxSamples": 256 }{{(variant.Budget is null ? "" : $", \"budget\": {variant.Budget}")}} }
                """);
            try
            {
                var compiled = ModelCompiler.Compile(modelPath, sidecar, new EngineOptions { MaxDegreeOfParallelism = 1 });
                var result = compiled.Pipeline;
                var runner = new IntegerModelRunner(compiled.RequirePlan());
                var plan = runner.Plan;
                double signal = 0, noise = 0, cosine = 0;
                int agree = 0, correct = 0;
                for (int i = 0; i < evaluation.Count; i++)
                {
                    var y = runner.Run(evaluation[i]).Values.First().Floats;
                    var r = reference[i];
                    double dot = 0, yy = 0, rr = 0;
                    for (int k = 0; k < r.Length; k++)
                    {
                        double d = y[k] - r[k];
                        signal += (double)r[k] * r[k];
                        noise += d * d;
                        dot += (double)y[k] * r[k]; yy += (double)y[k] * y[k]; rr += (double)r[k] * r[k];
                    }
                    cosine += dot / Math.Sqrt(Math.Max(1e-30, yy * rr));
                    if (ArgMax(y) == ArgMax(r)) agree++;
                    if (labels is not null && ArgMax(y) == labels[i]) correct++;
                }
                var weights = result.Model.Weights.Values.ToList();
                long elements = weights.Sum(w => (long)w.Codes.Length);
                long packed = weights.Sum(QuantizationPipeline.QuantizedWeightBytes);
                long stored = weights.Sum(w => ((long)w.Codes.Length * (w.Bits <= 4 ? 4 : 8) + 7) / 8 + 4L * w.Scales.Length);
                double averageBits = weights.Sum(w => (double)w.Codes.Length * w.Bits) / Math.Max(1, elements);
                var chosen = result.Model.BitAllocation is null ? "" : string.Concat(result.Model.BitAllocation.Layers.Select(l => l.Bits.ToString()));
                rows.Add(new Row(id, variant.Name, averageBits, packed, stored, labels is null ? null : correct / (double)evaluation.Count,
                    agree / (double)evaluation.Count, 10 * Math.Log10(signal / Math.Max(1e-30, noise)), cosine / evaluation.Count, chosen, null));
            }
            catch (Exception e) when (e is QuantBuild.Diagnostics.QuantBuildException or NotSupportedException)
            {
                rows.Add(new Row(id, variant.Name, 0, 0, 0, null, 0, 0, 0, "", e.Message));
            }
        }
        return rows;
    }

    private static int ArgMax(ReadOnlySpan<float> v)
    {
        int best = 0;
        for (int i = 1; i < v.Length; i++) if (v[i] > v[best]) best = i;
        return best;
    }
}
