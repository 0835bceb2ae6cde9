namespace QuantBuild.Compilation;

/// <summary>
/// A progress sink that also takes how far a long stage is (samples of calibration and verification, EPTQ steps), so
/// that a front end can draw bars: the CLI does on a terminal. Progress text still goes through
/// <see cref="IProgress{T}.Report"/>; a plain <see cref="IProgress{T}"/> simply gets no counts.
/// </summary>
public interface IStageProgress
{
    /// <summary><paramref name="done"/> of <paramref name="total"/> units of <paramref name="stage"/> are finished.</summary>
    void Advance(string stage, long done, long total);
}

public static class StageProgress
{
    /// <summary>Passes the count on when <paramref name="progress"/> takes counts.</summary>
    public static void Advance(IProgress<string>? progress, string stage, long done, long total)
    {
        if (progress is IStageProgress stages) stages.Advance(stage, done, total);
    }
}
