using QuantBuild.Lowering;

namespace QuantBuild.Emit;

/// <summary>
/// Data of float steps in generated code (weights, constants and index tables of the nodes that run in
/// float): 32-bit elements packed by <see cref="ConstantDataEncoding"/> (a run of one value costs a few
/// bytes), stored as base64 text up to a limit, and decoded once by the runtime's ConstantData when the
/// class is first used.
/// </summary>
public static partial class CSharpEmitter
{
    /// <summary>
    /// Bytes of data a class stores as base64 string literals: every string goes to the assembly's
    /// user-string heap (16 MB of UTF-16), so past this the rest are byte-array literals.
    /// </summary>
    private const long Base64DataLimit = 4 << 20;

    /// <summary>
    /// Binary bytes a datum takes in generated code: packed float-step data as packed, everything else (weights,
    /// scales, biases, tables, int8 constants) at its element size. The report's storedConstants counts this.
    /// </summary>
    public static long StoredBytes(PlanData d) => IsPacked(d) ? StoredForm(d)!.Length : d.ByteLength;

    /// <summary>The bytes a datum is written as when it is written as bytes: packed float-step data, or byte data as is; null for the rest (literal lists).</summary>
    private static byte[]? StoredForm(PlanData d) =>
        IsPacked(d) ? (d.Values is float[] f ? ConstantDataEncoding.Encode(f) : ConstantDataEncoding.Encode((int[])d.Values))
        : d.Values is byte[] b ? b : d.Values is sbyte[] sb ? (byte[])(Array)sb : null;

    private static bool IsPacked(PlanData d) => d.Role == PlanDataRole.FloatStep && d.Values is float[] or int[];
}
