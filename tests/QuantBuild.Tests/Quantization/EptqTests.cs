using QuantBuild.Cli;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Quantization.Eptq;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Quantization;

[TestClass]
public sealed class EptqTests
{
    /// <summary>x [1,4] → MatMul W1 → z [1,5] → Relu → MatMul A → y [1,3]: ∂y/∂z is A's rows where z > 0.</summary>
    private static (ModelGraph Graph, float[] W1, float[] A) TinyNetwork()
    {
        var random = new Random(7);
        float[] Values(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        var g = new ModelGraph { OpsetVersion = 13, IrVersion = 8 };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [1, 4]));
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        var w1 = Values(20);
        var a = Values(15);
        g.Initializers["W1"] = Tensor.FromFloats(w1, 4, 5);
        g.Initializers["A"] = Tensor.FromFloats(a, 5, 3);
        g.Nodes.Add(new Node("mm1", "MatMul", ["x", "W1"], ["z"]));
        g.Nodes.Add(new Node("relu", "Relu", ["z"], ["r"]));
        g.Nodes.Add(new Node("mm2", "MatMul", ["r", "A"], ["y"]));
        return (g, w1, a);
    }

    [TestMethod]
    public void LabelFreeHessianMatchesTheExactGaussNewtonTraceOfASmallNetwork()
    {
        var (graph, _, a) = TinyNetwork();
        var engine = new InferenceEngine(graph);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.FromFloats([0.5f, -1f, 0.25f, 2f], 1, 4) };
        var z = engine.Run(feeds, ["z"])["z"].Floats;
        // ||∂y/∂z||_F² = Σ over active units of the squared row of A; ∂y/∂r is A itself.
        double exactZ = 0, exactR = 0;
        for (int j = 0; j < 5; j++)
            for (int k = 0; k < 3; k++)
            {
                exactR += a[j * 3 + k] * a[j * 3 + k];
                if (z[j] > 0) exactZ += a[j * 3 + k] * a[j * 3 + k];
            }
        Assert.IsTrue(exactZ > 0 && exactZ < exactR, "the input should leave some units active and some not");
        var traces = LabelFreeHessian.SampleTraces(engine, feeds, ["y"], ["z", "r", "x"], maxProbes: 4000, seed: 1);
        // Scores carry the MSE output Hessian's 2/D (D = 3).
        Assert.AreEqual(exactZ * 2 / 3, traces[0], 0.1 * exactZ * 2 / 3);
        Assert.AreEqual(exactR * 2 / 3, traces[1], 0.1 * exactR * 2 / 3);
        Assert.IsTrue(traces[2] > 0);
    }

    [TestMethod]
    public void LabelFreeHessianTracksTheLogitsBeforeASoftmaxAndLogNormalizesToAZeroMinimum()
    {
        var (graph, _, _) = TinyNetwork();
        graph.Nodes.Add(new Node("softmax", "Softmax", ["y"], ["p"]));
        graph.Outputs.Clear();
        graph.Outputs.Add(new ValueInfo("p", DataType.Float, null));
        CollectionAssert.AreEqual(new[] { "y" }, LabelFreeHessian.OutputValues(graph));

        var weights = LabelFreeHessian.LogNormalize([1e-3, 0.1, 0, 10]);
        Assert.AreEqual(0, weights.Min());
        Assert.AreEqual(4, weights[3], 1e-9); // log10(10) − log10(1e-3)
        Assert.AreEqual(0, weights[2]); // a zero score takes the smallest non-zero one
        CollectionAssert.AreEqual(new[] { 1.0 }, LabelFreeHessian.LogNormalize([0.3]));
    }

    [TestMethod]
    public void SoftRoundingStartsAtTheFractionAndTheRegularizerDrivesItToZeroOrOne()
    {
        foreach (double r in new[] { 0.0, 0.1, 0.37, 0.5, 0.9, 1.0 })
            Assert.AreEqual(r, SoftRounding.H(SoftRounding.InitialV(r)), 1e-9);
        Assert.AreEqual(20, SoftRounding.Beta(0, 101));
        Assert.AreEqual(20, SoftRounding.Beta(20, 101));
        Assert.AreEqual(2, SoftRounding.Beta(100, 101), 1e-12);

        // Only the regularizer, annealed over 2,000 Adam steps: every h ends at exactly 0 or 1, on the side it started.
        var start = Enumerable.Range(0, 200).Select(i => (i + 0.5) / 200).ToArray();
        var v = start.Select(SoftRounding.InitialV).ToArray();
        var adam = new AdamState(v.Length, 3e-2);
        const int steps = 2000;
        for (int step = 0; step < steps; step++)
        {
            double beta = SoftRounding.Beta(step, steps);
            var grad = v.Select(x => SoftRounding.RegularizerGradient(SoftRounding.H(x), beta) * SoftRounding.DhDv(x)).ToArray();
            adam.Step(v, grad);
        }
        double regularizer = v.Sum(x => SoftRounding.Regularizer(SoftRounding.H(x), 2));
        Assert.AreEqual(0, regularizer, 1e-9);
        for (int i = 0; i < v.Length; i++)
            Assert.AreEqual(start[i] >= 0.5 ? 1.0 : 0.0, SoftRounding.H(v[i]), $"element {i} started at {start[i]}");
    }

    [TestMethod]
    public void SidecarEptqOptionsAreParsedAndUnknownKeysAreErrorsWithPositions()
    {
        var s = SidecarParser.Parse("""{ "weights": { "method": "eptq", "bits": 4 }, "eptq": { "iterations": 10, "hessian": "uniform", "seed": 3, "learnScales": false } }""", "m.quant.json", ".");
        Assert.AreEqual(QuantBuild.Quantization.WeightMethod.Eptq, s.Weights.Method);
        Assert.AreEqual(10, s.Eptq.Iterations);
        Assert.AreEqual(EptqHessian.Uniform, s.Eptq.Hessian);
        Assert.AreEqual(3, s.Eptq.Seed);
        Assert.IsFalse(s.Eptq.LearnScales);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => SidecarParser.Parse("{\n  \"eptq\": { \"iteration\": 10 }\n}", "m.quant.json", "."));
        Assert.AreEqual(2, e.Line);
        StringAssert.Contains(e.Message, "iterations");
        e = Assert.ThrowsExactly<QuantBuildException>(() => SidecarParser.Parse("""{ "eptq": { "hessian": "exact" } }""", "m.quant.json", "."));
        StringAssert.Contains(e.Message, "label-free");
    }

    private static (int Exit, string Out, string Err) Cli(params string[] args)
    {
        var o = new StringWriter();
        var e = new StringWriter();
        int exit = QuantBuildCli.Run(args, o, e);
        return (exit, o.ToString(), e.ToString());
    }

    [TestMethod]
    public void CliQuantizesMnistWithEptqDeterministicallyAcrossThreadCountsAndLowersTheDistillationLoss()
    {
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 16, """
            { "weights": { "method": "eptq", "bits": 4 },
              "calibration": { "inputs": { "input": "calib/*.npy" } },
              "eptq": { "iterations": 40, "samples": 16, "batchSize": 8, "hessianSamples": 4, "hessianProbes": 12 } }
            """);
        var one = Cli("quantize", model, "--out", temp.File("a"), "--threads", "1");
        Assert.AreEqual(0, one.Exit, one.Err);
        var two = Cli("quantize", model, "--out", temp.File("b"), "--threads", "2");
        Assert.AreEqual(0, two.Exit, two.Err);
        CollectionAssert.AreEqual(File.ReadAllBytes(temp.File("a", "mnist.quant.onnx")), File.ReadAllBytes(temp.File("b", "mnist.quant.onnx")));
        CollectionAssert.AreEqual(File.ReadAllBytes(temp.File("a", "mnist.g.cs")), File.ReadAllBytes(temp.File("b", "mnist.g.cs")));
        // Progress reaches the CLI (and through it the MSBuild log).
        StringAssert.Contains(one.Out, "eptq: label-free Hessian");
        StringAssert.Contains(one.Out, "eptq: step 40/40");

        // The result differs from nearest rounding and fits the teacher better on the calibration samples.
        var pipeline = QuantBuild.Quantization.QuantizationPipeline.Run(model, SidecarParser.Load(temp.File("mnist.quant.json")), new EngineOptions { MaxDegreeOfParallelism = 2 });
        var loss = pipeline.Model.Notes["eptq.loss"].Split(" -> ").Select(x => double.Parse(x, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.IsTrue(loss[1] < loss[0], $"distillation loss {loss[0]} -> {loss[1]}");
        Assert.IsTrue(pipeline.Model.Weights.Values.All(w => w.Method == "eptq" && w.Codes.All(c => c >= -7 && c <= 7)));
    }
}
