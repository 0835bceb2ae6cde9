using QuantBuild.Cli.Commands;
using QuantBuild.Cli.Progress;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;
using QuantBuild.Tests.Quantization;
using Spectre.Console.Testing;

namespace QuantBuild.Tests.Cli;

/// <summary>`quantize` on a terminal: bars per long stage, the log above them; anything else keeps the plain lines.</summary>
[TestClass]
public sealed class TerminalProgressTests
{
    /// <summary>
    /// A real quantization of MNIST (PNG calibration digits and held-out verify digits) through the terminal display,
    /// recorded by Spectre's test console: a calibration bar and a verify bar that reach 100%, and the job's log lines
    /// (the verify figures among them) printed as text.
    /// </summary>
    [TestMethod]
    public void QuantizeOnATerminalDrawsABarPerStageAndKeepsTheLog()
    {
        using var temp = new TempFolder();
        var model = temp.File("mnist.onnx");
        File.Copy(QuantizeTestData.MnistModel, model);
        foreach (var (folder, indices) in new[] { ("calib", QuantizeTestData.Digits.TrainingIndices), ("held", QuantizeTestData.Digits.HeldOutIndices) })
        {
            Directory.CreateDirectory(temp.File(folder));
            for (int k = 0; k < 6; k++)
                PngWriter.Write(temp.File(folder, $"{k}.png"), 28, 28, 1,
                    QuantizeTestData.Digits.Image(indices[k * 100]).ToArray().Select(v => (byte)Math.Round(v * 255)).ToArray());
        }
        const string Gray = "\"channelOrder\": \"gray\", \"scale\": 0.00392156862745098";
        File.WriteAllText(temp.File("mnist.quant.json"), $$"""
            { "calibration": { "inputs": { "input": { "images": "calib/*.png", {{Gray}} } } },
              "verify": { "inputs": { "input": { "images": "held/*.png", {{Gray}} } } } }
            """);
        var console = new TestConsole().Interactive().Width(100);
        var request = new QuantizeRequest(model, temp.File("mnist.quant.json"), temp.File("out"), "mnist");
        Directory.CreateDirectory(temp.File("out"));
        var result = TerminalProgress.Run(console, (log, stages) => QuantizeJob.Run(request, 1, log, null, stages));

        Assert.IsTrue(File.Exists(temp.File("out", "mnist.g.cs")));
        Assert.IsNotNull(result.Compiled.Verify);
        // The figure lines (which MSBuild shows at normal verbosity) are told apart from verify's per-file progress.
        Assert.AreEqual(2, result.Compiled.Verify.LogLines().Count(QuantBuild.Verification.VerifyResult.IsLogLine));
        Assert.IsFalse(QuantBuild.Verification.VerifyResult.IsLogLine("verify: 6 samples (6/6 files)"));
        var screen = console.Output;
        StringAssert.Matches(screen, new System.Text.RegularExpressions.Regex(@"calibration ━+ 100%"));
        StringAssert.Matches(screen, new System.Text.RegularExpressions.Regex(@"verify ━+ 100%"));
        StringAssert.Contains(screen, "mnist: verify: integer-plan output 'logits' vs fp32 ONNX Runtime on 6 samples: top-1 ");
        StringAssert.Contains(screen, "mnist: calibrate ");
    }

    /// <summary>A writer that is not this process's console (a test's, MSBuild's pipe) never gets the live display.</summary>
    [TestMethod]
    public void OnlyTheProcessConsoleCanBeATerminal()
    {
        Assert.IsFalse(TerminalProgress.IsTerminal(new StringWriter()));
    }
}
