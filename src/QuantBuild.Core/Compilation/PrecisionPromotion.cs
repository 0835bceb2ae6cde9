using QuantBuild.Calibration;
using QuantBuild.Engine;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Tensors;

namespace QuantBuild.Compilation;

/// <summary>One activation automatic promotion widened to 16 bits, with what it measured (docs/wide-activations.md).</summary>
/// <param name="Sensitivity">Σ over the outputs below the floor of the output noise energy / signal energy of the float model with only this tensor rounded to its int8 grid (how candidates are ranked)</param>
/// <param name="SqnrBeforeDb">the plan's SQNR of this tensor before any promotion (int8)</param>
/// <param name="SqnrAfterDb">the plan's SQNR of this tensor with every promotion applied (16 bits); filled in by the final measurement</param>
/// <param name="Trial">the trial that added it; a trial adds one tensor, or (once, when single ones stop helping) several together, and the objective and
/// cost figures below are that trial's</param>
/// <param name="ObjectiveBeforeDb">the promotion objective (Σ over outputs of min(SQNR, floor)) before the trial</param>
/// <param name="ObjectiveAfterDb">the objective after it</param>
/// <param name="ArenaBytesAdded">arena bytes (activations and float scratch) the plan gained in the trial</param>
/// <param name="DataBytesAdded">constant bytes the generated code gained (dequantized float weights of the steps that became float)</param>
/// <param name="MacsMovedToFloat">multiply-accumulates that moved from integer kernels to float kernels (the time cost)</param>
public sealed record PromotedActivation(string Name, int Trial, long Elements, double Sensitivity, double SqnrBeforeDb, double SqnrAfterDb,
    double ObjectiveBeforeDb, double ObjectiveAfterDb, long ArenaBytesAdded, long DataBytesAdded, long MacsMovedToFloat, IReadOnlyList<string> StepsMovedToFloat);

/// <summary>One measured trial: a candidate (with its float-model sensitivity) promoted on top of the ones already chosen, and the objective the plan reached.</summary>
public sealed record PromotionTrial(int Round, IReadOnlyList<string> Names, double Sensitivity, double ObjectiveDb, IReadOnlyDictionary<string, double> OutputSqnrDb);

/// <summary>What automatic precision choice did: the report's <c>precisionChoices</c> section.</summary>
public sealed record PrecisionChoices(double FloorDb, int MaxTensors, IReadOnlyDictionary<string, double> OutputsBeforeDb,
    IReadOnlyDictionary<string, double> OutputsAfterDb, IReadOnlyList<PromotedActivation> Promoted, IReadOnlyList<PromotionTrial> Trials, string Stopped)
{
    /// <summary>One line for the build log and the QB4106 warning.</summary>
    public string Summary =>
        Promoted.Count == 0
            ? $"automatic 16-bit promotion tried {Trials.Count} activation(s) and kept none ({Stopped})"
            : $"automatic 16-bit promotion widened {Promoted.Count} activation(s) ({string.Join(", ", Promoted.Select(p => $"'{p.Name}'"))}; {Stopped}): " +
              string.Join(", ", OutputsBeforeDb.Where(o => o.Value < FloorDb).Select(o => $"'{o.Key}' {o.Value:0.0} → {OutputsAfterDb[o.Key]:0.0} dB"));
}

/// <summary>
/// Automatic precision choice (docs/wide-activations.md, "Automatic promotion"): when a model output of the integer plan
/// misses quality.outputSqnrFloorDb, activations are widened to 16 bits one at a time, each chosen by measuring the
/// plan it gives on the quality samples, until every output clears the floor, the objective stops improving, or
/// activations.autoPrecisionMaxTensors is reached. Models whose outputs all clear the floor are left untouched.
/// </summary>
public static class PrecisionPromotion
{
    /// <summary>Candidates in a row that may fail to raise the objective before the search stops.</summary>
    public const int MaxMisses = 4;

    /// <summary>
    /// A round must raise the objective by at least this much (dB) per tensor it widens for its promotion to be kept: a
    /// group of eight must buy 4 dB. Every widened tensor costs integer layers (time) and arena bytes, so a small gain
    /// spread over many tensors is not worth it (PP-OCRv4's recognizer: eight tensors for 0.7 dB doubled its run time).
    /// </summary>
    public const double MinimumGainDb = 0.5;

    /// <summary>
    /// Promotes activations of <paramref name="pipeline"/>'s model in place and returns the choices, or null when nothing
    /// was to be done (turned off, no measurement, or every output already clears the floor). The caller re-lowers.
    /// </summary>
    public static PrecisionChoices? Run(string modelPath, PipelineResult pipeline, OutputQualityResult quality, EngineOptions? engineOptions, IProgress<string>? progress = null)
    {
        var settings = pipeline.Settings;
        var model = pipeline.Model;
        double floor = quality.FloorDb;
        if (!settings.Activations.AutoPrecision || quality.Outputs.All(o => o.SqnrDb >= floor)) return null;

        var reference = OutputQuality.Reference(modelPath, pipeline, out var calibration);
        var engine = new InferenceEngine(reference, engineOptions);
        var outputNames = reference.Outputs.Select(o => o.Name).ToList();
        var candidates = Candidates(pipeline, quality);
        var samples = new List<(IReadOnlyDictionary<string, Tensor> Feeds, Dictionary<string, float[]> Outputs)>();
        foreach (var sample in CalibrationRunner.EnumerateSamples(reference, calibration, settings.Quality.Samples, settings.SourcePath))
        {
            var outputs = engine.Run(sample.Feeds);
            samples.Add((sample.Feeds, outputNames.ToDictionary(n => n, n => outputs[n].ToFloatArray(), StringComparer.Ordinal)));
        }
        var signal = outputNames.ToDictionary(n => n, n => samples.Sum(s => s.Outputs[n].Sum(x => (double)x * x)), StringComparer.Ordinal);
        var failing = quality.Outputs.Where(o => o.SqnrDb < floor).Select(o => o.Name).ToHashSet(StringComparer.Ordinal);

        // Sensitivity: the float model with this one activation rounded to its int8 grid, everything else float; the
        // relative output noise it causes on the outputs below the floor is what widening it can remove at most.
        var sensitivity = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var name in candidates)
        {
            var a = model.Activations[name];
            double noise = 0;
            foreach (var (feeds, expected) in samples)
            {
                var outputs = engine.Run(feeds, [name], (_, value) => RoundInPlace(value.Floats, a));
                foreach (var o in failing) noise += NoiseEnergy(expected[o], outputs[o].ToFloatArray()) / Math.Max(signal[o], double.Epsilon);
            }
            sensitivity[name] = noise;
        }
        // Most sensitive first; ties in plan order, so the choice is the same on every machine.
        var ranked = candidates.Select((c, i) => (Name: c, Order: i, Sensitivity: sensitivity[c]))
            .OrderByDescending(c => c.Sensitivity).ThenBy(c => c.Order).ToList();

        Measured? Measure(IReadOnlyCollection<string> promoted)
        {
            var saved = promoted.ToDictionary(n => n, n => model.Activations[n], StringComparer.Ordinal);
            try
            {
                foreach (var n in promoted) model.Activations[n] = Widen(pipeline, n);
                var plan = KernelPlan.Build(IntegerLowering.Lower(model, pipeline.SampleShapes));
                // A node the generated code could not run (no float kernel) makes the trial unusable, never the build.
                if (plan.Unbound.Count > 0) return null;
                var runner = new IntegerModelRunner(plan);
                var sums = outputNames.ToDictionary(n => n, _ => (Signal: 0.0, Noise: 0.0), StringComparer.Ordinal);
                foreach (var (feeds, expected) in samples)
                {
                    var ours = runner.Run(feeds);
                    foreach (var n in outputNames)
                    {
                        var (sig, noise) = sums[n];
                        sums[n] = (sig + expected[n].Sum(x => (double)x * x), noise + NoiseEnergy(expected[n], ours[n].ToFloatArray()));
                    }
                }
                var sqnr = outputNames.ToDictionary(n => n, n => Db(sums[n].Signal, sums[n].Noise), StringComparer.Ordinal);
                var lengths = new Dictionary<string, long>(StringComparer.Ordinal);
                foreach (var t in plan.Plan.Tensors) lengths.TryAdd(t.Name, t.Length);
                return new Measured(sqnr, sqnr.Values.Sum(v => Math.Min(v, floor)), Cost.Of(plan), lengths);
            }
            finally
            {
                foreach (var (n, a) in saved) model.Activations[n] = a;
            }
        }

        var chosen = new List<string>();
        var current = Measure(chosen) ?? throw new Diagnostics.QuantBuildException(Diagnostics.DiagnosticCodes.InternalError,
            "the plan the build measured cannot be rebuilt for automatic precision choice", modelPath);
        var before = current;
        var trials = new List<PromotionTrial>();
        var promoted = new List<PromotedActivation>();
        var beforeSqnr = quality.Activations.ToDictionary(a => a.Name, a => a.SqnrDb, StringComparer.Ordinal);
        string stopped;
        int next = 0, misses = 0;
        bool grouped = false;
        for (int round = 1; ; round++)
        {
            if (current.Sqnr.Values.All(v => v >= floor)) { stopped = "every output clears the floor"; break; }
            int room = settings.Activations.AutoPrecisionMaxTensors - chosen.Count;
            if (room <= 0) { stopped = FormattableString.Invariant($"activations.autoPrecisionMaxTensors = {settings.Activations.AutoPrecisionMaxTensors} reached"); break; }
            List<(string Name, int Order, double Sensitivity)> group;
            if (misses < MaxMisses && next < ranked.Count) group = [ranked[next++]];
            else if (!grouped && room > 1)
            {
                // One by one, the remaining tensors' gains are below what the samples resolve: widen the most sensitive
                // ones the budget still allows together, once.
                grouped = true;
                group = ranked.Where(c => !chosen.Contains(c.Name)).Take(room).ToList();
                if (group.Count < 2) { stopped = "no activation left to promote"; break; }
            }
            else
            {
                stopped = next >= ranked.Count && misses < MaxMisses ? "no activation left to promote"
                    // Invariant: this text is in the report, which is byte-identical whatever the machine's culture.
                    : FormattableString.Invariant($"the output SQNR stopped improving ({MaxMisses} candidates in a row, then the {room} most sensitive together, gained less than {MinimumGainDb} dB per tensor)");
                break;
            }
            var names = group.Select(g => g.Name).ToList();
            progress?.Report($"precision: trial {round}, {string.Join(", ", names.Select(n => $"'{n}'"))} at 16 bits");
            var trial = Measure([.. chosen, .. names]);
            if (trial is null) { misses++; continue; }
            trials.Add(new PromotionTrial(round, names, group.Sum(g => g.Sensitivity), trial.Objective, trial.Sqnr));
            if (trial.Objective < current.Objective + MinimumGainDb * names.Count) { misses++; continue; }
            misses = 0;
            chosen.AddRange(names);
            var steps = trial.Cost.FloatSteps.Except(current.Cost.FloatSteps, StringComparer.Ordinal).ToList();
            foreach (var (name, _, sens) in group)
                promoted.Add(new PromotedActivation(name, round, trial.Lengths.GetValueOrDefault(name), sens, beforeSqnr.GetValueOrDefault(name, double.NaN), double.NaN,
                    current.Objective, trial.Objective, trial.Cost.ArenaBytes - current.Cost.ArenaBytes, trial.Cost.DataBytes - current.Cost.DataBytes,
                    current.Cost.IntegerMacs - trial.Cost.IntegerMacs, steps));
            current = trial;
        }
        foreach (var n in chosen) model.Activations[n] = Widen(pipeline, n);
        return new PrecisionChoices(floor, settings.Activations.AutoPrecisionMaxTensors, before.Sqnr, current.Sqnr, promoted, trials, stopped);
    }

    /// <summary>x → DequantizeLinear(QuantizeLinear(x)) on the activation's grid, in place (the int8 rounding the sensitivity run injects).</summary>
    private static void RoundInPlace(float[] values, ActivationQuantization a) =>
        QuantBuild.Runtime.WideActivationGrid.Round(values, a.Scale, a.ZeroPoint, a.QMin, a.QMax);

    private static double NoiseEnergy(float[] reference, float[] ours)
    {
        double noise = 0;
        for (int i = 0; i < reference.Length && i < ours.Length; i++) noise += ((double)reference[i] - ours[i]) * ((double)reference[i] - ours[i]);
        return noise;
    }

    private static double Db(double signal, double noise) => noise == 0 ? double.PositiveInfinity : signal == 0 ? double.NegativeInfinity : 10 * Math.Log10(signal / noise);

    /// <summary>The choices with each promoted tensor's SQNR as the final measurement of the promoted plan reports it.</summary>
    public static PrecisionChoices WithFinalSqnr(PrecisionChoices choices, OutputQualityResult? final)
    {
        if (final is null) return choices;
        var after = final.Activations.ToDictionary(a => a.Name, a => a.SqnrDb, StringComparer.Ordinal);
        return choices with { Promoted = choices.Promoted.Select(p => p with { SqnrAfterDb = after.GetValueOrDefault(p.Name, double.NaN) }).ToList() };
    }

    /// <summary>
    /// Activations that may be widened: measured int8 activations of the plan (in plan order) that the model computes
    /// (not constants) and that are plain linear int8 (not level-coded).
    /// </summary>
    private static List<string> Candidates(PipelineResult pipeline, OutputQualityResult quality)
    {
        var model = pipeline.Model;
        return quality.Activations.Select(a => a.Name)
            .Where(n => model.Activations.TryGetValue(n, out var a) && a.Bits == 8 && !model.LevelActivations.ContainsKey(n) && !model.Graph.IsConstant(n))
            .Distinct(StringComparer.Ordinal).ToList();
    }

    /// <summary>The 16-bit quantization of an activation over the range calibration chose for it.</summary>
    private static ActivationQuantization Widen(PipelineResult pipeline, string name) =>
        LinearQuantizer.QuantizeActivation(name, pipeline.Ranges[name], Configuration.SidecarParser.WideActivationBits, pipeline.Settings.Activations.Symmetric);

    /// <param name="Lengths">elements of every plan tensor by name</param>
    private sealed record Measured(IReadOnlyDictionary<string, double> Sqnr, double Objective, Cost Cost, IReadOnlyDictionary<string, long> Lengths);

    /// <summary>What a plan costs: arena and constant bytes, multiply-accumulates on integer kernels, the float steps.</summary>
    private sealed record Cost(long ArenaBytes, long DataBytes, long IntegerMacs, IReadOnlyList<string> FloatSteps)
    {
        public static Cost Of(KernelPlan plan) => new(plan.ArenaBytes, plan.Data.Sum(d => d.ByteLength),
            plan.Plan.Steps.Sum(s => s switch
            {
                ConvStep c => (long)c.Geometry.OutputLength * c.Geometry.FanIn,
                FullyConnectedStep f => (long)f.Batch * f.InFeatures * f.Units,
                _ => 0L,
            }),
            plan.Plan.Steps.OfType<FloatStep>().Select(s => s.NodeName).ToList());
    }
}
