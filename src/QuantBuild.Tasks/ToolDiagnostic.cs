using System;
using System.Text.RegularExpressions;

namespace QuantBuild.Tasks
{
    /// <summary>
    /// One diagnostic line printed by the quantbuild tool, in the canonical forms MSBuild users know:
    /// <c>file(line,col): error QB1234: message</c>, <c>file(line): warning QB1234: message</c>,
    /// <c>file: error QB1234: message</c> and <c>error QB1234: message</c>.
    /// </summary>
    internal sealed class ToolDiagnostic
    {
        // The file part is lazy so a drive letter ("C:\m.json") is not mistaken for the separator;
        // the QB prefix keeps unrelated tool chatter that happens to contain "error" from turning
        // into a build failure.
        private static readonly Regex WithLocation = new Regex(
            @"^\s*(?<file>[^(]+?)\((?<line>\d+)(?:,(?<col>\d+))?(?:,(?<endLine>\d+),(?<endCol>\d+))?\)\s*:\s*(?<severity>error|warning)\s+(?<code>QB\d{4})\s*:\s*(?<message>.*)$",
            RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

        private static readonly Regex WithFile = new Regex(
            @"^\s*(?<file>.+?)\s*:\s*(?<severity>error|warning)\s+(?<code>QB\d{4})\s*:\s*(?<message>.*)$",
            RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

        private static readonly Regex Bare = new Regex(
            @"^\s*(?<severity>error|warning)\s+(?<code>QB\d{4})\s*:\s*(?<message>.*)$",
            RegexOptions.CultureInvariant | RegexOptions.IgnoreCase);

        public bool IsError { get; private set; }
        public string Code { get; private set; } = "";
        public string? File { get; private set; }
        public int Line { get; private set; }
        public int Column { get; private set; }
        public int EndLine { get; private set; }
        public int EndColumn { get; private set; }
        public string Message { get; private set; } = "";

        /// <summary>Parses one output line; null when it is not a QB diagnostic.</summary>
        public static ToolDiagnostic? TryParse(string line)
        {
            var match = Bare.Match(line);
            if (!match.Success)
                match = WithLocation.Match(line);
            if (!match.Success)
                match = WithFile.Match(line);
            if (!match.Success)
                return null;

            var file = match.Groups["file"].Success ? match.Groups["file"].Value.Trim() : null;
            return new ToolDiagnostic
            {
                IsError = string.Equals(match.Groups["severity"].Value, "error", StringComparison.OrdinalIgnoreCase),
                Code = match.Groups["code"].Value.ToUpperInvariant(),
                File = string.IsNullOrEmpty(file) ? null : file,
                Line = Number(match, "line"),
                Column = Number(match, "col"),
                EndLine = Number(match, "endLine"),
                EndColumn = Number(match, "endCol"),
                Message = match.Groups["message"].Value.Trim(),
            };
        }

        private static int Number(Match match, string group)
        {
            var value = match.Groups[group];
            return value.Success && int.TryParse(value.Value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number) ? number : 0;
        }
    }
}
