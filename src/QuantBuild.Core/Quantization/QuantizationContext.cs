using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Engine;
using QuantBuild.Graph;

namespace QuantBuild.Quantization;

/// <summary>
/// The state one pipeline run shares with quantizers and whole-model passes: the prepared graph,
/// the settings, the calibration data and where to report progress. Samples are loaded at most once
/// and only by the quantizers that need data (EPTQ, bias correction, multipoint placement,
/// sensitivity for mixed precision); plain linear quantization never holds them in memory.
/// </summary>
public sealed class QuantizationContext(ModelGraph graph, QuantizationSettings settings, CalibrationPlan calibration, string modelPath,
    EngineOptions? engineOptions = null, IProgress<string>? progress = null)
{
    private List<CalibrationRunner.Sample>? _samples;
    private int _samplesLimit;

    public ModelGraph Graph { get; } = graph;
    public QuantizationSettings Settings { get; } = settings;
    public CalibrationPlan Calibration { get; } = calibration;
    public string ModelPath { get; } = modelPath;
    public EngineOptions? EngineOptions { get; } = engineOptions;
    public IProgress<string>? Progress { get; } = progress;

    /// <summary>The file diagnostics about configuration should point at: the sidecar, else the model.</summary>
    public string ConfigurationFile => Settings.SourcePath ?? ModelPath;

    /// <summary>
    /// The first <paramref name="maxSamples"/> calibration samples (0 = calibration.maxSamples), in the
    /// same fixed order calibration used. Cached: asking again for as many or fewer costs nothing.
    /// </summary>
    public IReadOnlyList<CalibrationRunner.Sample> Samples(int maxSamples = 0)
    {
        int limit = maxSamples > 0 ? maxSamples : Settings.Calibration.MaxSamples;
        // The cache answers when it holds at least as many samples, or when it already holds them all.
        bool cached = _samples is not null && (_samplesLimit <= 0 || _samples.Count < _samplesLimit || (limit > 0 && limit <= _samplesLimit));
        if (!cached)
        {
            _samples = CalibrationRunner.EnumerateSamples(Graph, Calibration, limit, Settings.SourcePath).ToList();
            _samplesLimit = limit;
        }
        return limit <= 0 || limit >= _samples!.Count ? _samples! : _samples!.GetRange(0, limit);
    }
}
