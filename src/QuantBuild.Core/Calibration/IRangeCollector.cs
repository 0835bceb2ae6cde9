namespace QuantBuild.Calibration;

/// <summary>A clipping range for one activation tensor.</summary>
public readonly record struct ActivationRange(float Min, float Max);

/// <summary>
/// Streams over one tensor's values across all calibration samples and proposes the range the
/// quantizer should represent. Memory must not depend on the number of samples.
/// </summary>
public interface IRangeCollector
{
    void Observe(ReadOnlySpan<float> values);
    ActivationRange ComputeRange();
}

public enum CalibrationMethod { MinMax, Percentile, Mse, Entropy }

public static class RangeCollectors
{
    public static IRangeCollector Create(CalibrationMethod method, double percentile = 99.999, int bits = 8) => method switch
    {
        CalibrationMethod.MinMax => new MinMaxCollector(),
        CalibrationMethod.Percentile => new PercentileCollector(percentile),
        CalibrationMethod.Mse => new MseCollector(bits),
        CalibrationMethod.Entropy => new EntropyCollector(bits: bits),
        _ => throw new ArgumentOutOfRangeException(nameof(method)),
    };
}
