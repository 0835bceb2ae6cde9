using QuantBuild.Compilation;
using System.Text;
using System.Text.Json;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Lowering;
using QuantBuild.Oracle;
using QuantBuild.Quantization;
using QuantBuild.TestData;
using QuantBuild.Graph;
using QuantBuild.Tensors;
using QuantBuild.Onnx.IO;

/// <summary>
/// `codebook`: weight quantizers side by side (linear min-max, LogQuant, WEQ) at 8/4/3/2 bits with int8
/// activations, through the same pipeline a build runs.
/// MNIST (samples/MnistDigits): calibration = 100 training digits (every 80th), accuracy on the 2,000
/// held-out digits in our integer runtime (one digit per run, as the generated code) and in ONNX Runtime
/// on our QDQ file, plus fp32 in ORT. PaddleOCR direction classifier: top-1 agreement and max |Δ prob| with
/// ORT fp32 on its input cases (calibrated in-sample on the same cases; only a handful of images).
/// Weight bytes = packed codes (+ int8 tables for codebooks) + float32 scales.
/// </summary>
static class CodebookSuite
{
    private static readonly string[] Methods = ["linear", "log", "weq"];
    private static readonly int[] Bits = [8, 4, 3, 2];

    sealed record Row(string Model, string Method, int Bits, double? Ours, double? OrtQdq, double Fp32, long WeightBytes, string? Note);

    public static int Run(IReadOnlyList<RealModel> models, OrtOracle oracle, string root)
    {
        var work = Path.Combine(root, "artifacts", "bench-codebook");
        Directory.CreateDirectory(work);
        var rows = new List<Row>();
        rows.AddRange(Mnist(oracle, root, work));
        if (models.FirstOrDefault(m => m.Id == "ppocr-cls") is { } cls) rows.AddRange(Classifier(cls, oracle, work));

        var table = new StringBuilder();
        table.AppendLine("| model | weights | ours (integer runtime) | ORT on QDQ | fp32 (ORT) | weight bytes | note |");
        table.AppendLine("|---|---|---:|---:|---:|---:|---|");
        foreach (var r in rows)
            table.AppendLine($"| {r.Model} | {r.Method} W{r.Bits}A8 | {Fmt(r.Ours)} | {Fmt(r.OrtQdq)} | {Fmt(r.Fp32)} | {r.WeightBytes:N0} | {r.Note} |");
        Console.WriteLine("MNIST: accuracy on 2,000 held-out digits. ppocr-cls: top-1 agreement with fp32 over its input cases (max |Δ prob| in the note).\n");
        Console.Write(table);
        var outPath = Path.Combine(root, "artifacts", "bench-codebook.json");
        File.WriteAllText(outPath, JsonSerializer.Serialize(rows, new JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"\nwrote {outPath}");
        return 0;
    }

    private static string Fmt(double? v) => v is double d ? $"{d * 100:0.00}%" : "n/a";

    private static (CompiledModel Result, string Qdq, long WeightBytes) Quantize(string modelPath, string calibrationJson, string method, int bits, string work, string id)
    {
        var sidecar = Path.Combine(work, $"{id}-{method}-w{bits}.quant.json");
        File.WriteAllText(sidecar, $$"""{ "weights": { "method": "{{method}}", "bits": {{bits}} }, "calibration": { "inputs": {{calibrationJson}} } }""");
        var result = ModelCompiler.Compile(modelPath, sidecar, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var qdq = Path.Combine(work, $"{id}-{method}-w{bits}.quant.onnx");
        File.WriteAllBytes(qdq, QdqOnnxEmitter.EmitBytes(result.Model));
        return (result, qdq, result.Model.Weights.Values.Sum(QuantizationPipeline.QuantizedWeightBytes));
    }

    private static IntegerModelRunner? TryRunner(CompiledModel result, out string? why)
    {
        try { why = null; return new IntegerModelRunner(result.RequirePlan()); }
        catch (QuantBuildException e) { why = e.Message; return null; }
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    private static IEnumerable<Row> Mnist(OrtOracle oracle, string root, string work)
    {
        var model = MnistBench.ModelPath(root);
        var data = MnistBench.Load(root);
        var calibGlob = MnistBench.WriteCalibration(data, Path.Combine(work, "mnist-calib"), 100);
        var heldOut = data.HeldOutIndices;
        var labels = heldOut.Select(i => data.Labels[i]).ToArray();
        var heldOutFile = Path.Combine(work, "mnist-heldout.npy");
        NpyFile.Write(heldOutFile, MnistBench.HeldOutBatch(data));
        var feeds = new Dictionary<string, string> { ["input"] = heldOutFile };
        double Accuracy(float[] logits) => Enumerable.Range(0, labels.Length).Count(b => ArgMax(logits.AsSpan(b * 10, 10)) == labels[b]) / (double)labels.Length;
        double fp32 = Accuracy(oracle.Run(model, feeds, ["logits"])["logits"].Floats);
        var calibrationJson = $$"""{ "input": {{JsonSerializer.Serialize(calibGlob)}} }""";
        foreach (var method in Methods)
            foreach (var bits in Bits)
            {
                Console.Error.WriteLine($"codebook bench mnist {method} W{bits}A8 ...");
                var (result, qdq, bytes) = Quantize(model, calibrationJson, method, bits, work, "mnist");
                double ort = Accuracy(oracle.Run(qdq, feeds, ["logits"])["logits"].Floats);
                var runner = TryRunner(result, out var why);
                double? ours = null;
                if (runner is not null)
                {
                    int correct = 0;
                    for (int b = 0; b < heldOut.Length; b++)
                    {
                        var logits = runner.Run(new Dictionary<string, Tensor> { ["input"] = MnistBench.Image(data, heldOut[b]) })["logits"].Floats;
                        if (ArgMax(logits) == labels[b]) correct++;
                    }
                    ours = correct / (double)labels.Length;
                }
                yield return new Row("mnist", method, bits, ours, ort, fp32, bytes, why);
            }
    }

    private static IEnumerable<Row> Classifier(RealModel cls, OrtOracle oracle, string work)
    {
        var outputName = OnnxImporter.Load(cls.ModelPath).Outputs[0].Name;
        var reference = cls.Cases.Select(c => oracle.Run(cls.ModelPath, c.InputFiles, [outputName])[outputName]).ToList();
        var first = cls.Cases[0];
        var casesDir = Path.GetDirectoryName(Path.GetDirectoryName(first.InputFiles.Values.First())!)!;
        var calibrationJson = "{ " + string.Join(", ", first.InputFiles.Select(kv =>
            $"\"{kv.Key}\": {JsonSerializer.Serialize(Path.Combine(casesDir, "*", Path.GetFileName(kv.Value)))}")) + " }";
        // Top-1 agreement over every row of every case; also the largest probability difference.
        (double Agreement, double MaxDiff) Compare(IReadOnlyList<Tensor> outputs)
        {
            int agree = 0, rows = 0;
            double maxDiff = 0;
            for (int c = 0; c < outputs.Count; c++)
            {
                var a = reference[c].Floats;
                var b = outputs[c].Floats;
                int classes = reference[c].Shape[^1];
                for (int r = 0; r < a.Length / classes; r++, rows++)
                {
                    if (ArgMax(a.AsSpan(r * classes, classes)) == ArgMax(b.AsSpan(r * classes, classes))) agree++;
                    for (int k = 0; k < classes; k++) maxDiff = Math.Max(maxDiff, Math.Abs(a[r * classes + k] - b[r * classes + k]));
                }
            }
            return (agree / (double)rows, maxDiff);
        }
        foreach (var method in Methods)
            foreach (var bits in Bits)
            {
                Console.Error.WriteLine($"codebook bench ppocr-cls {method} W{bits}A8 ...");
                Row row;
                try
                {
                    var (result, qdq, bytes) = Quantize(cls.ModelPath, calibrationJson, method, bits, work, "ppocr-cls");
                    var (ortAgree, ortDiff) = Compare(cls.Cases.Select(c => oracle.Run(qdq, c.InputFiles, [outputName])[outputName]).ToList());
                    var runner = TryRunner(result, out var why);
                    double? ours = null;
                    string note = $"ORT QDQ max |Δ| {ortDiff:0.000}";
                    if (runner is not null)
                    {
                        var (a, d) = Compare(cls.Cases.Select(c => runner.Run(c.LoadInputs())[outputName]).ToList());
                        ours = a;
                        note += $"; ours max |Δ| {d:0.000}";
                    }
                    else note += "; integer runtime: " + why;
                    row = new Row("ppocr-cls", method, bits, ours, ortAgree, 1.0, bytes, note);
                }
                catch (Exception e) when (e is QuantBuildException or OracleException)
                {
                    row = new Row("ppocr-cls", method, bits, null, null, 1.0, 0, "error: " + e.Message);
                }
                yield return row;
            }
    }
}
