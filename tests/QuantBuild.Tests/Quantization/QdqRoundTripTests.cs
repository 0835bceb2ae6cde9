using Google.Protobuf;
using QuantBuild.Cli.Commands;
using QuantBuild.Emit;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Quantization;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

/// <summary>emit → import must give back the same QuantizedModel (what <c>quantbuild run --int</c> executes).</summary>
[TestClass]
public sealed class QdqRoundTripTests
{
    private static QuantizedModel QuantizeMnist(TempFolder temp, string extra)
    {
        QuantizeTestData.WriteMnistCalibration(temp.Path, 20);
        var sidecar = temp.File("mnist.quant.json");
        File.WriteAllText(sidecar, $$"""{ "calibration": { "inputs": { "input": "calib/*.npy" } } {{extra}} }""");
        var settings = QuantizeJob.LoadSettings(sidecar, QuantizeTestData.MnistModel);
        return QuantizationPipeline.Run(QuantizeTestData.MnistModel, settings).Model;
    }

    private static void AssertSameModel(QuantizedModel expected, QuantizedModel actual)
    {
        CollectionAssert.AreEqual(expected.Activations.Keys.Order(StringComparer.Ordinal).ToArray(), actual.Activations.Keys.Order(StringComparer.Ordinal).ToArray());
        foreach (var (name, a) in expected.Activations) Assert.AreEqual(a, actual.Activations[name], name);

        CollectionAssert.AreEquivalent(expected.Weights.Keys.ToArray(), actual.Weights.Keys.ToArray());
        foreach (var (node, w) in expected.Weights)
        {
            var r = actual.Weights[node];
            Assert.AreEqual((w.WeightName, w.Axis, w.Bits, w.Method, w.Encoding), (r.WeightName, r.Axis, r.Bits, r.Method, r.Encoding), node);
            CollectionAssert.AreEqual(w.Shape, r.Shape, node);
            CollectionAssert.AreEqual(w.Codes, r.Codes, node);
            CollectionAssert.AreEqual(w.Scales, r.Scales, node);
        }
        CollectionAssert.AreEquivalent(expected.FloatNodes.ToArray(), actual.FloatNodes.ToArray());
        CollectionAssert.AreEquivalent(expected.Notes.ToArray(), actual.Notes.ToArray());

        var eg = expected.Graph;
        var ag = actual.Graph;
        Assert.AreEqual(eg.OpsetVersion, ag.OpsetVersion);
        CollectionAssert.AreEqual(eg.Inputs.Select(i => i.Name).ToArray(), ag.Inputs.Select(i => i.Name).ToArray());
        CollectionAssert.AreEqual(eg.Outputs.Select(i => i.Name).ToArray(), ag.Outputs.Select(i => i.Name).ToArray());
        Assert.AreEqual(eg.Nodes.Count, ag.Nodes.Count);
        for (int i = 0; i < eg.Nodes.Count; i++)
        {
            var (e, a) = (eg.Nodes[i], ag.Nodes[i]);
            Assert.AreEqual((e.Name, e.OpType), (a.Name, a.OpType));
            CollectionAssert.AreEqual(e.Inputs, a.Inputs, e.Name);
            CollectionAssert.AreEqual(e.Outputs, a.Outputs, e.Name);
            CollectionAssert.AreEquivalent(e.Attributes.Values.Select(x => x.ToByteString().ToBase64()).ToArray(), a.Attributes.Values.Select(x => x.ToByteString().ToBase64()).ToArray(), e.Name);
        }
        CollectionAssert.AreEquivalent(eg.Initializers.Keys.ToArray(), ag.Initializers.Keys.ToArray());
        // Weights come back as their dequantized codes; every other constant exactly.
        var weightNames = expected.Weights.Values.Select(w => w.WeightName).ToHashSet();
        foreach (var (name, t) in eg.Initializers)
        {
            var back = ag.Initializers[name];
            CollectionAssert.AreEqual(t.Shape, back.Shape, name);
            if (weightNames.Contains(name))
                CollectionAssert.AreEqual(expected.Weights.Values.First(w => w.WeightName == name).Dequantize(), back.Floats, name);
            else if (!IsBias(expected, name))
                CollectionAssert.AreEqual(t.Data, back.Data, name);
        }
    }

    private static bool IsBias(QuantizedModel m, string name) =>
        m.Graph.Nodes.Any(n => m.Weights.ContainsKey(n.Name) && n.Inputs.Count > 2 && n.Inputs[2] == name);

    [TestMethod]
    public void MnistWithOverridesSkipsAndNarrowWidthsRoundTrips()
    {
        using var temp = new TempFolder();
        var model = QuantizeMnist(temp, """, "layers": { "conv2": { "weights": { "bits": 4, "range": "mse" } }, "fc2": { "skip": true } }, "activations": { "bits": 6 }""");
        Assert.AreEqual(4, model.Weights["conv2"].Bits);
        Assert.IsFalse(model.Weights.ContainsKey("fc2"), "a skipped node keeps float weights");
        Assert.IsTrue(model.FloatNodes.Contains("fc2"));
        Assert.AreEqual(6, model.Activations["input"].Bits);

        Assert.AreEqual(21, model.Graph.OpsetVersion, "4-bit weights move the graph to opset 21 (INT4)");
        var proto = QdqOnnxEmitter.Emit(model);
        var conv2Codes = proto.Graph.Initializer.Single(t => t.Name == "conv2.weight_quantized");
        Assert.AreEqual(Int4Storage.OnnxInt4, conv2Codes.DataType);
        Assert.AreEqual((model.Weights["conv2"].Codes.Length + 1) / 2, conv2Codes.RawData.Length);
        Assert.AreEqual(Int4Storage.OnnxInt8, proto.Graph.Initializer.Single(t => t.Name == "conv1.weight_quantized").DataType);

        var path = temp.File("m.quant.onnx");
        OnnxModelFile.Save(proto, path);
        AssertSameModel(model, QdqOnnxImporter.Load(path));
    }

    [TestMethod]
    public void Int4PackingPutsElementZeroInTheLowNibble()
    {
        sbyte[] codes = [-8, 7, -1, 0, 3];
        var packed = Int4Storage.Pack(codes);
        CollectionAssert.AreEqual(new byte[] { 0x78, 0x0F, 0x03 }, packed);
        CollectionAssert.AreEqual(codes, Int4Storage.Unpack(packed, codes.Length));
        Assert.ThrowsExactly<ArgumentOutOfRangeException>(() => Int4Storage.Pack([8]));
    }

    [TestMethod]
    public void BiasesAreInt32WithTheProductScale()
    {
        using var temp = new TempFolder();
        var model = QuantizeMnist(temp, "");
        var proto = QdqOnnxEmitter.Emit(model);
        var conv1 = model.Graph.Nodes.First(n => n.Name == "conv1");
        var biasDq = proto.Graph.Node.Single(n => n.OpType == "DequantizeLinear" && n.Output[0] == conv1.Inputs[2]);
        var codes = proto.Graph.Initializer.Single(i => i.Name == biasDq.Input[0]);
        var scales = TensorProtoConverter.ToTensor(proto.Graph.Initializer.Single(i => i.Name == biasDq.Input[1])).Floats;
        Assert.AreEqual((int)DataType.Int32, codes.DataType);
        var sIn = model.Activations["input"].Scale;
        var sW = model.Weights["conv1"].Scales;
        for (int j = 0; j < sW.Length; j++) Assert.AreEqual(sIn * sW[j], scales[j]);
        // Weight initializers are int8: the file holds no fp32 copy of any quantized weight.
        foreach (var w in model.Weights.Values)
            Assert.IsFalse(proto.Graph.Initializer.Any(i => i.Name == w.WeightName), w.WeightName);
        Assert.AreEqual(13, (int)proto.OpsetImport.Single(o => o.Domain == "").Version);
    }

    [TestMethod]
    public void PaddleOcrRoundTripsThroughTheOpsetUpgrade()
    {
        var model = TestAssets.RealModel("ppocr-cls");
        using var temp = new TempFolder();
        File.Copy(model.Cases[0].InputFiles["x"], temp.File("x0.npy"));
        File.WriteAllText(temp.File("s.json"), """{ "calibration": { "inputs": { "x": "x*.npy" } } }""");
        var quantized = QuantizationPipeline.Run(model.ModelPath, QuantizeJob.LoadSettings(temp.File("s.json"), model.ModelPath)).Model;
        // Constant operands of elementwise ops (hard-swish's +3, /6) are quantized activations too.
        Assert.IsTrue(quantized.Activations.Keys.Any(quantized.Graph.IsConstant));
        var path = temp.File("cls.quant.onnx");
        OnnxModelFile.Save(QdqOnnxEmitter.Emit(quantized), path);
        AssertSameModel(quantized, QdqOnnxImporter.Load(path));
    }
}
