using QuantBuild.BuildContract;

namespace QuantBuild.Build.Tests;

[TestClass]
public sealed class ModelNamingTests
{
    [TestMethod]
    [DataRow("kws", "Kws")]
    [DataRow("kws_small-v2", "KwsSmallV2")]
    [DataRow("mobilenet.v3", "MobilenetV3")]
    [DataRow("ResNet50", "ResNet50")]
    [DataRow("1x1conv", "Model1x1conv")]
    [DataRow("___", "Model")]
    public void ClassNameFromStem(string stem, string expected) => Assert.AreEqual(expected, ModelNaming.ToClassName(stem));

    [TestMethod]
    public void IdentifiersAndNamespaces()
    {
        Assert.IsTrue(ModelNaming.IsValidIdentifier("Kws_2"));
        Assert.IsTrue(ModelNaming.IsValidIdentifier("_x"));
        Assert.IsFalse(ModelNaming.IsValidIdentifier("2x"));
        Assert.IsFalse(ModelNaming.IsValidIdentifier("a-b"));
        Assert.IsTrue(ModelNaming.IsValidNamespace(""));
        Assert.IsTrue(ModelNaming.IsValidNamespace("My.App.Models"));
        Assert.IsFalse(ModelNaming.IsValidNamespace("My..App"));
    }

    [TestMethod]
    public void KeywordsAreValidNamesWrittenWithAnAtSign()
    {
        // Valid: the generated code escapes them, so ClassName="event" is the class 'event' (@event in C#).
        Assert.IsTrue(ModelNaming.IsValidIdentifier("class"));
        Assert.IsTrue(ModelNaming.IsValidNamespace("App.namespace"));
        Assert.AreEqual("@class", ModelNaming.ToCSharp("class"));
        Assert.AreEqual("@record", ModelNaming.ToCSharp("record"), "contextual keywords too (a type named record is an error)");
        Assert.AreEqual("App.@namespace.@event.Models", ModelNaming.ToCSharp("App.namespace.event.Models"));
        Assert.AreEqual("Class", ModelNaming.ToCSharp("Class"), "keywords are case-sensitive");
        Assert.AreEqual("Kws", ModelNaming.ToCSharp("Kws"));
        Assert.IsFalse(ModelNaming.IsValidIdentifier("@class"), "the '@' is how C# writes the name, not part of it");
    }

    [TestMethod]
    [DataRow("kws", true)]
    [DataRow("kws.v2", true)]
    [DataRow("../../x", false)]
    [DataRow("..", false)]
    [DataRow("/abs/x", false)]
    [DataRow(@"C:\x", false)]
    [DataRow("a:b", false)]
    [DataRow("a\\b", false)]
    [DataRow("a*b", false)]
    [DataRow("trailing.", false)]
    [DataRow("", false)]
    public void PlainFileNames(string name, bool plain) => Assert.AreEqual(plain, ModelNaming.IsPlainFileName(name), name);

    [TestMethod]
    public void FolderNameIsStableAndSeparatorInsensitive()
    {
        var a = ModelNaming.StableFolderName("Models/a/m.onnx");
        Assert.AreEqual(a, ModelNaming.StableFolderName(@"Models\a\m.onnx"));
        Assert.AreNotEqual(a, ModelNaming.StableFolderName("Models/b/m.onnx"));
        Assert.AreEqual(12, a.Length);
        // Pinned (SHA-256 prefix): the folder name is the on-disk layout incremental builds rely on.
        Assert.AreEqual("a33c8befa663", a);
    }
}
