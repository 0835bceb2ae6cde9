using System.Globalization;

namespace WakeWord;

/// <summary>
/// Turns the head's per-chunk scores into detections: a detection starts at the first chunk whose score reaches
/// the threshold and lasts until the scores have stayed below it for a second (one utterance often scores above,
/// dips for a chunk or two and rises again); it is printed with its start time and its peak. Scores are
/// printed with round-trip formatting ("R"), so two runs of the chain (JIT and NativeAOT builds, or the quantized
/// chain and the fp32 reference) can be compared as text, byte for byte.
/// Shared with the fp32 reference in tests/QuantBuild.Benchmarks, which prints through this same class.
/// </summary>
public sealed class Detections(TextWriter output, string keyword, float threshold, bool printScores)
{
    private const double MergeSeconds = 1.0;
    private int _count;
    private double _start, _peakAt, _lastAbove;
    private float _peak = float.NaN;

    public int Count => _count;

    /// <summary>
    /// Streams a 16 kHz 16-bit mono WAV file through the chain chunk by chunk (a partial last chunk is not used) and
    /// prints its length, its detections and their count. Returns the count.
    /// </summary>
    public static int Listen(string file, ModelCall mel, ModelCall embedding, ModelCall head, float threshold, bool printScores, TextWriter output)
    {
        var audio = WavFile.ReadPcm16Mono(file, WakeWordStream.SampleRate);
        var name = Path.GetFileName(file);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {audio.Length / (double)WakeWordStream.SampleRate:F2} s"));
        var stream = new WakeWordStream(mel, embedding, head);
        var detections = new Detections(output, "alexa", threshold, printScores);
        for (int at = 0; at + WakeWordStream.ChunkSamples <= audio.Length; at += WakeWordStream.ChunkSamples)
            if (stream.Push(audio.AsSpan(at, WakeWordStream.ChunkSamples), out float score)) detections.Add(stream.Seconds, score);
        detections.Flush();
        output.WriteLine($"{name}: {detections.Count} detection(s)");
        return detections.Count;
    }

    /// <summary>The score of the chunk that ended <paramref name="seconds"/> into the stream.</summary>
    public void Add(double seconds, float score)
    {
        if (printScores) output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"score {seconds:F2} s {score.ToString("R", CultureInfo.InvariantCulture)}"));
        if (score >= threshold)
        {
            if (float.IsNaN(_peak)) { _start = seconds; _peak = float.NegativeInfinity; }
            if (score > _peak) { _peak = score; _peakAt = seconds; }
            _lastAbove = seconds;
        }
        else if (seconds - _lastAbove >= MergeSeconds) Flush();
    }

    /// <summary>Ends a detection still open at the end of the stream.</summary>
    public void Flush()
    {
        if (float.IsNaN(_peak)) return;
        _count++;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"detected \"{keyword}\" at {_start:F2} s (peak {_peak.ToString("R", CultureInfo.InvariantCulture)} at {_peakAt:F2} s)"));
        _peak = float.NaN;
    }
}
