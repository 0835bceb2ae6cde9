using System.CommandLine;
using QuantBuild.Diagnostics;

namespace QuantBuild.Cli.Commands;

/// <summary>
/// <c>quantbuild quantize MODEL.onnx [--config SIDECAR.json] --out DIR [--name NAME] [--threads N]</c>:
/// calibrates and quantizes one model, writing DIR/&lt;Name&gt;.quant.onnx and DIR/&lt;Name&gt;.report.json.
/// </summary>
public static class QuantizeCommand
{
    public static Command Create(TextWriter output)
    {
        var model = new Argument<string>("model") { Description = "The fp32 ONNX model to quantize.", HelpName = "MODEL.onnx" };
        var config = new Option<string?>("--config", "-c")
        {
            Description = "The sidecar JSON with quantization settings and calibration inputs. Default: MODEL's folder/<stem>.quant.json when it exists.",
            HelpName = "SIDECAR.json",
        };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for <Name>.quant.onnx and <Name>.report.json.", HelpName = "DIR", Required = true };
        var name = new Option<string?>("--name", "-n") { Description = "Base name of the outputs. Default: the model file's stem.", HelpName = "NAME" };
        var threads = new Option<int?>("--threads", "-t") { Description = "Maximum threads (results are identical for any value). Default: all processors.", HelpName = "N" };

        var command = new Command("quantize", "Calibrate and quantize a model; write a QDQ ONNX file and a JSON report.");
        command.Arguments.Add(model);
        command.Options.Add(config);
        command.Options.Add(outDir);
        command.Options.Add(name);
        command.Options.Add(threads);
        command.SetAction(parse => Execute(parse.GetRequiredValue(model), parse.GetValue(config), parse.GetRequiredValue(outDir),
            parse.GetValue(name), parse.GetValue(threads) ?? Environment.ProcessorCount, output));
        return command;
    }

    public static int Execute(string modelPath, string? sidecar, string outDir, string? name, int threads, TextWriter output)
    {
        if (threads < 1) throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--threads must be at least 1, got {threads}");
        if (name is not null && (name.Length == 0 || name.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || name.Contains('/') || name.Contains('\\')))
            throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--name '{name}' must be a plain file name");
        var request = new QuantizeRequest(modelPath, sidecar ?? QuantizeJob.DefaultSidecar(modelPath), outDir, name ?? Path.GetFileNameWithoutExtension(modelPath));
        var result = QuantizeJob.Run(request, threads, output);
        foreach (var file in result.Written) output.WriteLine($"wrote {file}");
        return ExitCodes.Success;
    }
}
