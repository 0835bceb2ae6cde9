using Google.Protobuf;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Onnx;

[TestClass]
public sealed class ExternalDataTests
{
    /// <summary>x -> Identity -> y, with initializers of assorted sizes and payload forms.</summary>
    internal static ModelProto SampleModel()
    {
        var model = new ModelProto { IrVersion = 8, Graph = new GraphProto { Name = "g" } };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 17 });
        var g = model.Graph;
        var rng = new Random(3);
        var big = Enumerable.Range(0, 3000).Select(_ => (float)rng.NextDouble()).ToArray();
        g.Initializer.Add(TensorProtoConverter.FromTensor(Tensor.FromFloats(big, 30, 100), "big_raw"));
        g.Initializer.Add(TensorProtoConverter.FromTensor(Tensor.FromFloats([1, 2, 3], 3), "small_raw"));
        var typed = new TensorProto { Name = "big_typed", DataType = (int)DataType.Float };
        typed.Dims.Add(700);
        typed.FloatData.Add(Enumerable.Range(0, 700).Select(i => i * 0.5f));
        g.Initializer.Add(typed);
        g.Initializer.Add(TensorProtoConverter.FromTensor(Tensor.FromInt64(Enumerable.Range(0, 1000).Select(i => (long)i * 7).ToArray(), 1000), "big_int64"));
        g.Input.Add(OnnxExporter.ToProto(new ValueInfo("x", DataType.Float, [2])));
        g.Output.Add(OnnxExporter.ToProto(new ValueInfo("y", DataType.Float, [2])));
        var node = new NodeProto { Name = "id", OpType = "Identity" };
        node.Input.Add("x");
        node.Output.Add("y");
        g.Node.Add(node);
        return model;
    }

    private static string Key(TensorProto t, string key) => t.ExternalData.Single(kv => kv.Key == key).Value;

    internal static void AssertSameInitializers(ModelGraph expected, ModelGraph actual)
    {
        CollectionAssert.AreEqual(expected.Initializers.Keys.ToList(), actual.Initializers.Keys.ToList());
        foreach (var (name, e) in expected.Initializers)
        {
            var a = actual.Initializers[name];
            Assert.AreEqual(e.Type, a.Type, name);
            CollectionAssert.AreEqual(e.Shape, a.Shape, name);
            CollectionAssert.AreEqual(e.Data, a.Data, $"values of '{name}'");
        }
    }

    [TestMethod]
    public void LargeInitializersMoveToAnAlignedDataFileAndLoadBack()
    {
        using var folder = new TempFolder();
        var path = folder.File("model.onnx");
        var model = SampleModel();
        OnnxModelFile.Save(model, path, new ExternalDataOptions { ThresholdBytes = 1024 });

        var dataPath = folder.File("model.onnx.data");
        Assert.IsTrue(File.Exists(dataPath), "data file written beside the model");
        var stored = OnnxModelFile.Load(path);
        var byName = stored.Graph.Initializer.ToDictionary(t => t.Name);
        foreach (var name in new[] { "big_raw", "big_typed", "big_int64" })
        {
            var t = byName[name];
            Assert.AreEqual(TensorProto.Types.DataLocation.External, t.DataLocation, name);
            Assert.IsTrue(t.RawData.IsEmpty && t.FloatData.Count == 0, $"{name} keeps no inline payload");
            Assert.AreEqual("model.onnx.data", Key(t, "location"));
            Assert.AreEqual(0, long.Parse(Key(t, "offset")) % ExternalData.Alignment, $"{name} offset is 4096-aligned");
        }
        Assert.AreEqual("12000", Key(byName["big_raw"], "length"));
        Assert.AreEqual("2800", Key(byName["big_typed"], "length"));
        Assert.AreEqual("8000", Key(byName["big_int64"], "length"));
        Assert.AreEqual(TensorProto.Types.DataLocation.Default, byName["small_raw"].DataLocation, "below the threshold stays inline");
        Assert.IsFalse(byName["small_raw"].RawData.IsEmpty);
        // Three payloads at 0, 12288 and 16384 (aligned), the last one 8000 bytes.
        Assert.AreEqual(16384 + 8000, new FileInfo(dataPath).Length);

        var original = OnnxImporter.Import(model);
        AssertSameInitializers(original, OnnxImporter.Load(path));
        // Inlining on load gives a self-contained message with the same values.
        var inlined = OnnxModelFile.Load(path, inlineExternalData: true);
        Assert.IsFalse(OnnxModelFile.HasExternalData(inlined));
        AssertSameInitializers(original, OnnxImporter.Import(inlined));
    }

    [TestMethod]
    public void CustomLocationAndResavingElsewhere()
    {
        using var folder = new TempFolder();
        var first = folder.File("a", "model.onnx");
        OnnxModelFile.Save(SampleModel(), first, new ExternalDataOptions { Location = "weights/model.bin", ThresholdBytes = 4096 });
        Assert.IsTrue(File.Exists(folder.File("a", "weights", "model.bin")));
        var loaded = OnnxModelFile.Load(first);
        Assert.AreEqual(2, loaded.Graph.Initializer.Count(ExternalData.IsExternal), "only the two tensors of at least 4096 bytes");

        // Saving the still-external message into another folder must not leave references to files that are not there.
        var plain = folder.File("b", "model.onnx");
        OnnxModelFile.Save(loaded, plain, null, OnnxModelFile.ModelDirectory(first));
        Assert.IsFalse(OnnxModelFile.HasExternalData(OnnxModelFile.Load(plain)));

        var moved = folder.File("c", "model.onnx");
        OnnxModelFile.Save(loaded, moved, new ExternalDataOptions { ThresholdBytes = 1 << 20 }, OnnxModelFile.ModelDirectory(first));
        Assert.IsFalse(OnnxModelFile.HasExternalData(OnnxModelFile.Load(moved)), "all tensors under the new threshold come back inline");

        var expected = OnnxImporter.Import(SampleModel());
        AssertSameInitializers(expected, OnnxImporter.Load(first));
        AssertSameInitializers(expected, OnnxImporter.Load(plain));
        AssertSameInitializers(expected, OnnxImporter.Load(moved));
    }

    private static ModelProto WithExternal(string location, long offset = 0, long length = 12)
    {
        var model = SampleModel();
        var t = model.Graph.Initializer.First(i => i.Name == "small_raw");
        t.RawData = ByteString.Empty;
        t.DataLocation = TensorProto.Types.DataLocation.External;
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString() });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString() });
        return model;
    }

    [TestMethod]
    [DataRow("../outside.bin")]
    [DataRow("sub/../../outside.bin")]
    [DataRow("..\\outside.bin")]
    [DataRow("/etc/passwd")]
    [DataRow("C:\\Windows\\win.ini")]
    [DataRow("")]
    public void LocationsOutsideTheModelFolderAreRefused(string location)
    {
        using var folder = new TempFolder();
        File.WriteAllBytes(folder.File("outside.bin"), new byte[12]);
        var path = folder.File("models", "m.onnx");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        OnnxModelFile.Save(WithExternal(location), path);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Load(path));
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing, e.Code, e.Message);
        StringAssert.Contains(e.Message, "small_raw");
    }

    [TestMethod]
    public void SymbolicLinkDataFilesAreRefused()
    {
        using var folder = new TempFolder();
        File.WriteAllBytes(folder.File("secret.bin"), new byte[12]);
        Directory.CreateDirectory(folder.File("m"));
        File.CreateSymbolicLink(folder.File("m", "w.bin"), folder.File("secret.bin"));
        OnnxModelFile.Save(WithExternal("w.bin"), folder.File("m", "m.onnx"));
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Load(folder.File("m", "m.onnx")));
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing, e.Code);
        StringAssert.Contains(e.Message, "symbolic link");

        // A linked folder inside the model folder is refused the same way.
        Directory.CreateDirectory(folder.File("elsewhere"));
        File.WriteAllBytes(folder.File("elsewhere", "w.bin"), new byte[12]);
        Directory.CreateSymbolicLink(folder.File("m", "linked"), folder.File("elsewhere"));
        OnnxModelFile.Save(WithExternal("linked/w.bin"), folder.File("m", "m.onnx"));
        e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Load(folder.File("m", "m.onnx")));
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing, e.Code);
        StringAssert.Contains(e.Message, "linked");

        // A regular file in a regular subfolder is fine.
        Directory.CreateDirectory(folder.File("m", "real"));
        File.WriteAllBytes(folder.File("m", "real", "w.bin"), new byte[12]);
        OnnxModelFile.Save(WithExternal("real/w.bin"), folder.File("m", "m.onnx"));
        CollectionAssert.AreEqual(new float[3], OnnxImporter.Load(folder.File("m", "m.onnx")).Initializers["small_raw"].Floats);
    }

    [TestMethod]
    public void MissingOrShortDataFileIsReported()
    {
        using var folder = new TempFolder();
        var path = folder.File("m.onnx");
        OnnxModelFile.Save(WithExternal("w.bin"), path);
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing, Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Load(path)).Code);

        File.WriteAllBytes(folder.File("w.bin"), new byte[8]);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Load(path));
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing, e.Code);
        StringAssert.Contains(e.Message, "outside");

        // Right size but at an offset: reads exactly the requested slice.
        var bytes = new byte[20];
        BitConverter.GetBytes(9f).CopyTo(bytes, 8);
        BitConverter.GetBytes(8f).CopyTo(bytes, 12);
        BitConverter.GetBytes(7f).CopyTo(bytes, 16);
        File.WriteAllBytes(folder.File("w.bin"), bytes);
        OnnxModelFile.Save(WithExternal("w.bin", offset: 8), path);
        CollectionAssert.AreEqual(new[] { 9f, 8f, 7f }, OnnxImporter.Load(path).Initializers["small_raw"].Floats);
    }

    [TestMethod]
    public void MalformedOffsetIsInvalidTensorProto()
    {
        var model = WithExternal("w.bin");
        model.Graph.Initializer.First(i => i.Name == "small_raw").ExternalData.First(kv => kv.Key == "offset").Value = "-5";
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Import(model, Path.GetTempPath()));
        Assert.AreEqual(DiagnosticCodes.InvalidTensorProto, e.Code);
    }

    [TestMethod]
    public void ExternalDataWithoutAKnownFolderIsReportedNotGuessed()
    {
        // Without the model's folder a relative location would silently resolve against the working directory.
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OnnxImporter.Import(WithExternal("w.bin")));
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing, e.Code);
    }

    [TestMethod]
    public void ExternalDataCannotOverwriteTheModelOrLeaveItsFolder()
    {
        using var folder = new TempFolder();
        var path = folder.File("m.onnx");
        Assert.AreEqual(DiagnosticCodes.WriteFailed,
            Assert.ThrowsExactly<QuantBuildException>(() => OnnxModelFile.Save(SampleModel(), path, new ExternalDataOptions { Location = "m.onnx" })).Code);
        Assert.AreEqual(DiagnosticCodes.ExternalDataMissing,
            Assert.ThrowsExactly<QuantBuildException>(() => OnnxModelFile.Save(SampleModel(), path, new ExternalDataOptions { Location = "../w.bin" })).Code);
        Assert.IsFalse(File.Exists(path));
    }
}
