using QuantBuild.BuildContract;
using QuantBuild.Cli.Caching;
using QuantBuild.Cli.Commands;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Cli;

/// <summary>
/// The result cache behind <c>quantbuild build --cache-dir</c> (docs/msbuild.md, "Result cache"), run as the
/// MSBuild task runs it: a manifest, the real MNIST model, real calibration digits. The MSBuild side (a clean
/// checkout restored, a damaged entry rebuilt through <c>dotnet build</c>) is in QuantBuild.Build.Tests.
/// </summary>
[TestClass]
public sealed class ResultCacheTests
{
    /// <summary>A checkout: the model, its sidecar, 5 calibration digits and a manifest naming them (relative paths).</summary>
    private static string Checkout(string folder, string ns = "App")
    {
        Directory.CreateDirectory(folder);
        File.Copy(QuantizeTestData.MnistModel, Path.Combine(folder, "mnist.onnx"));
        QuantizeTestData.WriteMnistCalibration(folder, 5);
        File.WriteAllText(Path.Combine(folder, "mnist.quant.json"), """{ "calibration": { "inputs": { "input": "calib/*.npy" } } }""");
        var manifest = Path.Combine(folder, "models.manifest");
        File.WriteAllText(manifest, $"mnist.onnx\tmnist.quant.json\tobj/qb\tmnist\t\t{ns}\tinternal\tobj/qb/mnist.deps\n");
        return manifest;
    }

    private static (int Exit, string Out, string Err) Build(string manifest, string cache) =>
        CliHarness.Cli("build", "--manifest", manifest, "--threads", "2", "--cache-dir", cache);

    private static string Outputs(string manifest) => Path.Combine(Path.GetDirectoryName(manifest)!, "obj", "qb");

    /// <summary>Every file the build wrote for the model, by name.</summary>
    private static SortedDictionary<string, byte[]> Written(string manifest) =>
        new(Directory.GetFiles(Outputs(manifest)).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes), StringComparer.Ordinal);

    private static string Progress(ModelAction action, string folder) => ToolProgress.Format(action, Path.Combine(folder, "mnist.onnx"));

    private static string EntryFolder(string cache) => Directory.GetDirectories(Path.Combine(cache, "v1"), "*", SearchOption.AllDirectories).Single(d => Path.GetFileName(d).Length == 64);

    [TestMethod]
    public void AnotherCheckoutOfTheSameInputsIsRestoredByteForByteWithoutQuantizing()
    {
        using var temp = new TempFolder();
        var cache = temp.File("cache");
        var first = Checkout(temp.File("a"));
        var cold = Build(first, cache);
        Assert.AreEqual(0, cold.Exit, cold.Err);
        StringAssert.Contains(cold.Out, Progress(ModelAction.Quantizing, temp.File("a")));
        StringAssert.Contains(cold.Out, "mnist: stored in the result cache");

        var second = Checkout(temp.File("b"));
        var warm = Build(second, cache);
        Assert.AreEqual(0, warm.Exit, warm.Err);
        Assert.AreEqual("", warm.Err);
        StringAssert.Contains(warm.Out, ToolProgress.Format(ModelAction.Restoring, Path.Combine(temp.File("b"), "mnist.onnx"), EntryFolder(cache)));
        // The quantizer's own log lines (stage timings, calibration progress, peak memory) are absent: it did not run.
        Assert.IsFalse(warm.Out.Contains("mnist: peak memory", StringComparison.Ordinal) || warm.Out.Contains("mnist: calibrat", StringComparison.Ordinal), warm.Out);
        StringAssert.Contains(warm.Out, "mnist: restored from the result cache");

        // What a fresh quantization of checkout b writes: a's files, with a's paths in the dependency file being b's.
        var expected = Written(first);
        expected["mnist.deps"] = System.Text.Encoding.UTF8.GetBytes(File.ReadAllText(Path.Combine(Outputs(first), "mnist.deps")).Replace(temp.File("a"), temp.File("b"), StringComparison.Ordinal));
        var actual = Written(second);
        CollectionAssert.AreEqual(expected.Keys.ToList(), actual.Keys.ToList());
        foreach (var name in expected.Keys.Where(n => n != "mnist.generation"))
            CollectionAssert.AreEqual(expected[name], actual[name], name);
        // The marker lists the same sizes and hashes as a fresh generation would (the dependency file's are b's).
        Assert.AreEqual(
            new[] { ModelGeneration.MarkerHeader }.Concat(new[] { "mnist.quant.onnx", "mnist.g.cs", "mnist.report.json", "mnist.deps" }
                .Select(n => $"{Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(expected[n]))} {expected[n].Length} {n}")).Aggregate((x, y) => x + "\n" + y) + "\n",
            File.ReadAllText(Path.Combine(Outputs(second), "mnist.generation")));
    }

    /// <summary>
    /// A model with a verify block restored from the cache prints the verify figures its quantization printed, as the
    /// same reporting lines (MSBuild shows them at normal verbosity), read back from the restored report.
    /// </summary>
    [TestMethod]
    public void ARestoredModelPrintsTheVerifyFiguresItsQuantizationPrinted()
    {
        using var temp = new TempFolder();
        var cache = temp.File("cache");
        string WithVerify(string folder)
        {
            var manifest = Checkout(folder);
            File.WriteAllText(Path.Combine(folder, "mnist.quant.json"),
                """{ "calibration": { "inputs": { "input": "calib/*.npy" } }, "verify": { "inputs": { "input": "calib/*.npy" } } }""");
            return manifest;
        }
        static List<string> VerifyLines(string log) => log.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Contains("\tverify: ", StringComparison.Ordinal)).ToList();

        var cold = Build(WithVerify(temp.File("a")), cache);
        Assert.AreEqual(0, cold.Exit, cold.Err);
        var printed = VerifyLines(cold.Out);
        Assert.HasCount(2, printed, cold.Out);
        Assert.IsTrue(printed.All(l => l.StartsWith(ToolProgress.Format(ModelAction.Reporting, Path.Combine(temp.File("a"), "mnist.onnx"), "verify: "), StringComparison.Ordinal)), cold.Out);

        var warm = Build(WithVerify(temp.File("b")), cache);
        Assert.AreEqual(0, warm.Exit, warm.Err);
        StringAssert.Contains(warm.Out, "mnist: restored from the result cache");
        CollectionAssert.AreEqual(printed.Select(l => l.Replace(temp.File("a"), temp.File("b"), StringComparison.Ordinal)).ToList(), VerifyLines(warm.Out), warm.Out);
    }

    /// <summary>
    /// A damaged entry (a flipped byte, a truncated file, a missing manifest or output, a manifest claiming an
    /// absurd size) is said to be damaged in a plain log line, never used, and replaced by the new quantization.
    /// </summary>
    [TestMethod]
    [DataRow("flip", "'quant.onnx' does not match its SHA-256")]
    [DataRow("truncate", "'g.cs' has")]
    [DataRow("no-manifest", "it has no manifest")]
    [DataRow("no-output", "'report.json' is missing")]
    [DataRow("absurd-size", "its manifest gives 'quant.onnx' 9223372036854775807 bytes, more than an entry may hold")]
    public void ADamagedEntryIsReportedNeverUsedAndRebuilt(string damage, string reason)
    {
        using var temp = new TempFolder();
        var cache = temp.File("cache");
        var manifest = Checkout(temp.File("a"));
        var cold = Build(manifest, cache);
        Assert.AreEqual(0, cold.Exit, cold.Err);
        var fresh = Written(manifest);
        var entry = EntryFolder(cache);
        var stored = Directory.GetFiles(entry).ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);

        switch (damage)
        {
            case "flip":
                var bytes = File.ReadAllBytes(Path.Combine(entry, "quant.onnx"));
                bytes[bytes.Length / 2] ^= 0x10;
                File.WriteAllBytes(Path.Combine(entry, "quant.onnx"), bytes);
                break;
            case "truncate":
                using (var stream = new FileStream(Path.Combine(entry, "g.cs"), FileMode.Open)) stream.SetLength(stream.Length / 2);
                break;
            case "no-manifest":
                File.Delete(Path.Combine(entry, ResultCache.ManifestName));
                break;
            case "no-output":
                File.Delete(Path.Combine(entry, "report.json"));
                break;
            case "absurd-size":
                var lines = File.ReadAllLines(Path.Combine(entry, ResultCache.ManifestName));
                File.WriteAllLines(Path.Combine(entry, ResultCache.ManifestName), lines.Select(l => l.EndsWith(" quant.onnx", StringComparison.Ordinal)
                    ? string.Join(' ', l.Split(' ')[0], "9223372036854775807", "quant.onnx") : l));
                break;
        }
        Directory.Delete(Outputs(manifest), recursive: true);

        var rebuilt = Build(manifest, cache);
        Assert.AreEqual(0, rebuilt.Exit, rebuilt.Err);
        Assert.AreEqual("", rebuilt.Err, "a damaged entry is no warning or error");
        StringAssert.Contains(rebuilt.Out, $"mnist: result cache entry {Path.GetFileName(entry)[..16]} is damaged ({reason}");
        StringAssert.Contains(rebuilt.Out, Progress(ModelAction.Quantizing, temp.File("a")));
        Assert.IsFalse(rebuilt.Out.Contains("quantbuild-model\trestoring", StringComparison.Ordinal), rebuilt.Out);
        CollectionAssert.AreEqual(fresh.Keys.ToList(), Written(manifest).Keys.ToList());
        foreach (var (name, content) in Written(manifest))
            CollectionAssert.AreEqual(fresh[name], content, name);
        // Rebuilt: the same files as the first store, and the next build restores from it.
        foreach (var (name, content) in stored)
            CollectionAssert.AreEqual(content, File.ReadAllBytes(Path.Combine(entry, name!)), name);
        var again = Build(manifest, cache);
        StringAssert.Contains(again.Out, "mnist: restored from the result cache");
    }

    [TestMethod]
    public void TheKeyCoversEveryCalibrationFileByContentAndOrderAndTheItemMetadataButNoPath()
    {
        using var temp = new TempFolder();
        static ResultCacheKey Key(string manifest) => BuildCommand.ReadManifest(manifest)
            .Select(r => ResultCacheKey.Compute(r, QuantizeJob.LoadSettings(r.SidecarPath, r.ModelPath))).Single();
        var a = Checkout(temp.File("a"));
        var key = Key(a);
        Assert.IsFalse(key.Text.Contains(temp.Path, StringComparison.Ordinal), "no absolute path in the key:\n" + key.Text);
        Assert.AreEqual(key.Digest, Key(Checkout(temp.File("b"))).Digest, "another checkout of the same inputs");
        Assert.AreNotEqual(key.Digest, Key(Checkout(temp.File("c"), ns: "Other")).Digest, "the namespace is in the generated code");
        CollectionAssert.AreEqual(new[] { "mnist.onnx", "mnist.quant.json" }.Concat(Enumerable.Range(0, 5).Select(k => Path.Combine("calib", $"d{k:D3}.npy"))).Select(f => Path.Combine(temp.File("a"), f)).ToList(),
            key.InputFiles.ToList());

        var calibration = temp.File("a", "calib", "d002.npy");
        var original = File.ReadAllBytes(calibration);
        var changed = (byte[])original.Clone();
        changed[^1] ^= 1;
        File.WriteAllBytes(calibration, changed);
        Assert.AreNotEqual(key.Digest, Key(a).Digest, "one changed byte of one calibration file");
        File.WriteAllBytes(calibration, original);
        Assert.AreEqual(key.Digest, Key(a).Digest, "the same content again");

        // The same files in another order pair other samples: d000 and d001 swap contents.
        var first = File.ReadAllBytes(temp.File("a", "calib", "d000.npy"));
        File.Copy(temp.File("a", "calib", "d001.npy"), temp.File("a", "calib", "d000.npy"), overwrite: true);
        File.WriteAllBytes(temp.File("a", "calib", "d001.npy"), first);
        Assert.AreNotEqual(key.Digest, Key(a).Digest, "the order of the samples");
        File.Copy(temp.File("a", "calib", "d004.npy"), temp.File("a", "calib", "d005.npy"));
        Assert.AreNotEqual(key.Digest, Key(a).Digest, "one more file matching the pattern");
    }
}
