using QuantBuild.Emit;

namespace QuantBuild.Tests.Emit;

/// <summary>
/// The runtime pruning (<see cref="RuntimeSourceGraph"/>): only the runtime files a model's class needs are
/// emitted, and the scan hides no file: every one is reachable from some kernel.
/// </summary>
[TestClass]
public sealed class RuntimeSourceGraphTests
{
    private static readonly RuntimeSourceGraph Graph = CSharpEmitter.RuntimeGraph;

    /// <summary>
    /// Every runtime file is needed by some kernel (Kernels/, FloatKernels/, which the generated classes call):
    /// a file no kernel reaches would be dead code, or a reference the text scan misses, and either way it
    /// could never be emitted for a model that needs it.
    /// </summary>
    [TestMethod]
    public void EveryRuntimeFileIsReachableFromSomeKernel()
    {
        var sources = CSharpEmitter.RuntimeSources().ToDictionary(s => s.Name, s => s.Source);
        // The kernels, and the decoder the generated class itself calls for packed constant data.
        var kernels = Graph.Files.Where(f => f.StartsWith("Kernels/", StringComparison.Ordinal) || f.StartsWith("FloatKernels/", StringComparison.Ordinal) || f == "ConstantData.cs").ToList();
        Assert.IsGreaterThan(30, kernels.Count);
        var kernelTypes = kernels.SelectMany(f => CSharpEmitter.DeclaredTopLevelTypes(f, sources[f])).ToList();
        CollectionAssert.AreEqual(Graph.Files.ToList(), Graph.Closure(kernelTypes).ToList());
        // And each file outside the kernel folders is needed by at least one file, not only listed as a root.
        foreach (var file in Graph.Files.Except(kernels))
            Assert.IsTrue(Graph.Files.Any(f => Graph.Needs(f).Contains(file)), file + " is needed by no runtime file");
    }

    [TestMethod]
    public void OrdinaryCommentsDoNotCountButCrefsAndCodeDo()
    {
        var text = "// Conv2DInt8 in a comment\n/* Conv2DCodebook\n spans lines */ var x = 1;\n/// <see cref=\"FixedPoint.Rounding\"/> and MaxPoolInt8 in prose\n" +
                   "var s = \"// not a comment: \" + nameof(QuantParams); var c = '\"'; AddInt8.Run(); // LogLevelConv\n";
        CollectionAssert.AreEqual(new[] { "AddInt8", "FixedPoint", "QuantParams" }, Graph.TypesMentionedIn(text).ToArray());
    }

    [TestMethod]
    public void TheClosureFollowsReferencesAndIsInFileOrderWhateverTheRootOrder()
    {
        var conv = Graph.Closure(["Conv2DInt8"]);
        CollectionAssert.Contains(conv.ToList(), "Kernels/Conv2DInt8.cs");
        CollectionAssert.Contains(conv.ToList(), "FixedPoint.cs", "Conv2DInt8 requantizes through FixedPoint");
        CollectionAssert.DoesNotContain(conv.ToList(), "Kernels/Conv2DCodebook.cs");
        CollectionAssert.AreEqual(conv.Order(StringComparer.Ordinal).ToList(), conv.ToList());
        CollectionAssert.AreEqual(Graph.Closure(["QuantParams", "Conv2DInt8", "Unknown"]).ToList(), Graph.Closure(["Conv2DInt8", "QuantParams"]).ToList());
        Assert.AreEqual(0, Graph.Closure([]).Count);
    }

    /// <summary>The MNIST class (Conv, Gemm, MaxPool at 8 bits) gets a runtime without the codebook, multipoint, log-level, float and other ops' kernels.</summary>
    [TestMethod]
    public void MnistGetsOnlyTheKernelsItUses()
    {
        var plan = QuantBuild.Lowering.IntegerLowering.Lower(QuantBuild.Tests.Lowering.IntegerRunnerTests.QuantizeMnist(QuantBuild.Tests.Lowering.IntegerRunnerTests.LoadMnist(), 8));
        var code = CSharpEmitter.Emit(plan, new CSharpEmitOptions { ClassName = "Mnist", Namespace = "App" });
        var roots = Graph.TypesMentionedIn(code);
        var runtime = CSharpEmitter.EmitRuntime("App.QuantBuild", rootTypes: roots);
        var full = CSharpEmitter.EmitRuntime("App.QuantBuild");
        foreach (var file in new[] { "Kernels/Conv2DInt8.cs", "Kernels/FullyConnectedInt8.cs", "Kernels/MaxPoolInt8.cs", "QuantParams.cs", "FixedPoint.cs" })
            StringAssert.Contains(runtime, "// ---- " + file + "\n");
        foreach (var file in Graph.Files.Where(f => f.Contains("Codebook", StringComparison.Ordinal) || f.Contains("Multipoint", StringComparison.Ordinal)
                     || f.Contains("LogLevel", StringComparison.Ordinal) || f.StartsWith("FloatKernels/", StringComparison.Ordinal)))
            Assert.DoesNotContain("// ---- " + file + "\n", runtime, file);
        // Kernels of ops MNIST does not have stay out, whatever the shared conv code grows to reference.
        foreach (var file in new[] { "Kernels/SoftmaxInt8.cs", "Kernels/TransposeInt8.cs", "Kernels/AddInt8.cs", "Kernels/MulInt8.cs", "Kernels/ConcatInt8.cs",
                     "Kernels/AveragePoolInt8.cs", "Kernels/GlobalAveragePoolInt8.cs", "Kernels/LookupTableInt8.cs", "Kernels/Conv2DInt4.cs", "Kernels/FullyConnectedInt4.cs", "BitPacking.cs" })
        {
            CollectionAssert.Contains(Graph.Files.ToList(), file, "a runtime file the full runtime has");
            Assert.DoesNotContain("// ---- " + file + "\n", runtime, file);
        }
        Assert.IsLessThan(full.Length, runtime.Length, $"pruned {runtime.Length} bytes, full {full.Length}");
        Assert.AreEqual(runtime, CSharpEmitter.EmitRuntime("App.QuantBuild", rootTypes: roots.Reverse()), "byte-identical whatever the root order");
    }
}
