using QuantBuild.Diagnostics;

namespace QuantBuild.Configuration;

/// <summary>
/// Expands calibration patterns: a plain path, or a path whose segments hold <c>*</c> (any run of
/// characters within a name), <c>?</c> (one character) or a whole <c>**</c> segment (any depth of folders).
/// Results are absolute paths sorted ordinally, so every OS and file system yields the same order.
/// </summary>
public static class FileGlob
{
    public static bool IsPattern(string pattern) => pattern.IndexOfAny(['*', '?']) >= 0;

    public static List<string> Expand(string pattern, string baseDirectory)
    {
        var normalized = pattern.Replace('\\', '/');
        var full = Path.IsPathRooted(normalized) ? normalized : Path.Combine(baseDirectory, normalized).Replace('\\', '/');
        if (!IsPattern(full))
            return File.Exists(full) ? [Path.GetFullPath(full)] : [];

        var segments = full.Split('/');
        // The fixed prefix (no wildcard) is where the walk starts.
        int firstWild = Array.FindIndex(segments, IsPattern);
        var root = string.Join('/', segments[..firstWild]);
        if (root.Length == 0) root = "/";
        var results = new List<string>();
        if (Directory.Exists(root)) Walk(root, segments, firstWild, results);
        results = results.Select(Path.GetFullPath).Distinct(StringComparer.Ordinal).ToList();
        results.Sort(StringComparer.Ordinal);
        return results;
    }

    private static void Walk(string directory, string[] segments, int index, List<string> results)
    {
        var segment = segments[index];
        bool last = index == segments.Length - 1;
        if (segment == "**")
        {
            // Zero folders deep, then every subfolder at any depth.
            if (last) { results.AddRange(Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)); return; }
            Walk(directory, segments, index + 1, results);
            foreach (var sub in Directory.EnumerateDirectories(directory, "*", SearchOption.AllDirectories))
                Walk(sub, segments, index + 1, results);
            return;
        }
        if (last)
        {
            foreach (var file in Directory.EnumerateFiles(directory))
                if (LayerOverrideMatch(segment, Path.GetFileName(file))) results.Add(file);
            return;
        }
        if (!IsPattern(segment))
        {
            var next = Path.Combine(directory, segment);
            if (Directory.Exists(next)) Walk(next, segments, index + 1, results);
            return;
        }
        foreach (var sub in Directory.EnumerateDirectories(directory))
            if (LayerOverrideMatch(segment, Path.GetFileName(sub))) Walk(sub, segments, index + 1, results);
    }

    /// <summary>Name match with '*' and '?' (ordinal, case-sensitive: the same answer on every OS).</summary>
    private static bool LayerOverrideMatch(string pattern, string name)
    {
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < name.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == name[t])) { p++; t++; }
            else if (p < pattern.Length && pattern[p] == '*') { star = p++; mark = t; }
            else if (star >= 0) { p = star + 1; t = ++mark; }
            else return false;
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }

    /// <summary>Expands and fails with QB3102 (naming the pattern and where it was looked for) when nothing matches.</summary>
    public static List<string> ExpandRequired(CalibrationInput input, string baseDirectory, string? sidecar, string section = "calibration")
    {
        var files = Expand(input.Pattern, baseDirectory);
        if (files.Count == 0)
            throw new QuantBuildException(DiagnosticCodes.CalibrationFilesNotFound,
                $"{section} input '{input.Name}': the pattern \"{input.Pattern}\" matches no file (looked in '{baseDirectory}')", sidecar, input.Line, input.Column);
        return files;
    }
}
