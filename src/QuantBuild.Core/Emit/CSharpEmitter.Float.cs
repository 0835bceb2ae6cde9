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
    /// Packed data as base64 string literals up to this many bytes per class: the compiler reads one string
    /// token far faster than millions of byte literals, but every string goes to the assembly's user-string
    /// heap (16 MB, UTF-16), so a class with more data falls back to byte-array literals.
    /// </summary>
    private const long Base64DataLimit = 4 << 20;

    /// <summary>
    /// Binary bytes a datum takes in generated code: packed float-step data as packed, everything else (weights,
    /// scales, biases, tables, int8 constants) at its element size. The report's storedConstants counts this.
    /// </summary>
    public static long StoredBytes(PlanData d) =>
        IsPacked(d) ? (d.Values is float[] f ? ConstantDataEncoding.Encode(f) : ConstantDataEncoding.Encode((int[])d.Values)).Length : d.ByteLength;

    private static bool IsPacked(PlanData d) => d.Role == PlanDataRole.FloatStep && d.Values is float[] or int[];

    private static void EmitPackedData(CodeWriter w, PlanData d, byte[] packed, bool base64)
    {
        var decode = d.Values is float[] ? "ConstantData.DecodeFloats" : "ConstantData.DecodeInts";
        var type = d.Values is float[] ? "float" : "int";
        w.Line($"// {Comment(d.Description)}: {d.Values.Length} {type} values, packed to {packed.Length} bytes{(base64 ? ", base64" : "")}.");
        if (base64)
        {
            w.Line($"private static readonly {type}[] {d.Name} = {decode}(Convert.FromBase64String(");
            var text = Convert.ToBase64String(packed);
            const int lineLength = 4 * BytesPerLine * 4;
            for (int i = 0; i < text.Length; i += lineLength)
                w.Line($"    \"{text.Substring(i, Math.Min(lineLength, text.Length - i))}\"{(i + lineLength < text.Length ? " +" : "")}");
            if (text.Length == 0) w.Line("    \"\"");
            w.Line("));");
        }
        else
        {
            w.Line($"private static readonly {type}[] {d.Name} = {decode}(new byte[] {{");
            Bytes(w, packed);
            w.Line("});");
        }
    }
}
