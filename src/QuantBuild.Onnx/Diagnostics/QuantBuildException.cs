namespace QuantBuild.Diagnostics;

/// <summary>
/// The one exception type QuantBuild lets reach a user. It always carries a <c>QB####</c> code and,
/// where known, the file, line/column and graph node it is about, so that the CLI and the MSBuild
/// task can print a canonical <c>file(line,col): error QB####: message</c> instead of a stack trace.
/// </summary>
public sealed class QuantBuildException : Exception
{
    public QuantBuildException(string code, string message, string? file = null, int line = 0, int column = 0, string? node = null, Exception? inner = null)
        : base(message, inner)
    {
        Code = code;
        File = file;
        Line = line;
        Column = column;
        NodeName = node;
    }

    public string Code { get; }
    public string? File { get; }
    public int Line { get; }
    public int Column { get; }
    public string? NodeName { get; }

    /// <summary>MSBuild canonical error format, understood by Visual Studio and CI log parsers.</summary>
    public string ToCanonicalString()
    {
        var location = File is null ? "" : Line > 0 ? $"{File}({Line},{Math.Max(Column, 1)}): " : $"{File}: ";
        var node = NodeName is null ? "" : $" [node '{NodeName}']";
        return $"{location}error {Code}: {Message}{node}";
    }
}
