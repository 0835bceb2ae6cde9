using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;
using QuantBuild.Onnx.Proto;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Hardening;

/// <summary>
/// `run --int` on damaged QDQ files and bad inputs (issue 10, probe items 4 and 7): each ended in QB3999
/// or, for NaN inputs, in finite logits that meant nothing.
/// </summary>
[TestClass]
public sealed class IntegerRunInputTests
{
    private static TempFolder s_folder = null!;
    private static string s_quantized = null!;

    [ClassInitialize]
    public static void QuantizeMnistOnce(TestContext _)
    {
        s_folder = new TempFolder();
        var model = s_folder.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        QuantizeTestData.WriteMnistCalibration(s_folder.Path, 8);
        File.WriteAllText(s_folder.File("mnist.quant.json"), """{ "calibration": { "inputs": { "input": "calib/*.npy" } }, "outputs": { "csharp": false, "report": false } }""");
        var r = CliHarness.Cli("quantize", model, "--out", s_folder.File("q"));
        Assert.AreEqual(0, r.Exit, r.Err);
        s_quantized = s_folder.File("q", "mnist.quant.onnx");
    }

    [ClassCleanup]
    public static void Cleanup() => s_folder.Dispose();

    private static (int Exit, string Out, string Err) RunInt(string model, string input, TempFolder temp) =>
        CliHarness.Cli("run", model, "--int", "--input", $"input={input}", "--out", temp.File("out"));

    /// <summary>A copy of the quantized MNIST with <paramref name="edit"/> applied to the scale initializer of the first matching node.</summary>
    private static (string Path, string Node) WithScale(TempFolder temp, string opType, bool weight, float value)
    {
        var model = OnnxModelFile.Load(s_quantized);
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
        var node = model.Graph.Node.First(n => n.OpType == opType && initializers.ContainsKey(n.Input[0]) == weight
                                              && initializers.TryGetValue(n.Input[0], out var codes) is var _
                                              // 8-bit weight codes (uint8 by default, int8 with outputs.qdqIntegerType), not int32 biases.
                                              && (!weight || codes!.DataType is (int)DataType.UInt8 or (int)DataType.Int8));
        var scale = initializers[node.Input[1]];
        var current = TensorProtoConverter.ToTensor(scale);
        var replaced = TensorProtoConverter.FromTensor(Tensor.FromFloats(Enumerable.Repeat(value, current.Length).ToArray(), current.Shape), scale.Name);
        model.Graph.Initializer[model.Graph.Initializer.IndexOf(scale)] = replaced;
        var path = temp.File("damaged.quant.onnx");
        OnnxModelFile.Save(model, path);
        return (path, node.Name);
    }

    [TestMethod]
    [DataRow(0f)]
    [DataRow(-0.5f)]
    [DataRow(float.NaN)]
    [DataRow(1e-45f)]
    public void AnActivationScaleThatIsNotAPositiveNormalFloatIsRefused(float scale)
    {
        using var temp = new TempFolder();
        var (model, node) = WithScale(temp, "QuantizeLinear", weight: false, scale);
        var err = BadInput.AssertFails(RunInt(model, BadInput.MnistInput(temp), temp), DiagnosticCodes.InvalidQdqModel);
        StringAssert.Contains(err, $"[node '{node}']");
        StringAssert.Contains(err, "a scale must be a positive, finite, normal float");
    }

    /// <summary>
    /// An int32 bias's scale is input scale × weight scale, which the quantizer writes below 2^-126 when both are small
    /// (PP-OCRv4's recognizer has one). Dequantizing a constant only multiplies, so the file must run, not be refused.
    /// </summary>
    [TestMethod]
    public void ASubnormalBiasScaleRuns()
    {
        using var temp = new TempFolder();
        var model = OnnxModelFile.Load(s_quantized);
        var initializers = model.Graph.Initializer.ToDictionary(t => t.Name);
        var bias = model.Graph.Node.First(n => n.OpType == "DequantizeLinear" && initializers.TryGetValue(n.Input[0], out var codes) && codes.DataType == (int)DataType.Int32);
        var scale = initializers[bias.Input[1]];
        var current = TensorProtoConverter.ToTensor(scale);
        model.Graph.Initializer[model.Graph.Initializer.IndexOf(scale)] =
            TensorProtoConverter.FromTensor(Tensor.FromFloats(Enumerable.Repeat(1.5e-39f, current.Length).ToArray(), current.Shape), scale.Name);
        var path = temp.File("subnormal-bias.quant.onnx");
        OnnxModelFile.Save(model, path);
        Assert.IsFalse(float.IsNormal(1.5e-39f));
        var r = RunInt(path, BadInput.MnistInput(temp), temp);
        Assert.AreEqual(0, r.Exit, r.Err);
    }

    /// <summary>Only a bias's scale is a product of two scales; a subnormal scale on 8-bit weight codes is a damaged file.</summary>
    [TestMethod]
    public void ASubnormalWeightScaleIsRefused()
    {
        using var temp = new TempFolder();
        var (model, node) = WithScale(temp, "DequantizeLinear", weight: true, 1e-40f);
        var err = BadInput.AssertFails(RunInt(model, BadInput.MnistInput(temp), temp), DiagnosticCodes.InvalidQdqModel);
        StringAssert.Contains(err, $"[node '{node}']");
        StringAssert.Contains(err, "a scale must be a positive, finite, normal float");
    }

    /// <summary>3e38 times an int8 code leaves the float range; where it does not, the requantization multiplier does.</summary>
    [TestMethod]
    public void AWeightScaleOfThreeTimesTenToTheThirtyEightIsRefused()
    {
        using var temp = new TempFolder();
        var (model, node) = WithScale(temp, "DequantizeLinear", weight: true, 3e38f);
        var err = BadInput.AssertFails(RunInt(model, BadInput.MnistInput(temp), temp), DiagnosticCodes.InvalidQdqModel);
        StringAssert.Contains(err, $"[node '{node}']");
    }

    /// <summary>1e20 keeps every dequantized weight finite, but no fixed-point multiplier (at most 2^30) can requantize with it.</summary>
    [TestMethod]
    public void AWeightScaleNoRequantizerCanUseIsRefusedNamingTheLayer()
    {
        using var temp = new TempFolder();
        var (model, _) = WithScale(temp, "DequantizeLinear", weight: true, 1e20f);
        var err = BadInput.AssertFails(RunInt(model, BadInput.MnistInput(temp), temp), DiagnosticCodes.InvalidQdqModel);
        StringAssert.Contains(err, "cannot run in integers with the quantization parameters it has: The multiplier is too large");
        StringAssert.Contains(err, "[node '");
        Assert.AreEqual(1, err.TrimEnd().Split('\n').Length, $"one diagnostic line: {err}");
    }

    [TestMethod]
    public void AZeroSampleBatchIsRefused()
    {
        using var temp = new TempFolder();
        var input = temp.File("none.npy");
        NpyFile.Write(input, Tensor.Create(DataType.Float, [0, 1, 28, 28]));
        var err = BadInput.AssertFails(RunInt(s_quantized, input, temp), DiagnosticCodes.InvalidInputValue);
        StringAssert.Contains(err, "input 'input' has shape [0,1,28,28], which holds no sample");
    }

    /// <summary>Quantizing NaN gives some int8 code and finite logits: the input is checked before it is quantized.</summary>
    [TestMethod]
    [DataRow(float.NaN)]
    [DataRow(float.PositiveInfinity)]
    public void ANonFiniteInputIsRefusedNamingTheInput(float bad)
    {
        using var temp = new TempFolder();
        var values = new float[2 * 784];
        values[784 + 5] = bad;
        var input = temp.File("digits.npy");
        NpyFile.Write(input, Tensor.FromFloats(values, 2, 1, 28, 28));
        var err = BadInput.AssertFails(RunInt(s_quantized, input, temp), DiagnosticCodes.InvalidInputValue);
        StringAssert.Contains(err, $"{input}: error QB2008: input 'input' holds");
        StringAssert.Contains(err, "at element 789");
        Assert.IsFalse(File.Exists(temp.File("out", "logits.npy")), "no output may be written");
    }

    /// <summary>The well-formed file still runs, so the checks above refuse only what is damaged.</summary>
    [TestMethod]
    public void TheUndamagedFileRuns()
    {
        using var temp = new TempFolder();
        var r = RunInt(s_quantized, BadInput.MnistInput(temp), temp);
        Assert.AreEqual(0, r.Exit, r.Err);
        Assert.AreEqual("", r.Err);
    }
}
