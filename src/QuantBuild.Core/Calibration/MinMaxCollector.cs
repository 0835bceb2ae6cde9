namespace QuantBuild.Calibration;

/// <summary>Running minimum and maximum: the full observed range, never clipping.</summary>
public sealed class MinMaxCollector : IRangeCollector
{
    private float _min = float.PositiveInfinity, _max = float.NegativeInfinity;

    public void Observe(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
        {
            if (!float.IsFinite(v)) throw new ArgumentException("calibration data holds NaN or infinity", nameof(values));
            if (v < _min) _min = v;
            if (v > _max) _max = v;
        }
    }

    public ActivationRange ComputeRange() => float.IsInfinity(_min) ? new(0, 0) : new(_min, _max);
}
