using System.Globalization;
using QuantBuild.Diagnostics;
using QuantBuild.Lowering;

namespace QuantBuild.Emit;

/// <summary>
/// Float steps in generated code: int8 inputs are dequantized into the float scratch region after the
/// arena, the Runtime float kernels (constructed with every attribute as a literal) run, and int8 outputs
/// are quantized back. Weights and constants of float nodes stay float32, stored as little-endian bytes.
/// </summary>
public static partial class CSharpEmitter
{
    /// <summary>One float[] of generated static data: a constructor argument or a constant operand.</summary>
    private sealed record FloatDataField(string Name, float[] Values, string What);

    private static List<FloatDataField> FloatData(IntegerPlan plan, Dictionary<FloatStep, FloatStepExecution> floatSteps)
    {
        var fields = new List<FloatDataField>();
        for (int s = 0; s < plan.Steps.Count; s++)
        {
            if (plan.Steps[s] is not FloatStep fs) continue;
            var calls = floatSteps[fs].Calls;
            for (int c = 0; c < calls.Count; c++)
            {
                for (int k = 0; k < calls[c].Arguments.Length; k++)
                    if (calls[c].Arguments[k] is float[] values)
                        fields.Add(new FloatDataField(DataName(s, c, k), values, $"{fs.OpType} '{fs.NodeName}' argument {k} of {calls[c].KernelType.Name}"));
                for (int k = 0; k < calls[c].Inputs.Count; k++)
                    if (calls[c].Inputs[k]?.Constant is float[] constant)
                        fields.Add(new FloatDataField(OperandName(s, c, k), constant, $"{fs.OpType} '{fs.NodeName}' constant input {k}"));
            }
        }
        return fields;
    }

    private static string DataName(int step, int call, int argument) => $"FloatData{step}_{call}_{argument}";

    private static string OperandName(int step, int call, int input) => $"FloatOperand{step}_{call}_{input}";

    /// <summary>A constructor argument as C#: literals for scalars and short tables, a static field for float data.</summary>
    private static string Argument(object value, List<FloatDataField> data, int step, int call, int index) => value switch
    {
        int i => i.ToString(CultureInfo.InvariantCulture),
        float f => F(f),
        bool b => b ? "true" : "false",
        Enum e => $"{e.GetType().Name}.{e}",
        int[] ints => Ints(ints),
        bool[] flags => $"new bool[] {{ {string.Join(", ", flags.Select(f => f ? "true" : "false"))} }}",
        float[] => DataName(step, call, index),
        _ => throw new QuantBuildException(DiagnosticCodes.InternalError, $"no C# literal for a {value.GetType().Name} kernel argument"),
    };

    private static void EmitFloatStep(CodeWriter w, int s, FloatStepExecution execution, List<FloatDataField> data)
    {
        var step = execution.Step;
        w.Line($"// float {Comment(step.OpType)} '{Comment(step.NodeName)}' ({Comment(step.Reason)})");
        string View(PlanTensor t) => $"Floats({execution.FloatOffset(t)}, {t.Length})";
        foreach (var t in step.Inputs.Where(t => t.Type == PlanElementType.Int8))
            w.Line($"QuantParams.DequantizeLinear({Span(t)}, {View(t)}, {F(t.Quant.Scale)}, {t.Quant.ZeroPoint});");
        for (int c = 0; c < execution.Calls.Count; c++)
        {
            var call = execution.Calls[c];
            string Operand(int k)
            {
                var o = k < call.Inputs.Count ? call.Inputs[k] : null;
                if (o is null) return "ReadOnlySpan<float>.Empty";
                return o.Constant is not null ? OperandName(s, c, k) : View(o.Tensor!);
            }
            w.Line($"step{s}_{c}.Eval({Operand(0)}, {Operand(1)}, {Operand(2)}, {View(call.Output)});");
        }
        foreach (var t in step.Outputs.Where(t => t.Type == PlanElementType.Int8))
            w.Line($"QuantParams.QuantizeLinear({View(t)}, {Span(t)}, {F(t.Quant.Scale)}, {t.Quant.ZeroPoint});");
    }

    /// <summary>
    /// Float data as base64 string literals up to this many bytes per class: the compiler reads one string
    /// token far faster than millions of byte literals, but every string goes to the assembly's user-string
    /// heap (16 MB, UTF-16), so a class with more float data falls back to byte-array literals.
    /// </summary>
    private const long Base64DataLimit = 4 << 20;

    private static void EmitFloatData(CodeWriter w, List<FloatDataField> data)
    {
        if (data.Count == 0) return;
        bool base64 = data.Sum(d => 4L * d.Values.Length) <= Base64DataLimit;
        foreach (var field in data)
        {
            var bytes = new byte[field.Values.Length * 4];
            for (int i = 0; i < field.Values.Length; i++)
                System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), field.Values[i]);
            w.Line();
            w.Line($"// {Comment(field.What)}: {field.Values.Length} float32 values, little-endian{(base64 ? ", base64" : " bytes")}.");
            if (base64)
            {
                w.Line($"private static readonly float[] {field.Name} = FloatsFromBytes(Convert.FromBase64String(");
                var text = Convert.ToBase64String(bytes);
                const int lineLength = 4 * BytesPerLine * 4;
                for (int i = 0; i < text.Length; i += lineLength)
                    w.Line($"    \"{text.Substring(i, Math.Min(lineLength, text.Length - i))}\"{(i + lineLength < text.Length ? " +" : "")}");
                if (text.Length == 0) w.Line("    \"\"");
                w.Line("));");
            }
            else
            {
                w.Line($"private static readonly float[] {field.Name} = FloatsFromBytes(new byte[] {{");
                Bytes(w, bytes);
                w.Line("});");
            }
        }
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
