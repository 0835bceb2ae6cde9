using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using QuantBuild.Cli;
using QuantBuild.Reporting;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Reporting;

/// <summary>
/// The HTML report (docs/html-report.md) without a browser: the distribution data the build adds to report.json,
/// `quantbuild report` (deterministic bytes, clean QB errors), escaping of untrusted names, and the mixed-precision
/// frontier against brute force. tests/QuantBuild.Report.Tests opens the pages in chromium.
/// </summary>
[TestClass]
public sealed class HtmlReportTests
{
    private static (int Exit, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        return (QuantBuildCli.Run(args, o, e), o.ToString(), e.ToString());
    }

    [TestMethod]
    public void BuildWritesHistogramsAndAPageThatReportRegeneratesByteForByte()
    {
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 8, """{ "calibration": { "inputs": { "input": "calib/*.npy" } }, "weights": { "bits": 4 } }""");
        var quantize = Cli("quantize", model, "--out", temp.File("out"), "--threads", "2");
        Assert.AreEqual(0, quantize.Exit, quantize.Err);
        var reportPath = temp.File("out", "mnist.report.json");
        var pagePath = temp.File("out", "mnist.report.html");
        StringAssert.Contains(quantize.Out, "QuantBuild: report " + new Uri(pagePath).AbsoluteUri + "\n");
        var built = File.ReadAllBytes(pagePath);

        using (var report = JsonDocument.Parse(File.ReadAllBytes(reportPath)))
        {
            foreach (var layer in report.RootElement.GetProperty("layers").EnumerateArray())
            {
                // Every weight is counted once, inside the frame (it spans the weights and the grid); the 4-bit grid is listed whole.
                var d = layer.GetProperty("distribution");
                var h = d.GetProperty("histogram");
                long total = h.GetProperty("counts").EnumerateArray().Sum(c => c.GetInt64());
                Assert.AreEqual(layer.GetProperty("fp32Bytes").GetInt64() / 4, total + h.GetProperty("below").GetInt64() + h.GetProperty("above").GetInt64());
                Assert.AreEqual(0, h.GetProperty("below").GetInt64() + h.GetProperty("above").GetInt64());
                Assert.AreEqual(QuantBuild.Emit.ReportDistributions.WeightBins, h.GetProperty("counts").GetArrayLength());
                CollectionAssert.AreEqual(Enumerable.Range(-7, 15).Select(i => (double)i).ToArray(),
                    d.GetProperty("levels").EnumerateArray().Select(l => l.GetDouble()).ToArray());
            }
            foreach (var a in report.RootElement.GetProperty("quality").GetProperty("activations").EnumerateArray())
            {
                // The grid's codes are bins 8..71 of the 80: what falls outside them is what the grid clips.
                var h = a.GetProperty("histogram");
                var counts = h.GetProperty("counts").EnumerateArray().Select(c => c.GetInt64()).ToArray();
                Assert.HasCount(80, counts);
                double all = counts.Sum() + h.GetProperty("below").GetInt64() + h.GetProperty("above").GetInt64();
                double inside = counts.Skip(8).Take(64).Sum();
                Assert.AreEqual(1 - a.GetProperty("clippedFraction").GetDouble(), inside / all, 0.01, a.GetProperty("name").GetString());
            }
        }

        var first = Cli("report", reportPath);
        Assert.AreEqual(0, first.Exit, first.Err);
        Assert.AreEqual("QuantBuild: report " + new Uri(pagePath).AbsoluteUri + Environment.NewLine, first.Out);
        CollectionAssert.AreEqual(built, File.ReadAllBytes(pagePath), "the report alone gives the page the build wrote");
        Assert.AreEqual(0, Cli("report", reportPath).Exit);
        CollectionAssert.AreEqual(built, File.ReadAllBytes(pagePath), "the same report gives the same page");
        Assert.IsFalse(Directory.EnumerateFiles(temp.File("out"), "*.tmp").Any());
    }

    [TestMethod]
    public void ReportOfAMissingOrBrokenFileIsAQbErrorAndWritesNothing()
    {
        using var temp = new TempFolder();
        var missing = Cli("report", temp.File("none.report.json"));
        Assert.AreNotEqual(0, missing.Exit);
        StringAssert.Contains(missing.Err, "error QB1001");

        File.WriteAllText(temp.File("broken.report.json"), "{\n  \"formatVersion\": 1,\n  \"layers\": [ oops ]\n}");
        var broken = Cli("report", temp.File("broken.report.json"));
        Assert.AreNotEqual(0, broken.Exit);
        StringAssert.Contains(broken.Err, "broken.report.json(3,");
        StringAssert.Contains(broken.Err, "error QB1013");

        File.WriteAllText(temp.File("other.report.json"), """{ "name": "not a report" }""");
        var other = Cli("report", temp.File("other.report.json"));
        StringAssert.Contains(other.Err, "error QB1013");
        StringAssert.Contains(other.Err, "is not a QuantBuild report");
        Assert.DoesNotContain("   at ", broken.Err + other.Err + missing.Err, "no stack trace");
        Assert.IsFalse(Directory.EnumerateFiles(temp.Path, "*.html*").Any(), "nothing written for a bad report");
    }

    /// <summary>Every tag on the page is one the renderer writes; names with markup appear as escaped text.</summary>
    [TestMethod]
    public void UntrustedNamesNeverBecomeMarkup()
    {
        const string evil = "</td><script>alert(1)</script><img src=x onerror='a()'>\"&\u0001";
        var report = new JsonObject
        {
            ["formatVersion"] = 1,
            ["model"] = evil,
            ["layers"] = new JsonArray(new JsonObject
            {
                ["node"] = evil, ["op"] = evil, ["bits"] = 8, ["method"] = evil, ["sqnrDb"] = "inf", ["measuredOutput"] = evil,
                ["distribution"] = new JsonObject
                {
                    ["histogram"] = new JsonObject { ["low"] = -2, ["high"] = 2, ["below"] = 0, ["above"] = 0, ["counts"] = new JsonArray(1, 5, 3) },
                    ["levels"] = new JsonArray(-1, 0, 1), ["levelCount"] = 3,
                },
            }),
            ["activations"] = new JsonArray(new JsonObject { ["name"] = evil, ["scale"] = 0.1, ["zeroPoint"] = 0, ["bits"] = 8 }),
            ["quality"] = new JsonObject
            {
                ["samples"] = 1,
                ["outputs"] = new JsonArray(new JsonObject { ["name"] = evil, ["sqnrDb"] = 30 }),
                ["activations"] = new JsonArray(new JsonObject
                {
                    ["name"] = evil, ["sqnrDb"] = 20, ["rangeMin"] = -1, ["rangeMax"] = 1, ["clippedFraction"] = 0,
                    ["histogram"] = new JsonObject { ["low"] = -2, ["high"] = 2, ["below"] = 1, ["above"] = 0, ["counts"] = new JsonArray(1, 2) },
                }),
            },
            ["generatedCode"] = new JsonObject { ["floatNodes"] = new JsonArray(new JsonObject { ["node"] = evil, ["op"] = evil, ["reason"] = evil }) },
            [evil] = new JsonArray(new JsonObject { [evil] = evil, ["nested"] = new JsonObject { [evil] = new JsonArray(evil) } }),
        };
        using var document = JsonDocument.Parse(report.ToJsonString());
        var html = Encoding.UTF8.GetString(HtmlReport.Render(document.RootElement));

        var allowed = new HashSet<string>(StringComparer.Ordinal)
        {
            "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "section", "table", "tr", "th", "td",
            "figure", "figcaption", "div", "svg", "rect", "line", "polyline", "path", "text", "circle", "code", "footer",
        };
        var tags = Regex.Matches(html, "<([a-zA-Z][a-zA-Z0-9]*)").Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);
        CollectionAssert.IsSubsetOf(tags.ToList(), allowed.ToList(), string.Join(", ", tags.Except(allowed)));
        Assert.DoesNotContain("\u0001", html);
        StringAssert.Contains(html, "&lt;/td&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&#39;a()&#39;&gt;&quot;&amp;");
        // The unknown section is shown (generic table), keyed by its escaped name.
        StringAssert.Contains(html, "<h2>&lt;/td&gt;&lt;script&gt;");
    }

    /// <summary>A report edited by hand or written by another tool: wrong types, missing fields, names twice. The page still renders, with no NaN in it.</summary>
    [TestMethod]
    public void MalformedFieldsRenderWithoutNaNOrException()
    {
        const string json = """
            { "formatVersion": 1, "model": 5, "settings": "x", "sizes": [], "layers": [
                { "node": "a", "bits": "eight", "distribution": { "histogram": { "counts": ["x", 2] }, "levels": ["y", 1] } },
                { "node": "b", "distribution": { "histogram": { "low": 1, "high": 1, "counts": [1] }, "levelMin": "z" } } ],
              "activations": [ { "name": "t" }, { "name": "t" } ],
              "quality": { "activations": [ { "name": "t", "histogram": { "low": 0, "high": 1, "counts": [1] } }, { "name": "t" } ] },
              "mixedPrecision": { "layers": [ { "node": "a", "errorByBits": { "4": "nan", "x": 1 }, "bytesByBits": { "4": 10 } } ] },
              "eptq": { "lossCurve": [ [1], [2, "nan"], "s", [3, 0.5] ] } }
            """;
        using var document = JsonDocument.Parse(json);
        var html = Encoding.UTF8.GetString(HtmlReport.Render(document.RootElement));
        Assert.DoesNotContain("NaN", html);
        StringAssert.Contains(html, "no usable histogram frame");
    }

    /// <summary>The drawn frontier is the lower convex hull of every allocation: none lies below it, and each of its points is reachable.</summary>
    [TestMethod]
    public void FrontierIsTheLowerConvexHullOfAllAllocations()
    {
        var random = new Random(7);
        for (int trial = 0; trial < 20; trial++)
        {
            int layers = 2 + random.Next(3);
            int[] widths = [2, 4, 8];
            var options = new List<(int Bits, double Error, long Bytes)[]>();
            var json = new JsonArray();
            for (int l = 0; l < layers; l++)
            {
                long n = 16 + random.Next(200);
                var o = widths.Select(b => (b, Math.Pow(2, -b) * (0.2 + random.NextDouble()) * n, (n * b + 7) / 8 + 4)).ToArray();
                options.Add(o);
                var errors = new JsonObject();
                var bytes = new JsonObject();
                foreach (var (b, e, by) in o) { errors[b.ToString(System.Globalization.CultureInfo.InvariantCulture)] = e; bytes[b.ToString(System.Globalization.CultureInfo.InvariantCulture)] = by; }
                json.Add(new JsonObject { ["node"] = $"l{l}", ["bits"] = 4, ["bytes"] = o[1].Item3, ["errorByBits"] = errors, ["bytesByBits"] = bytes });
            }
            json.Add(new JsonObject { ["node"] = "pinned", ["bits"] = 6, ["bytes"] = 100, ["fixed"] = true });
            using var document = JsonDocument.Parse(json.ToJsonString());
            var frontier = MixedPrecisionFrontier.Of(document.RootElement.EnumerateArray().ToList(), out var uniform, out double chosen);
            Assert.AreEqual(options.Sum(o => o[1].Error), chosen, 1e-9);
            Assert.HasCount(3, uniform);

            var all = new List<(double Bytes, double Error)>();
            void Enumerate(int l, double bytes, double error)
            {
                if (l == layers) { all.Add((bytes + 100, error)); return; }
                foreach (var o in options[l]) Enumerate(l + 1, bytes + o.Bytes, error + o.Error);
            }
            Enumerate(0, 0, 0);
            foreach (var p in frontier)
                Assert.IsTrue(all.Any(a => Math.Abs(a.Bytes - p.Bytes) < 1e-9 && Math.Abs(a.Error - p.Error) < 1e-9), "a frontier point is an allocation");
            for (int i = 1; i < frontier.Count; i++) Assert.IsGreaterThan(frontier[i - 1].Bytes, frontier[i].Bytes);
            foreach (var (bytes, error) in all)
            {
                // Below the first point's bytes nothing exists; beyond the last the line is flat at its error.
                Assert.IsGreaterThanOrEqualTo(frontier[0].Bytes, bytes);
                int k = frontier.FindLastIndex(p => p.Bytes <= bytes);
                double line = k == frontier.Count - 1 ? frontier[k].Error
                    : frontier[k].Error + (frontier[k + 1].Error - frontier[k].Error) * (bytes - frontier[k].Bytes) / (frontier[k + 1].Bytes - frontier[k].Bytes);
                Assert.IsGreaterThanOrEqualTo(line - 1e-9 * Math.Max(1, Math.Abs(line)), error, $"allocation ({bytes}, {error}) lies below the frontier");
            }
        }
    }

    [TestMethod]
    public void HistogramCountsOutsideItsFrameApartAndIgnoresNaN()
    {
        var h = new ValueHistogram(0, 4, 4);
        foreach (var v in new[] { -0.1, 0, 0.99, 1, 3.999, 4, double.NaN, double.PositiveInfinity, double.NegativeInfinity }) h.Add(v);
        CollectionAssert.AreEqual(new long[] { 2, 1, 0, 1 }, h.Counts);
        Assert.AreEqual(2, h.Below);
        Assert.AreEqual(2, h.Above);
    }
}
