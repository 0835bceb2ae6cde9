using QuantBuild.Calibration;
using QuantBuild.Configuration;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Tensors;

namespace QuantBuild.Compilation;

/// <summary>How closely one value of the integer plan follows the float model over the measured samples.</summary>
/// <param name="SqnrDb">10·log10(Σ ref² / Σ (ref − ours)²); +∞ when they agree exactly</param>
/// <param name="ObservedMin">smallest float value seen (the float model's)</param>
/// <param name="ClippedFraction">share of the float values outside the int8 grid's range [(−128 − z)·s, (127 − z)·s] (0 for float values)</param>
/// <param name="Histogram">the float values over a frame a quarter wider than the int8 grid on each side (activations only; docs/html-report.md)</param>
public sealed record ValueQuality(string Name, double SqnrDb, float ObservedMin, float ObservedMax, float RangeMin, float RangeMax, double ClippedFraction,
    Reporting.ValueHistogram? Histogram = null);

/// <summary>
/// The integer plan measured against the float model on calibration samples, at build time: every model output,
/// and every int8 activation the plan stores (in plan order), so a user sees which output lost precision and
/// where along the network the loss starts (docs/output-quality.md).
/// </summary>
public sealed record OutputQualityResult(int Samples, double FloorDb, IReadOnlyList<ValueQuality> Outputs, IReadOnlyList<ValueQuality> Activations)
{
    /// <summary>What automatic 16-bit promotion did (docs/wide-activations.md), said in the warning; null when it did not run.</summary>
    public string? PromotionSummary { get; init; }

    /// <summary>Outputs below the floor, with the activations that lose the most on the way (for the warning).</summary>
    public IEnumerable<string> Warnings()
    {
        foreach (var o in Outputs.Where(o => o.SqnrDb < FloorDb))
        {
            var worst = Activations.Where(a => a.SqnrDb < FloorDb).OrderBy(a => a.SqnrDb).Take(3)
                .Select(a => $"'{a.Name}' {Db(a.SqnrDb)} (calibrated range [{a.RangeMin:G4}, {a.RangeMax:G4}], observed [{a.ObservedMin:G4}, {a.ObservedMax:G4}], {a.ClippedFraction:P1} clipped)")
                .ToList();
            yield return $"model output '{o.Name}' of the integer plan has an SQNR of {Db(o.SqnrDb)} against the float model on {Samples} calibration sample{(Samples == 1 ? "" : "s")} " +
                $"(quality.outputSqnrFloorDb = {FloorDb:0.#} dB; observed [{o.ObservedMin:G4}, {o.ObservedMax:G4}])" +
                (worst.Count > 0 ? $"; the largest losses are at {string.Join(", ", worst)}" : "") +
                (PromotionSummary is null ? "" : $"; {PromotionSummary}") +
                "; keep the nodes around them in float (\"layers\": {\"NODE\": {\"skip\": true}}), give them 16-bit activations (\"layers\": {\"NODE\": {\"activations\": {\"bits\": 16}}}), " +
                "try activations.method percentile or mse, or raise the weight bits";
        }
    }

    private static string Db(double db) => double.IsPositiveInfinity(db) ? "+inf dB" : $"{db:0.0} dB";
}

public static class OutputQuality
{
    /// <summary>
    /// Runs the float model (the quantized model's graph, or the original file prepared afresh when EPTQ or bias
    /// correction changed the graph's floats, so they do not leak into the reference) and the integer plan on the first <see cref="QualitySettings.Samples"/>
    /// calibration samples. Sums are accumulated per value in sample order, so the result is deterministic.
    /// </summary>
    public static OutputQualityResult? Measure(string modelPath, PipelineResult pipeline, KernelPlan plan, EngineOptions? engineOptions)
    {
        var settings = pipeline.Settings;
        if (settings.Quality.Samples <= 0) return null;
        var reference = Reference(modelPath, pipeline, out var calibration);
        var engine = new InferenceEngine(reference, engineOptions);
        var runner = new IntegerModelRunner(plan);
        // Stored activations: int8 codes, and 16-bit values the plan holds as floats on their grid (docs/wide-activations.md).
        var int8 = plan.Plan.Tensors.Where(t => (t.Type == PlanElementType.Int8 || t.Grid is not null) && !t.IsConstant && t.ViewOf is null)
            .GroupBy(t => t.Name, StringComparer.Ordinal).Select(g => g.First()).ToList();
        var referenceValues = reference.Producers().Keys.ToHashSet(StringComparer.Ordinal);
        var observed = int8.Where(t => referenceValues.Contains(t.Name)).ToList();
        var stats = observed.ToDictionary(t => t.Name, _ => new Sums(), StringComparer.Ordinal);
        var outputStats = plan.Plan.Outputs.ToDictionary(t => t.Name, _ => new Sums(), StringComparer.Ordinal);
        var byName = observed.ToDictionary(t => t.Name, StringComparer.Ordinal);
        int samples = 0;
        foreach (var sample in CalibrationRunner.EnumerateSamples(reference, calibration, settings.Quality.Samples, settings.SourcePath))
        {
            var codes = new Dictionary<string, sbyte[]>(StringComparer.Ordinal);
            var wide = new Dictionary<string, float[]>(StringComparer.Ordinal);
            var ours = runner.Run(sample.Feeds, codes, wide);
            var floats = engine.Run(sample.Feeds, observed.Select(t => t.Name), (name, value) =>
            {
                if (!byName.TryGetValue(name, out var t)) return;
                if (codes.TryGetValue(name, out var c)) stats[name].Add(value.Floats, c, t.Quant.Scale, t.Quant.ZeroPoint);
                else if (wide.TryGetValue(name, out var w)) stats[name].Add(value.Floats, w, t.Grid);
            });
            foreach (var t in plan.Plan.Outputs)
                if (floats.TryGetValue(t.Name, out var f) && ours.TryGetValue(t.Name, out var q))
                    outputStats[t.Name].Add(f.ToFloatArray(), q.ToFloatArray(), null);
            samples++;
        }
        var outputs = plan.Plan.Outputs.Select(t => outputStats[t.Name].Result(t.Name, GridRange(t))).ToList();
        var activations = observed.Select(t => stats[t.Name].Result(t.Name, GridRange(t))).ToList();
        return new OutputQualityResult(samples, settings.Quality.OutputSqnrFloorDb, outputs, activations);
    }

    /// <summary>
    /// The float model the measurement compares with: the quantized model's graph, which still holds the float model unless
    /// EPTQ or bias correction rewrote its biases; then the original file prepared afresh.
    /// </summary>
    internal static ModelGraph Reference(string modelPath, PipelineResult pipeline, out CalibrationPlan calibration)
    {
        var model = pipeline.Model;
        bool floatsChanged = model.BiasCorrections.Count > 0 || Quantization.Eptq.EptqOptimizer.Applies(model);
        if (floatsChanged) return QuantizationPipeline.PrepareReference(modelPath, pipeline.Settings, out calibration);
        calibration = CalibrationPlan.Resolve(model.Graph, pipeline.Settings);
        return model.Graph;
    }

    /// <summary>The real range a stored value's grid holds: int8 codes, or a 16-bit grid; null for plain float values.</summary>
    private static (float Low, float High)? GridRange(PlanTensor t) =>
        t.Type == PlanElementType.Int8 ? ((sbyte.MinValue - t.Quant.ZeroPoint) * t.Quant.Scale, (sbyte.MaxValue - t.Quant.ZeroPoint) * t.Quant.Scale)
        : t.Grid is { } g ? ((g.QMin - g.ZeroPoint) * g.Scale, (g.QMax - g.ZeroPoint) * g.Scale)
        : null;

    /// <summary>Running sums of one value: signal and error energy (in double), extremes, clipped count.</summary>
    private sealed class Sums
    {
        private double _signal, _error;
        private long _count, _clipped;
        private float _min = float.PositiveInfinity, _max = float.NegativeInfinity;

        /// <summary>Code units −160..160 in 80 bins of 4 codes: the grid [−128, 128) is bins 8..71, with room to show what it clips.</summary>
        private Reporting.ValueHistogram? _histogram;

        public void Add(float[] reference, sbyte[] codes, float scale, int zeroPoint)
        {
            float low = (sbyte.MinValue - zeroPoint) * scale, high = (sbyte.MaxValue - zeroPoint) * scale;
            _histogram ??= new Reporting.ValueHistogram((-160.0 - zeroPoint) * scale, (160.0 - zeroPoint) * scale, 80);
            for (int i = 0; i < reference.Length && i < codes.Length; i++) _histogram.Add(reference[i]);
            for (int i = 0; i < reference.Length && i < codes.Length; i++)
            {
                double r = reference[i], e = r - (codes[i] - zeroPoint) * (double)scale;
                _signal += r * r;
                _error += e * e;
                if (reference[i] < low || reference[i] > high) _clipped++;
                _min = Math.Min(_min, reference[i]);
                _max = Math.Max(_max, reference[i]);
            }
            _count += Math.Min(reference.Length, codes.Length);
        }

        /// <summary>Float values (a model output, or a 16-bit activation on <paramref name="grid"/>, whose range counts clipping).</summary>
        public void Add(float[] reference, float[] ours, ActivationQuantization? grid)
        {
            float low = grid is null ? float.NegativeInfinity : (grid.QMin - grid.ZeroPoint) * grid.Scale;
            float high = grid is null ? float.PositiveInfinity : (grid.QMax - grid.ZeroPoint) * grid.Scale;
            for (int i = 0; i < reference.Length && i < ours.Length; i++)
            {
                double r = reference[i], e = r - ours[i];
                _signal += r * r;
                _error += e * e;
                if (reference[i] < low || reference[i] > high) _clipped++;
                _min = Math.Min(_min, reference[i]);
                _max = Math.Max(_max, reference[i]);
            }
            _count += Math.Min(reference.Length, ours.Length);
        }

        public ValueQuality Result(string name, (float Low, float High)? range)
        {
            double sqnr = _error == 0 ? double.PositiveInfinity : _signal == 0 ? double.NegativeInfinity : 10 * Math.Log10(_signal / _error);
            float low = range?.Low ?? float.NegativeInfinity;
            float high = range?.High ?? float.PositiveInfinity;
            if (_count == 0) { _min = 0; _max = 0; }
            return new ValueQuality(name, sqnr, _min, _max, low, high, _count == 0 ? 0 : (double)_clipped / _count, _histogram);
        }
    }
}
