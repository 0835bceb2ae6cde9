using QuantBuild.Configuration;
using QuantBuild.Diagnostics;

namespace QuantBuild.Tests.Configuration;

/// <summary>activations.levels / activations.levelBits: the level grid of ReLU outputs.</summary>
[TestClass]
public sealed class ActivationLevelsSidecarTests
{
    private const string File = "/models/net.quant.json";

    private static QuantizationSettings Parse(string json) => SidecarParser.Parse(json, File, "/models");

    [TestMethod]
    public void DefaultIsTheLinearGrid()
    {
        var s = Parse("{}");
        Assert.AreEqual(ActivationLevelGrid.Linear, s.Activations.Levels);
        Assert.AreEqual(4, s.Activations.LevelBits);
    }

    [TestMethod]
    [DataRow("linear", ActivationLevelGrid.Linear)]
    [DataRow("log", ActivationLevelGrid.Log)]
    [DataRow("weighted-log", ActivationLevelGrid.WeightedLog)]
    [DataRow("uniform", ActivationLevelGrid.Uniform)]
    public void EveryGridNameIsRead(string name, ActivationLevelGrid grid)
    {
        var s = Parse($$"""{ "activations": { "bits": 8, "levels": "{{name}}", "levelBits": 3 } }""");
        Assert.AreEqual(grid, s.Activations.Levels);
        Assert.AreEqual(3, s.Activations.LevelBits);
        Assert.AreEqual(8, s.Activations.Bits, "the linear codes the producer writes stay at activations.bits");
    }

    [TestMethod]
    public void UnknownGridIsAnErrorAtItsPosition()
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => Parse("{\n  \"activations\": {\n    \"levels\": \"logarithmic\" } }"));
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
        Assert.AreEqual(3, e.Line);
        Assert.AreEqual(15, e.Column);
        StringAssert.Contains(e.Message, "\"weighted-log\"");
    }

    [TestMethod]
    [DataRow("1")]
    [DataRow("9")]
    [DataRow("\"4\"")]
    public void LevelBitsOutsideTwoToEightIsAnError(string value)
    {
        var e = Assert.ThrowsExactly<QuantBuildException>(() => Parse($$"""{ "activations": { "levels": "log", "levelBits": {{value}} } }"""));
        Assert.AreEqual(DiagnosticCodes.InvalidConfiguration, e.Code);
        Assert.AreEqual(1, e.Line);
        StringAssert.Contains(e.Message, "activations.levelBits");
    }
}
