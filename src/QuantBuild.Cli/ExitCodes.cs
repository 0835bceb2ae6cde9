namespace QuantBuild.Cli;

/// <summary>Process exit codes. Scripts may branch on them, so they are part of the CLI contract.</summary>
public static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The command was understood but failed: bad model, bad data, unsupported operator (QB1xxx, QB2xxx...).</summary>
    public const int Failed = 1;

    /// <summary>The command line itself is wrong (QB3001).</summary>
    public const int InvalidArguments = 2;

    /// <summary>A bug in QuantBuild (QB3999).</summary>
    public const int InternalError = 3;
}
