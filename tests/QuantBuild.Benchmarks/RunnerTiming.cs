using System.Diagnostics;
using QuantBuild.Lowering;
using QuantBuild.Tensors;

/// <summary>How the suites that time the in-process integer plan warm it up and time its steps.</summary>
internal static class RunnerTiming
{
    /// <summary>
    /// At least <paramref name="runs"/> runs and two seconds: tiered JIT promotes hot methods only after a delay, so a
    /// small model's run count alone can leave its timed runs on tier-0 code.
    /// </summary>
    public static void WarmUp(IntegerModelRunner runner, IReadOnlyDictionary<string, Tensor> feeds, int runs)
    {
        var warming = Stopwatch.StartNew();
        for (int i = 0; i < runs || warming.ElapsedMilliseconds < 2000; i++) runner.Run(feeds);
    }

    /// <summary>Each step's minimum over <paramref name="runs"/> runs, in Stopwatch ticks: on a shared machine a preempted run inflates single steps.</summary>
    public static long[] MinimumStepTicks(IntegerModelRunner runner, IReadOnlyDictionary<string, Tensor> feeds, int runs)
    {
        int steps = runner.Plan.Steps.Count;
        var ticks = Enumerable.Repeat(long.MaxValue, steps).ToArray();
        for (int i = 0; i < runs; i++)
        {
            runner.StepTicks = new long[steps];
            runner.Run(feeds);
            for (int s = 0; s < steps; s++) ticks[s] = Math.Min(ticks[s], runner.StepTicks[s]);
        }

        runner.StepTicks = null;
        return ticks;
    }
}
