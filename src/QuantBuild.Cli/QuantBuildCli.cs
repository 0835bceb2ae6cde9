using System.CommandLine;
using System.CommandLine.Invocation;
using QuantBuild.Cli.Commands;
using QuantBuild.Diagnostics;

namespace QuantBuild.Cli;

/// <summary>
/// The <c>quantbuild</c> command line. Every failure becomes one <c>error QB####: message</c> line on
/// stderr and a non-zero exit code (see <see cref="ExitCodes"/>): the MSBuild task and CI scripts parse
/// that line, so a stack trace must never reach the user.
/// </summary>
public static class QuantBuildCli
{
    /// <summary>Runs one command line. Writers are parameters so tests can run the CLI in-process, in parallel.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error) => Run(args, output, error, o => CreateRootCommand(o, error));

    /// <summary>Runs a command line against a given command tree (tests use this to check the error policy with verbs of their own).</summary>
    internal static int Run(string[] args, TextWriter output, TextWriter error, Func<TextWriter, RootCommand> createRoot)
    {
        try
        {
            var root = createRoot(output);
            var parse = root.Parse(args);
            if (parse.Action is ParseErrorAction)
            {
                foreach (var parseError in parse.Errors)
                    error.WriteLine(new QuantBuildException(DiagnosticCodes.InvalidArguments, parseError.Message).ToCanonicalString());
                error.WriteLine($"Run '{CommandPath(parse)} --help' for usage.");
                return ExitCodes.InvalidArguments;
            }
            var configuration = new InvocationConfiguration
            {
                Output = output,
                Error = error,
                // Our handler below turns every exception into a QB line; the library's would print a stack trace.
                EnableDefaultExceptionHandler = false,
            };
            return parse.Invoke(configuration);
        }
        catch (QuantBuildException e)
        {
            error.WriteLine(e.ToCanonicalString());
            return e.Code == DiagnosticCodes.InvalidArguments ? ExitCodes.InvalidArguments : ExitCodes.Failed;
        }
        catch (Exception e)
        {
            error.WriteLine(new QuantBuildException(DiagnosticCodes.InternalError, $"unexpected {e.GetType().Name}: {e.Message}").ToCanonicalString());
            return ExitCodes.InternalError;
        }
    }

    /// <summary>The root command with every verb (inspect, quantize, run, build, report).</summary>
    public static RootCommand CreateRootCommand(TextWriter output, TextWriter? error = null)
    {
        var root = new RootCommand(
            "QuantBuild: quantize ONNX models to int8/int4 at build time. " +
            "'inspect' describes a model (input/output names and shapes, operators, what has no integer kernel); " +
            "'quantize' calibrates and writes a QDQ .onnx for ONNX Runtime, C# with an integer-only runtime and a JSON report; " +
            "'run' runs a model in the float engine, or a .quant.onnx in the integer runtime (--int); " +
            "'report' writes the HTML page of a report.json; " +
            "'build' is the MSBuild task's entry point (a manifest of models).");
        root.Subcommands.Add(InspectCommand.Create(output));
        root.Subcommands.Add(QuantizeCommand.Create(output, error ?? Console.Error));
        root.Subcommands.Add(RunCommand.Create(output, error ?? Console.Error));
        root.Subcommands.Add(BuildCommand.Create(output, error ?? Console.Error));
        root.Subcommands.Add(ReportCommand.Create(output));
        return root;
    }

    private static string CommandPath(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            names.Add(result.Command is RootCommand ? "quantbuild" : result.Command.Name);
        names.Reverse();
        return string.Join(' ', names);
    }
}
