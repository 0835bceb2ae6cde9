using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Quantization.Eptq;

/// <summary>
/// The trainable state of one layer under EPTQ (docs/algorithms/eptq.md, "Soft rounding" and "Optimization loop"): per weight a rounding
/// variable V (code = floor(W/Δ) + h(V), clamped to the restricted grid), per output channel a step-size
/// multiplier σ (scale = σ·Δ), and the layer's float bias. Starts exactly at nearest rounding.
/// </summary>
internal sealed class EptqLayer
{
    private readonly float[] _weights;
    private readonly double[] _delta;
    private readonly double[] _floor;
    private readonly int _inner, _axisLength, _qmax;
    private readonly bool _perChannel;
    private readonly AdamState _adamV, _adamSigma, _adamBias;

    public EptqLayer(Node node, WeightQuantization initial, float[] weights, string? biasName, float[]? bias, EptqSettingsView settings)
    {
        Node = node;
        Initial = initial;
        _weights = weights;
        BiasName = biasName;
        Bias = bias is null ? null : bias.Select(b => (double)b).ToArray();
        _qmax = (1 << (initial.Bits - 1)) - 1;
        _perChannel = initial.Scales.Length > 1;
        _inner = 1;
        for (int d = initial.Axis + 1; d < initial.Shape.Length; d++) _inner *= initial.Shape[d];
        _axisLength = initial.Shape.Length == 0 ? 1 : initial.Shape[initial.Axis];
        _delta = initial.Scales.Select(s => (double)s).ToArray();
        Sigma = Enumerable.Repeat(1.0, _delta.Length).ToArray();
        _floor = new double[weights.Length];
        V = new double[weights.Length];
        for (int i = 0; i < weights.Length; i++)
        {
            double x = Math.Clamp(weights[i] / _delta[Channel(i)], -_qmax, _qmax);
            _floor[i] = Math.Floor(x);
            V[i] = SoftRounding.InitialV(x - _floor[i]);
        }
        _adamV = new AdamState(V.Length, settings.LearningRate);
        _adamSigma = new AdamState(Sigma.Length, settings.ParameterLearningRate);
        _adamBias = new AdamState(Bias?.Length ?? 0, settings.ParameterLearningRate);
    }

    public Node Node { get; }
    public WeightQuantization Initial { get; }
    public string WeightName => Initial.WeightName;
    public string? BiasName { get; }
    public double[] V { get; }
    public double[] Sigma { get; }
    public double[]? Bias { get; }
    public int Count => V.Length;

    private int Channel(int i) => _perChannel ? i / _inner % _axisLength : 0;

    /// <summary>The soft code floor(W/Δ) + h(V) before clamping.</summary>
    private double SoftCode(int i) => _floor[i] + SoftRounding.H(V[i]);

    /// <summary>Soft-rounded weights (training) or hard-rounded ones (<paramref name="hard"/>: h ≥ 0.5 rounds up).</summary>
    public Tensor Weights(bool hard)
    {
        var w = new float[_weights.Length];
        for (int i = 0; i < w.Length; i++)
        {
            int c = Channel(i);
            double code = hard ? HardCode(i) : Math.Clamp(SoftCode(i), -_qmax, _qmax);
            w[i] = (float)(Sigma[c] * _delta[c] * code);
        }
        return Tensor.FromFloats(w, Initial.Shape);
    }

    public Tensor? BiasTensor(int[] shape) => Bias is null ? null : Tensor.FromFloats(Bias.Select(b => (float)b).ToArray(), shape);

    private int HardCode(int i) => (int)Math.Clamp(_floor[i] + (SoftRounding.H(V[i]) >= 0.5 ? 1 : 0), -_qmax, _qmax);

    /// <summary>Mean rounding regularizer of the layer at exponent β (docs/algorithms/eptq.md, "Regularizer and annealing").</summary>
    public double Regularizer(double beta)
    {
        double sum = 0;
        foreach (var v in V) sum += SoftRounding.Regularizer(SoftRounding.H(v), beta);
        return Count == 0 ? 0 : sum / Count;
    }

    /// <summary>
    /// One optimizer step from dL/dW_q (and dL/dB) of the distillation loss plus λ·(mean regularizer).
    /// The clamp to the grid stops the gradient (a saturated weight keeps its V).
    /// </summary>
    public void Step(float[] weightGradient, float[]? biasGradient, double beta, double lambda, bool learnScales, bool learnBiases)
    {
        var gV = new double[V.Length];
        var gSigma = new double[Sigma.Length];
        double regScale = lambda / Math.Max(1, Count);
        for (int i = 0; i < V.Length; i++)
        {
            int c = Channel(i);
            double h = SoftRounding.H(V[i]);
            double code = _floor[i] + h;
            double dh = SoftRounding.DhDv(V[i]);
            double g = weightGradient[i];
            bool inside = code >= -_qmax && code <= _qmax;
            double dCode = inside ? g * Sigma[c] * _delta[c] : 0;
            gV[i] = (dCode + regScale * SoftRounding.RegularizerGradient(h, beta)) * dh;
            gSigma[c] += g * _delta[c] * Math.Clamp(code, -_qmax, _qmax);
        }
        _adamV.Step(V, gV);
        if (learnScales)
        {
            _adamSigma.Step(Sigma, gSigma);
            for (int c = 0; c < Sigma.Length; c++) Sigma[c] = Math.Max(Sigma[c], 1e-3);
        }
        if (learnBiases && Bias is not null && biasGradient is not null)
            _adamBias.Step(Bias, biasGradient.Select(x => (double)x).ToArray());
    }

    /// <summary>Hard-rounded codes with the learned step sizes, in the linear encoding the emitters read.</summary>
    public WeightQuantization Finalize()
    {
        var codes = new sbyte[_weights.Length];
        for (int i = 0; i < codes.Length; i++) codes[i] = (sbyte)HardCode(i);
        return new WeightQuantization
        {
            NodeName = Initial.NodeName,
            WeightName = Initial.WeightName,
            Shape = Initial.Shape,
            Axis = Initial.Axis,
            Bits = Initial.Bits,
            Codes = codes,
            Scales = _delta.Select((d, c) => (float)(d * Sigma[c])).ToArray(),
            Encoding = WeightEncoding.Linear,
            Method = EptqOptimizer.Method,
            Quantizer = EptqOptimizer.Quantizer,
        };
    }

    /// <summary>Share of weights whose rounding differs from nearest (for the report).</summary>
    public double FlippedFraction()
    {
        int flipped = 0;
        for (int i = 0; i < Count; i++)
            if (HardCode(i) != Initial.Codes[i]) flipped++;
        return Count == 0 ? 0 : (double)flipped / Count;
    }
}

/// <summary>The learning rates a layer needs (kept apart so tests can build layers without a sidecar).</summary>
internal readonly record struct EptqSettingsView(double LearningRate, double ParameterLearningRate);
