namespace QuantBuild.Diagnostics;

/// <summary>
/// Catalogue of every QB code. Ranges: QB1xxx files and formats, QB2xxx graph and engine,
/// QB3xxx command line and configuration, QB4xxx quantization, QB5xxx build integration.
/// Codes are part of the public contract (scripts grep for them): never reuse or renumber one.
/// </summary>
public static class DiagnosticCodes
{
    // Files and formats
    public const string FileNotFound = "QB1001";
    public const string InvalidModel = "QB1002";
    public const string UnsupportedDataType = "QB1003";
    public const string ExternalDataMissing = "QB1004";
    public const string InvalidNpy = "QB1005";
    public const string InvalidTensorProto = "QB1006";
    public const string UnsupportedIrVersion = "QB1007";
    public const string WriteFailed = "QB1008";
    /// <summary>A model, sidecar or input path is not a regular file with content (a device such as /dev/zero, a FIFO, a socket, an empty file): refused before it is opened.</summary>
    public const string NotARegularFile = "QB1009";
    /// <summary>An input file is larger than the limit for its kind, checked before it is read.</summary>
    public const string FileTooLarge = "QB1010";
    /// <summary>A calibration image is not a PNG, JPEG or BMP that decodes, or has more pixels than accepted (checked from its header, before decoding).</summary>
    public const string InvalidImage = "QB1011";
    /// <summary>A calibration WAV file is malformed (chunks, sizes) or not PCM 8/16/24/32-bit integer or 32-bit float.</summary>
    public const string InvalidWav = "QB1012";
    /// <summary>A file given as a report.json (quantbuild report) is not valid JSON or not a QuantBuild report (an object with formatVersion and layers).</summary>
    public const string InvalidReport = "QB1013";

    // Graph and engine
    public const string UnsupportedOperator = "QB2001";
    public const string InvalidAttribute = "QB2002";
    public const string ShapeMismatch = "QB2003";
    public const string MissingInput = "QB2004";
    public const string GraphNotTopological = "QB2005";
    public const string NotDifferentiable = "QB2006";
    public const string UnsupportedOpset = "QB2007";
    public const string InvalidInputValue = "QB2008";
    /// <summary>A tensor (or the set of tensors alive at once) would exceed its memory ceiling, or its size does not fit 64-bit arithmetic: refused before anything is allocated.</summary>
    public const string TensorTooLarge = "QB2009";
    /// <summary>A graph defines a name twice: two nodes write one tensor, or an input is declared twice.</summary>
    public const string DuplicateDefinition = "QB2010";
    /// <summary>A weight initializer holds NaN or infinity where the quantizer needs finite values.</summary>
    public const string InvalidInitializerValue = "QB2011";

    // Command line and configuration
    public const string InvalidArguments = "QB3001";
    public const string InternalError = "QB3999";

    // Configuration: the sidecar (.quant.json), calibration data and the build manifest
    public const string InvalidConfiguration = "QB3101";
    public const string CalibrationFilesNotFound = "QB3102";
    public const string CalibrationDataMissing = "QB3103";
    public const string CalibrationDataMismatch = "QB3104";
    public const string UnsupportedSetting = "QB3105";
    public const string InvalidManifest = "QB3106";
    /// <summary>A calibration image or WAV file contradicts its sidecar recipe: a sample rate or channel count other than the one declared, an image size the model cannot take without resize.</summary>
    public const string CalibrationFileMismatch = "QB3107";
    /// <summary>The sidecar's verify object names no held-out samples (a verify set that checks nothing).</summary>
    public const string VerifySetEmpty = "QB3108";

    // Quantization pipeline and QDQ files
    public const string WeightBudgetExceeded = "QB4101";
    public const string CannotUpgradeOpset = "QB4102";
    public const string InvalidQdqModel = "QB4103";
    public const string InvalidCalibrationValue = "QB4104";
    /// <summary>The model quantized, but something in it deserves a look (a saturated bias, codebook tables outweighing their indices...); a warning.</summary>
    public const string QuantizationWarning = "QB4105";
    /// <summary>A model output of the integer plan is below quality.outputSqnrFloorDb against the float model on calibration samples; a warning.</summary>
    public const string OutputBelowQualityFloor = "QB4106";
    /// <summary>Build-time verification (sidecar verify) measured an output below a threshold the sidecar sets; nothing is written.</summary>
    public const string VerificationFailed = "QB4107";
    /// <summary>Build-time verification needs ONNX Runtime's native library, which cannot be loaded on this platform; checked before any long work.</summary>
    public const string OnnxRuntimeUnavailable = "QB4108";

    // Build integration (reported by the MSBuild tasks and targets themselves; this file is compiled
    // into QuantBuild.Tasks too, which must not depend on any other QuantBuild assembly)
    /// <summary>Two models would generate the same class (same namespace and class name).</summary>
    public const string ClassNameCollision = "QB5001";
    /// <summary>A QuantizedModel item names a file that does not exist.</summary>
    public const string ModelNotFound = "QB5002";
    /// <summary>Item metadata (Access, ClassName, a path) cannot be used as given.</summary>
    public const string InvalidItemMetadata = "QB5003";
    /// <summary>The quantbuild tool assembly or the dotnet host cannot be found.</summary>
    public const string ToolNotFound = "QB5004";
    /// <summary>The tool exited with a failure code without printing a QB diagnostic.</summary>
    public const string ToolFailed = "QB5005";
    /// <summary>A predicted output was not produced (warning; written in QuantBuild.targets).</summary>
    public const string MissingOutput = "QB5006";
}
