using System.Text;
using System.Text.Json;
using QuantBuild.Diagnostics;

namespace QuantBuild.Configuration;

/// <summary>
/// A JSON value that remembers where it starts in its file (1-based line and column), so every
/// configuration error can point at the offending text. System.Text.Json's DOM keeps no positions,
/// hence this small tree built from <see cref="Utf8JsonReader"/> tokens.
/// </summary>
public sealed class PositionedJson
{
    private PositionedJson(JsonValueKind kind, int line, int column)
    {
        Kind = kind;
        Line = line;
        Column = column;
    }

    public JsonValueKind Kind { get; }
    public int Line { get; }
    public int Column { get; }
    public string? String { get; private init; }
    /// <summary>The number's source text (kept as text so integers are checked exactly).</summary>
    public string? NumberText { get; private init; }
    public bool Boolean => Kind == JsonValueKind.True;
    /// <summary>Object members in file order, each with the position of its key.</summary>
    public List<(string Key, int Line, int Column, PositionedJson Value)> Members { get; } = new();
    public List<PositionedJson> Items { get; } = new();

    public string KindName => Kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => "nothing",
    };

    /// <summary>Parses a whole document (comments and trailing commas allowed: sidecars are hand-written).</summary>
    public static PositionedJson Parse(byte[] utf8, string file)
    {
        var lines = new LineMap(utf8);
        var reader = new Utf8JsonReader(utf8, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read())
                throw new QuantBuildException(DiagnosticCodes.InvalidConfiguration, "the file is empty; write {} for all defaults", file, 1, 1);
            var root = ReadValue(ref reader, lines);
            if (reader.Read())
            {
                var (l, c) = lines.Position(reader.TokenStartIndex);
                throw new QuantBuildException(DiagnosticCodes.InvalidConfiguration, "unexpected text after the end of the JSON document", file, l, c);
            }
            return root;
        }
        catch (JsonException e)
        {
            // The reader reports a 0-based line and byte position in that line.
            int line = (int)(e.LineNumber ?? 0) + 1, column = (int)(e.BytePositionInLine ?? 0) + 1;
            throw new QuantBuildException(DiagnosticCodes.InvalidConfiguration, $"invalid JSON: {FirstSentence(e.Message)}", file, line, column, inner: e);
        }
        catch (InvalidOperationException e)
        {
            // GetString, not Read, finds a string that is not valid UTF-8 or escapes half a surrogate pair, and
            // throws this instead of JsonException; the reader still stands on that string.
            var (l, c) = lines.Position(reader.TokenStartIndex);
            throw new QuantBuildException(DiagnosticCodes.InvalidConfiguration,
                "invalid JSON: a string is not valid UTF-8 text or escapes half of a surrogate pair (\\uD800-\\uDFFF)", file, l, c, inner: e);
        }
    }

    private static string FirstSentence(string message)
    {
        int cut = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return (cut > 0 ? message[..cut] : message).TrimEnd();
    }

    private static PositionedJson ReadValue(ref Utf8JsonReader reader, LineMap lines)
    {
        var (line, column) = lines.Position(reader.TokenStartIndex);
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
            {
                var obj = new PositionedJson(JsonValueKind.Object, line, column);
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var (kl, kc) = lines.Position(reader.TokenStartIndex);
                    string key = reader.GetString()!;
                    reader.Read();
                    obj.Members.Add((key, kl, kc, ReadValue(ref reader, lines)));
                }
                return obj;
            }
            case JsonTokenType.StartArray:
            {
                var array = new PositionedJson(JsonValueKind.Array, line, column);
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                    array.Items.Add(ReadValue(ref reader, lines));
                return array;
            }
            case JsonTokenType.String:
                return new PositionedJson(JsonValueKind.String, line, column) { String = reader.GetString() };
            case JsonTokenType.Number:
                return new PositionedJson(JsonValueKind.Number, line, column) { NumberText = Encoding.UTF8.GetString(reader.ValueSpan) };
            case JsonTokenType.True:
                return new PositionedJson(JsonValueKind.True, line, column);
            case JsonTokenType.False:
                return new PositionedJson(JsonValueKind.False, line, column);
            default:
                return new PositionedJson(JsonValueKind.Null, line, column);
        }
    }

    /// <summary>Byte offset → line and column (columns count characters, not UTF-8 bytes).</summary>
    private sealed class LineMap(byte[] utf8)
    {
        public (int Line, int Column) Position(long offset)
        {
            int line = 1, column = 1;
            for (long i = 0; i < offset && i < utf8.Length; i++)
            {
                byte b = utf8[i];
                if (b == (byte)'\n') { line++; column = 1; }
                else if ((b & 0xC0) != 0x80) column++;
            }
            return (line, column);
        }
    }
}
