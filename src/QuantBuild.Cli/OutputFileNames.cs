namespace QuantBuild.Cli;

/// <summary>
/// File names for model outputs. ONNX value names are free text ("logits:0", "model/dense/BiasAdd"), so
/// they are made safe on every OS: characters Windows or Unix reject (<c>&lt; &gt; : " / \ | ? *</c> and
/// control characters) become '_', trailing dots and spaces are dropped, reserved Windows device names
/// get a '_' prefix, and names that then collide (case-insensitively, as on Windows and macOS) get
/// a numeric suffix in output order, so every output gets its own file whatever the OS.
/// </summary>
public static class OutputFileNames
{
    private const int MaxStemLength = 200;

    private static readonly HashSet<string> ReservedWindowsNames = new(StringComparer.OrdinalIgnoreCase)
    {
        "CON", "PRN", "AUX", "NUL",
        "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
        "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
    };

    /// <summary>Output name -> file name (with the .npy extension), distinct for distinct outputs.</summary>
    public static Dictionary<string, string> Assign(IReadOnlyList<string> outputNames, string extension = ".npy")
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        var used = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in outputNames)
        {
            if (result.ContainsKey(name)) continue;
            var stem = Sanitize(name);
            var candidate = stem;
            for (int k = 2; !used.Add(candidate); k++) candidate = $"{stem}_{k}";
            result[name] = candidate + extension;
        }
        return result;
    }

    /// <summary>A file-name stem for one value name (without extension or collision handling).</summary>
    public static string Sanitize(string name)
    {
        var chars = name.Select(c => c < 32 || c is '<' or '>' or ':' or '"' or '/' or '\\' or '|' or '?' or '*' ? '_' : c).ToArray();
        var stem = new string(chars).TrimEnd('.', ' ');
        if (stem.Length > MaxStemLength) stem = stem[..MaxStemLength];
        if (stem.Length == 0 || stem.All(c => c == '.')) return "output";
        var device = stem.Split('.')[0];
        return ReservedWindowsNames.Contains(device) ? "_" + stem : stem;
    }
}
