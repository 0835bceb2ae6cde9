using System.CommandLine;
using QuantBuild.BuildContract;
using QuantBuild.Reporting;

namespace QuantBuild.Cli.Commands;

/// <summary>
/// <c>quantbuild report MODEL.report.json</c>: writes (again) the self-contained HTML page of a report beside it,
/// <c>MODEL.report.html</c> (docs/html-report.md), and prints its file:// address. The page is a function of the
/// report file alone: the same one the build wrote.
/// </summary>
public static class ReportCommand
{
    public static Command Create(TextWriter output)
    {
        var report = new Argument<string>("report") { Description = "A <Name>.report.json written by a build or by 'quantize'.", HelpName = "MODEL.report.json" };
        var command = new Command("report",
            "Write the self-contained HTML page of a report.json beside it (<Name>.report.html: summary, per-layer weight histograms with their levels, " +
            "activation ranges over their distributions, mixed-precision frontier, EPTQ loss curve) and print its file:// address.");
        command.Arguments.Add(report);
        command.SetAction(parse =>
        {
            var page = ReportPage.WriteFromFile(parse.GetRequiredValue(report));
            output.WriteLine(ReportPageLine.Format(ReportPage.Uri(page)));
            return ExitCodes.Success;
        });
        return command;
    }
}
