using QuantBuild.Compilation;
using Spectre.Console;

namespace QuantBuild.Cli.Progress;

/// <summary>
/// Progress of <c>quantbuild quantize</c> on a terminal: a bar per long stage (calibration, EPTQ, verify) drawn with
/// Spectre.Console, the log lines printed above the bars. Used only when standard output is an interactive terminal
/// (<see cref="IsTerminal"/>); redirected output, CI logs and MSBuild (which reads the tool's output) get the plain
/// lines, unchanged.
/// </summary>
public static class TerminalProgress
{
    /// <summary>Whether <paramref name="output"/> is this process's console and a person is watching it.</summary>
    public static bool IsTerminal(TextWriter output) =>
        ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    /// <summary>
    /// Runs <paramref name="work"/> with a live progress display on <paramref name="console"/>; the work gets a writer
    /// for its log lines and a sink for stage counts. Returns what the work returns.
    /// </summary>
    public static T Run<T>(IAnsiConsole console, Func<TextWriter, IStageProgress, T> work)
    {
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .HideCompleted(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                using var log = new LineWriter(console);
                result = work(log, new Bars(context));
            });
        return result;
    }

    /// <summary>One bar per stage, created when the stage first reports.</summary>
    private sealed class Bars(ProgressContext context) : IStageProgress
    {
        private readonly Dictionary<string, ProgressTask> _tasks = new(StringComparer.Ordinal);

        public void Advance(string stage, long done, long total)
        {
            lock (_tasks)
            {
                if (!_tasks.TryGetValue(stage, out var task))
                    _tasks[stage] = task = context.AddTask(Markup.Escape(stage), maxValue: Math.Max(1, total));
                task.MaxValue = Math.Max(1, total);
                task.Value = Math.Min(done, total);
                if (done >= total) task.StopTask();
            }
        }
    }

    /// <summary>A writer whose complete lines go to the console as plain text (above the live bars).</summary>
    private sealed class LineWriter(IAnsiConsole console) : TextWriter
    {
        private readonly System.Text.StringBuilder _line = new();

        public override System.Text.Encoding Encoding => System.Text.Encoding.UTF8;

        public override void Write(char value)
        {
            lock (_line)
            {
                if (value == '\n') Flush();
                else if (value != '\r') _line.Append(value);
            }
        }

        public override void Flush()
        {
            lock (_line)
            {
                console.Write(new Text(_line.ToString() + "\n"));
                _line.Clear();
            }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing && _line.Length > 0) Flush();
            base.Dispose(disposing);
        }
    }
}
