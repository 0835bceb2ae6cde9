using System.Diagnostics;
using System.Security.Cryptography;
using QuantBuild.Diagnostics;

namespace QuantBuild.Fuzz;

public enum Verdict { Accepted, Rejected, Crash }

/// <param name="Signature">what the input did, coarse enough to compare runs: "accepted", the QB code plus the
/// message shape, or for a crash the exception type and the frame that threw</param>
/// <param name="Straggler">the thread of a case that did not finish in time, still running (it cannot be stopped)</param>
public sealed record CaseResult(Verdict Verdict, string Signature, string Detail, Thread? Straggler = null);

/// <summary>Per-input bounds: beyond either, an input counts as a crash even if it ends in a QB error.</summary>
public sealed record FuzzLimits(TimeSpan Timeout, long MaxAllocatedBytes)
{
    /// <summary>2 s and 512 MiB: every seed takes milliseconds and a few MiB, so anything near these is runaway work.</summary>
    public static FuzzLimits Default { get; } = new(TimeSpan.FromSeconds(2), 512L << 20);
}

/// <summary>Runs one input against a target and classifies the outcome.</summary>
public static class CaseRunner
{
    // Deep protobuf or JSON nesting recurses; a roomy stack keeps a legitimate deep input from looking like a crash.
    private const int StackBytes = 16 << 20;

    public static CaseResult Run(FuzzTarget target, byte[] input, FuzzLimits limits)
    {
        CaseResult? result = null;
        // A dedicated thread per case: the timeout needs something to wait on, and the allocation counter
        // is per thread, so it sees exactly this case's allocations (test classes run in parallel).
        var thread = new Thread(() => result = RunHere(target, input, limits), StackBytes) { IsBackground = true, Name = "fuzz case" };
        thread.Start();
        if (!thread.Join(limits.Timeout))
            return new CaseResult(Verdict.Crash, "timeout", $"did not finish within {limits.Timeout.TotalSeconds:F1} s", thread);
        return result!;
    }

    private static CaseResult RunHere(FuzzTarget target, byte[] input, FuzzLimits limits)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        var clock = Stopwatch.StartNew();
        CaseResult result;
        try
        {
            target.Execute(input);
            result = new CaseResult(Verdict.Accepted, "accepted", "");
        }
        catch (QuantBuildException e) when (IsDiagnostic(e))
        {
            result = new CaseResult(Verdict.Rejected, $"{e.Code} {MessageShape(e.Message)}", e.ToCanonicalString());
        }
        catch (Exception e)
        {
            result = new CaseResult(Verdict.Crash, $"{e.GetType().Name} at {ThrowingFrame(e)}", e.ToString());
        }
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (result.Verdict != Verdict.Crash && allocated > limits.MaxAllocatedBytes)
            return new CaseResult(Verdict.Crash, "allocation", $"allocated {allocated >> 20} MiB (limit {limits.MaxAllocatedBytes >> 20} MiB), then: {result.Detail}");
        // Join's timeout catches hangs; this catches a slow case that still finished.
        if (result.Verdict != Verdict.Crash && clock.Elapsed > limits.Timeout)
            return new CaseResult(Verdict.Crash, "timeout", $"took {clock.Elapsed.TotalSeconds:F1} s, then: {result.Detail}");
        return result;
    }

    /// <summary>A proper rejection: a QB code, and not QB3999, which is the CLI's name for an unexpected exception.</summary>
    public static bool IsDiagnostic(QuantBuildException e) => e.Code.StartsWith("QB", StringComparison.Ordinal) && e.Code != DiagnosticCodes.InternalError;

    /// <summary>The message with names and numbers blanked, so "tensor 'a' has 3 values" and "tensor 'b' has 4 values" count as one behaviour.</summary>
    private static string MessageShape(string message)
    {
        var shape = System.Text.RegularExpressions.Regex.Replace(message, @"'[^']*'|""[^""]*""|\d+", "_");
        return shape.Length > 60 ? shape[..60] : shape;
    }

    /// <summary>
    /// The innermost frame of our own code (a BCL throw helper says nothing about which reader went wrong),
    /// which tells one bug from another better than the message.
    /// </summary>
    private static string ThrowingFrame(Exception e)
    {
        var methods = new StackTrace(e, false).GetFrames().Select(f => f.GetMethod()).OfType<System.Reflection.MethodBase>().ToList();
        var method = methods.FirstOrDefault(m => m.DeclaringType?.FullName?.StartsWith("QuantBuild.", StringComparison.Ordinal) == true)
                     ?? methods.FirstOrDefault();
        return method is null ? "?" : $"{method.DeclaringType?.Name}.{method.Name}";
    }

    /// <summary>File name of a crashing input: its content hash, so finding the same input twice keeps one file.</summary>
    public static string FileName(byte[] input) => Convert.ToHexStringLower(SHA256.HashData(input))[..16] + ".bin";
}
