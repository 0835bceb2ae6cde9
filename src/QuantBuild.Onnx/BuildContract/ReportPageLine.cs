using System;

namespace QuantBuild.BuildContract
{
    /// <summary>
    /// The line the tool prints after writing a model's HTML report (docs/html-report.md): <c>QuantBuild: report file:///…/Name.report.html</c>.
    /// The MSBuild task shows it at high importance, so a default-verbosity build prints one clickable line per model.
    /// Shared source (see <see cref="ModelNaming"/>): the tool and the task use this one format.
    /// </summary>
    public static class ReportPageLine
    {
        private const string Prefix = "QuantBuild: report ";

        public static string Format(string fileUri) => Prefix + fileUri;

        public static bool Matches(string line) => line.StartsWith(Prefix + "file://", StringComparison.Ordinal);
    }
}
