using System.Text.Json;
using QuantBuild.Diagnostics;

namespace QuantBuild.Reporting;

/// <summary>
/// Writes <c>&lt;Name&gt;.report.html</c> beside a <c>&lt;Name&gt;.report.json</c> (docs/html-report.md): from the bytes the
/// build just published, or from a report file on disk (<c>quantbuild report</c>). The page is staged under a
/// temporary name and renamed into place, so a reader never sees half a page.
/// </summary>
public static class ReportPage
{
    /// <summary>Largest report.json accepted (checked before reading): far above any real report, far below memory trouble.</summary>
    public const long MaxReportBytes = 256L << 20;

    /// <summary>"X.report.json" → "X.report.html"; any other name gets ".html" appended after its extension is dropped.</summary>
    public static string PagePath(string reportJsonPath) =>
        Path.ChangeExtension(reportJsonPath, ".html");

    /// <summary>Reads, checks and renders a report file; QB1001/QB1009/QB1010 for the file, QB1013 for content that is no report.</summary>
    public static string WriteFromFile(string reportJsonPath)
    {
        var bytes = Onnx.IO.InputFile.ReadAllBytes(reportJsonPath, "report", MaxReportBytes);
        return Write(reportJsonPath, bytes);
    }

    /// <returns>the page's full path</returns>
    public static string Write(string reportJsonPath, byte[] reportJson)
    {
        byte[] page;
        try
        {
            using var document = JsonDocument.Parse(reportJson, new JsonDocumentOptions { MaxDepth = 64 });
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("formatVersion", out var version) || version.ValueKind != JsonValueKind.Number
                || !root.TryGetProperty("layers", out var layers) || layers.ValueKind != JsonValueKind.Array)
                throw new QuantBuildException(DiagnosticCodes.InvalidReport,
                    $"'{reportJsonPath}' is not a QuantBuild report: a report.json is an object with a numeric formatVersion and a layers array", reportJsonPath);
            page = HtmlReport.Render(root);
        }
        catch (JsonException e)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidReport, $"'{reportJsonPath}' is not valid JSON: {e.Message}", reportJsonPath,
                line: (int)(e.LineNumber ?? -1) + 1, column: (int)(e.BytePositionInLine ?? -1) + 1, inner: e);
        }
        var path = Path.GetFullPath(PagePath(reportJsonPath));
        var staging = path + ".tmp";
        try
        {
            File.WriteAllBytes(staging, page);
            File.Move(staging, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(staging); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw new QuantBuildException(DiagnosticCodes.WriteFailed, $"could not write the report page '{path}': {e.Message}", path, inner: e);
        }
        return path;
    }

    /// <summary>The page as a file:// URI (the line the build prints).</summary>
    public static string Uri(string pagePath) => new Uri(Path.GetFullPath(pagePath)).AbsoluteUri;
}
