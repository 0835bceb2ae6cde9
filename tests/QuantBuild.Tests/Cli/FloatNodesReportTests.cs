using System.Text.Json;
using QuantBuild.Cli.Commands;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;

namespace QuantBuild.Tests.Cli;

/// <summary>The report names the nodes the generated C# runs in float, with the reason.</summary>
[TestClass]
public sealed class FloatNodesReportTests
{
    [TestMethod]
    public void ReportListsTheFloatStepsOfTheGeneratedCode()
    {
        using var temp = new TempFolder();
        var model = QuantizeTestData.MnistWorkspace(temp.Path, 8, """{ "calibration": { "inputs": { "input": "calib/*.npy" } }, "layers": { "conv1": { "skip": true } } }""");
        QuantizeJob.Run(new QuantizeRequest(model, temp.File("mnist.quant.json"), temp.File("out"), "mnist"), 1, TextWriter.Null);
        using var report = JsonDocument.Parse(File.ReadAllText(temp.File("out", "mnist.report.json")));
        var generated = report.RootElement.GetProperty("generatedCode");
        var floats = generated.GetProperty("floatNodes").EnumerateArray().ToList();
        Assert.HasCount(1, floats);
        Assert.AreEqual("conv1", floats[0].GetProperty("node").GetString());
        Assert.AreEqual("Conv", floats[0].GetProperty("op").GetString());
        Assert.AreEqual("listed as a float node", floats[0].GetProperty("reason").GetString());
        Assert.AreEqual(1, generated.GetProperty("floatSteps").GetInt32());
        StringAssert.Contains(File.ReadAllText(temp.File("out", "mnist.g.cs")), "private readonly ConvFloat step0_0;");
    }
}
