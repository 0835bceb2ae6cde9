using QuantBuild.Diagnostics;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tensors;

namespace QuantBuild.Tests.Hardening;

/// <summary>
/// Sizes a model controls are checked in 64-bit arithmetic against the tensor and memory ceilings before
/// anything is allocated (issue 10, probe items 2, 3 and the Pad case of 4).
/// </summary>
[TestClass]
public sealed class SizeLimitTests
{
    private static readonly Tensor Float2x3 = Tensor.Create(DataType.Float, [2, 3]);

    /// <summary>An Expand to [16384,65536] (4 GiB of floats) once wrote a 128-byte header-only .npy and exited 0.</summary>
    [TestMethod]
    public void AnExpandBeyondTheTensorLimitIsRefusedBeforeItIsComputedOrWritten()
    {
        using var temp = new TempFolder();
        var graph = OpTester.SingleNodeGraph("Expand", [Tensor.Create(DataType.Float, [1, 1]), Tensor.FromInt64([16384, 65536], 2)], constants: new Dictionary<int, Tensor> { [1] = Tensor.FromInt64([16384, 65536], 2) });
        var model = BadInput.Save(temp, graph);
        var input = temp.File("x.npy");
        NpyFile.Write(input, Tensor.Create(DataType.Float, [1, 1]));

        var err = BadInput.AssertFails(CliHarness.Cli("run", model, "--input", $"in0={input}", "--out", temp.File("out")), DiagnosticCodes.TensorTooLarge);
        StringAssert.Contains(err, "float[16384,65536] would take 4294967296 bytes (4 GiB), more than the limit of 2147483648 bytes (2 GiB) per tensor");
        StringAssert.Contains(err, "[node 'node0']");
        StringAssert.Contains(err, model);
        Assert.IsFalse(File.Exists(temp.File("out", "out0.npy")), "no output may be written");
    }

    /// <summary>MNIST with conv1 pads = 2^20 allocated ~10 GB and ran for 23-47 s: the Conv output is now sized in 64 bits and refused.</summary>
    [TestMethod]
    public void HugeConvPadsAreRefusedBeforeTheOutputIsAllocated()
    {
        using var temp = new TempFolder();
        string? conv = null;
        var model = BadInput.MutatedMnist(temp, m =>
        {
            var node = m.Graph.Node.First(n => n.OpType == "Conv");
            conv = node.Name;
            foreach (var a in node.Attribute.Where(a => a.Name is "pads" or "auto_pad").ToList()) node.Attribute.Remove(a);
            node.Attribute.Add(OpTester.Ints("pads", 1 << 20, 1 << 20, 1 << 20, 1 << 20));
        });

        var err = BadInput.AssertFails(CliHarness.Cli("run", model, "--input", BadInput.MnistInput(temp), "--out", temp.File("out")), DiagnosticCodes.TensorTooLarge);
        StringAssert.Contains(err, $"[node '{conv}']");
        StringAssert.Contains(err, "per tensor (--max-tensor-bytes)");
    }

    /// <summary>Pad with 2^30 on each side made an offset table of 2^31 ints and ended in QB3999.</summary>
    [TestMethod]
    public void PadWithTwoToTheThirtyIsRefused()
    {
        var pads = Tensor.FromInt64([0, 1L << 30, 0, 1L << 30], 4);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Pad", [Float2x3, pads], constantInputs: 1));
        Assert.AreEqual(DiagnosticCodes.TensorTooLarge, e.Code, e.Message);
        Assert.AreEqual("node0", e.NodeName);
        StringAssert.Contains(e.Message, "float[2,2147483651] has dimension 2147483651");
    }

    [TestMethod]
    public void PadsThatOverflowSixtyFourBitsAreRefused()
    {
        var pads = Tensor.FromInt64([0, long.MaxValue, 0, long.MaxValue], 4);
        var e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run("Pad", [Float2x3, pads], constantInputs: 1));
        Assert.AreEqual(DiagnosticCodes.TensorTooLarge, e.Code, e.Message);
    }

    /// <summary>Every layout operator that sizes its output from model values goes through the same check.</summary>
    [TestMethod]
    public void LayoutOperatorsWithHugeOutputsAreRefused()
    {
        void Refused(string op, Tensor?[] inputs, params int[] constants)
        {
            var e = Assert.ThrowsExactly<QuantBuildException>(() => OpTester.Run(op, inputs, constantInputs: constants), op);
            Assert.AreEqual(DiagnosticCodes.TensorTooLarge, e.Code, $"{op}: {e.Message}");
            Assert.AreEqual("node0", e.NodeName, op);
        }
        // 2^20 x 2^20 floats = 4 TiB, each dimension well inside 32 bits.
        Refused("ConstantOfShape", [Tensor.FromInt64([1 << 20, 1 << 20], 2)], 0);
        Refused("Tile", [Float2x3, Tensor.FromInt64([1L << 40, 1], 2)], 1);
        Refused("Tile", [Float2x3, Tensor.FromInt64([1 << 20, 1 << 20], 2)], 1);
        Refused("Expand", [Float2x3, Tensor.FromInt64([1 << 20, 1 << 20, 1, 3], 4)], 1);
        Refused("Range", [Tensor.Scalar(0), Tensor.Scalar(1e12f), Tensor.Scalar(1)]);
        Refused("Resize", [Float2x3, null, Tensor.FromFloats([1e6f, 1e6f], 2)], 2);
        // m * n = 2^32 wrapped to an empty buffer.
        Refused("Gemm", [Tensor.Create(DataType.Float, [65536, 1]), Tensor.Create(DataType.Float, [1, 65536])]);
        // A target shape whose product wraps 64 bits must not match the input's count by accident.
        Refused("Reshape", [Float2x3, Tensor.FromInt64([1L << 31 - 1, 1L << 31 - 1, 1L << 31 - 1, 6], 4)], 1);
    }

    /// <summary>Shape inference feeds inputs of the declared shape: a declaration of 2^40 floats is refused, not allocated.</summary>
    [TestMethod]
    public void AHugeDeclaredInputIsRefusedBeforeShapeInferenceAllocatesIt()
    {
        using var temp = new TempFolder();
        var graph = new ModelGraph { OpsetVersion = 13, IrVersion = 8, Name = "wide" };
        graph.Inputs.Add(new ValueInfo("x", DataType.Float, [1 << 20, 1 << 20]));
        graph.Nodes.Add(new Node("relu", "Relu", ["x"], ["y"]));
        graph.Outputs.Add(new ValueInfo("y", DataType.Float, [1 << 20, 1 << 20]));
        var model = BadInput.Save(temp, graph, "wide.onnx");
        Directory.CreateDirectory(temp.File("calib"));
        NpyFile.Write(temp.File("calib", "x0.npy"), Tensor.Create(DataType.Float, [2, 2]));
        File.WriteAllText(temp.File("wide.quant.json"), """{ "calibration": { "inputs": { "x": "calib/*.npy" } } }""");

        var err = BadInput.AssertFails(CliHarness.Cli("quantize", model, "--out", temp.File("out")), DiagnosticCodes.TensorTooLarge);
        StringAssert.Contains(err, $"{model}: error QB2009: model input 'x' float[1048576,1048576] would take");
    }

    /// <summary>The memory ceiling counts every tensor alive at once: two 3 MiB values exceed a 5 MiB budget.</summary>
    [TestMethod]
    public void TheTotalOfLiveTensorsIsCheckedBeforeTheNextAllocation()
    {
        var g = new ModelGraph { OpsetVersion = 17, IrVersion = 8, Name = "chain" };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [1024, 768]));
        // y = x + x and z = y * x keep x and y alive while z is allocated: 3 MiB each.
        g.Nodes.Add(new Node("add", "Add", ["x", "x"], ["y"]));
        g.Nodes.Add(new Node("mul", "Mul", ["y", "x"], ["z"]));
        g.Outputs.Add(new ValueInfo("z", DataType.Undefined, null));
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(DataType.Float, [1024, 768]) };
        var engine = new InferenceEngine(g, new EngineOptions { FuseElementwise = false });

        using (TensorLimits.Use(new TensorLimits { MaxTotalBytes = 10L << 20 }))
            Assert.AreEqual(1024 * 768, engine.Run(feeds)["z"].Length);
        using (TensorLimits.Use(new TensorLimits { MaxTotalBytes = 7L << 20 }))
        {
            var e = Assert.ThrowsExactly<QuantBuildException>(() => engine.Run(feeds));
            Assert.AreEqual(DiagnosticCodes.TensorTooLarge, e.Code, e.Message);
            Assert.AreEqual("mul", e.NodeName);
            StringAssert.Contains(e.Message, "with 6291456 bytes (6 MiB) of tensors alive, more than the limit of 7340032 bytes (7 MiB) in all (--max-memory-bytes)");
        }
    }

    /// <summary>The CLI options set both ceilings; a small --max-tensor-bytes refuses MNIST's first activation.</summary>
    [TestMethod]
    public void TheCommandLineSetsTheCeilings()
    {
        using var temp = new TempFolder();
        var input = BadInput.MnistInput(temp);
        var model = Quantization.QuantizeTestData.MnistModel;

        var err = BadInput.AssertFails(CliHarness.Cli("run", model, "--input", input, "--out", temp.File("a"), "--max-tensor-bytes", "1K"), DiagnosticCodes.TensorTooLarge);
        StringAssert.Contains(err, "more than the limit of 1024 bytes (1 KiB) per tensor");
        err = BadInput.AssertFails(CliHarness.Cli("run", model, "--input", input, "--out", temp.File("b"), "--max-memory-bytes", "16K"), DiagnosticCodes.TensorTooLarge);
        StringAssert.Contains(err, "in all (--max-memory-bytes)");
        err = BadInput.AssertFails(CliHarness.Cli("run", model, "--input", input, "--out", temp.File("c"), "--max-tensor-bytes", "lots"), DiagnosticCodes.InvalidArguments);
        StringAssert.Contains(err, "--max-tensor-bytes must be a positive number of bytes");

        var ok = CliHarness.Cli("run", model, "--input", input, "--out", temp.File("d"), "--max-tensor-bytes", "64M", "--max-memory-bytes", "1GiB");
        Assert.AreEqual(0, ok.Exit, ok.Err);
    }

    /// <summary>.npy data is written in 64-bit sizes and chunks; a payload spanning several chunks reads back bit-identical.</summary>
    [TestMethod]
    public void NpyFilesLargerThanOneWriteChunkRoundTrip()
    {
        using var temp = new TempFolder();
        var values = new float[(24 << 20) / 4 + 7];
        for (int i = 0; i < values.Length; i++) values[i] = i * 0.5f - 3;
        var path = temp.File("big.npy");
        NpyFile.Write(path, Tensor.FromFloats(values, values.Length));
        Assert.IsTrue(values.AsSpan().SequenceEqual(NpyFile.Read(path).Floats), "values differ after a round trip");
        Assert.IsTrue(File.ReadAllBytes(path).AsSpan().SequenceEqual(NpyFile.ToBytes(Tensor.FromFloats(values, values.Length))), "Write and ToBytes differ");
    }
}
