using System.Globalization;
using QuantBuild.Tensors;

namespace QuantBuild.Conformance;

/// <summary>
/// Compares an engine output with a reference: same type, same shape, then floating-point values
/// within |actual - expected| &lt;= atol + rtol * |expected| (NaN matches NaN, infinities must be equal)
/// and every other type exactly.
/// </summary>
public static class TensorComparison
{
    /// <returns>null when they match, else a one-line description of the first problem</returns>
    public static string? Compare(Tensor actual, Tensor expected, double rtol, double atol)
    {
        if (actual.Type != expected.Type)
            return $"type {DataTypes.Name(actual.Type)}, expected {DataTypes.Name(expected.Type)}";
        if (!Tensor.SameShape(actual.Shape, expected.Shape))
            return $"shape {actual.ShapeString}, expected {expected.ShapeString}";
        return DataTypes.IsFloatingPoint(expected.Type)
            ? CompareFloating(ToDoubles(actual), ToDoubles(expected), expected.Shape, rtol, atol)
            : CompareExact(actual.ToInt64Array(), expected.ToInt64Array(), expected.Shape);
    }

    private static double[] ToDoubles(Tensor t) => t.Data switch
    {
        float[] f => Array.ConvertAll(f, v => (double)v),
        double[] d => d,
        Half[] h => Array.ConvertAll(h, v => (double)v),
        _ => throw new ArgumentException($"{t} is not floating point"),
    };

    private static string? CompareFloating(double[] actual, double[] expected, int[] shape, double rtol, double atol)
    {
        int mismatches = 0, worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double a = actual[i], e = expected[i];
            if (a == e || double.IsNaN(a) && double.IsNaN(e)) continue;
            double tolerance = atol + rtol * Math.Abs(e);
            double diff = Math.Abs(a - e);
            // Unequal values with an infinity or a NaN among them never match (an infinite expected
            // value would otherwise make the tolerance infinite too).
            if (diff <= tolerance && double.IsFinite(a) && double.IsFinite(e)) continue;
            mismatches++;
            // Rank by how far outside the tolerance an element is; NaN/inf differences rank highest.
            double excess = double.IsFinite(diff) ? diff / tolerance : double.PositiveInfinity;
            if (worst < 0 || excess > worstExcess) { worst = i; worstExcess = excess; }
        }
        if (mismatches == 0) return null;
        double wa = actual[worst], we = expected[worst];
        return $"{mismatches} of {expected.Length} values differ; worst at {Index(worst, shape)}: got {F(wa)}, expected {F(we)} " +
               $"(|diff| {F(Math.Abs(wa - we))} > tol {F(atol + rtol * Math.Abs(we))})";
    }

    private static string? CompareExact(long[] actual, long[] expected, int[] shape)
    {
        int mismatches = 0, first = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            if (actual[i] == expected[i]) continue;
            mismatches++;
            if (first < 0) first = i;
        }
        if (mismatches == 0) return null;
        return $"{mismatches} of {expected.Length} values differ; first at {Index(first, shape)}: got {actual[first]}, expected {expected[first]}";
    }

    /// <summary>Flat offset as a row-major multi-index, e.g. [1,0,3].</summary>
    public static string Index(int flat, int[] shape)
    {
        if (shape.Length == 0) return "[]";
        var idx = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            idx[d] = flat % shape[d];
            flat /= shape[d];
        }
        return "[" + string.Join(",", idx) + "]";
    }

    private static string F(double v) => v.ToString("G7", CultureInfo.InvariantCulture);
}
