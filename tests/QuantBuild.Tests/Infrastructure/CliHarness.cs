using QuantBuild.Cli;

namespace QuantBuild.Tests.Infrastructure;

/// <summary>Runs the quantbuild command in process, the way the CLI tests call it.</summary>
internal static class CliHarness
{
    /// <summary>Exit code, standard output and standard error of <c>quantbuild args...</c>.</summary>
    public static (int Exit, string Out, string Err) Cli(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = QuantBuildCli.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }
}

/// <summary>Top-1 of a classifier's output row.</summary>
internal static class Logits
{
    /// <summary>Index of the largest value (the first one on ties).</summary>
    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }
}
