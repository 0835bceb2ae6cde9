using System.Text;

namespace QuantBuild.Reporting;

/// <summary>HTML text escaping for every string the report shows: node and tensor names come from the model file and are untrusted.</summary>
public static class Html
{
    /// <summary>
    /// Escapes the five characters that can end a text node or an attribute value (&amp; &lt; &gt; " '), and drops
    /// control characters other than tab and newline (they have no business in a name and some are invalid in HTML).
    /// Valid for element text and for double- or single-quoted attribute values alike.
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var result = new StringBuilder(text.Length + 16);
        foreach (char c in text)
        {
            switch (c)
            {
                case '&': result.Append("&amp;"); break;
                case '<': result.Append("&lt;"); break;
                case '>': result.Append("&gt;"); break;
                case '"': result.Append("&quot;"); break;
                case '\'': result.Append("&#39;"); break;
                default:
                    if (c < ' ' && c != '\t' && c != '\n') break;
                    if (c == '\u007f') break;
                    result.Append(c);
                    break;
            }
        }
        return result.ToString();
    }
}
