using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Lowering;
using QuantBuild.Quantization;
using QuantBuild.Runtime;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Lowering;

/// <summary>
/// The float kernels of QuantBuild.Runtime against the engine's ops: a one-node graph kept in float is
/// lowered to a float step, bound to runtime kernels and run by <see cref="IntegerModelRunner"/> (the same
/// calls the generated code makes); the engine runs the same graph. Relative agreement 1e-5 (of the
/// output's largest magnitude), exact for data movement.
/// </summary>
[TestClass]
public sealed class FloatKernelTests
{
    private static Tensor Random(int seed, params int[] shape)
    {
        var rng = new Random(seed);
        var data = new float[shape.Aggregate(1, (a, b) => a * b)];
        for (int i = 0; i < data.Length; i++) data[i] = (float)(rng.NextDouble() * 4 - 2);
        return Tensor.FromFloats(data, shape);
    }

    private static Tensor Positive(int seed, params int[] shape)
    {
        var t = Random(seed, shape);
        return Tensor.FromFloats(t.Floats.Select(v => Math.Abs(v) + 0.05f).ToArray(), shape);
    }

    /// <summary>Runs one op both ways; inputs listed in <paramref name="constants"/> become initializers.</summary>
    private static void Check(string op, Tensor?[] inputs, Action<Node>? configure = null, int[]? constants = null, int outputs = 1, int opset = 17, double tolerance = 1e-5, bool exact = false)
    {
        var constantMap = (constants ?? []).ToDictionary(i => i, i => inputs[i]!);
        var graph = OpTester.SingleNodeGraph(op, inputs, outputs, configure, opset, constantMap);
        var model = new QuantizedModel(graph);
        model.FloatNodes.Add("node0");
        var plan = IntegerLowering.Lower(model);
        FloatStepExecution.Prepare(plan, out _, out var unsupported);
        Assert.IsEmpty(unsupported, string.Join("; ", unsupported.Select(u => u.Reason)));
        var feeds = graph.Inputs.ToDictionary(i => i.Name, i => inputs[int.Parse(i.Name[2..])]!, StringComparer.Ordinal);
        var expected = new InferenceEngine(graph).Run(feeds);
        var actual = new IntegerModelRunner(plan).Run(feeds);
        foreach (var o in graph.Outputs)
        {
            var e = expected[o.Name].Floats;
            var a = actual[o.Name].Floats;
            Assert.HasCount(e.Length, a);
            double scale = Math.Max(1e-30, e.Max(v => Math.Abs((double)v)));
            for (int i = 0; i < e.Length; i++)
            {
                if (exact) Assert.AreEqual(e[i], a[i], $"{op} {o.Name}[{i}]");
                else Assert.IsLessThanOrEqualTo(tolerance * scale, Math.Abs((double)e[i] - a[i]), $"{op} {o.Name}[{i}]: engine {e[i]}, runtime {a[i]}");
            }
        }
    }

    [TestMethod]
    [DataRow("Relu")] [DataRow("Sigmoid")] [DataRow("Tanh")] [DataRow("HardSigmoid")] [DataRow("HardSwish")] [DataRow("Exp")]
    [DataRow("Abs")] [DataRow("Neg")] [DataRow("Erf")] [DataRow("Floor")] [DataRow("Ceil")] [DataRow("Softmax")] [DataRow("LogSoftmax")]
    public void UnaryOpsMatchTheEngine(string op) => Check(op, [Random(1, 2, 3, 5)]);

    [TestMethod]
    public void PositiveDomainOpsMatchTheEngine()
    {
        Check("Log", [Positive(2, 4, 7)]);
        Check("Sqrt", [Positive(3, 4, 7)]);
        Check("Reciprocal", [Positive(4, 4, 7)]);
        Check("LeakyRelu", [Random(5, 3, 8)], n => n.SetFloat("alpha", 0.2f));
        Check("Clip", [Random(6, 3, 8), Tensor.FromFloats([-0.5f], 1), Tensor.FromFloats([1.25f], 1)], constants: [1, 2]);
        Check("Softmax", [Random(7, 2, 3, 4)], n => n.SetInt("axis", 1));
        Check("Softmax", [Random(8, 2, 3, 4)], n => n.SetInt("axis", 1), opset: 11);
    }

    [TestMethod]
    [DataRow("Add")] [DataRow("Sub")] [DataRow("Mul")] [DataRow("Div")] [DataRow("Max")] [DataRow("Min")]
    public void BinaryOpsBroadcastLikeTheEngine(string op)
    {
        Check(op, [Random(10, 2, 3, 4), Positive(11, 2, 3, 4)]);
        Check(op, [Random(12, 2, 3, 4), Positive(13, 3, 1)]);
        Check(op, [Random(14, 1, 3, 1), Positive(15, 2, 1, 5)]);
        Check(op, [Random(16, 2, 3, 4), Positive(17, 4)], constants: [1]);
        Check(op, [Positive(18, 1), Random(19, 2, 5)], constants: [0]);
    }

    [TestMethod]
    public void PowMatchesTheEngine()
    {
        Check("Pow", [Positive(20, 3, 5), Tensor.FromFloats([2f], 1)], constants: [1]);
        Check("Pow", [Positive(21, 3, 5), Tensor.FromFloats([0.37f], 1)], constants: [1]);
        Check("Pow", [Positive(22, 3, 5), Random(23, 3, 5)]);
    }

    [TestMethod]
    [DataRow(1, 1, 0, 1)] [DataRow(2, 1, 1, 1)] [DataRow(1, 2, 2, 1)] [DataRow(2, 2, 0, 2)] [DataRow(3, 1, 1, 3)]
    public void ConvMatchesTheEngine(int stride, int dilation, int pad, int group)
    {
        int c = 3 * group, m = 2 * group;
        Check("Conv", [Random(30, 2, c, 9, 8), Random(31, m, c / group, 3, 2), Random(32, m)], n =>
        {
            n.SetInts("strides", [stride, stride + 1 > 3 ? 1 : stride]);
            n.SetInts("dilations", [dilation, 1]);
            n.SetInts("pads", [pad, pad + 1, pad, 0]);
            n.SetInt("group", group);
        }, constants: [1, 2]);
    }

    [TestMethod]
    public void DepthwiseOneDimensionalAndSameConvMatchTheEngine()
    {
        Check("Conv", [Random(33, 1, 4, 7, 7), Random(34, 4, 1, 3, 3)], n => { n.SetInt("group", 4); n.SetString("auto_pad", "SAME_UPPER"); n.SetInts("strides", [2, 2]); }, constants: [1]);
        Check("Conv", [Random(35, 1, 2, 50), Random(36, 6, 2, 7)], n => { n.SetInts("strides", [3]); n.SetInts("pads", [2, 1]); }, constants: [1]);
    }

    [TestMethod]
    public void ConvTransposeMatchesTheEngine()
    {
        Check("ConvTranspose", [Random(40, 1, 4, 5, 6), Random(41, 4, 3, 3, 3), Random(42, 3)], n => { n.SetInts("strides", [2, 2]); n.SetInts("pads", [1, 0, 1, 1]); }, constants: [1, 2]);
        Check("ConvTranspose", [Random(43, 2, 4, 5, 5), Random(44, 4, 1, 2, 2)], n => { n.SetInt("group", 2); n.SetInts("strides", [2, 1]); }, constants: [1]);
    }

    [TestMethod]
    public void MatMulAndGemmMatchTheEngine()
    {
        Check("MatMul", [Random(50, 3, 8), Random(51, 8, 5)], constants: [1]);
        Check("MatMul", [Random(52, 2, 3, 4, 8), Random(53, 3, 8, 5)]);
        Check("MatMul", [Random(54, 7), Random(55, 7, 4)]);
        Check("MatMul", [Random(56, 2, 1, 3, 6), Random(57, 4, 6, 2)]);
        Check("Gemm", [Random(58, 3, 6), Random(59, 5, 6), Random(60, 5)], n => { n.SetInt("transB", 1); n.SetFloat("alpha", 0.5f); n.SetFloat("beta", 2f); }, constants: [1, 2]);
        Check("Gemm", [Random(61, 6, 3), Random(62, 6, 5), Random(63, 3, 1)], n => n.SetInt("transA", 1), constants: [1]);
    }

    [TestMethod]
    public void PoolsMatchTheEngine()
    {
        Check("MaxPool", [Random(70, 1, 3, 9, 8)], n => { n.SetInts("kernel_shape", [3, 2]); n.SetInts("strides", [2, 2]); n.SetInts("pads", [1, 1, 1, 0]); });
        Check("AveragePool", [Random(71, 1, 3, 9, 8)], n => { n.SetInts("kernel_shape", [3, 3]); n.SetInts("strides", [2, 1]); n.SetInts("pads", [1, 1, 1, 1]); });
        Check("AveragePool", [Random(72, 1, 3, 9, 8)], n => { n.SetInts("kernel_shape", [3, 3]); n.SetInts("pads", [1, 1, 1, 1]); n.SetInt("count_include_pad", 1); });
        Check("MaxPool", [Random(73, 2, 3, 11)], n => { n.SetInts("kernel_shape", [3]); n.SetInts("strides", [2]); n.SetInt("ceil_mode", 1); });
        Check("GlobalAveragePool", [Random(74, 2, 3, 5, 4)]);
        Check("GlobalMaxPool", [Random(75, 2, 3, 5, 4)]);
    }

    [TestMethod]
    [DataRow("ReduceMean")] [DataRow("ReduceSum")] [DataRow("ReduceMax")] [DataRow("ReduceMin")] [DataRow("ReduceSumSquare")] [DataRow("ReduceL2")]
    public void ReductionsMatchTheEngine(string op)
    {
        Check(op, [Random(80, 2, 3, 4, 5), Tensor.FromInt64([1, 3], 2)], n => n.SetInt("keepdims", 0), constants: [1], opset: 18);
        Check(op, [Random(81, 2, 3, 4), Tensor.FromInt64([-1], 1)], constants: [1], opset: 18);
        Check(op, [Random(82, 2, 3, 4)], opset: 18);
    }

    [TestMethod]
    public void LayerNormalizationMatchesTheEngine()
    {
        Check("LayerNormalization", [Random(90, 2, 3, 8), Random(91, 8), Random(92, 8)], constants: [1, 2]);
        Check("LayerNormalization", [Random(93, 2, 3, 8), Random(94, 3, 8)], n => n.SetInt("axis", 1), constants: [1]);
    }

    [TestMethod]
    public void DataMovementIsExact()
    {
        Check("Transpose", [Random(100, 2, 3, 4, 5)], n => n.SetInts("perm", [2, 0, 3, 1]), exact: true);
        Check("Slice", [Random(101, 4, 10), Tensor.FromInt64([1, 9], 2), Tensor.FromInt64([4, 0], 2), Tensor.FromInt64([0, 1], 2), Tensor.FromInt64([1, -3], 2)], constants: [1, 2, 3, 4], exact: true);
        Check("Gather", [Random(102, 5, 4), Tensor.FromInt64([3, 0, 3], 3)], n => n.SetInt("axis", 0), constants: [1], exact: true);
        Check("Pad", [Random(103, 2, 3), Tensor.FromInt64([1, 2, 0, 1], 4), Tensor.FromFloats([0.5f], 1)], constants: [1, 2], exact: true);
        Check("Pad", [Random(104, 3, 4), Tensor.FromInt64([1, 2, 2, 1], 4)], n => n.SetString("mode", "reflect"), constants: [1], exact: true);
        Check("Concat", [Random(105, 2, 3), Random(106, 2, 5), Random(107, 2, 1)], n => n.SetInt("axis", 1), exact: true);
        Check("Concat", [Random(108, 2, 3), Random(109, 1, 3)], n => n.SetInt("axis", 0), constants: [1], exact: true);
        Check("Split", [Random(110, 2, 7), Tensor.FromInt64([3, 4], 2)], n => n.SetInt("axis", 1), constants: [1], outputs: 2, exact: true);
        Check("Expand", [Random(111, 3, 1), Tensor.FromInt64([2, 3, 4], 3)], constants: [1], exact: true);
        Check("Tile", [Random(112, 2, 3), Tensor.FromInt64([2, 2], 2)], constants: [1], exact: true);
        Check("Reshape", [Random(113, 2, 3, 4), Tensor.FromInt64([6, 4], 2)], constants: [1], exact: true);
        Check("Unsqueeze", [Random(114, 2, 3), Tensor.FromInt64([0], 1)], constants: [1], exact: true);
        Check("Resize", [Random(115, 1, 2, 3, 4), null, Tensor.FromFloats([1, 1, 2, 1.5f], 4)], n => n.SetString("mode", "nearest"), constants: [2], exact: true);
        Check("DepthToSpace", [Random(116, 1, 8, 2, 3)], n => n.SetInt("blocksize", 2), exact: true);
    }

    /// <summary>Data-movement nodes covering every parametric form: (op, inputs, configure, constant inputs, outputs, opset).</summary>
    private static IEnumerable<(string Op, Tensor?[] Inputs, Action<Node>? Configure, int[] Constants, int Outputs, int Opset)> MovementCases()
    {
        yield return ("Transpose", [Random(200, 2, 3, 4, 5)], n => n.SetInts("perm", [2, 0, 3, 1]), [], 1, 17);
        yield return ("Transpose", [Random(201, 3, 4)], null, [], 1, 17);
        yield return ("Slice", [Random(202, 4, 10), Tensor.FromInt64([1, 9], 2), Tensor.FromInt64([4, 0], 2), Tensor.FromInt64([0, 1], 2), Tensor.FromInt64([1, -3], 2)], null, [1, 2, 3, 4], 1, 17);
        yield return ("Slice", [Random(203, 3, 5, 6), Tensor.FromInt64([-1, 0], 2), Tensor.FromInt64([-100, 100], 2), Tensor.FromInt64([2, 0], 2), Tensor.FromInt64([-2, 2], 2)], null, [1, 2, 3, 4], 1, 17);
        yield return ("Slice", [Random(204, 3, 5)], n => { n.SetInts("starts", [1]); n.SetInts("ends", [4]); n.SetInts("axes", [1]); }, [], 1, 9);
        yield return ("Gather", [Random(205, 5, 4), Tensor.FromInt64([3, 0, -1], 3)], n => n.SetInt("axis", 0), [1], 1, 17);
        yield return ("Gather", [Random(206, 2, 5, 3), Tensor.FromInt64([4, 1, 1, 0], 2, 2)], n => n.SetInt("axis", 1), [1], 1, 17);
        yield return ("Gather", [Random(207, 2, 6), Tensor.FromInt64([2], [])], n => n.SetInt("axis", -1), [1], 1, 17);
        yield return ("Pad", [Random(208, 2, 3), Tensor.FromInt64([1, 2, 0, 1], 4), Tensor.FromFloats([0.5f], 1)], null, [1, 2], 1, 17);
        yield return ("Pad", [Random(209, 1, 2, 3, 4), Tensor.FromInt64([0, 0, 1, -1, 0, 0, 2, 3], 8)], null, [1], 1, 17);
        foreach (var mode in new[] { "reflect", "edge", "wrap" })
            yield return ("Pad", [Random(210, 3, 4), Tensor.FromInt64([2, 3, 2, 1], 4)], n => n.SetString("mode", mode), [1], 1, 19);
        yield return ("Pad", [Random(211, 2, 3)], n => n.SetInts("pads", [1, 0, 0, 2]), [], 1, 9);
        yield return ("Concat", [Random(212, 2, 3), Random(213, 2, 5), Random(214, 2, 1)], n => n.SetInt("axis", 1), [], 1, 17);
        yield return ("Concat", [Random(215, 2, 3, 2), Random(216, 1, 3, 2)], n => n.SetInt("axis", -3), [1], 1, 17);
        yield return ("Split", [Random(217, 2, 7), Tensor.FromInt64([3, 4], 2)], n => n.SetInt("axis", 1), [1], 2, 17);
        yield return ("Split", [Random(218, 7, 2)], n => n.SetInt("num_outputs", 3), [], 3, 18);
        yield return ("Split", [Random(219, 6, 2, 2)], null, [], 3, 17);
        yield return ("Expand", [Random(220, 3, 1), Tensor.FromInt64([2, 3, 4], 3)], null, [1], 1, 17);
        yield return ("Tile", [Random(221, 2, 3), Tensor.FromInt64([2, 3], 2)], null, [1], 1, 17);
        // Resize and Upsample (every mode) have their own kernel, ResizeFloat: see ResizeMatchesTheEngineExactly.
        yield return ("DepthToSpace", [Random(225, 1, 8, 2, 3)], n => n.SetInt("blocksize", 2), [], 1, 17);
        yield return ("DepthToSpace", [Random(226, 2, 8, 2, 3)], n => { n.SetInt("blocksize", 2); n.SetString("mode", "CRD"); }, [], 1, 17);
        yield return ("SpaceToDepth", [Random(227, 1, 2, 4, 6)], n => n.SetInt("blocksize", 2), [], 1, 17);
    }

    [TestMethod]
    public void MovementKernelsAreExactAndStoreNoElementTables()
    {
        foreach (var (op, inputs, configure, constants, outputs, opset) in MovementCases())
        {
            Check(op, inputs, configure, constants, outputs, opset, exact: true);
            var step = FloatStepOf(op, inputs, configure, constants, outputs, opset);
            var calls = FloatKernelBinding.TryBind(step, opset, out var reason);
            Assert.IsNotNull(calls, $"{op}: {reason}");
            foreach (var call in calls)
            {
                Assert.AreEqual(typeof(SeparableGatherFloat), call.KernelType, op);
                // Table entries: Σ of the iteration dimensions, never one per output element.
                var shape = (int[])call.Arguments[0];
                Assert.HasCount(shape.Sum(), (int[])call.Arguments[1], $"{op}: table length");
            }
        }
        // Opset 9 Pad's fill from its attribute (the probe cannot represent it, so it is not in the shared cases).
        Check("Pad", [Random(211, 2, 3)], n => { n.SetInts("pads", [1, 0, 0, 2]); n.SetFloat("value", -3f); }, opset: 9, exact: true);
    }

    /// <summary>
    /// The parametric calls against the element-number probe (a per-element table from the engine's own
    /// kernel): on an input whose values are distinct, both write the same output, element for element.
    /// </summary>
    [TestMethod]
    public void MovementKernelsAgreeWithTheElementNumberProbe()
    {
        foreach (var (op, inputs, configure, constants, outputs, opset) in MovementCases())
        {
            var step = FloatStepOf(op, inputs, configure, constants, outputs, opset);
            var parametric = FloatKernelBinding.TryBind(step, opset, out var reason) ?? throw new AssertFailedException($"{op}: {reason}");
            var probe = FloatKernelBinding.TryBindByProbe(step, opset, out reason) ?? throw new AssertFailedException($"{op} probe: {reason}");
            foreach (var output in step.Outputs)
                CollectionAssert.AreEqual(RunCalls(probe, output), RunCalls(parametric, output), $"{op} → {output.Name}");
        }
    }

    [TestMethod]
    public void ProbeFallbackIsBoundedAndNamesTheLimit()
    {
        // Where with a constant condition has no per-axis form: the probe's element table, within the limit…
        var small = FloatStepOf("Where", [new Tensor(DataType.Bool, [2, 3], new[] { true, false, true, false, false, true }), Random(230, 2, 3), Random(231, 2, 3)], null, [0], 1, 17);
        var calls = FloatKernelBinding.TryBind(small, 17, out var reason);
        Assert.IsNotNull(calls, reason);
        Assert.IsTrue(calls.All(c => c.KernelType == typeof(GatherFloat)));
        // …and refused with the reason above it.
        int n = FloatKernelBinding.MaxProbeTableEntries + 1;
        var large = FloatStepOf("Where", [new Tensor(DataType.Bool, [n], Enumerable.Range(0, n).Select(i => i % 3 == 0).ToArray()), Random(232, n), Random(233, n)], null, [0], 1, 17);
        Assert.IsNull(FloatKernelBinding.TryBind(large, 17, out reason));
        StringAssert.Contains(reason, "limit 65,536");
    }

    private static FloatStep FloatStepOf(string op, Tensor?[] inputs, Action<Node>? configure, int[] constants, int outputs, int opset)
    {
        var graph = OpTester.SingleNodeGraph(op, inputs, outputs, configure, opset, constants.ToDictionary(i => i, i => inputs[i]!));
        var model = new QuantizedModel(graph);
        model.FloatNodes.Add("node0");
        return IntegerLowering.Lower(model).Steps.OfType<FloatStep>().Single();
    }

    /// <summary>Runs the calls writing <paramref name="output"/> with every activation input holding distinct values (its element numbers + 100000 · the last character of its name).</summary>
    private static float[] RunCalls(IReadOnlyList<FloatKernelCall> calls, PlanTensor output)
    {
        var y = new float[output.Length];
        Array.Fill(y, float.NaN);
        foreach (var call in calls.Where(c => c.Output == output))
        {
            var spans = call.Inputs.Select(i => i is null ? [] : i.Constant ?? Enumerable.Range(0, i.Tensor!.Length).Select(e => e + 100000f * i.Tensor.Name[^1]).ToArray()).ToList();
            while (spans.Count < 3) spans.Add([]);
            call.Create().Eval(spans[0], spans[1], spans[2], y);
        }
        return y;
    }

    private static Tensor Floats(params float[] v) => Tensor.FromFloats(v, v.Length);

    /// <summary>Linear and cubic Resize through per-axis tap tables: bit-identical to the engine (same operations in the same order).</summary>
    [TestMethod]
    [DataRow("linear", "half_pixel")] [DataRow("linear", "align_corners")] [DataRow("linear", "asymmetric")] [DataRow("linear", "pytorch_half_pixel")]
    [DataRow("linear", "half_pixel_symmetric")] [DataRow("cubic", "half_pixel")] [DataRow("cubic", "align_corners")] [DataRow("cubic", "asymmetric")]
    [DataRow("nearest", "half_pixel")] [DataRow("nearest", "tf_half_pixel_for_nn")] [DataRow("nearest", "align_corners")]
    public void ResizeMatchesTheEngineExactly(string mode, string transform)
    {
        void Configure(Node n)
        {
            n.SetString("mode", mode);
            n.SetString("coordinate_transformation_mode", transform);
        }
        // Upsampling, downsampling and a non-integer factor, on both spatial axes at once.
        Check("Resize", [Random(120, 1, 2, 5, 6), null, Floats(1, 1, 2f, 1.5f)], Configure, constants: [2], opset: 19, exact: true);
        Check("Resize", [Random(121, 2, 3, 9, 7), null, Floats(1, 1, 0.5f, 0.6f)], Configure, constants: [2], opset: 19, exact: true);
        Check("Resize", [Random(122, 1, 1, 4, 4), null, null, Tensor.FromInt64([1, 1, 7, 3], 4)], Configure, constants: [3], opset: 19, exact: true);
    }

    [TestMethod]
    [DataRow("round_prefer_floor")] [DataRow("round_prefer_ceil")] [DataRow("floor")] [DataRow("ceil")]
    public void NearestResizeRoundsLikeTheEngine(string rounding) =>
        Check("Resize", [Random(123, 1, 2, 5, 4), null, Floats(1, 1, 1.7f, 0.8f)], n => { n.SetString("mode", "nearest"); n.SetString("nearest_mode", rounding); },
            constants: [2], opset: 19, exact: true);

    [TestMethod]
    public void ResizeVariantsMatchTheEngineExactly()
    {
        // Cubic with exclude_outside and another coefficient; antialiased downscaling (linear and cubic).
        Check("Resize", [Random(124, 1, 1, 8, 8), null, Floats(1, 1, 0.8f, 1.4f)], n => { n.SetString("mode", "cubic"); n.SetInt("exclude_outside", 1); n.SetFloat("cubic_coeff_a", -0.5f); },
            constants: [2], opset: 19, exact: true);
        Check("Resize", [Random(125, 1, 2, 12, 10), null, Floats(1, 1, 0.4f, 0.3f)], n => { n.SetString("mode", "linear"); n.SetInt("antialias", 1); }, constants: [2], opset: 19, exact: true);
        Check("Resize", [Random(126, 1, 1, 9, 9), null, Floats(1, 1, 0.5f, 0.5f)], n => { n.SetString("mode", "cubic"); n.SetInt("antialias", 1); }, constants: [2], opset: 19, exact: true);
        // tf_crop_and_resize: outside the roi takes the extrapolation value.
        Check("Resize", [Random(127, 1, 1, 5, 5), Floats(0, 0, -0.2f, 0.3f, 1, 1, 0.9f, 1.4f), null, Tensor.FromInt64([1, 1, 4, 6], 4)],
            n => { n.SetString("mode", "linear"); n.SetString("coordinate_transformation_mode", "tf_crop_and_resize"); n.SetFloat("extrapolation_value", 7.5f); },
            constants: [1, 3], opset: 19, exact: true);
        // sizes with a kept aspect ratio over selected axes; rank 3 (audio-like) input.
        Check("Resize", [Random(128, 1, 3, 6, 4), null, null, Tensor.FromInt64([9, 9], 2)],
            n => { n.SetString("mode", "linear"); n.SetInts("axes", [2, 3]); n.SetString("keep_aspect_ratio_policy", "not_larger"); }, constants: [3], opset: 19, exact: true);
        Check("Resize", [Random(129, 2, 4, 10), null, Floats(1, 1, 2.5f)], n => n.SetString("mode", "linear"), constants: [2], opset: 13, exact: true);
        // Opset-10 Resize and Upsample: asymmetric coordinates.
        Check("Resize", [Random(130, 1, 2, 3, 4), Floats(1, 1, 2, 2)], n => n.SetString("mode", "linear"), constants: [1], opset: 10, exact: true);
        Check("Upsample", [Random(131, 1, 2, 3, 4), Floats(1, 1, 2, 3)], n => n.SetString("mode", "linear"), constants: [1], opset: 9, exact: true);
    }

    /// <summary>A bilinear FPN-style upsample of a large map binds to per-axis tables, not a per-element list.</summary>
    [TestMethod]
    public void ResizeTablesArePerAxis()
    {
        var graph = OpTester.SingleNodeGraph("Resize", [Random(132, 1, 8, 40, 40), null, Floats(1, 1, 2, 2)], configure: n => n.SetString("mode", "linear"),
            constants: new Dictionary<int, Tensor> { [2] = Floats(1, 1, 2, 2) }, opset: 13);
        var model = new QuantizedModel(graph);
        model.FloatNodes.Add("node0");
        var plan = IntegerLowering.Lower(model);
        var steps = FloatStepExecution.Prepare(plan, out _, out var unsupported);
        Assert.IsEmpty(unsupported);
        var call = steps.Values.Single().Calls.Single();
        Assert.AreEqual(typeof(QuantBuild.Runtime.ResizeFloat), call.KernelType);
        int tableEntries = call.Arguments.OfType<int[]>().Sum(a => a.Length) + call.Arguments.OfType<float[]>().Sum(a => a.Length);
        // Two axes of 80 outputs × 2 taps (indices and weights) plus the shapes, against 51,200 output elements.
        Assert.IsLessThan(1000, tableEntries);
    }

    /// <summary>Three spatial axes (video, volumetric models) run on the N-d window kernels.</summary>
    [TestMethod]
    public void ThreeDimensionalConvolutionsAndPoolsMatchTheEngine()
    {
        Check("Conv", [Random(200, 1, 4, 5, 6, 7), Random(201, 6, 2, 3, 2, 3), Random(202, 6)], n =>
        {
            n.SetInt("group", 2);
            n.SetInts("strides", [2, 1, 2]);
            n.SetInts("dilations", [1, 2, 1]);
            n.SetInts("pads", [1, 0, 1, 0, 1, 1]);
        }, constants: [1, 2]);
        Check("Conv", [Random(203, 2, 2, 4, 4, 4), Random(204, 3, 2, 3, 3, 3)], n => n.SetString("auto_pad", "SAME_LOWER"), constants: [1]);
        Check("ConvTranspose", [Random(205, 1, 4, 3, 4, 3), Random(206, 4, 1, 2, 3, 2), Random(207, 2)], n =>
        {
            n.SetInt("group", 2);
            n.SetInts("strides", [2, 1, 3]);
            n.SetInts("pads", [1, 0, 0, 1, 1, 0]);
            n.SetInts("output_padding", [1, 0, 0]);
        }, constants: [1, 2]);
        Check("MaxPool", [Random(208, 1, 2, 5, 6, 7)], n => { n.SetInts("kernel_shape", [2, 3, 2]); n.SetInts("strides", [2, 2, 1]); n.SetInts("pads", [0, 1, 1, 1, 1, 0]); n.SetInt("ceil_mode", 1); }, exact: true);
        Check("AveragePool", [Random(209, 2, 2, 5, 5, 5)], n => { n.SetInts("kernel_shape", [3, 3, 3]); n.SetInts("pads", [1, 1, 1, 1, 1, 1]); n.SetInt("count_include_pad", 1); });
        Check("AveragePool", [Random(210, 1, 3, 4, 6, 5)], n => { n.SetInts("kernel_shape", [2, 3, 2]); n.SetInts("strides", [2, 2, 2]); n.SetInts("pads", [1, 1, 0, 0, 1, 1]); });
    }

    [TestMethod]
    public void StandaloneBatchNormalizationMatchesTheEngineExactly()
    {
        Check("BatchNormalization", [Random(140, 2, 3, 4, 5), Random(141, 3), Random(142, 3), Random(143, 3), Positive(144, 3)], n => n.SetFloat("epsilon", 1e-3f),
            constants: [1, 2, 3, 4], exact: true);
        Check("BatchNormalization", [Random(145, 4, 6), Random(146, 6), Random(147, 6), Random(148, 6), Positive(149, 6)], constants: [1, 2, 3, 4], exact: true);
        Check("BatchNormalization", [Random(150, 1, 2, 9), Random(151, 2), Random(152, 2), Random(153, 2), Positive(154, 2)], constants: [1, 2, 3, 4], opset: 9, exact: true);
    }

    /// <summary>Max/Min/Sum/Mean of three or four broadcasting inputs: folded left to right like the engine, so exact.</summary>
    [TestMethod]
    [DataRow("Max")] [DataRow("Min")] [DataRow("Sum")] [DataRow("Mean")]
    public void VariadicOpsOfManyInputsMatchTheEngineExactly(string op)
    {
        Check(op, [Random(160, 2, 3, 4), Random(161, 3, 1), Random(162, 4)], exact: true);
        Check(op, [Random(163, 1, 4), Random(164, 3, 1), Random(165, 3, 4), Random(166, 1)], constants: [3], exact: true);
        Check(op, [Random(167, 5), Random(168, 5)], exact: true);
    }

    [TestMethod]
    public void ReduceLogSumExpMatchesTheEngine()
    {
        Check("ReduceLogSumExp", [Random(170, 2, 3, 4, 5), Tensor.FromInt64([1, 3], 2)], n => n.SetInt("keepdims", 0), constants: [1], opset: 18);
        Check("ReduceLogSumExp", [Tensor.FromFloats(Random(171, 3, 6).Floats.Select(v => v * 40f).ToArray(), 3, 6), Tensor.FromInt64([-1], 1)], constants: [1], opset: 18);
        Check("ReduceLogSumExp", [Random(172, 2, 3, 4)], opset: 13);
    }

    [TestMethod]
    public void LayerNormalizationStatisticsOutputsMatchTheEngine() =>
        Check("LayerNormalization", [Random(180, 2, 3, 8), Random(181, 3, 8), Random(182, 3, 8)], n => n.SetInt("axis", 1), constants: [1, 2], outputs: 3);

    [TestMethod]
    public void ConvTransposeWithOutputShapeAndLegacyPadValueMatchTheEngine()
    {
        Check("ConvTranspose", [Random(190, 1, 2, 3, 3), Random(191, 2, 3, 3, 3)], n => { n.SetInts("strides", [3, 2]); n.SetInts("output_shape", [10, 8]); }, constants: [1]);
        Check("ConvTranspose", [Random(192, 1, 2, 4, 4), Random(193, 2, 1, 3, 3)], n => { n.SetInts("strides", [2, 2]); n.SetInts("output_shape", [1, 1, 8, 8]); n.SetString("auto_pad", "SAME_UPPER"); }, constants: [1]);
        Check("Pad", [Random(194, 2, 3)], n => { n.SetInts("pads", [1, 0, 0, 2]); n.SetFloat("value", 1.5f); }, opset: 10, exact: true);
    }

    /// <summary>
    /// Every engine op that can carry float data has a runtime binding rule; the rest are listed with the
    /// reason they never run as a float step. IsSupportedOp is the rule table itself.
    /// </summary>
    [TestMethod]
    public void EveryEngineOpOnAFloatDataPathHasABinding()
    {
        var notFloatData = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["Shape"] = "int64 output: shape arithmetic is evaluated at build time",
            ["ConstantOfShape"] = "its input is a shape, so its output is a build-time constant",
            ["Range"] = "the output length depends on the input values: only build-time (constant) bounds fit a static plan",
            [QuantBuild.Engine.Ops.FakeQuantizeKernel.OpType] = "QuantBuild's calibration-time quantization simulator, not a model op",
        };
        var missing = OpRegistry.SupportedOps.Where(op => !FloatKernelBinding.IsSupportedOp(op) && !notFloatData.ContainsKey(op)).Order(StringComparer.Ordinal).ToList();
        Assert.IsEmpty(missing, "engine ops with no generated-runtime float kernel: " + string.Join(", ", missing));
        foreach (var op in notFloatData.Keys)
            Assert.IsFalse(FloatKernelBinding.IsSupportedOp(op), $"{op} now binds: drop it from the not-float list");
        CollectionAssert.IsSubsetOf(FloatKernelBinding.SupportedOps.ToList(), OpRegistry.SupportedOps.ToList(), "a binding for an op the engine cannot run");
    }

    /// <summary>
    /// A peak mask as CenterNet decodes it, Equal(MaxPool(x), x) → Cast → Mul: the bool mask depends on the
    /// input data and runs in the generated runtime as 0/1 floats (docs/control-flow.md). Routed through int64,
    /// the mask would be a non-float, non-bool value the generated runtime evaluates once at build time: that
    /// Cast must be refused, while values that follow only from shapes (Shape → Reshape) stay build-time constants.
    /// </summary>
    [TestMethod]
    public void NonFloatValuesComputedFromTheDataAreRefusedBeforeCalibration()
    {
        var g = new ModelGraph { OpsetVersion = 17, IrVersion = 8, Name = "peaks" };
        g.Inputs.Add(new ValueInfo("x", DataType.Float, [1, 2, 6, 6]));
        var pool = new Node("pool", "MaxPool", ["x"], ["m"]);
        pool.SetInts("kernel_shape", [3, 3]);
        pool.SetInts("pads", [1, 1, 1, 1]);
        var toInt = new Node("to_int", "Cast", ["eq"], ["mask_int"]);
        toInt.SetInt("to", (long)DataType.Int64);
        var cast = new Node("cast", "Cast", ["mask_int"], ["maskf"]);
        cast.SetInt("to", 1);
        g.Nodes.AddRange([pool, new Node("equal", "Equal", ["m", "x"], ["eq"]), toInt, cast, new Node("mul", "Mul", ["x", "maskf"], ["peaks"]),
            new Node("shape", "Shape", ["peaks"], ["s"]), new Node("reshape", "Reshape", ["peaks", "s"], ["y"])]);
        g.Outputs.Add(new ValueInfo("y", DataType.Float, null));
        QuantBuild.Graph.Transforms.ShapeInference.Apply(g);
        Assert.AreEqual("to_int", FloatKernelBinding.UnsupportedNodes(g).Single().Name);
        g.Nodes.RemoveAll(n => n.Name == "to_int");
        g.Nodes.Single(n => n.Name == "cast").Inputs[0] = "eq";
        QuantBuild.Graph.Transforms.ShapeInference.Apply(g);
        Assert.IsEmpty(FloatKernelBinding.UnsupportedNodes(g), "the bool mask itself runs in the generated runtime");
    }

    [TestMethod]
    public void UnsupportedFloatOpsAreNamedBeforeCalibration()
    {
        var graph = OpTester.SingleNodeGraph("Resize", [Random(1, 1, 1, 4, 4), null, Tensor.FromFloats([1, 1, 2, 2], 4)], configure: n => n.SetString("mode", "linear"),
            constants: new Dictionary<int, Tensor> { [2] = Tensor.FromFloats([1, 1, 2, 2], 4) });
        QuantBuild.Graph.Transforms.ShapeInference.Apply(graph);
        Assert.IsEmpty(FloatKernelBinding.UnsupportedNodes(graph), "bilinear Resize has a float kernel");
        graph.Nodes[0].Domain = "com.example";
        Assert.AreEqual("node0", FloatKernelBinding.UnsupportedNodes(graph).Single().Name);
    }
}
