namespace QuantBuild.Emit;

/// <summary>Settings of one generated model class (item metadata ClassName, Namespace, Access).</summary>
public sealed record CSharpEmitOptions
{
    public required string ClassName { get; init; }
    public required string Namespace { get; init; }
    /// <summary>"internal" (default) or "public".</summary>
    public string Access { get; init; } = "internal";
    /// <summary>Recorded in the header so a generated file says which tool produced it.</summary>
    public string ToolVersion { get; init; } = "0.0.0";
    /// <summary>Namespace of the runtime emitted by <see cref="CSharpEmitter.EmitRuntime"/>; default <c>&lt;Namespace&gt;.QuantBuildRuntime</c>.</summary>
    public string? RuntimeNamespace { get; init; }
    /// <summary>
    /// Emit <c>#nullable enable</c> (on by default). C# 7.3 consumers (Unity, netstandard2.0 at the default
    /// language version) turn it off: the directive itself is a C# 8 feature.
    /// </summary>
    public bool NullableDirective { get; init; } = true;

    public string EffectiveRuntimeNamespace => RuntimeNamespace ?? Namespace + ".QuantBuildRuntime";
}
