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

    // Graph and engine
    public const string UnsupportedOperator = "QB2001";
    public const string InvalidAttribute = "QB2002";
    public const string ShapeMismatch = "QB2003";
    public const string MissingInput = "QB2004";
    public const string GraphNotTopological = "QB2005";
    public const string NotDifferentiable = "QB2006";
    public const string UnsupportedOpset = "QB2007";
    public const string InvalidInputValue = "QB2008";

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

    // Quantization pipeline and QDQ files
    public const string WeightBudgetExceeded = "QB4101";
    public const string CannotUpgradeOpset = "QB4102";
    public const string InvalidQdqModel = "QB4103";
    public const string InvalidCalibrationValue = "QB4104";
}
