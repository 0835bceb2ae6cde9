using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Oracle;
using QuantBuild.Tensors;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Oracle;

/// <summary>
/// Checks the oracle plumbing itself (the .npy exchange, ONNX Runtime in process, name mapping) on models every
/// branch can run, so a broken harness is caught apart from engine disagreements.
/// </summary>
[TestClass]
public sealed class OracleHarnessTests
{
    [TestMethod]
    public void NpyRoundTripKeepsTypeShapeAndValues()
    {
        var dir = Directory.CreateTempSubdirectory("qb-npy-").FullName;
        try
        {
            Tensor[] tensors =
            [
                Tensor.FromFloats([1.5f, -0f, float.MaxValue, float.Epsilon, -3.25f, 7f], 2, 3),
                Tensor.FromInt64([long.MinValue, 0, long.MaxValue], 3),
                new Tensor(DataType.Int32, [2, 1], new[] { -7, int.MaxValue }),
                new Tensor(DataType.Int8, [2], new sbyte[] { -128, 127 }),
                new Tensor(DataType.UInt8, [1, 1, 2], new byte[] { 0, 255 }),
                Tensor.Scalar(42f),
            ];
            for (int i = 0; i < tensors.Length; i++)
            {
                var path = Path.Combine(dir, $"t{i}.npy");
                NpyFile.Write(path, tensors[i]);
                Assert.AreEqual(0, (new FileInfo(path).Length - tensors[i].Length * DataTypes.SizeInBytes(tensors[i].Type)) % 64, "header must pad to 64 bytes");
                var back = NpyFile.Read(path);
                Assert.AreEqual(tensors[i].Type, back.Type);
                CollectionAssert.AreEqual(tensors[i].Shape, back.Shape);
                CollectionAssert.AreEqual(tensors[i].Data, back.Data);
            }
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [TestMethod]
    public void SafeFileNameReplacesCharactersInvalidInFileNames()
    {
        Assert.AreEqual("Identity_1_0", OrtOracle.SafeFileName("Identity_1:0"));
        Assert.AreEqual("a_b_c_d_e_f_g_h_i_j", OrtOracle.SafeFileName("a<b>c:d\"e/f\\g|h?i*j"));
        Assert.AreEqual("onnx__Flatten_0", OrtOracle.SafeFileName("onnx::Flatten_0"));
        Assert.AreEqual("softmax_0.tmp_0", OrtOracle.SafeFileName("softmax_0.tmp_0"));
    }

    /// <summary>The backend test's own expected output, ORT and our engine must all agree on Identity.</summary>
    [TestMethod]
    public void OnnxRuntimeAndEngineAgreeOnIdentityBackendTest()
    {
        var oracle = TestAssets.RequireOracle();
        var testDir = TestAssets.OnnxNodeTest("test_identity");
        var modelPath = Path.Combine(testDir, "model.onnx");
        var input = TensorProtoConverter.ToTensor(TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(testDir, "test_data_set_0", "input_0.pb"))));
        var expected = TensorProtoConverter.ToTensor(TensorProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(testDir, "test_data_set_0", "output_0.pb"))));

        var engine = new InferenceEngine(OnnxImporter.Load(modelPath));
        var inputName = engine.Graph.Inputs.Single().Name;
        var outputName = engine.Graph.Outputs.Single().Name;
        var dir = Directory.CreateTempSubdirectory("qb-oracle-").FullName;
        try
        {
            var inputFile = Path.Combine(dir, "x.npy");
            NpyFile.Write(inputFile, input);
            var ort = oracle.Run(modelPath, new Dictionary<string, string> { [inputName] = inputFile }, [outputName])[outputName];
            var ours = engine.Run(new Dictionary<string, Tensor> { [inputName] = input })[outputName];

            CollectionAssert.AreEqual(expected.Shape, ort.Shape);
            CollectionAssert.AreEqual(expected.Floats, ort.Floats, "ORT must reproduce the backend test's expected output");
            Assert.AreEqual(0, Agreement.Compare(ours, ort).Relative);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [TestMethod]
    public void OracleReportsErrorsWithOrtMessage()
    {
        var oracle = TestAssets.RequireOracle();
        var modelPath = Path.Combine(TestAssets.OnnxNodeTest("test_identity"), "model.onnx");
        var e = Assert.ThrowsExactly<OracleException>(() => oracle.Run(modelPath, new Dictionary<string, string>(), ["y"]));
        StringAssert.Contains(e.Message, "missing input(s): x");
    }

    [TestMethod]
    public void BenchReturnsPositiveTimings()
    {
        var oracle = TestAssets.RequireOracle();
        var model = TestAssets.RealModel("oww-alexa");
        var timing = oracle.Bench(model.ModelPath, model.Cases[0].InputFiles, warmup: 1, iters: 3);
        Assert.AreEqual(3, timing.Iters);
        Assert.IsGreaterThan(0.0, timing.MinMs);
        Assert.IsLessThanOrEqualTo(timing.MedianMs, timing.MinMs);
    }

    [TestMethod]
    public void EveryRealModelHasInputsForEachModelInput()
    {
        foreach (var model in TestAssets.RealModels)
        {
            var graph = OnnxImporter.Load(model.ModelPath);
            foreach (var input in model.Cases)
            {
                CollectionAssert.AreEquivalent(graph.Inputs.Select(i => i.Name).ToList(), input.InputFiles.Keys.ToList(), $"{model.Id}/{input.Name}");
                foreach (var (name, tensor) in input.LoadInputs())
                {
                    var declared = graph.Inputs.Single(i => i.Name == name);
                    Assert.AreEqual(declared.Type, tensor.Type, $"{model.Id}/{input.Name}/{name}");
                    Assert.AreEqual(declared.Shape!.Length, tensor.Rank, $"{model.Id}/{input.Name}/{name}");
                    for (int d = 0; d < tensor.Rank; d++)
                        if (declared.Shape[d] is long fixedDim) Assert.AreEqual(fixedDim, (long)tensor.Shape[d], $"{model.Id}/{input.Name}/{name} dim {d}");
                }
            }
        }
    }
}
