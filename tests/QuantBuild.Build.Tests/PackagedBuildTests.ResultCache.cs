namespace QuantBuild.Build.Tests;

public sealed partial class PackagedBuildTests
{
    /// <summary>
    /// The result cache through <c>dotnet build</c> with the packaged tool and the real MNIST model
    /// (docs/msbuild.md, "Result cache"): a clean checkout (obj/ and bin/ deleted) restores every generated file
    /// byte for byte without running the quantizer; switching to Debug has nothing to do (the outputs do not live
    /// under the configuration); an entry with a flipped byte is reported as a message, not used, and rebuilt;
    /// a changed calibration file is a new key (quantized, a second entry).
    /// The cache folder is this test's own (the root Directory.Build.props sets QuantBuildCacheDir).
    /// </summary>
    [TestMethod]
    public void ACleanCheckoutIsRestoredFromTheResultCacheByteForByteAndADamagedEntryIsRebuilt()
    {
        var name = nameof(ACleanCheckoutIsRestoredFromTheResultCacheByteForByteAndADamagedEntryIsRebuilt);
        var directory = Path.Combine(s_root, name);
        var cache = Path.Combine(s_root, "caches", name);
        WriteMnistModel(directory);
        WriteAppProject(directory, """    <QuantizedModel Include="Models/mnist.onnx" />""");
        File.WriteAllText(Path.Combine(directory, "Program.cs"), "System.Console.WriteLine(App.Mnist.WeightBytes);\n");
        var generated = Path.Combine(directory, "obj", "quantbuild");
        SortedDictionary<string, byte[]> Generated() => new(System.IO.Directory.GetFiles(generated, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(generated, f), File.ReadAllBytes), StringComparer.Ordinal);
        void AssertGeneratedEqual(SortedDictionary<string, byte[]> expected, string what)
        {
            var actual = Generated();
            CollectionAssert.AreEqual(expected.Keys.ToList(), actual.Keys.ToList(), what);
            foreach (var (file, content) in expected)
                CollectionAssert.AreEqual(content, actual[file], what + ": " + file);
        }
        ProcessResult Build(string what, string configuration = "Release", params string[] extra)
        {
            var build = Run(directory, "dotnet", ["build", "-c", configuration, "-nr:false", "--nologo", "-v:n", .. extra]);
            build.AssertSucceeded(what);
            return build;
        }
        const string Quantizing = "QuantBuild: quantizing Models/mnist.onnx";
        const string Restoring = "QuantBuild: restoring Models/mnist.onnx from the result cache";
        // Lines only the quantizer prints (its stage timings and memory peak).
        const string QuantizerRan = "mnist: peak memory";

        var cold = Build("cold cache");
        StringAssert.Contains(cold.Output, Quantizing);
        StringAssert.Contains(cold.Output, "mnist: stored in the result cache");
        var fresh = Generated();
        var entry = System.IO.Directory.GetDirectories(Path.Combine(cache, "v1"), "*", SearchOption.AllDirectories).Single(d => Path.GetFileName(d).Length == 64);

        // A clean checkout: nothing of the first build is left but the cache.
        System.IO.Directory.Delete(Path.Combine(directory, "obj"), recursive: true);
        System.IO.Directory.Delete(Path.Combine(directory, "bin"), recursive: true);
        var warm = Build("warm cache, clean checkout");
        StringAssert.Contains(warm.Output, Restoring);
        // A restored model's page is written again from the cached report: the same bytes (compared below with every generated file).
        StringAssert.Contains(warm.Output, "QuantBuild: report file://");
        Assert.IsFalse(warm.Output.Contains(Quantizing, StringComparison.Ordinal) || warm.Output.Contains(QuantizerRan, StringComparison.Ordinal), warm.Output);
        AssertGeneratedEqual(fresh, "restored from the cache");
        var app = Run(directory, "dotnet", Path.Combine(directory, "bin/Release/net10.0/App.dll"));
        app.AssertSucceeded("running the app built from restored files");
        StringAssert.Contains(app.Output, "105744");

        // The outputs do not depend on the configuration: Debug finds them up to date.
        var debug = Build("switch to Debug", "Debug", "--no-restore");
        Assert.IsFalse(debug.Output.Contains(Quantizing, StringComparison.Ordinal) || debug.Output.Contains(Restoring, StringComparison.Ordinal), debug.Output);
        StringAssert.Contains(debug.Output, "quantized model(s) are up to date; skipped.");

        // A flipped byte: a plain message, the quantizer runs, the same files result and the entry is whole again.
        var stored = File.ReadAllBytes(Path.Combine(entry, "quant.onnx"));
        var flipped = (byte[])stored.Clone();
        flipped[flipped.Length / 3] ^= 0x01;
        File.WriteAllBytes(Path.Combine(entry, "quant.onnx"), flipped);
        System.IO.Directory.Delete(generated, recursive: true);
        var damaged = Build("damaged entry", "Release", "--no-restore");
        var damageLine = damaged.Output.Split('\n').Single(l => l.Contains("is damaged", StringComparison.Ordinal));
        StringAssert.Contains(damageLine, "'quant.onnx' does not match its SHA-256");
        Assert.IsFalse(damageLine.Contains("warning", StringComparison.OrdinalIgnoreCase) || damageLine.Contains("error", StringComparison.OrdinalIgnoreCase), damageLine);
        StringAssert.Contains(damaged.Output, Quantizing);
        AssertGeneratedEqual(fresh, "rebuilt after a damaged entry");
        CollectionAssert.AreEqual(stored, File.ReadAllBytes(Path.Combine(entry, "quant.onnx")), "the entry was rebuilt");

        // One calibration file changed: a new key, quantized and stored beside the first. (That its old content
        // gives the first key again is checked on the tool, ResultCacheTests: one build less here.)
        var calibration = Path.Combine(directory, "Models", "calibration", "d3.npy");
        var changed = File.ReadAllBytes(calibration);
        changed[^1] ^= 0x40;
        File.WriteAllBytes(calibration, changed);
        var newKey = Build("changed calibration file", "Release", "--no-restore");
        StringAssert.Contains(newKey.Output, Quantizing);
        var entries = System.IO.Directory.GetDirectories(Path.Combine(cache, "v1"), "*", SearchOption.AllDirectories).Where(d => Path.GetFileName(d).Length == 64).ToList();
        Assert.AreEqual(2, entries.Count, "two keys, two entries");
        // The two keys differ in that file's digest only.
        var keys = entries.Select(e => File.ReadAllLines(Path.Combine(e, "key"))).ToList();
        var differing = keys[0].Zip(keys[1]).Where(pair => pair.First != pair.Second).ToList();
        Assert.AreEqual(1, differing.Count, string.Join("\n", differing));
        StringAssert.StartsWith(differing[0].First, "sample\t");
    }
}
