using Google.Protobuf;
using QuantBuild.Cli.Commands;
using QuantBuild.Configuration;
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
        foreach (var (integerType, eightBitType) in new[] { (QdqIntegerType.UInt8, DataType.UInt8), (QdqIntegerType.Int8, DataType.Int8) })
        {
            var proto = QdqOnnxEmitter.Emit(model, integerType);
            var conv2Codes = proto.Graph.Initializer.Single(t => t.Name == "conv2.weight_quantized");
            Assert.AreEqual(Int4Storage.OnnxInt4, conv2Codes.DataType, "4-bit codes stay INT4 whatever the 8-bit type");
            Assert.AreEqual((model.Weights["conv2"].Codes.Length + 1) / 2, conv2Codes.RawData.Length);
            Assert.AreEqual((int)eightBitType, proto.Graph.Initializer.Single(t => t.Name == "conv1.weight_quantized").DataType, integerType.ToString());

            var path = temp.File($"m-{integerType}.quant.onnx");
            OnnxModelFile.Save(proto, path);
            AssertSameModel(model, QdqOnnxImporter.Load(path));
        }
    }

    [TestMethod]
    public void DefaultFileStoresEightBitCodesAsUInt8WithZeroPoint128()
    {
        using var temp = new TempFolder();
        var model = QuantizeMnist(temp, "");
        var proto = QdqOnnxEmitter.Emit(model);
        var initializers = proto.Graph.Initializer.ToDictionary(t => t.Name, t => TensorProtoConverter.ToTensor(t));
        foreach (var w in model.Weights.Values)
        {
            var dq = proto.Graph.Node.Single(n => n.OpType == "DequantizeLinear" && n.Output[0] == w.WeightName);
            var codes = initializers[dq.Input[0]];
            Assert.AreEqual(DataType.UInt8, codes.Type, w.WeightName);
            // The same values as the int8 codes: u = q + 128 with zero point 128, one per channel.
            CollectionAssert.AreEqual(w.Codes.Select(q => (byte)(q + 128)).ToArray(), codes.UInt8s, w.WeightName);
            var zero = initializers[dq.Input[2]];
            Assert.AreEqual(DataType.UInt8, zero.Type);
            Assert.IsTrue(zero.UInt8s.Length == w.Scales.Length && zero.UInt8s.All(z => z == 128), w.WeightName);
        }
        Assert.IsTrue(model.Activations.Values.All(a => a.Signed), "the plan's activations are int8");
        foreach (var (name, a) in model.Activations)
        {
            var zero = initializers[name + "_zero_point"];
            Assert.AreEqual(DataType.UInt8, zero.Type, name);
            Assert.AreEqual(a.ZeroPoint + 128, zero.UInt8s[0], name);
        }
        Assert.IsTrue(proto.Graph.Node.Where(n => n.OpType == "QuantizeLinear").All(n => initializers[n.Input[2]].Type == DataType.UInt8));
        StringAssert.Contains(proto.MetadataProps.Single(p => p.Key == QdqOnnxEmitter.MetadataKey).Value, "\"integerType\":\"uint8\"");
    }

    [TestMethod]
    public void UInt8AndInt8FilesMeanTheSameInOnnxRuntime()
    {
        // Both encodings describe the same real values, so ONNX Runtime running each file as written
        // (optimizations disabled) gives the same logits to the bit, on every CPU.
        var oracle = TestAssets.RequireOracle().QdqMeaning();
        using var temp = new TempFolder();
        var model = QuantizeMnist(temp, "");
        var (heldOut, _) = QuantizeTestData.WriteHeldOut(temp.Path);
        var logits = new Dictionary<QdqIntegerType, float[]>();
        foreach (var integerType in new[] { QdqIntegerType.UInt8, QdqIntegerType.Int8 })
        {
            var path = temp.File($"mnist-{integerType}.quant.onnx");
            File.WriteAllBytes(path, QdqOnnxEmitter.EmitBytes(model, integerType));
            logits[integerType] = oracle.Run(path, new Dictionary<string, string> { ["input"] = heldOut }, ["logits"])["logits"].Floats;
        }
        CollectionAssert.AreEqual(logits[QdqIntegerType.Int8], logits[QdqIntegerType.UInt8]);
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
        // Weight initializers are 8-bit codes: the file holds no fp32 copy of any quantized weight.
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
