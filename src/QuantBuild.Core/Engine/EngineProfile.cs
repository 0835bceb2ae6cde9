using System.Diagnostics;
using System.Globalization;
using System.Text;
using QuantBuild.Graph;

namespace QuantBuild.Engine;

/// <summary>
/// Cumulative forward time per node of one engine (see <see cref="EngineOptions.Profile"/>).
/// Counters are updated with interlocked adds, so concurrent runs may share an engine.
/// </summary>
public sealed class EngineProfile
{
    private readonly IReadOnlyList<Node> _nodes;
    private readonly long[] _ticks;
    private readonly long[] _calls;
    private readonly string?[] _shapes;

    internal EngineProfile(IReadOnlyList<Node> nodes)
    {
        _nodes = nodes;
        _ticks = new long[nodes.Count];
        _calls = new long[nodes.Count];
        _shapes = new string?[nodes.Count];
    }

    internal bool HasShapes(int node) => _shapes[node] is not null;

    internal void SetShapes(int node, string shapes) => _shapes[node] = shapes;

    internal void Add(int node, long ticks)
    {
        Interlocked.Add(ref _ticks[node], ticks);
        Interlocked.Increment(ref _calls[node]);
    }

    public void Reset()
    {
        Array.Clear(_ticks);
        Array.Clear(_calls);
    }

    public readonly record struct Entry(string Name, string OpType, long Calls, double TotalMs, string? Shapes = null)
    {
        public double MeanMs => Calls == 0 ? 0 : TotalMs / Calls;
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    /// <summary>Every node in graph order.</summary>
    public IReadOnlyList<Entry> Nodes =>
        _nodes.Select((n, i) => new Entry(n.Name, n.OpType, _calls[i], Ms(_ticks[i]), _shapes[i])).ToList();

    /// <summary>Totals per operator type, slowest first; Calls counts node executions.</summary>
    public IReadOnlyList<Entry> ByOpType =>
        _nodes.Select((n, i) => (n.OpType, i))
            .GroupBy(x => x.OpType, StringComparer.Ordinal)
            .Select(g => new Entry(g.Key, g.Key, g.Sum(x => _calls[x.i]), Ms(g.Sum(x => _ticks[x.i]))))
            .OrderByDescending(e => e.TotalMs)
            .ToList();

    /// <summary>A plain-text table: op types by total time, then the <paramref name="topNodes"/> slowest nodes; times are per run when <paramref name="runs"/> is given.</summary>
    public string Report(int topNodes = 15, int runs = 1)
    {
        var inv = CultureInfo.InvariantCulture;
        double total = _ticks.Sum(t => Ms(t));
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"total {total / runs:0.000} ms per run over {_nodes.Count} nodes");
        sb.AppendLine("op type                    nodes   ms/run      %");
        foreach (var e in ByOpType)
            sb.AppendLine(inv, $"{e.OpType,-24} {e.Calls / Math.Max(runs, 1),7} {e.TotalMs / runs,8:0.000} {100 * e.TotalMs / Math.Max(total, 1e-12),6:0.0}");
        sb.AppendLine(inv, $"slowest {topNodes} nodes                        ms/run      %");
        foreach (var e in Nodes.OrderByDescending(e => e.TotalMs).Take(topNodes))
            sb.AppendLine(inv, $"{Truncate(e.Name, 28),-28} {e.OpType,-14} {e.TotalMs / runs,8:0.000} {100 * e.TotalMs / Math.Max(total, 1e-12),6:0.0}  {e.Shapes}");
        return sb.ToString();
    }

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "…";
}
