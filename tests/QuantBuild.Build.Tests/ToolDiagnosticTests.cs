using QuantBuild.Tasks;

namespace QuantBuild.Build.Tests;

[TestClass]
public sealed class ToolDiagnosticTests
{
    [TestMethod]
    public void FileLineColumnError()
    {
        var d = ToolDiagnostic.TryParse("/src/Models/kws.quant.json(3,14): error QB3002: unknown key 'bitz'");
        Assert.IsNotNull(d);
        Assert.IsTrue(d.IsError);
        Assert.AreEqual("QB3002", d.Code);
        Assert.AreEqual("/src/Models/kws.quant.json", d.File);
        Assert.AreEqual(3, d.Line);
        Assert.AreEqual(14, d.Column);
        Assert.AreEqual("unknown key 'bitz'", d.Message);
    }

    [TestMethod]
    public void FileLineOnlyAndFullRange()
    {
        var lineOnly = ToolDiagnostic.TryParse("m.json(7): warning QB4001: layer skipped");
        Assert.IsNotNull(lineOnly);
        Assert.IsFalse(lineOnly.IsError);
        Assert.AreEqual(7, lineOnly.Line);
        Assert.AreEqual(0, lineOnly.Column);

        var range = ToolDiagnostic.TryParse("m.json(1,2,3,4): error QB3002: bad");
        Assert.IsNotNull(range);
        Assert.AreEqual((1, 2, 3, 4), (range.Line, range.Column, range.EndLine, range.EndColumn));
    }

    [TestMethod]
    public void WindowsPathWithDriveLetter()
    {
        var withLocation = ToolDiagnostic.TryParse(@"C:\work\m.quant.json(2,5): error QB3002: bad value");
        Assert.IsNotNull(withLocation);
        Assert.AreEqual(@"C:\work\m.quant.json", withLocation.File);

        var fileOnly = ToolDiagnostic.TryParse(@"C:\work\m.onnx: error QB1002: not an ONNX model");
        Assert.IsNotNull(fileOnly);
        Assert.AreEqual(@"C:\work\m.onnx", fileOnly.File);
        Assert.AreEqual("QB1002", fileOnly.Code);
        Assert.AreEqual(0, fileOnly.Line);
    }

    [TestMethod]
    public void BareErrorAndWarning()
    {
        var error = ToolDiagnostic.TryParse("error QB3999: unexpected NullReferenceException: boom");
        Assert.IsNotNull(error);
        Assert.IsTrue(error.IsError);
        Assert.IsNull(error.File);
        Assert.AreEqual("unexpected NullReferenceException: boom", error.Message);

        var warning = ToolDiagnostic.TryParse("warning QB4002: calibration used 3 samples");
        Assert.IsNotNull(warning);
        Assert.IsFalse(warning.IsError);
        Assert.AreEqual("QB4002", warning.Code);
    }

    [TestMethod]
    public void OrdinaryOutputIsNotADiagnostic()
    {
        Assert.IsNull(ToolDiagnostic.TryParse("quantized kws in 120 ms"));
        Assert.IsNull(ToolDiagnostic.TryParse("error: something without a QB code"));
        Assert.IsNull(ToolDiagnostic.TryParse("the error QB1234 was mentioned mid-sentence"));
        Assert.IsNull(ToolDiagnostic.TryParse(""));
    }
}
