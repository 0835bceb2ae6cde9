using System.Diagnostics;
using System.Globalization;
using System.Runtime.Intrinsics;
using WakeWord;

// A wake-word listener as it would run on a device: 16 kHz audio in 80 ms chunks through openWakeWord's chain.
// The three classes were generated at build time from Models/*.onnx and their sidecars (see WakeWord.csproj):
// MelSpectrogram runs every node as a float kernel (the sidecar skips them all), SpeechEmbedding and AlexaHead
// are int8. The app reads WAV files instead of a microphone so that its output can be checked.
//
//   WakeWord [--scores] [--threshold T] FILE.wav ...   detections per file (--scores: every chunk's score too)
//   WakeWord --first FILE.wav                           one inference of the chain, then exit (cold-start timing)
//   WakeWord --bench N FILE.wav                         steady-state latency of one chunk (mel + embedding + head)
var mel = new MelSpectrogram();
var embedding = new SpeechEmbedding();
var head = new AlexaHead();

bool printScores = false;
float threshold = 0.5f;
int benchIterations = 0;
bool firstOnly = false;
var files = new List<string>();
for (int i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--scores": printScores = true; break;
        case "--threshold" when i + 1 < args.Length: threshold = float.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--bench" when i + 1 < args.Length: benchIterations = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
        case "--first": firstOnly = true; break;
        default:
            if (args[i].StartsWith("--", StringComparison.Ordinal)) return Usage($"unknown option {args[i]}");
            files.Add(args[i]);
            break;
    }
}
if (files.Count == 0) return Usage("no WAV file given");

try
{
    if (firstOnly || benchIterations > 0) return Time(files[0]);
    foreach (var file in files) Detections.Listen(file, mel.Run, embedding.Run, head.Run, threshold, printScores, Console.Out);
    return 0;
}
catch (InvalidDataException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}

// One chunk through all three models, on the file's first samples: the work the stream does per chunk once it is
// scoring. --first stops after one: a process timed from launch to exit measures start-up plus first inference
// (samples/publish-wakeword.sh measure).
int Time(string file)
{
    var audio = WavFile.ReadPcm16Mono(file, WakeWordStream.SampleRate);
    if (audio.Length < WakeWordStream.MelInputSamples) throw new InvalidDataException($"{file}: shorter than one mel input");
    var melIn = audio.AsSpan(0, WakeWordStream.MelInputSamples).ToArray();
    var melOut = new float[WakeWordStream.FramesPerChunk * WakeWordStream.MelBins];
    var frames = new float[WakeWordStream.WindowFrames * WakeWordStream.MelBins];
    var embeddings = new float[WakeWordStream.SequenceLength * WakeWordStream.EmbeddingSize];
    var score = new float[1];
    void Chunk()
    {
        mel.Run(melIn, melOut);
        embedding.Run(frames, embeddings.AsSpan(0, WakeWordStream.EmbeddingSize));
        head.Run(embeddings, score);
    }
    Chunk();
    if (firstOnly)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"first inference: score {score[0]:R}"));
        return 0;
    }
    for (int i = 0; i < Math.Min(benchIterations, 50); i++) Chunk();  // warm-up
    // Median and fastest run: on a shared machine the minimum shows what the code costs when it gets a core.
    (double Median, double Min) Measure(Action step)
    {
        var times = new double[benchIterations];
        for (int i = 0; i < benchIterations; i++)
        {
            long start = Stopwatch.GetTimestamp();
            step();
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(times);
        return (times[times.Length / 2], times[0]);
    }
    var chunk = Measure(Chunk);
    var melMs = Measure(() => mel.Run(melIn, melOut));
    var embeddingMs = Measure(() => embedding.Run(frames, embeddings.AsSpan(0, WakeWordStream.EmbeddingSize)));
    var headMs = Measure(() => head.Run(embeddings, score));
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"one chunk: median {chunk.Median:F3} ms, min {chunk.Min:F3} (mel {melMs.Median:F3}/{melMs.Min:F3}, embedding {embeddingMs.Median:F3}/{embeddingMs.Min:F3}, " +
        $"head {headMs.Median:F3}/{headMs.Min:F3}) over {benchIterations}; Vector256.IsHardwareAccelerated={Vector256.IsHardwareAccelerated}"));
    return 0;
}

static int Usage(string problem)
{
    Console.Error.WriteLine($"error: {problem}\nusage: WakeWord [--scores] [--threshold T] FILE.wav ... | --first FILE.wav | --bench N FILE.wav");
    return 2;
}
