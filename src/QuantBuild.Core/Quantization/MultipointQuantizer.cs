using System.Runtime.CompilerServices;
using QuantBuild.Configuration;
using QuantBuild.Engine;
using QuantBuild.Graph;
using QuantBuild.Runtime;
using QuantBuild.Tensors;

namespace QuantBuild.Quantization;

/// <summary>
/// Multipoint quantization (docs/algorithms/multipoint.md; Liu et al., "Post-training Quantization with Multiple
/// Points", AAAI 2021). Each output channel w is approximated by Σ_p a_p·q_p with q_p on the restricted
/// b-bit grid and a float a_p per point:
/// <list type="bullet">
/// <item>points are built greedily on the residual, each one the exact optimum of
/// min_{a,q} ||r − a·q||² (breakpoint sweep, docs/algorithms/multipoint.md, "One point: the exact solver"; the solver is our choice, the greedy principle is the paper's);</item>
/// <item>every channel gets one point; a layer gets round(ρ·C_out) extra points (ρ = weights.multipoint.extraPoints),
/// handed out one at a time to the channel whose next point reduces the layer's output error
/// eᵀGe most, G = XᵀX/rows from the layer's inputs on calibration data (docs/algorithms/multipoint.md, "Greedy construction under a budget": a priority-queue rule of our own;
/// the paper's exact allocation rule was not available).</item>
/// </list>
/// The first point is stored as ordinary per-channel linear codes and scales, the others as
/// <see cref="WeightQuantization.ExtraPoints"/>, so a single-point consumer sees a valid linear weight.
/// Deterministic: one thread, ties broken by channel index.
/// </summary>
public sealed class MultipointQuantizer : IWeightQuantizer
{
    /// <summary>Layers whose fan-in is larger keep only the diagonal of G (memory d², cost d² per point).</summary>
    public const int FullGramMaxFanIn = 1536;
    /// <summary>Output positions per sample that enter G (evenly strided), to bound the cost on large feature maps.</summary>
    public const int MaxPositionsPerSample = 256;

    private static readonly ConditionalWeakTable<QuantizationContext, Dictionary<string, LayerGram?>> s_grams = new();

    public WeightQuantization Quantize(WeightQuantizationRequest r)
    {
        if (!r.PerChannel) throw new ArgumentException("multipoint quantization needs per-channel weights (perChannel true)");
        var options = r.Settings.Multipoint;
        var gram = options.Samples > 0 ? GramFor(r.Context, r.Node, options.Samples) : null;
        return Quantize(r.Node.Name, r.WeightName, r.Values, r.Shape, r.Axis, r.Settings.Bits, options.ExtraPoints, options.MaxPoints, gram);
    }

    /// <summary>
    /// Quantizes one weight tensor. <paramref name="gram"/> measures output error (null: plain weight
    /// error ||e||²).
    /// </summary>
    public static WeightQuantization Quantize(string nodeName, string weightName, float[] weights, int[] shape, int axis, int bits,
        double extraPointsFraction, int maxPoints, LayerGram? gram)
    {
        if (bits < 2 || bits > 8) throw new ArgumentException($"multipoint needs 2..8-bit points, got {bits}");
        foreach (var v in weights)
            if (!float.IsFinite(v)) throw new ArgumentException("weights hold NaN or infinity");
        int qmax = (1 << (bits - 1)) - 1;
        var (channels, outer, inner, _) = ChannelLayout.Of(shape, axis, perChannel: true);
        int length = outer * inner;
        if (gram is not null && gram.FanIn != length) gram = null;

        var codes = new sbyte[weights.Length];
        var scales = new float[channels];
        var residuals = new double[channels][];
        var row = new sbyte[length];
        for (int c = 0; c < channels; c++)
        {
            var w = Gather(weights, c, outer, inner, channels);
            double a = SolvePoint(w, qmax, row);
            float scale = (float)a;
            // All-zero channel, or one whose best scale is below the smallest normal float (which the QDQ file cannot
            // carry): codes 0, scale 1, as linear (docs/algorithms/linear.md, "Edge cases").
            if (!(scale >= QuantParams.SmallestNormal)) { scale = 1f; Array.Clear(row); }
            scales[c] = scale;
            int k = 0;
            for (int o = 0; o < outer; o++)
                for (int e = 0; e < inner; e++, k++)
                {
                    codes[(o * channels + c) * inner + e] = row[k];
                    w[k] -= row[k] * scale;
                }
            residuals[c] = w;
        }

        int budget = (int)Math.Round(extraPointsFraction * channels, MidpointRounding.ToEven);
        var extra = new List<WeightPoint>();
        if (budget > 0 && maxPoints > 1)
        {
            var points = new int[channels];
            Array.Fill(points, 1);
            var candidates = new Candidate?[channels];
            // Max-gain first; equal gains go to the lower channel so the result never depends on heap order.
            var queue = new PriorityQueue<int, (double Gain, int Channel)>(Comparer<(double Gain, int Channel)>.Create((x, y) =>
                x.Gain != y.Gain ? y.Gain.CompareTo(x.Gain) : x.Channel.CompareTo(y.Channel)));
            for (int c = 0; c < channels; c++)
                if ((candidates[c] = NextPoint(residuals[c], qmax, c, gram)) is { } cand) queue.Enqueue(c, (cand.Gain, c));
            while (budget > 0 && queue.TryDequeue(out int c, out var key))
            {
                if (!(key.Gain > 0)) break;
                var cand = candidates[c]!;
                extra.Add(new WeightPoint(c, cand.Codes, cand.Scale));
                residuals[c] = cand.Residual;
                points[c]++;
                budget--;
                if (points[c] < maxPoints && (candidates[c] = NextPoint(residuals[c], qmax, c, gram)) is { } next) queue.Enqueue(c, (next.Gain, c));
            }
        }
        // Contract order: by channel, then in the order the points were added.
        var ordered = extra.Select((p, i) => (p, i)).OrderBy(x => x.p.Channel).ThenBy(x => x.i).Select(x => x.p).ToList();
        return new WeightQuantization
        {
            NodeName = nodeName,
            WeightName = weightName,
            Shape = shape,
            Axis = axis,
            Bits = bits,
            Codes = codes,
            Scales = scales,
            Method = "multipoint",
            Quantizer = WeightMethod.Multipoint,
            ExtraPoints = ordered,
        };
    }

    private sealed record Candidate(sbyte[] Codes, float Scale, double[] Residual, double Gain);

    /// <summary>The greedy next point of a channel and how much output error it removes (null when the residual is 0).</summary>
    private static Candidate? NextPoint(double[] residual, int qmax, int channel, LayerGram? gram)
    {
        var codes = new sbyte[residual.Length];
        float scale = (float)SolvePoint(residual, qmax, codes);
        if (!(scale >= QuantParams.SmallestNormal)) return null; // a zero residual, or one no stored scale can carry
        var next = new double[residual.Length];
        bool any = false;
        for (int k = 0; k < next.Length; k++)
        {
            next[k] = residual[k] - codes[k] * scale;
            any |= codes[k] != 0;
        }
        if (!any) return null;
        double gain = gram is null ? SquaredNorm(residual) - SquaredNorm(next) : gram.Error(channel, residual) - gram.Error(channel, next);
        return new Candidate(codes, scale, next, gain);
    }

    private static double[] Gather(float[] weights, int channel, int outer, int inner, int channels)
    {
        var w = new double[outer * inner];
        int k = 0;
        for (int o = 0; o < outer; o++)
            for (int e = 0; e < inner; e++) w[k++] = weights[(o * channels + channel) * inner + e];
        return w;
    }

    private static double SquaredNorm(double[] v)
    {
        double s = 0;
        foreach (var x in v) s += x * x;
        return s;
    }

    /// <summary>
    /// The exact solution of min_{a>0, q∈[−Q,Q]^d} ||r − a·q||² (docs/algorithms/multipoint.md, "One point: the exact solver"): as a falls from +∞, entry j's code
    /// magnitude steps from k to k+1 at a = |r_j|/(k+½); between breakpoints q is fixed and the loss
    /// ||r||² − 2aα + a²β (α = ⟨r,q⟩, β = ⟨q,q⟩) is minimised at α/β clamped to the interval. Writes the
    /// codes of the best a (rounded to float32, the stored scale) into <paramref name="codes"/> and returns it (0 with
    /// all-zero codes for r = 0).
    /// O(dQ log dQ).
    /// </summary>
    public static double SolvePoint(ReadOnlySpan<double> r, int qmax, Span<sbyte> codes)
    {
        int d = r.Length;
        double norm = 0;
        int nonZero = 0;
        for (int j = 0; j < d; j++)
        {
            norm += r[j] * r[j];
            if (r[j] != 0) nonZero++;
        }
        codes.Clear();
        if (nonZero == 0) return 0;
        var values = new double[nonZero * qmax];
        var entries = new int[nonZero * qmax];
        int n = 0;
        for (int j = 0; j < d; j++)
        {
            if (r[j] == 0) continue;
            double m = Math.Abs(r[j]);
            for (int k = 0; k < qmax; k++)
            {
                values[n] = m / (k + 0.5);
                entries[n++] = j;
            }
        }
        // Descending breakpoints; the entry index only fixes an order among equal values (applied together anyway).
        var order = new int[n];
        for (int i = 0; i < n; i++) order[i] = i;
        Array.Sort(order, (x, y) => values[x] != values[y] ? values[y].CompareTo(values[x]) : entries[x].CompareTo(entries[y]));

        var level = new int[d];
        double alpha = 0, beta = 0, bestLoss = norm, bestA = 0;
        for (int i = 0; i < n;)
        {
            double at = values[order[i]];
            for (; i < n && values[order[i]] == at; i++)
            {
                int j = entries[order[i]];
                alpha += Math.Abs(r[j]);
                beta += 2 * level[j] + 1;
                level[j]++;
            }
            double low = i < n ? values[order[i]] : 0;
            double a = Math.Clamp(alpha / beta, low, at);
            if (a <= 0) continue;
            double loss = norm - 2 * a * alpha + a * a * beta;
            if (loss < bestLoss) { bestLoss = loss; bestA = a; }
        }
        // The stored scale is float32: round it first and give the codes that are best for that value.
        bestA = (float)bestA;
        if (bestA <= 0) return 0;
        for (int j = 0; j < d; j++)
            codes[j] = (sbyte)Math.Clamp((int)Math.Round(r[j] / bestA, MidpointRounding.ToEven), -qmax, qmax);
        return bestA;
    }

    // ------------------------------------------------------------------ output error from calibration data

    /// <summary>
    /// Second moments of a layer's input as seen by each output channel: G = XᵀX/rows over the
    /// calibration inputs (im2col rows for a convolution, one G per group), so eᵀGe is the mean squared
    /// output error a weight error e causes. Diagonal only for fan-ins above <see cref="FullGramMaxFanIn"/>.
    /// </summary>
    public sealed class LayerGram
    {
        private readonly double[][] _perGroup; // d×d row-major, or d (diagonal)
        private readonly int _channelsPerGroup;

        public LayerGram(int fanIn, int channelsPerGroup, double[][] perGroup, bool diagonal)
        {
            FanIn = fanIn;
            _channelsPerGroup = channelsPerGroup;
            _perGroup = perGroup;
            Diagonal = diagonal;
        }

        public int FanIn { get; }
        public bool Diagonal { get; }

        public double Error(int channel, double[] e)
        {
            var g = _perGroup[Math.Min(_perGroup.Length - 1, channel / _channelsPerGroup)];
            double sum = 0;
            if (Diagonal)
            {
                for (int k = 0; k < e.Length; k++) sum += g[k] * e[k] * e[k];
                return sum;
            }
            for (int i = 0; i < e.Length; i++)
            {
                if (e[i] == 0) continue;
                double rowSum = 0;
                int offset = i * e.Length;
                for (int k = 0; k < e.Length; k++) rowSum += g[offset + k] * e[k];
                sum += e[i] * rowSum;
            }
            return sum;
        }
    }

    /// <summary>G for one node, computed for every multipoint node of the model in one pass over the samples and cached per run.</summary>
    private static LayerGram? GramFor(QuantizationContext context, Node node, int samples)
    {
        var cache = s_grams.GetValue(context, _ => new Dictionary<string, LayerGram?>(StringComparer.Ordinal));
        lock (cache)
        {
            if (!cache.ContainsKey(node.Name)) BuildGrams(context, node, samples, cache);
            return cache[node.Name];
        }
    }

    private static void BuildGrams(QuantizationContext context, Node requested, int samples, Dictionary<string, LayerGram?> cache)
    {
        var graph = context.Graph;
        var builders = new List<GramBuilder>();
        foreach (var node in graph.Nodes)
        {
            if (cache.ContainsKey(node.Name)) continue;
            var (settings, skip) = context.Settings.ForNode(node.Name);
            bool wanted = node == requested || (!skip && settings.Method == WeightMethod.Multipoint && settings.Multipoint.Samples == samples);
            if (!wanted) continue;
            var builder = GramBuilder.For(graph, node);
            cache[node.Name] = null;
            if (builder is not null) builders.Add(builder);
        }
        if (builders.Count == 0) return;
        context.Progress?.Report($"multipoint: measuring layer inputs of {builders.Count} layer(s) on {samples} calibration sample(s)");
        var engine = new InferenceEngine(graph, new EngineOptions { MaxDegreeOfParallelism = 1 });
        var wantedValues = builders.Select(b => b.InputName).Distinct(StringComparer.Ordinal).ToList();
        // Each layer input is added the moment it is computed, then released like any intermediate (model
        // inputs and initializers are reported too). Builders are independent, so the visiting order leaves the Grams as they were.
        foreach (var sample in context.Samples(samples))
            engine.Run(sample.Feeds, wantedValues, (name, x) =>
            {
                foreach (var b in builders)
                    if (b.InputName == name) b.Add(x);
            });
        foreach (var b in builders) cache[b.NodeName] = b.Build();
    }

    /// <summary>Accumulates XᵀX for one Conv (2-D or 1-D, NCHW) or Gemm/MatMul (2-D weight) node.</summary>
    private sealed class GramBuilder
    {
        public required string NodeName { get; init; }
        public required string InputName { get; init; }
        public required int FanIn { get; init; }
        public required int Groups { get; init; }
        public required int ChannelsPerGroup { get; init; }
        public bool IsConv { get; init; }
        public int[] Kernel { get; init; } = [];
        public int[] Strides { get; init; } = [];
        public int[] Dilations { get; init; } = [];
        public int[] Pads { get; init; } = [];
        public string AutoPad { get; init; } = "NOTSET";
        private double[][]? _sums;
        private long _rows;
        private bool Diagonal => FanIn > FullGramMaxFanIn;

        public static GramBuilder? For(ModelGraph graph, Node node)
        {
            if (node.Domain.Length != 0 || !node.HasInput(1) || !graph.Initializers.TryGetValue(node.Inputs[1], out var w)) return null;
            switch (node.OpType)
            {
                case "Conv" when w.Rank is 3 or 4:
                    {
                        int spatial = w.Rank - 2;
                        int group = (int)node.GetInt("group", 1);
                        int[] Ints(string name, int fill) => node.GetInts(name) is { Length: > 0 } v ? v.Select(x => (int)x).ToArray() : Enumerable.Repeat(fill, spatial).ToArray();
                        return new GramBuilder
                        {
                            NodeName = node.Name, InputName = node.Inputs[0], FanIn = w.Length / w.Shape[0], Groups = group,
                            ChannelsPerGroup = w.Shape[0] / group, IsConv = true,
                            Kernel = w.Shape.Skip(2).ToArray(), Strides = Ints("strides", 1), Dilations = Ints("dilations", 1),
                            Pads = node.GetInts("pads") is { Length: > 0 } p ? p.Select(x => (int)x).ToArray() : new int[2 * spatial],
                            AutoPad = node.GetString("auto_pad", "NOTSET"),
                        };
                    }
                case "Gemm" when w.Rank == 2 && node.GetInt("transA", 0) == 0:
                    return new GramBuilder { NodeName = node.Name, InputName = node.Inputs[0], FanIn = w.Shape[node.GetInt("transB", 0) != 0 ? 1 : 0], Groups = 1, ChannelsPerGroup = int.MaxValue };
                case "MatMul" when w.Rank == 2:
                    return new GramBuilder { NodeName = node.Name, InputName = node.Inputs[0], FanIn = w.Shape[0], Groups = 1, ChannelsPerGroup = int.MaxValue };
                default:
                    return null;
            }
        }

        public void Add(Tensor x)
        {
            if (x.Type != DataType.Float) return;
            var data = x.Floats;
            _sums ??= Enumerable.Range(0, Groups).Select(_ => new double[Diagonal ? FanIn : FanIn * FanIn]).ToArray();
            var row = new double[FanIn];
            if (!IsConv)
            {
                if (data.Length % FanIn != 0) return;
                int rows = data.Length / FanIn;
                int step = Math.Max(1, rows / MaxPositionsPerSample);
                for (int i = 0; i < rows; i += step)
                {
                    for (int k = 0; k < FanIn; k++) row[k] = data[i * FanIn + k];
                    Accumulate(_sums[0], row);
                    _rows++;
                }
                return;
            }
            // NCHW (1-D convolutions as H = 1).
            bool twoD = Kernel.Length == 2;
            int batch = x.Shape[0], channels = x.Shape[1], height = twoD ? x.Shape[2] : 1, width = x.Shape[^1];
            int kh = twoD ? Kernel[0] : 1, kw = Kernel[^1];
            int sh = twoD ? Strides[0] : 1, sw = Strides[^1], dh = twoD ? Dilations[0] : 1, dw = Dilations[^1];
            int padTop = twoD ? Pads[0] : 0, padLeft = twoD ? Pads[1] : Pads[0];
            int padBottom = twoD ? Pads[2] : 0, padRight = twoD ? Pads[3] : Pads[1];
            if (AutoPad is "SAME_UPPER" or "SAME_LOWER")
            {
                (padTop, padBottom) = SamePads(height, kh, sh, dh, AutoPad == "SAME_UPPER");
                (padLeft, padRight) = SamePads(width, kw, sw, dw, AutoPad == "SAME_UPPER");
            }
            else if (AutoPad == "VALID") padTop = padLeft = padBottom = padRight = 0;
            int outH = (height + padTop + padBottom - (dh * (kh - 1) + 1)) / sh + 1;
            int outW = (width + padLeft + padRight - (dw * (kw - 1) + 1)) / sw + 1;
            int icPerGroup = channels / Groups;
            if (icPerGroup * kh * kw != FanIn || outH < 1 || outW < 1) return;
            int positions = outH * outW;
            int stride = Math.Max(1, positions / MaxPositionsPerSample);
            for (int n = 0; n < batch; n++)
                for (int p = 0; p < positions; p += stride)
                {
                    int oy = p / outW, ox = p % outW;
                    for (int g = 0; g < Groups; g++)
                    {
                        int k = 0;
                        for (int ic = 0; ic < icPerGroup; ic++)
                        {
                            int plane = (n * channels + g * icPerGroup + ic) * height * width;
                            for (int ky = 0; ky < kh; ky++)
                            {
                                int iy = oy * sh - padTop + ky * dh;
                                for (int kx = 0; kx < kw; kx++, k++)
                                {
                                    int ix = ox * sw - padLeft + kx * dw;
                                    row[k] = iy < 0 || iy >= height || ix < 0 || ix >= width ? 0 : data[plane + iy * width + ix];
                                }
                            }
                        }
                        Accumulate(_sums[g], row);
                    }
                    _rows++;
                }
        }

        private static (int Begin, int End) SamePads(int input, int kernel, int stride, int dilation, bool upper)
        {
            int output = (input + stride - 1) / stride;
            int total = Math.Max(0, (output - 1) * stride + (kernel - 1) * dilation + 1 - input);
            int small = total / 2, big = total - small;
            return upper ? (small, big) : (big, small);
        }

        private void Accumulate(double[] sum, double[] row)
        {
            if (Diagonal)
            {
                for (int k = 0; k < row.Length; k++) sum[k] += row[k] * row[k];
                return;
            }
            for (int i = 0; i < row.Length; i++)
            {
                double xi = row[i];
                if (xi == 0) continue;
                int offset = i * row.Length;
                for (int k = 0; k < row.Length; k++) sum[offset + k] += xi * row[k];
            }
        }

        public LayerGram? Build()
        {
            if (_sums is null || _rows == 0) return null;
            foreach (var s in _sums)
                for (int i = 0; i < s.Length; i++) s[i] /= _rows;
            return new LayerGram(FanIn, ChannelsPerGroup, _sums, Diagonal);
        }
    }
}
