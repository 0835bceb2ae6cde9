using System.Text;
using System.Text.RegularExpressions;

namespace QuantBuild.Emit;

/// <summary>
/// Which runtime source files a set of generated classes needs: TensorFlow Lite Micro's op resolver (link only
/// the kernels a model registers), done at build time on source text. Nodes are the embedded QuantBuild.Runtime
/// files; file A needs file B when A's code mentions a top-level type B declares. A model's roots are the
/// runtime types its generated class mentions; the runtime a project gets is the closure of the union of its
/// models' roots (<see cref="CSharpEmitter.EmitRuntime"/>).
/// </summary>
/// <remarks>
/// The scan works on text, not on the emitter's plan, so it does not depend on how the emitter names or
/// orders kernels: any identifier equal to a runtime type name counts, in code, in string literals and in
/// <c>cref</c> attributes of doc comments (a cref to a type left out would be warning CS1574 in a consumer
/// that generates documentation). Ordinary comments do not count. Both branches of every <c>#if</c> count,
/// so the result is the same for every target framework. Over-counting only keeps a file that could have
/// been dropped; under-counting cannot happen for a type that is named, and the runtime has no extension
/// methods (which are called without naming their class) — <see cref="CSharpEmitter.RuntimeGraph"/>'s
/// construction refuses them so that stays true.
/// </remarks>
public sealed class RuntimeSourceGraph
{
    private static readonly Regex Identifier = new(@"[A-Za-z_][A-Za-z0-9_]*", RegexOptions.CultureInvariant);
    private static readonly Regex Cref = new("cref=\"([^\"]*)\"", RegexOptions.CultureInvariant);
    private static readonly Regex ExtensionMethod = new(@"\(\s*this\s", RegexOptions.CultureInvariant);

    private readonly Dictionary<string, List<string>> _declaringFiles = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string[]> _needs = new(StringComparer.Ordinal);

    /// <param name="sources">the runtime files by relative path; <paramref name="declaredTypes"/> gives each file's top-level type names</param>
    public RuntimeSourceGraph(IReadOnlyList<(string Name, string Source)> sources, Func<string, string, IEnumerable<string>> declaredTypes)
    {
        Files = sources.Select(s => s.Name).Order(StringComparer.Ordinal).ToList();
        foreach (var (name, source) in sources)
        {
            if (ExtensionMethod.IsMatch(CodeText(source)))
                throw new Diagnostics.QuantBuildException(Diagnostics.DiagnosticCodes.InternalError,
                    $"runtime file {name} declares an extension method: calls to it do not name its class, so the runtime pruning could not see them");
            foreach (var type in declaredTypes(name, source))
            {
                if (!_declaringFiles.TryGetValue(type, out var files)) _declaringFiles[type] = files = new List<string>();
                files.Add(name);
            }
        }
        foreach (var files in _declaringFiles.Values) files.Sort(StringComparer.Ordinal);
        foreach (var (name, source) in sources)
            _needs[name] = FilesDeclaring(TypesMentionedIn(source)).Where(f => f != name).ToArray();
        DeclaredTypes = _declaringFiles.Keys.Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>Every runtime file, ordinal order.</summary>
    public IReadOnlyList<string> Files { get; }

    /// <summary>Every top-level runtime type name, ordinal order.</summary>
    public IReadOnlyList<string> DeclaredTypes { get; }

    /// <summary>The files <paramref name="file"/> mentions types of (itself excluded), ordinal order.</summary>
    public IReadOnlyList<string> Needs(string file) => _needs[file];

    /// <summary>The runtime type names <paramref name="csharp"/> (say, a generated model class) mentions, ordinal order.</summary>
    public SortedSet<string> TypesMentionedIn(string csharp)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Match m in Identifier.Matches(CodeText(csharp)))
            if (_declaringFiles.ContainsKey(m.Value)) found.Add(m.Value);
        return found;
    }

    /// <summary>
    /// The files the given root types need: the files declaring them and, transitively, every file those
    /// mention. Ordinal order, so the emitted runtime does not depend on the order roots were found in.
    /// Unknown names are ignored (a generated class may mention its own types).
    /// </summary>
    public IReadOnlyList<string> Closure(IEnumerable<string> rootTypes)
    {
        var reached = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(FilesDeclaring(rootTypes));
        while (pending.Count > 0)
        {
            var file = pending.Pop();
            if (!reached.Add(file)) continue;
            foreach (var next in _needs[file])
                if (!reached.Contains(next)) pending.Push(next);
        }
        return reached.Order(StringComparer.Ordinal).ToList();
    }

    private IEnumerable<string> FilesDeclaring(IEnumerable<string> types) =>
        types.Where(_declaringFiles.ContainsKey).SelectMany(t => _declaringFiles[t]).Distinct(StringComparer.Ordinal);

    /// <summary>
    /// <paramref name="source"/> without its ordinary comments; a doc comment (<c>///</c>) keeps only its
    /// <c>cref</c> values. String and character literals are kept whole (so "//" inside one is not a comment).
    /// </summary>
    internal static string CodeText(string source)
    {
        var code = new StringBuilder(source.Length);
        bool inBlockComment = false;
        foreach (var line in source.Split('\n'))
        {
            int i = 0;
            char quote = '\0';
            for (; i < line.Length; i++)
            {
                char c = line[i];
                if (inBlockComment)
                {
                    if (c == '*' && i + 1 < line.Length && line[i + 1] == '/') { inBlockComment = false; i++; }
                    continue;
                }
                if (quote != '\0')
                {
                    code.Append(c);
                    if (c == '\\' && i + 1 < line.Length) code.Append(line[++i]);
                    else if (c == quote) quote = '\0';
                    continue;
                }
                if (c == '"' || c == '\'') { quote = c; code.Append(c); continue; }
                if (c == '/' && i + 1 < line.Length && line[i + 1] == '*') { inBlockComment = true; i++; continue; }
                if (c == '/' && i + 1 < line.Length && line[i + 1] == '/')
                {
                    if (i + 2 < line.Length && line[i + 2] == '/')
                        foreach (Match cref in Cref.Matches(line, i)) code.Append(' ').Append(cref.Groups[1].Value);
                    break;
                }
                code.Append(c);
            }
            code.Append('\n');
        }
        return code.ToString();
    }
}
