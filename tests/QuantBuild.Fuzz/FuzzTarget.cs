namespace QuantBuild.Fuzz;

/// <summary>One reader under test: its seed inputs, how to mutate an input, and how to consume one.</summary>
public abstract class FuzzTarget : IDisposable
{
    /// <summary>Short name used on the command line and as the regression folder name.</summary>
    public abstract string Name { get; }

    /// <summary>Valid (or nearly valid) inputs the mutations start from.</summary>
    public abstract IReadOnlyList<byte[]> Seeds { get; }

    /// <summary>A new input derived from <paramref name="input"/>; <paramref name="corpus"/> is there for splicing.</summary>
    public abstract byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random);

    /// <summary>
    /// Consumes the input the way the CLI does. Returning means the input was accepted; a
    /// QuantBuildException with a QB code means it was rejected properly; anything else is a crash.
    /// </summary>
    public abstract void Execute(byte[] input);

    public virtual void Dispose() => GC.SuppressFinalize(this);

    public static IReadOnlyList<string> Names { get; } = ["onnx", "sidecar", "npy", "wav", "image"];

    public static FuzzTarget Create(string name, string repoRoot) => name switch
    {
        "onnx" => new OnnxTarget(repoRoot),
        "sidecar" => new SidecarTarget(repoRoot),
        "npy" => new NpyTarget(),
        "wav" => new WavTarget(),
        "image" => new ImageTarget(),
        _ => throw new ArgumentException($"unknown fuzz target '{name}' (targets: {string.Join(", ", Names)})", nameof(name)),
    };

    /// <summary>The folder holding QuantBuild.sln, found by walking up from <paramref name="start"/>.</summary>
    public static string FindRepoRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QuantBuild.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException($"no QuantBuild.sln above '{start}'");
    }
}
