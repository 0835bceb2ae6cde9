using Google.Protobuf;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Onnx;

/// <summary>
/// read -> write -> read on every real model the project targets, at the protobuf level and through the
/// graph IR, plus the same models pushed through external data.
/// </summary>
[TestClass]
public sealed class ModelRoundTripTests
{
    [TestMethod]
    [DynamicData(nameof(TestAssets.ModelFiles), typeof(TestAssets))]
    public void ProtoLoadSaveLoadIsIdentical(string model)
    {
        var path = TestAssets.ModelFile(model);
        var original = OnnxModelFile.Load(path);
        using var folder = new TempFolder();
        var copy = folder.File("copy.onnx");
        OnnxModelFile.Save(original, copy);
        var reloaded = OnnxModelFile.Load(copy);
        // Message equality includes fields our .proto does not declare (kept as unknown fields).
        Assert.AreEqual(original, reloaded, "message differs after a save/load cycle");
        // Re-serializing our own output is stable byte for byte, so saving twice never churns files.
        CollectionAssert.AreEqual(File.ReadAllBytes(copy), reloaded.ToByteArray());
        Assert.IsTrue(original.Graph.Node.Count > 0 && ExternalData.MovableTensors(original.Graph).Any(), "a real model with nodes and weights");
    }

    [TestMethod]
    [DynamicData(nameof(TestAssets.ModelFiles), typeof(TestAssets))]
    public void GraphImportExportImportIsIdentical(string model)
    {
        var path = TestAssets.ModelFile(model);
        var first = OnnxImporter.Load(path);
        var exported = OnnxExporter.Export(first);
        var second = OnnxImporter.Import(OnnxModelFile.Parse(exported.ToByteArray(), "exported.onnx"));
        AssertSameGraph(first, second);
    }

    [TestMethod]
    [DynamicData(nameof(TestAssets.ModelFiles), typeof(TestAssets))]
    public void ExternalDataRoundTripKeepsTheGraph(string model)
    {
        var path = TestAssets.ModelFile(model);
        var original = OnnxModelFile.Load(path);
        using var folder = new TempFolder();
        var target = folder.File("model.onnx");
        OnnxModelFile.Save(original, target, new ExternalDataOptions { ThresholdBytes = 1024 }, OnnxModelFile.ModelDirectory(path));

        var stored = OnnxModelFile.Load(target);
        Assert.IsTrue(OnnxModelFile.HasExternalData(stored), "real models have weights above 1 KiB");
        Assert.IsTrue(new FileInfo(target).Length < new FileInfo(path).Length, "the weights left the model file");
        foreach (var t in ExternalData.MovableTensors(stored.Graph).Where(ExternalData.IsExternal))
            Assert.AreEqual(0, long.Parse(t.ExternalData.Single(kv => kv.Key == "offset").Value) % ExternalData.Alignment);

        AssertSameGraph(OnnxImporter.Import(original, OnnxModelFile.ModelDirectory(path)), OnnxImporter.Load(target));
        // Nodes, inputs and everything but the payload placement survive at the message level too.
        var inlined = OnnxModelFile.Load(target, inlineExternalData: true);
        Assert.AreEqual(original.Graph.Node.Count, inlined.Graph.Node.Count);
        CollectionAssert.AreEqual(original.Graph.Node.ToList(), inlined.Graph.Node.ToList());
        CollectionAssert.AreEqual(original.Graph.Input.ToList(), inlined.Graph.Input.ToList());
        CollectionAssert.AreEqual(original.Graph.Output.ToList(), inlined.Graph.Output.ToList());
    }

    internal static void AssertSameGraph(ModelGraph expected, ModelGraph actual)
    {
        Assert.AreEqual(expected.OpsetVersion, actual.OpsetVersion, "opset");
        Assert.AreEqual(expected.Name, actual.Name, "graph name");
        Assert.AreEqual(expected.Nodes.Count, actual.Nodes.Count, "node count");
        for (int i = 0; i < expected.Nodes.Count; i++)
        {
            var e = expected.Nodes[i];
            var a = actual.Nodes[i];
            string where = $"node {i} '{e.Name}'";
            Assert.AreEqual(e.Name, a.Name, where);
            Assert.AreEqual(e.OpType, a.OpType, where);
            Assert.AreEqual(e.Domain, a.Domain, where);
            CollectionAssert.AreEqual(e.Inputs, a.Inputs, $"{where} inputs");
            CollectionAssert.AreEqual(e.Outputs, a.Outputs, $"{where} outputs");
            CollectionAssert.AreEquivalent(e.Attributes.Keys.ToList(), a.Attributes.Keys.ToList(), $"{where} attribute names");
            foreach (var (name, attr) in e.Attributes)
                Assert.AreEqual(attr, a.Attributes[name], $"{where} attribute '{name}'");
        }
        ExternalDataTests.AssertSameInitializers(expected, actual);
        AssertSameValueInfos(expected.Inputs, actual.Inputs, "inputs");
        AssertSameValueInfos(expected.Outputs, actual.Outputs, "outputs");
    }

    private static void AssertSameValueInfos(List<ValueInfo> expected, List<ValueInfo> actual, string what)
    {
        Assert.AreEqual(expected.Count, actual.Count, $"number of {what}");
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.AreEqual(expected[i].Name, actual[i].Name, what);
            Assert.AreEqual(expected[i].Type, actual[i].Type, $"{what} '{expected[i].Name}' type");
            CollectionAssert.AreEqual(expected[i].Shape, actual[i].Shape, $"{what} '{expected[i].Name}' shape");
            CollectionAssert.AreEqual(expected[i].DimParams, actual[i].DimParams, $"{what} '{expected[i].Name}' symbolic dims");
        }
    }
}
