using System.Diagnostics;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Hardening;

/// <summary>
/// Only regular files with content are read as model, sidecar or input, and their size is checked
/// before reading (issue 10, probe item 4): /dev/zero was read until memory ran out, a FIFO as model
/// path blocked forever.
/// </summary>
[TestClass]
public sealed class InputFileTests
{
    private const string DevZero = "/dev/zero";

    private static string Mnist => Quantization.QuantizeTestData.MnistModel;

    [TestMethod]
    public void DevZeroAsModelInputOrSidecarIsRefusedBeforeItIsRead()
    {
        Assert.IsTrue(File.Exists(DevZero), "the test needs a Unix /dev/zero");
        using var temp = new TempFolder();
        var input = BadInput.MnistInput(temp);

        var err = BadInput.AssertFails(CliHarness.Cli("run", DevZero, "--input", input, "--out", temp.File("a")), DiagnosticCodes.NotARegularFile);
        StringAssert.Contains(err, "model file '/dev/zero' is empty or not a regular file");
        err = BadInput.AssertFails(CliHarness.Cli("run", Mnist, "--input", DevZero, "--out", temp.File("b")), DiagnosticCodes.NotARegularFile);
        StringAssert.Contains(err, ".npy file '/dev/zero'");
        err = BadInput.AssertFails(CliHarness.Cli("quantize", Mnist, "--config", DevZero, "--out", temp.File("c")), DiagnosticCodes.NotARegularFile);
        StringAssert.Contains(err, "sidecar '/dev/zero'");
    }

    [TestMethod]
    public void ASymbolicLinkToADeviceIsJudgedByItsTarget()
    {
        using var temp = new TempFolder();
        var link = temp.File("model.onnx");
        File.CreateSymbolicLink(link, DevZero);
        BadInput.AssertFails(CliHarness.Cli("run", link, "--input", BadInput.MnistInput(temp), "--out", temp.File("out")), DiagnosticCodes.NotARegularFile);
    }

    /// <summary>Opening a FIFO for reading blocks until a writer appears; the check happens before any open.</summary>
    [TestMethod]
    public void AFifoAsModelPathFailsInsteadOfBlocking()
    {
        using var temp = new TempFolder();
        var fifo = temp.File("model.onnx");
        MakeFifo(fifo);
        // Run on a worker so a regression fails the test instead of hanging the suite.
        var run = Task.Run(() => CliHarness.Cli("run", fifo, "--input", BadInput.MnistInput(temp), "--out", temp.File("out")));
        Assert.IsTrue(run.Wait(TimeSpan.FromSeconds(60)), "run blocked on a FIFO");
        BadInput.AssertFails(run.Result, DiagnosticCodes.NotARegularFile);
    }

    /// <summary>External data is read from a file beside the model: a FIFO there must not block either.</summary>
    [TestMethod]
    public void AFifoAsExternalDataFailsInsteadOfBlocking()
    {
        using var temp = new TempFolder();
        var model = temp.File("mnist.onnx");
        OnnxModelFile.Save(OnnxModelFile.Load(Mnist), model, new ExternalDataOptions { Location = "mnist.bin", ThresholdBytes = 1024 });
        File.Delete(temp.File("mnist.bin"));
        MakeFifo(temp.File("mnist.bin"));
        var run = Task.Run(() => CliHarness.Cli("run", model, "--input", BadInput.MnistInput(temp), "--out", temp.File("out")));
        Assert.IsTrue(run.Wait(TimeSpan.FromSeconds(60)), "run blocked on a FIFO");
        var err = BadInput.AssertFails(run.Result, DiagnosticCodes.NotARegularFile);
        StringAssert.Contains(err, "external data of tensor");
    }

    private static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        Assert.AreEqual(0, mkfifo.ExitCode, "mkfifo failed");
    }

    [TestMethod]
    public void AFolderOrAnEmptyFileIsNotAModel()
    {
        using var temp = new TempFolder();
        var input = BadInput.MnistInput(temp);
        var err = BadInput.AssertFails(CliHarness.Cli("run", temp.Path, "--input", input, "--out", temp.File("a")), DiagnosticCodes.NotARegularFile);
        StringAssert.Contains(err, "is a folder, not a file");
        File.WriteAllBytes(temp.File("empty.onnx"), []);
        BadInput.AssertFails(CliHarness.Cli("run", temp.File("empty.onnx"), "--input", input, "--out", temp.File("b")), DiagnosticCodes.NotARegularFile);
    }

    /// <summary>A 16 MiB + 1 sidecar is refused from its size alone (a sparse file: nothing is written or read).</summary>
    [TestMethod]
    public void AnOversizedSidecarIsRefusedFromItsSize()
    {
        using var temp = new TempFolder();
        var sidecar = temp.File("huge.quant.json");
        using (var stream = File.Create(sidecar)) stream.SetLength(QuantBuild.Configuration.SidecarParser.MaxSidecarBytes + 1);
        var err = BadInput.AssertFails(CliHarness.Cli("quantize", Mnist, "--config", sidecar, "--out", temp.File("out")), DiagnosticCodes.FileTooLarge);
        StringAssert.Contains(err, $"has {QuantBuild.Configuration.SidecarParser.MaxSidecarBytes + 1} bytes, more than the {QuantBuild.Configuration.SidecarParser.MaxSidecarBytes} accepted");
    }

    /// <summary>An input file larger than the tensor limit (plus header room) cannot hold an acceptable array: refused unread.</summary>
    [TestMethod]
    public void AnInputLargerThanTheTensorLimitIsRefusedFromItsSize()
    {
        using var temp = new TempFolder();
        var input = temp.File("big.npy");
        using (var stream = File.Create(input)) stream.SetLength((4L << 20) + 1);
        var err = BadInput.AssertFails(CliHarness.Cli("run", Mnist, "--input", input, "--out", temp.File("out"), "--max-tensor-bytes", "3M"), DiagnosticCodes.FileTooLarge);
        StringAssert.Contains(err, ".npy file");
    }

    /// <summary>Within the file limit, an array whose header claims more than the tensor limit is refused before its data is allocated.</summary>
    [TestMethod]
    public void AnNpyArrayAboveTheTensorLimitIsRefusedBeforeItIsAllocated()
    {
        using var temp = new TempFolder();
        var input = temp.File("x.npy");
        NpyFile.Write(input, Tensor.Create(DataType.Float, [1, 1, 28, 28]));
        var err = BadInput.AssertFails(CliHarness.Cli("run", Mnist, "--input", input, "--out", temp.File("out"), "--max-tensor-bytes", "1K"), DiagnosticCodes.TensorTooLarge);
        StringAssert.Contains(err, "array float[1,1,28,28] would take 3136 bytes");
        StringAssert.Contains(err, input);
    }
}
