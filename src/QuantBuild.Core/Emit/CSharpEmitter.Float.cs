using QuantBuild.Lowering;

namespace QuantBuild.Emit;

/// <summary>
/// Float32 data of float steps in generated code: weights and constants of the nodes that run in float,
/// stored as little-endian bytes (base64 text up to a limit) and decoded once when the class is first used.
/// </summary>
public static partial class CSharpEmitter
{
    /// <summary>
    /// Float data as base64 string literals up to this many bytes per class: the compiler reads one string
    /// token far faster than millions of byte literals, but every string goes to the assembly's user-string
    /// heap (16 MB, UTF-16), so a class with more float data falls back to byte-array literals.
    /// </summary>
    private const long Base64DataLimit = 4 << 20;

    private static void EmitFloatData(CodeWriter w, PlanData d, float[] values, bool base64)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        w.Line($"// {Comment(d.Description)}: {values.Length} float32 values, little-endian{(base64 ? ", base64" : " bytes")}.");
        if (base64)
        {
            w.Line($"private static readonly float[] {d.Name} = FloatsFromBytes(Convert.FromBase64String(");
            var text = Convert.ToBase64String(bytes);
            const int lineLength = 4 * BytesPerLine * 4;
            for (int i = 0; i < text.Length; i += lineLength)
                w.Line($"    \"{text.Substring(i, Math.Min(lineLength, text.Length - i))}\"{(i + lineLength < text.Length ? " +" : "")}");
            if (text.Length == 0) w.Line("    \"\"");
            w.Line("));");
        }
        else
        {
            w.Line($"private static readonly float[] {d.Name} = FloatsFromBytes(new byte[] {{");
            Bytes(w, bytes);
            w.Line("});");
        }
    }

    private static void EmitFloatDecoder(CodeWriter w)
    {
        w.Line();
        w.Line("private static float[] FloatsFromBytes(byte[] bytes)");
        w.Line("{");
        w.Line("    float[] values = new float[bytes.Length / 4];");
        w.Line("    for (int i = 0; i < values.Length; i++) values[i] = BitConverter.ToSingle(BitConverter.IsLittleEndian ? bytes : Reverse(bytes, i * 4), BitConverter.IsLittleEndian ? i * 4 : 0);");
        w.Line("    return values;");
        w.Line("}");
        w.Line();
        w.Line("private static byte[] Reverse(byte[] bytes, int offset)");
        w.Line("{");
        w.Line("    return new byte[] { bytes[offset + 3], bytes[offset + 2], bytes[offset + 1], bytes[offset] };");
        w.Line("}");
    }
}
