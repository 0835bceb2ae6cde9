using QuantBuild.BuildContract;

namespace QuantBuild.Build.Tests;

/// <summary>The manifest reader shared by quantbuild build and the fake tool (the writer is tested in QuantizeModelsTests).</summary>
[TestClass]
public sealed class ModelManifestTests
{
    private static readonly string Base = Path.Combine(Path.GetTempPath(), "qb-manifest");

    private static string Line(string name = "kws", string className = "Kws", string ns = "App", string access = "internal") =>
        string.Join('\t', "m/kws.onnx", "", "obj/qb/", name, className, ns, access, "obj/qb/kws.deps");

    [TestMethod]
    public void WhatTheTaskWritesReadsBackWithFullPaths()
    {
        var entry = new ManifestEntry("/p/kws.onnx", "/p/kws.quant.json", "/obj/qb/", "kws", "event", "App.namespace", "public", "/obj/qb/kws.deps");
        var text = ModelManifest.Format([entry], out var formatError);
        Assert.IsNull(formatError);

        var read = ModelManifest.Parse("# comment\n\n" + text, Base, out var error).Single();

        Assert.IsNull(error);
        CollectionAssert.AreEqual(entry.Fields().Select(f => f.StartsWith('/') ? Path.GetFullPath(f) : f).ToArray(), read.Fields());
    }

    [TestMethod]
    public void RelativePathsAreRelativeToTheManifestFolder()
    {
        var read = ModelManifest.Parse(Line() + "\n", Base, out var error).Single();
        Assert.IsNull(error);
        Assert.AreEqual(Path.Combine(Base, "m", "kws.onnx"), read.ModelPath);
        Assert.AreEqual("", read.SidecarPath, "empty stays empty: no sidecar");
    }

    [TestMethod]
    [DataRow("../../x")]
    [DataRow("/tmp/x")]
    [DataRow("sub/x")]
    [DataRow("a:b")]
    [DataRow("x?")]
    [DataRow("..")]
    public void NamesThatWouldWriteOutsideTheOutputFolderAreRefusedWithTheirLine(string name)
    {
        ModelManifest.Parse(Line() + "\n" + Line(name: name) + "\n", Base, out var error);

        Assert.IsNotNull(error);
        Assert.AreEqual(2, error.Line);
        StringAssert.Contains(error.Message, $"name '{name}' must be a plain file name");
    }

    [TestMethod]
    public void ClassNamesNamespacesAndAccessAreChecked()
    {
        ModelManifest.Parse(Line(className: "1x"), Base, out var badClass);
        StringAssert.Contains(badClass!.Message, "class name '1x' is not a C# identifier");
        ModelManifest.Parse(Line(ns: "A..B"), Base, out var badNamespace);
        StringAssert.Contains(badNamespace!.Message, "namespace 'A..B'");
        ModelManifest.Parse(Line(access: "protected"), Base, out var badAccess);
        StringAssert.Contains(badAccess!.Message, "access must be 'internal' or 'public'");
        ModelManifest.Parse("a.onnx\tb.json\n", Base, out var fields);
        StringAssert.Contains(fields!.Message, "expected 8 tab-separated fields");
        // Keywords are fine: the generated code writes them with '@'.
        ModelManifest.Parse(Line(className: "class", ns: "namespace"), Base, out var keywords);
        Assert.IsNull(keywords);
    }

    [TestMethod]
    public void TwoModelsWritingTheSameFilesAreRefused()
    {
        ModelManifest.Parse(Line() + "\n" + Line(className: "Other") + "\n", Base, out var error);
        Assert.AreEqual(2, error!.Line);
        StringAssert.Contains(error.Message, "as line 1");
    }
}
