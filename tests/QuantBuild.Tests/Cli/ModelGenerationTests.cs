using System.Security.Cryptography;
using QuantBuild.BuildContract;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Cli;

/// <summary>
/// The publisher behind every tool output (the kill-mid-publish case runs as a real killed process in
/// QuantBuild.Build.Tests' PackagedBuildTests).
/// </summary>
[TestClass]
public sealed class ModelGenerationTests
{
    [TestMethod]
    public void PublishesEveryFileAndLastAMarkerNamingThemWithSizeAndHash()
    {
        using var temp = new TempFolder();
        var files = new[]
        {
            new GeneratedFile(temp.File("out", "m.g.cs"), "class M {}"u8.ToArray()),
            new GeneratedFile(temp.File("out", "m.quant.onnx"), [1, 2, 3]),
            new GeneratedFile(temp.File("deps", "m.deps"), "/a\n"u8.ToArray()),
        };
        Directory.CreateDirectory(temp.File("out"));
        File.WriteAllText(temp.File("out", "m.generation"), "old marker");

        var written = ModelGeneration.Publish(temp.File("out"), temp.File("out", "m.generation"), files);

        CollectionAssert.AreEqual(files.Select(f => f.Path).Append(temp.File("out", "m.generation")).ToArray(), written);
        foreach (var file in files)
            CollectionAssert.AreEqual(file.Content, File.ReadAllBytes(file.Path));
        CollectionAssert.AreEqual(new[]
        {
            ModelGeneration.MarkerHeader,
            $"{Hash("class M {}"u8.ToArray())} 10 m.g.cs",
            $"{Hash([1, 2, 3])} 3 m.quant.onnx",
            $"{Hash("/a\n"u8.ToArray())} 3 {temp.File("deps", "m.deps")}",
        }, File.ReadAllLines(temp.File("out", "m.generation")));
        Assert.AreEqual(0, Directory.GetDirectories(temp.File("out")).Length, "the staging folder is gone");
    }

    [TestMethod]
    public void LeftoversOfDeadProcessesAreRemovedThoseOfLiveOnesAreKept()
    {
        using var temp = new TempFolder();
        int live = Environment.ProcessId;
        var dead = "2147483647";
        Directory.CreateDirectory(temp.File($".qb-tmp-{dead}-0123abcd"));
        Directory.CreateDirectory(temp.File($".qb-tmp-{live}-0123abcd"));
        foreach (var name in new[] { $".m.g.cs.{dead}-0123abcd.tmp", $".m.g.cs.{live}-0123abcd.tmp", ".m.g.cs.0123abcd.tmp", ".notours.tmp" })
            File.WriteAllText(temp.File(name), "x");

        ModelGeneration.RemoveStaleTemporaries(temp.Path);

        CollectionAssert.AreEquivalent(
            new[] { $".qb-tmp-{live}-0123abcd", $".m.g.cs.{live}-0123abcd.tmp", ".notours.tmp" },
            Directory.GetFileSystemEntries(temp.Path).Select(Path.GetFileName).ToArray(),
            "a live process may be a concurrent build (design-time beside a real one); an old-style temporary names no process and goes");
    }

    private static string Hash(byte[] content) => Convert.ToHexStringLower(SHA256.HashData(content));
}
