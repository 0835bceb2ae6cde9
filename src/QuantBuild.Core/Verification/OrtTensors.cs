using Microsoft.ML.OnnxRuntime;
using QuantBuild.Tensors;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;

namespace QuantBuild.Verification;

/// <summary>
/// Our tensors to and from ONNX Runtime's values (Microsoft.ML.OnnxRuntime): the one conversion build-time verification
/// and the test oracle (tests/QuantBuild.Oracle) share. Element types outside the list are refused with
/// <see cref="NotSupportedException"/>, which callers turn into their own diagnostics.
/// </summary>
public static class OrtTensors
{
    /// <summary>An ORT value over the tensor's own array (no copy): dispose it before the tensor goes away.</summary>
    public static OrtValue ToOrtValue(Tensor t)
    {
        long[] shape = t.Shape.ToArray().Select(d => (long)d).ToArray();
        return t.Type switch
        {
            DataType.Float => OrtValue.CreateTensorValueFromMemory(t.Floats, shape),
            DataType.Int64 => OrtValue.CreateTensorValueFromMemory(t.Int64s, shape),
            DataType.Int32 => OrtValue.CreateTensorValueFromMemory(t.Int32s, shape),
            DataType.Int8 => OrtValue.CreateTensorValueFromMemory(t.Int8s, shape),
            DataType.UInt8 => OrtValue.CreateTensorValueFromMemory(t.UInt8s, shape),
            DataType.Bool => OrtValue.CreateTensorValueFromMemory(t.Bools, shape),
            DataType.Double => OrtValue.CreateTensorValueFromMemory(t.Doubles, shape),
            _ => throw new NotSupportedException($"a {DataTypes.Name(t.Type)} tensor cannot be fed to ONNX Runtime here"),
        };
    }

    /// <summary>A copy of an ORT output as our tensor.</summary>
    public static Tensor FromOrtValue(OrtValue value, string name)
    {
        var info = value.GetTensorTypeAndShape();
        int[] shape = info.Shape.Select(d => checked((int)d)).ToArray();
        return info.ElementDataType switch
        {
            TensorElementType.Float => new Tensor(DataType.Float, shape, value.GetTensorDataAsSpan<float>().ToArray()),
            TensorElementType.Int64 => new Tensor(DataType.Int64, shape, value.GetTensorDataAsSpan<long>().ToArray()),
            TensorElementType.Int32 => new Tensor(DataType.Int32, shape, value.GetTensorDataAsSpan<int>().ToArray()),
            TensorElementType.Int8 => new Tensor(DataType.Int8, shape, value.GetTensorDataAsSpan<sbyte>().ToArray()),
            TensorElementType.UInt8 => new Tensor(DataType.UInt8, shape, value.GetTensorDataAsSpan<byte>().ToArray()),
            TensorElementType.Bool => new Tensor(DataType.Bool, shape, value.GetTensorDataAsSpan<bool>().ToArray()),
            TensorElementType.Double => new Tensor(DataType.Double, shape, value.GetTensorDataAsSpan<double>().ToArray()),
            var other => throw new NotSupportedException($"ONNX Runtime output '{name}' has element type {other}, which is not read here"),
        };
    }
}
