using QuantBuild.Compilation;
using System.Text;
using System.Text.Json;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Oracle;
using QuantBuild.Quantization;
using QuantBuild.TestData;
using QuantBuild.Tensors;

/// <summary>
/// `multipoint`: multipoint vs single-point linear weights at equal weight bytes (docs/algorithms/multipoint.md), int8
/// activations, through the same pipeline a build runs. Equal bytes two ways: packed at the grid width
/// (3-bit + ρ=1/3 and 2-bit + ρ=1 ≈ 4-bit linear; what a bit-packed format would store) and as our
/// integer runtime stores codes (int4 for ≤ 4 bits: 4-bit + ρ=1 = 8-bit linear). MNIST: held-out
/// accuracy (2,000 digits, calibration 64 training digits) of ONNX Runtime on our QDQ file and of our
/// integer runtime, measured in the same run. Real models: output SQNR against fp32 ONNX Runtime and
/// top-1 agreement, on the models' own input cases (in-sample calibration, as the int8 suite).
/// </summary>
static class MultipointSuite
{
    sealed record Config(string Name, string Method, int Bits, double Extra = 0, int MaxPoints = 4);

    private static readonly Config[] Configs =
    [
        new("linear W8", "linear", 8),
        new("linear W4", "linear", 4),
        new("linear W3", "linear", 3),
        new("linear W2", "linear", 2),
        new("multipoint W4 ρ=1", "multipoint", 4, 1.0),
        new("multipoint W4 ρ=0.25", "multipoint", 4, 0.25),
        new("multipoint W4 ρ=0.05", "multipoint", 4, 0.05),
        new("multipoint W3 ρ=0 (1 point)", "multipoint", 3, 0),
        new("multipoint W3 ρ=1/3", "multipoint", 3, 1.0 / 3),
        new("multipoint W2 ρ=1", "multipoint", 2, 1.0),
    ];

    sealed record Row(string Model, string Config, long PackedBytes, long StoredBytes, double MacOverhead, int ExtraPoints,
        double? OrtMetric, double? OursMetric, double? Agreement, string Metric, string? Error);

    public static int Run(IReadOnlyList<RealModel> models, OrtOracle oracle, BenchOptions options, string root)
    {
        var work = Path.Combine(root, "artifacts", "bench-multipoint");
        Directory.CreateDirectory(work);
        var rows = new List<Row>();
        rows.AddRange(Mnist(oracle, root, work));
        var ids = options.ModelIds ?? ["ppocr-cls", "oww-embedding"];
        foreach (var model in models.Where(m => ids.Contains(m.Id)))
            rows.AddRange(RealModel(model, oracle, work));

        var table = new StringBuilder();
        table.AppendLine("| model | weights | bytes packed at grid bits | bytes as stored by our runtime | MAC overhead | extra points | metric | ORT on QDQ | ours (integer) | ours vs ORT top-1 |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---|---:|---:|---:|");
        foreach (var r in rows)
            table.AppendLine(r.Error is not null
                ? $"| {r.Model} | {r.Config} | error: {r.Error} | | | | | | | |"
                : $"| {r.Model} | {r.Config} | {r.PackedBytes:N0} | {r.StoredBytes:N0} | {r.MacOverhead:P1} | {r.ExtraPoints} | {r.Metric} | {F(r.OrtMetric)} | {F(r.OursMetric)} | {F(r.Agreement)} |");
        Console.WriteLine("multipoint vs linear weights, int8 activations (min-max); MNIST calibration: 64 training digits; real models: their own input cases (in-sample):\n");
        Console.Write(table);
        var outPath = options.OutPath ?? Path.Combine(root, "artifacts", "bench-multipoint.json");
        File.WriteAllText(outPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"\nwrote {outPath}");
        return rows.All(r => r.Error is null) ? 0 : 1;
    }

    private static string F(double? v) => v is double x ? x.ToString("0.00") : "-";

    private static string Sidecar(Config c, string calibration) =>
        $$"""{ "weights": { "method": "{{c.Method}}", "bits": {{c.Bits}}{{(c.Method == "multipoint" ? $$""", "multipoint": { "extraPoints": {{c.Extra.ToString("R")}}, "maxPoints": {{c.MaxPoints}}, "samples": 16 }""" : "")}} }, "calibration": { "inputs": { {{calibration}} } } }""";

    private static (PipelineResult Result, string Qdq, IntegerModelRunner? Runner, long Stored) Build(string modelPath, Config c, string calibration, string work, string stem)
    {
        var sidecar = Path.Combine(work, stem + ".quant.json");
        File.WriteAllText(sidecar, Sidecar(c, calibration));
        var compiled = ModelCompiler.Compile(modelPath, sidecar, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var result = compiled.Pipeline;
        var qdq = Path.Combine(work, stem + ".quant.onnx");
        File.WriteAllBytes(qdq, QdqOnnxEmitter.EmitBytes(result.Model));
        IntegerModelRunner? runner = null;
        long stored = result.Model.Weights.Values.Sum(w => ((long)(w.Codes.Length + (long)w.ExtraPoints.Count * w.ChannelLength) * (w.Bits <= 4 ? 4 : 8) + 7) / 8);
        try
        {
            var calls = compiled.RequirePlan();
            runner = new IntegerModelRunner(calls);
            stored = calls.WeightBytes;
        }
        catch (QuantBuildException e) { Console.Error.WriteLine($"  {stem}: no integer plan ({e.Message})"); }
        return (result, qdq, runner, stored);
    }

    private static IEnumerable<Row> Mnist(OrtOracle oracle, string root, string work)
    {
        var data = MnistBench.Load(root);
        var calibGlob = MnistBench.WriteCalibration(data, Path.Combine(work, "mnist-calib"), 64);
        var held = data.HeldOutIndices;
        var heldFile = Path.Combine(work, "mnist-heldout.npy");
        NpyFile.Write(heldFile, MnistBench.HeldOutBatch(data));
        var modelPath = MnistBench.ModelPath(root);
        var calibration = $"\"input\": {JsonSerializer.Serialize(calibGlob)}";
        var rows = new List<Row>();
        var fp32 = oracle.Run(modelPath, new Dictionary<string, string> { ["input"] = heldFile }, ["logits"])["logits"].Floats;
        rows.Add(new Row("mnist", "fp32", 0, 0, 0, 0, Accuracy(fp32, i => data.Labels[held[i]], held.Length), null, null, "held-out accuracy %", null));
        foreach (var c in Configs)
        {
            Console.Error.WriteLine($"multipoint bench mnist {c.Name} ...");
            try
            {
                var (result, qdq, runner, stored) = Build(modelPath, c, calibration, work, "mnist-" + Stem(c));
                var ort = oracle.Run(qdq, new Dictionary<string, string> { ["input"] = heldFile }, ["logits"])["logits"].Floats;
                double? ours = null, agree = null;
                if (runner is not null)
                {
                    var logits = new float[ort.Length];
                    for (int i = 0; i < held.Length; i++)
                        runner.Run(new Dictionary<string, Tensor> { ["input"] = MnistBench.Image(data, held[i]) })["logits"].Floats.CopyTo(logits, i * 10);
                    ours = Accuracy(logits, i => data.Labels[held[i]], held.Length);
                    agree = Accuracy(logits, i => ArgMax(ort, i, 10), held.Length);
                }
                rows.Add(Describe("mnist", c, result, stored, Accuracy(ort, i => data.Labels[held[i]], held.Length), ours, agree, "held-out accuracy %"));
            }
            catch (Exception e) when (e is QuantBuildException or OracleException) { rows.Add(new Row("mnist", c.Name, 0, 0, 0, 0, null, null, null, "", e.Message)); }
        }
        return rows;
    }

    private static IEnumerable<Row> RealModel(RealModel model, OrtOracle oracle, string work)
    {
        var rows = new List<Row>();
        var casesDir = Path.GetDirectoryName(Path.GetDirectoryName(model.Cases[0].InputFiles.Values.First())!)!;
        var calibration = string.Join(", ", model.Cases[0].InputFiles.Select(kv =>
            $"\"{kv.Key}\": {JsonSerializer.Serialize(Path.Combine(casesDir, "*", Path.GetFileName(kv.Value)))}"));
        var graph = QuantBuild.Graph.OnnxImporter.Load(model.ModelPath);
        var output = graph.Outputs[0].Name;
        var reference = model.Cases.Select(c => oracle.Run(model.ModelPath, c.InputFiles, [output])[output]).ToList();
        foreach (var c in Configs)
        {
            Console.Error.WriteLine($"multipoint bench {model.Id} {c.Name} ...");
            try
            {
                var (result, qdq, runner, stored) = Build(model.ModelPath, c, calibration, work, $"{model.Id}-{Stem(c)}");
                var ort = model.Cases.Select(k => oracle.Run(qdq, k.InputFiles, [output])[output]).ToList();
                var ours = runner is null ? null : model.Cases.Select(k => runner.Run(k.LoadInputs())[output]).ToList();
                int classes = reference[0].Shape[^1];
                double? agree = null;
                if (ours is not null)
                {
                    int same = 0, total = 0;
                    for (int k = 0; k < reference.Count; k++)
                        for (int r = 0; r < reference[k].Length / classes; r++, total++)
                            if (ArgMax(reference[k].Floats, r, classes) == ArgMax(ours[k].Floats, r, classes)) same++;
                    agree = 100.0 * same / total;
                }
                rows.Add(Describe(model.Id, c, result, stored, Sqnr(reference, ort), ours is null ? null : Sqnr(reference, ours), agree,
                    "output SQNR dB vs fp32 (last col: ours vs fp32 top-1 %)"));
            }
            catch (Exception e) when (e is QuantBuildException or OracleException) { rows.Add(new Row(model.Id, c.Name, 0, 0, 0, 0, null, null, null, "", e.Message)); }
        }
        return rows;
    }

    private static string Stem(Config c) => $"{c.Method}-w{c.Bits}-x{(int)Math.Round(c.Extra * 100)}";

    private static Row Describe(string model, Config c, PipelineResult result, long stored, double? ort, double? ours, double? agree, string metric)
    {
        var overhead = MultipointOverhead.Of(result.Model);
        long packed = result.Model.Weights.Values.Sum(QuantizationPipeline.QuantizedWeightBytes);
        return new Row(model, c.Name, packed, stored, overhead.MacOverhead, overhead.ExtraPoints, ort, ours, agree, metric, null);
    }

    private static int ArgMax(float[] v, int row, int classes)
    {
        int best = 0;
        for (int c = 1; c < classes; c++) if (v[row * classes + c] > v[row * classes + best]) best = c;
        return best;
    }

    private static double Accuracy(float[] logits, Func<int, int> label, int count)
    {
        int correct = 0;
        for (int i = 0; i < count; i++) if (ArgMax(logits, i, 10) == label(i)) correct++;
        return 100.0 * correct / count;
    }

    private static double Sqnr(List<Tensor> reference, List<Tensor> approx)
    {
        double signal = 0, noise = 0;
        for (int k = 0; k < reference.Count; k++)
        {
            var a = reference[k].Floats;
            var b = approx[k].Floats;
            for (int i = 0; i < a.Length; i++) { signal += (double)a[i] * a[i]; noise += ((double)a[i] - b[i]) * ((double)a[i] - b[i]); }
        }
        return noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
    }
}
