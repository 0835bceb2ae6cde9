using System.CommandLine;
using QuantBuild.Diagnostics;

namespace QuantBuild.Cli.Commands;

/// <summary>
/// <c>quantbuild quantize MODEL.onnx [--config SIDECAR.json] --out DIR [--name NAME] [--threads N]</c>:
/// calibrates and quantizes one model, writing DIR/&lt;Name&gt;.quant.onnx, DIR/&lt;Name&gt;.g.cs (plus the runtime source
/// QuantBuild.Runtime.g.cs it compiles against: the runtime files the generated classes in DIR need) and
/// DIR/&lt;Name&gt;.report.json.
/// </summary>
public static class QuantizeCommand
{
    public const string RuntimeFileName = "QuantBuild.Runtime.g.cs";

    /// <summary>Writes text atomically, leaving the file (and its timestamp) alone when the content is unchanged.</summary>
    public static void AtomicFileIfChanged(string path, string text)
    {
        if (File.Exists(path) && File.ReadAllText(path) == text) return;
        Onnx.IO.AtomicFile.WriteAllText(path, text);
    }

    /// <param name="error">where warnings go (QB4105), so stdout holds only progress and the files written</param>
    public static Command Create(TextWriter output, TextWriter error)
    {
        var model = new Argument<string>("model") { Description = "The fp32 ONNX model to quantize.", HelpName = "MODEL.onnx" };
        var config = new Option<string?>("--config", "-c")
        {
            Description = "The sidecar JSON with quantization settings and calibration inputs. Default: MODEL's folder/<stem>.quant.json when it exists.",
            HelpName = "SIDECAR.json",
        };
        var outDir = new Option<string>("--out", "-o") { Description = "Folder for <Name>.quant.onnx, <Name>.g.cs (+ QuantBuild.Runtime.g.cs) and <Name>.report.json.", HelpName = "DIR", Required = true };
        var name = new Option<string?>("--name", "-n") { Description = "Base name of the outputs. Default: the model file's stem.", HelpName = "NAME" };
        var threads = CommonOptions.Threads("Maximum threads (results are identical for any value). Default: all processors.");
        var maxTensor = CommonOptions.MaxTensorBytes();
        var maxMemory = CommonOptions.MaxMemoryBytes();

        var command = new Command("quantize", "Calibrate and quantize a model; write a QDQ ONNX file, generated C#, a JSON report and its HTML page.");
        command.Arguments.Add(model);
        command.Options.Add(config);
        command.Options.Add(outDir);
        command.Options.Add(name);
        command.Options.Add(threads);
        command.Options.Add(maxTensor);
        command.Options.Add(maxMemory);
        command.SetAction(parse =>
        {
            using var limits = Tensors.TensorLimits.Use(CommonOptions.Limits(parse, maxTensor, maxMemory));
            return Execute(parse.GetRequiredValue(model), parse.GetValue(config), parse.GetRequiredValue(outDir),
                parse.GetValue(name), parse.GetValue(threads) ?? Environment.ProcessorCount, output, error);
        });
        return command;
    }

    public static int Execute(string modelPath, string? sidecar, string outDir, string? name, int threads, TextWriter output, TextWriter? error = null)
    {
        if (threads < 1) throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--threads must be at least 1, got {threads}");
        CommonOptions.RequireFolder(outDir);
        // The same rule as a manifest's name field: the outputs stay inside --out on every OS.
        if (name is not null && !BuildContract.ModelNaming.IsPlainFileName(name))
            throw new QuantBuildException(DiagnosticCodes.InvalidArguments, $"--name '{name}' must be a plain file name");
        var request = new QuantizeRequest(modelPath, sidecar ?? QuantizeJob.DefaultSidecar(modelPath), outDir, name ?? Path.GetFileNameWithoutExtension(modelPath));
        // On a terminal: progress bars, the log above them (warnings keep going to stderr). Otherwise plain lines.
        var result = Progress.TerminalProgress.IsTerminal(output)
            ? Progress.TerminalProgress.Run(Spectre.Console.AnsiConsole.Console, (log, stages) => QuantizeJob.Run(request, threads, log, error, stages))
            : QuantizeJob.Run(request, threads, output, error);
        foreach (var file in result.Written) output.WriteLine($"wrote {file}");
        if (result.Written.Any(f => f.EndsWith(".g.cs", StringComparison.Ordinal)))
        {
            // Standalone use: the generated class needs the runtime beside it. Only the runtime files needed by
            // the generated classes in the folder: this model's and those of models quantized there before,
            // which share the one runtime file.
            var options = QuantizeJob.CSharpOptions(request);
            var runtime = Path.Combine(outDir, RuntimeFileName);
            var users = Directory.EnumerateFiles(outDir, "*.g.cs").Where(f => Path.GetFileName(f) != RuntimeFileName).Order(StringComparer.Ordinal);
            AtomicFileIfChanged(runtime, Emit.CSharpEmitter.EmitRuntime(options.EffectiveRuntimeNamespace, QuantizeJob.ToolVersion, rootTypes: BuildCommand.RuntimeRoots(users)));
            output.WriteLine($"wrote {Path.GetFullPath(runtime)}");
        }
        return ExitCodes.Success;
    }
}
