using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.ML.OnnxRuntime;
using QuantBuild.Diagnostics;

namespace QuantBuild.Verification;

/// <summary>
/// ONNX Runtime's native library in the tool process (docs/verify.md, "Where ONNX Runtime comes from"). The tool ships
/// Microsoft.ML.OnnxRuntime's native builds under its own runtimes/&lt;rid&gt;/native/ folders, and .NET picks the one for
/// the running platform the first time ORT is called. Nothing here runs unless a sidecar asks for verify, so a build
/// without it never loads the library (the managed assembly is only loaded when a method of this folder runs).
/// </summary>
public static class OnnxRuntimeLibrary
{
    /// <summary>The platforms Microsoft.ML.OnnxRuntime ships a native library for (desktop and server).</summary>
    public const string ShippedPlatforms = "win-x64, win-arm64, linux-x64, linux-arm64, osx-arm64";

    private static string? _version;

    /// <summary>
    /// Loads the library and returns its version, or throws QB4108 naming the file that was expected for this platform
    /// and where it was looked for. Called before any long work of a build that verifies.
    /// </summary>
    public static string Require(string? sidecar, int line, int column)
    {
        if (_version is not null) return _version;
        try
        {
            _version = LoadVersion();
            return _version;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException
                                      or TypeInitializationException or OnnxRuntimeException or FileNotFoundException or FileLoadException)
        {
            throw new QuantBuildException(DiagnosticCodes.OnnxRuntimeUnavailable,
                $"verify runs the models in ONNX Runtime, whose native library cannot be loaded on {RuntimeInformation.RuntimeIdentifier}: " +
                $"expected {ExpectedFile} from Microsoft.ML.OnnxRuntime under {ExpectedFolder} ({Innermost(e).Message}). " +
                $"The tool ships it for {ShippedPlatforms}; on another platform remove \"verify\" from the sidecar",
                sidecar, line, column, inner: e);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static string LoadVersion() => OrtEnv.Instance().GetVersionString();

    /// <summary>The library's file name on this OS.</summary>
    public static string ExpectedFile =>
        OperatingSystem.IsWindows() ? "onnxruntime.dll" : OperatingSystem.IsMacOS() ? "libonnxruntime.dylib" : "libonnxruntime.so";

    /// <summary>Where a framework-dependent app (the tool) finds it: its own folder's runtimes/&lt;rid&gt;/native.</summary>
    public static string ExpectedFolder =>
        Path.Combine(AppContext.BaseDirectory, "runtimes", RuntimeInformation.RuntimeIdentifier, "native");

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }
}
