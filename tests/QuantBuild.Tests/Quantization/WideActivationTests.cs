using System.Text.Json;
using QuantBuild.Compilation;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Emit;
using QuantBuild.Engine;
using QuantBuild.Lowering;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

/// <summary>
/// 16-bit activations (docs/wide-activations.md): declared in the sidecar, written as int16 Q/DQ that ONNX Runtime runs, computed by
/// the integer plan as the file says, and chosen automatically where an output misses the quality floor.
/// </summary>
[TestClass]
public sealed class WideActivationTests
{
    public TestContext TestContext { get; set; } = null!;

    private static QuantizationSettings Parse(string json) => SidecarParser.Parse(json, "m.quant.json", "/tmp");

    [TestMethod]
    public void Sidecar_AcceptsSixteenBitActivations_GloballyAndPerNode_AndTheAutoPrecisionKeys()
    {
        var s = Parse("""
            { "activations": { "bits": 16, "autoPrecision": false, "autoPrecisionMaxTensors": 3 },
              "layers": { "conv*": { "activations": { "bits": 8 } }, "conv2": { "activations": { "bits": 16 } } } }
            """);
        Assert.AreEqual(16, s.Activations.Bits);
        Assert.IsFalse(s.Activations.AutoPrecision);
        Assert.AreEqual(3, s.Activations.AutoPrecisionMaxTensors);
        Assert.AreEqual(16, s.ActivationBitsForNode("conv2"), "an exact name wins over a glob");
        Assert.AreEqual(8, s.ActivationBitsForNode("conv1"));
        Assert.AreEqual(16, s.ActivationBitsForNode("fc1"), "no entry: activations.bits");

        var defaults = Parse("{}");
        Assert.IsTrue(defaults.Activations.AutoPrecision, "automatic promotion is on by default");
        Assert.AreEqual(8, defaults.Activations.AutoPrecisionMaxTensors);
    }

    [TestMethod]
    [DataRow("{\n  \"activations\": {\n    \"bits\": 12 }\n}", 3, "activations.bits must be in 2..8 or 16, found 12")]
    [DataRow("{\n  \"activations\": { \"bits\": 32 }\n}", 2, "activations.bits must be in 2..16, found 32")]
    [DataRow("{\n  \"layers\": {\n    \"conv1\": { \"activations\": { \"bits\": 9 } } } }", 3, "layers[\"conv1\"].activations.bits must be in 2..8 or 16, found 9")]
    [DataRow("{\n  \"layers\": {\n    \"conv1\": { \"activations\": {\n      \"bitz\": 16 } } } }", 4, "unknown key \"bitz\" in layers[\"conv1\"].activations")]
    [DataRow("{ \"activations\": {\n  \"autoPrecision\": \"yes\" } }", 2, "activations.autoPrecision must be true or false")]
    [DataRow("{ \"activations\": {\n\n  \"autoPrecisionMaxTensors\": -1 } }", 3, "activations.autoPrecisionMaxTensors must be in 0..100000, found -1")]
    public void Sidecar_RefusesBadWideActivationKeys_WithQB3101AtTheLine(string json, int line, string message)
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => Parse(json));
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
        Assert.AreEqual(line, e.Line, e.Message);
        StringAssert.Contains(e.Message, message);
    }

    /// <summary>
    /// MNIST with every activation at 16 bits, and with one node's output at 16 bits among int8 ones: the QDQ file holds int16 Q/DQ
    /// at opset 21 and runs in ONNX Runtime; our plan computes the same logits up to float summation order (see the bound below).
    /// </summary>
    [TestMethod]
    [DataRow("""{ "bits": 16 }""", "")]
    [DataRow("""{ "bits": 8 }""", """, "layers": { "relu2": { "activations": { "bits": 16 } } }""")]
    public void QdqInt16File_RunsInOnnxRuntime_AndThePlanComputesItsMeaning(string activations, string layers)
    {
        var oracle = TestAssets.RequireOracle().QdqMeaning();
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 40,
            $$"""{ "activations": {{activations}}, "calibration": { "inputs": { "input": "calib/*.npy" } }{{layers}} }""");
        var compiled = ModelCompiler.Compile(model, ModelCompiler.LoadSettings(Path.Combine(temp.Path, "mnist.quant.json"), model), new EngineOptions { MaxDegreeOfParallelism = 2 });
        var wide = compiled.Model.Activations.Values.Where(a => a.Bits == 16).ToList();
        Assert.IsNotEmpty(wide, "the declared 16-bit activations are quantized at 16 bits");
        if (layers.Length > 0) Assert.IsTrue(compiled.Model.Activations.Values.Any(a => a.Bits == 8), "the other activations stay int8");

        var qdq = QdqOnnxEmitter.Emit(compiled.Model);
        Assert.AreEqual(21L, qdq.OpsetImport.Single(o => o.Domain.Length == 0).Version, "int16 Q/DQ needs opset 21");
        var zeroPoints = qdq.Graph.Node.Where(n => n.OpType == "QuantizeLinear").Select(n => qdq.Graph.Initializer.Single(i => i.Name == n.Input[2]).DataType).ToList();
        Assert.AreEqual(wide.Count, zeroPoints.Count(t => t == (int)DataType.Int16), "one int16 pair per 16-bit activation");
        var path = temp.File("mnist.quant.onnx");
        File.WriteAllBytes(path, QdqOnnxEmitter.EmitBytes(compiled.Model));

        var runner = new IntegerModelRunner(compiled.RequirePlan());
        var output = compiled.RequirePlan().Plan.Outputs.Single();
        var digits = QuantizeTestData.Digits.HeldOutIndices.Take(40).ToArray();
        var batch = temp.File("digits.npy");
        NpyFile.Write(batch, Tensor.FromFloats(QuantizeTestData.Digits.Batch(digits), digits.Length, 1, 28, 28));
        var ort = oracle.Run(path, new Dictionary<string, string> { ["input"] = batch }, ["logits"])["logits"].Floats;
        // The logits' own grid: 16-bit when every activation is, else int8.
        var logits = compiled.Model.Activations[output.Name];
        int differing = 0;
        double worstSteps = 0;
        for (int d = 0; d < digits.Length; d++)
        {
            var ours = runner.Run(new Dictionary<string, Tensor> { ["input"] = Tensor.FromFloats(QuantizeTestData.Digits.Image(digits[d]).ToArray(), 1, 1, 28, 28) })[output.Name].Floats;
            for (int k = 0; k < ours.Length; k++)
            {
                double steps = Math.Abs(ours[k] - ort[d * ours.Length + k]) / logits.Scale;
                if (steps > 0) differing++;
                worstSteps = Math.Max(worstSteps, steps);
            }
        }
        TestContext.WriteLine($"{wide.Count} int16 activations; logits differing from ORT: {differing} of {digits.Length * 10}, worst {worstSteps:0.###} output steps");
        // Bound: the float steps sum in another order than ORT's float kernels (relative error ~1e-7·√fan-in of a dot product), so a
        // value lands on the other side of a 16-bit rounding midpoint only when it lies that close to it. A 16-bit step is 1/65535 of
        // the tensor's range, so such flips do happen inside the network (a few per cent of the values of a wide fan-in layer), each
        // moving that value by one step; at the logits they add up to about one step of the logits' grid (measured: 22 of 400 logits
        // off by one step with every activation at 16 bits, none with one). Two steps, on at most 15 % of the logits, bound that; a
        // plan that rounded those tensors to 8 bits would be off by up to ~128 steps, one that did not round them at all on
        // nearly every logit.
        Assert.IsLessThanOrEqualTo(2.0, worstSteps, $"worst logit differs from ORT by {worstSteps} steps of its grid");
        Assert.IsLessThanOrEqualTo(digits.Length * 10 * 15 / 100, differing, "at most 15 % of the logits differ at all");
    }

    /// <summary>
    /// BlazeFace at the defaults: the face scores miss the floor, so automatic promotion widens activations it measured to help and the
    /// face-score SQNR rises; the QDQ file holds the chosen tensors as int16; the report lists them.
    /// </summary>
    [TestMethod]
    public void BlazeFace_AutomaticPromotion_RaisesTheFaceScoreSqnr_AndReportsWhatItChose()
    {
        var blazeFace = TestAssets.RealModel("blazeface-front-128");
        using var temp = new TempFolder();
        var casesDir = Path.GetDirectoryName(Path.GetDirectoryName(blazeFace.Cases[0].InputFiles.Values.First())!)!;
        var sidecar = temp.File("bf.quant.json");
        File.WriteAllText(sidecar, $$"""{ "calibration": { "inputs": { "input:0": {{JsonSerializer.Serialize(Path.Combine(casesDir, "*", "input_0.npy"))}} } } }""");
        var settings = SidecarParser.Load(sidecar);
        Assert.IsTrue(settings.Activations.AutoPrecision, "on by default");
        // A budget of two keeps the test short (three trials: a keep, a miss, a keep); docs/wide-activations.md has the default run.
        settings = settings with { Activations = settings.Activations with { AutoPrecisionMaxTensors = 2 } };
        var options = new EngineOptions { MaxDegreeOfParallelism = 2 };

        var on = ModelCompiler.Compile(blazeFace.ModelPath, settings, options);
        var precision = on.Precision ?? throw new AssertFailedException("promotion did not run although 'Identity_1:0' misses the floor");
        Assert.IsNotEmpty(precision.Promoted);
        // The objective before any promotion is the all-int8 plan's (OutputQualityTests measures the same face scores with QB4106).
        double offScores = precision.OutputsBeforeDb["Identity_1:0"];
        Assert.IsLessThan(precision.FloorDb, offScores);
        double onScores = on.Quality!.Outputs.Single(o => o.Name == "Identity_1:0").SqnrDb;
        TestContext.WriteLine($"face scores {offScores:0.00} -> {onScores:0.00} dB; promoted {string.Join(", ", precision.Promoted.Select(p => p.Name))}");
        Assert.IsGreaterThan(offScores + 1, onScores, "the face-score SQNR of the shipped plan rises");
        Assert.AreEqual(precision.OutputsAfterDb["Identity_1:0"], onScores, 1e-9, "the final measurement is the plan the search kept");
        Assert.IsLessThanOrEqualTo(settings.Activations.AutoPrecisionMaxTensors, precision.Promoted.Count);
        // Every kept trial raised the objective by at least the minimum gain per tensor it widened, and the trials it kept are the ones listed.
        foreach (var p in precision.Promoted)
            Assert.IsGreaterThanOrEqualTo(p.ObjectiveBeforeDb + PrecisionPromotion.MinimumGainDb * precision.Promoted.Count(q => q.Trial == p.Trial), p.ObjectiveAfterDb, p.Name);
        CollectionAssert.IsSubsetOf(precision.Promoted.Select(p => p.Name).ToArray(), precision.Trials.SelectMany(t => t.Names).ToArray());
        foreach (var p in precision.Promoted)
        {
            Assert.AreEqual(16, on.Model.Activations[p.Name].Bits, p.Name);
            Assert.IsTrue(double.IsFinite(p.SqnrBeforeDb) && double.IsFinite(p.SqnrAfterDb), p.Name);
            // The shipped plan holds it as int16 codes (2 bytes a value); whether the arena grows depends on where the peak is.
            var tensor = on.Plan!.Plan.Tensors.First(t => t.Name == p.Name);
            Assert.AreEqual(PlanElementType.Int16, tensor.Type, p.Name);
            Assert.AreEqual(2L * p.Elements, tensor.ByteLength, p.Name);
            Assert.IsGreaterThanOrEqualTo(0L, p.ArenaBytesAdded, p.Name);
        }
        // The convolutions on either side of a 16-bit tensor stay integer (pointwise and depthwise have Conv2DWide), and so
        // do the Adds that read one (AddWide).
        var wideConvs = on.Plan!.Plan.Steps.OfType<ConvStep>().Where(c => c.Inputs[0].Type == PlanElementType.Int16 || c.Outputs[0].Type == PlanElementType.Int16).ToList();
        TestContext.WriteLine($"{wideConvs.Count} integer convolutions on 16-bit codes; float steps: {string.Join(", ", on.Plan.Plan.FloatNodeNames)}");
        Assert.IsNotEmpty(wideConvs);
        Assert.IsEmpty(on.Plan.Plan.FloatNodeNames, "the residual Adds that read 16-bit codes run on AddWide");
        var qdq = QdqOnnxEmitter.Emit(on.Model);
        Assert.AreEqual(precision.Promoted.Count, qdq.Graph.Node.Count(n => n.OpType == "QuantizeLinear" && qdq.Graph.Initializer.Single(i => i.Name == n.Input[2]).DataType == (int)DataType.Int16));

        var report = JsonDocument.Parse(on.Outputs("bf", new CSharpEmitOptions { ClassName = "M", Namespace = "N" }).Single(o => o.FileName.EndsWith(".report.json", StringComparison.Ordinal)).Content).RootElement;
        var promoted = report.GetProperty("precisionChoices").GetProperty("promoted").EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToArray();
        CollectionAssert.AreEqual(precision.Promoted.Select(p => p.Name).ToArray(), promoted);
        // An output still below the floor is warned about with what the promotion tried.
        foreach (var warning in on.QualityWarnings) StringAssert.Contains(warning, "automatic 16-bit promotion widened");
        Assert.AreEqual(on.Quality.Outputs.Count(o => o.SqnrDb < precision.FloorDb), on.QualityWarnings.Count);
    }

    /// <summary>A model whose outputs all clear the floor is untouched: the same files, byte for byte, with promotion on or off.</summary>
    [TestMethod]
    public void Mnist_AboveTheFloor_IsByteIdenticalWithOrWithoutAutoPrecision()
    {
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 20, """{ "calibration": { "inputs": { "input": "calib/*.npy" } } }""");
        var settings = ModelCompiler.LoadSettings(Path.Combine(temp.Path, "mnist.quant.json"), model);
        var on = ModelCompiler.Compile(model, settings);
        var off = ModelCompiler.Compile(model, settings with { Activations = settings.Activations with { AutoPrecision = false } });
        Assert.IsNull(on.Precision);
        Assert.IsTrue(on.Quality!.Outputs.All(o => o.SqnrDb > on.Quality.FloorDb), "MNIST clears the floor at W8A8");
        var a = on.Outputs("mnist", new CSharpEmitOptions { ClassName = "M", Namespace = "N" });
        var b = off.Outputs("mnist", new CSharpEmitOptions { ClassName = "M", Namespace = "N" });
        Assert.AreEqual(a.Count, b.Count);
        for (int i = 0; i < a.Count; i++) CollectionAssert.AreEqual(b[i].Content, a[i].Content, a[i].FileName);
        Assert.DoesNotContain("precisionChoices", System.Text.Encoding.UTF8.GetString(a.Single(o => o.FileName.EndsWith(".report.json", StringComparison.Ordinal)).Content));
    }
}
