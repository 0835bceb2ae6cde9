namespace WakeWord;

/// <summary>Runs one model on one input; the same shape of call for the generated classes and for a reference runtime.</summary>
public delegate void ModelCall(ReadOnlySpan<float> input, Span<float> output);

/// <summary>
/// openWakeWord's streaming chain, one 80 ms chunk of 16 kHz audio at a time, as its Python package runs it:
/// the melspectrogram model sees the chunk plus the 480 samples before it (1,760 samples give 8 mel frames of 32
/// bins); the frames are scaled as mel/10 + 2 and kept; once 76 frames exist, every chunk embeds the newest 76
/// (the embedding model: 96 values); once 16 embeddings exist, every chunk scores the newest 16 with the
/// wake-word head (one sigmoid score). The samples are int16 values as floats, which is what the models were
/// trained on.
/// The models are passed in, so the sample app (generated integer classes) and the fp32 reference in
/// tests/QuantBuild.Benchmarks (ONNX Runtime) run this same code. Nothing is allocated per chunk.
/// </summary>
public sealed class WakeWordStream
{
    public const int SampleRate = 16000, ChunkSamples = 1280, MelContextSamples = 480, MelInputSamples = ChunkSamples + MelContextSamples;
    public const int FramesPerChunk = 8, MelBins = 32, WindowFrames = 76, EmbeddingSize = 96, SequenceLength = 16;

    private readonly ModelCall _mel, _embedding, _head;
    private readonly float[] _audio = new float[MelInputSamples];
    private readonly float[] _melOut = new float[FramesPerChunk * MelBins];
    private readonly float[] _frames = new float[WindowFrames * MelBins];            // newest 76 frames, oldest first
    private readonly float[] _embeddings = new float[SequenceLength * EmbeddingSize];  // newest 16 embeddings, oldest first
    private readonly float[] _score = new float[1];
    private int _frameCount, _embeddingCount;

    public WakeWordStream(ModelCall mel, ModelCall embedding, ModelCall head)
    {
        _mel = mel;
        _embedding = embedding;
        _head = head;
    }

    /// <summary>Chunks pushed so far.</summary>
    public long Chunks { get; private set; }

    /// <summary>
    /// Feeds the next <see cref="ChunkSamples"/> samples. Returns true and the head's score once 16 embeddings
    /// exist (from the 25th chunk on, 2 s into the stream); false before.
    /// </summary>
    public bool Push(ReadOnlySpan<float> chunk, out float score)
    {
        if (chunk.Length != ChunkSamples) throw new ArgumentException($"a chunk is {ChunkSamples} samples, not {chunk.Length}", nameof(chunk));
        Chunks++;
        _audio.AsSpan(ChunkSamples).CopyTo(_audio);               // the last 480 samples of the previous input
        chunk.CopyTo(_audio.AsSpan(MelContextSamples));
        _mel(_audio, _melOut);
        ShiftIn(_frames, _melOut);
        foreach (ref float v in _frames.AsSpan(_frames.Length - _melOut.Length)) v = v / 10f + 2f;  // openWakeWord's mel scaling
        _frameCount = Math.Min(_frameCount + FramesPerChunk, WindowFrames);
        score = 0;
        if (_frameCount < WindowFrames) return false;

        var embedding = _embeddings.AsSpan(_embeddings.Length - EmbeddingSize);
        _embeddings.AsSpan(EmbeddingSize).CopyTo(_embeddings);
        _embedding(_frames, embedding);
        _embeddingCount = Math.Min(_embeddingCount + 1, SequenceLength);
        if (_embeddingCount < SequenceLength) return false;

        _head(_embeddings, _score);
        score = _score[0];
        return true;
    }

    /// <summary>Seconds of audio at the end of the last chunk pushed.</summary>
    public double Seconds => (double)Chunks * ChunkSamples / SampleRate;

    private static void ShiftIn(float[] buffer, ReadOnlySpan<float> newest)
    {
        buffer.AsSpan(newest.Length).CopyTo(buffer);
        newest.CopyTo(buffer.AsSpan(buffer.Length - newest.Length));
    }
}
