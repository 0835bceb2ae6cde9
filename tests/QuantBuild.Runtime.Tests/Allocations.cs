namespace QuantBuild.Runtime.Tests;

/// <summary>Measures what a kernel allocates per call once it runs in steady state.</summary>
internal static class Allocations
{
    /// <summary>
    /// The fewest bytes the current thread allocates over one pass of <paramref name="callsPerPass"/> calls,
    /// taken over several passes after a warm-up.
    /// </summary>
    /// <remarks>
    /// The runtime allocates a few objects on the calling thread at moments a test does not control: when
    /// tiered compilation queues a hot method for promotion, or starts its background worker. Those happen
    /// once per process, in whichever pass crosses the threshold. A kernel that allocates per call allocates
    /// in every pass, so the smallest pass is the kernel's own figure and zero means it allocates nothing.
    /// </remarks>
    public static long PerSteadyPass(Action eval, int warmUpCalls = 5, int callsPerPass = 20, int passes = 4)
    {
        for (int i = 0; i < warmUpCalls; i++)
        {
            eval();
        }

        long fewest = long.MaxValue;
        for (int pass = 0; pass < passes && fewest != 0; pass++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < callsPerPass; i++)
            {
                eval();
            }

            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return fewest;
    }
}
