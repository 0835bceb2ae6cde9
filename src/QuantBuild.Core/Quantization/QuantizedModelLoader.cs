using QuantBuild.Diagnostics;

namespace QuantBuild.Quantization;

/// <summary>
/// Reads a quantized model file (<c>&lt;Name&gt;.quant.onnx</c>, QDQ) back into a <see cref="QuantizedModel"/>
/// for <c>quantbuild run --int</c>. The QDQ importer is written on another branch; until it is merged
/// the loader reports that import is unavailable. The importer plugs in through <see cref="Register"/>
/// so the CLI and the integer runner do not change when it arrives.
/// </summary>
public static class QuantizedModelLoader
{
    private static Func<string, QuantizedModel>? _loader;

    /// <summary>Installs the function that imports a QDQ model file.</summary>
    public static void Register(Func<string, QuantizedModel> loader) => _loader = loader;

    public static QuantizedModel Load(string path)
    {
        if (_loader is null)
            throw new QuantBuildException(DiagnosticCodes.UnsupportedOperator,
                "QDQ import not available: this build of QuantBuild cannot read quantized ONNX models yet, so `run --int` has nothing to run", path);
        return _loader(path);
    }
}
