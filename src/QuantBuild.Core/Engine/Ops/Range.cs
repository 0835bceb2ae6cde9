using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>Range: start, start+delta, ... below limit (above it for a negative delta); max(ceil((limit-start)/delta), 0) elements of the inputs' type.</summary>
[OnnxOp("Range")]
public sealed class RangeKernel : OpKernel
{
    public RangeKernel(Node node, KernelContext context) : base(node, context) { }

    public override bool IsDifferentiable => false;

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var start = inputs[0]!;
        var limit = inputs[1]!;
        var delta = inputs[2]!;
        switch (start.Type)
        {
            case DataType.Float:
            {
                float s = start.Floats[0], l = limit.Floats[0], d = delta.Floats[0];
                int n = Count(Math.Ceiling(((double)l - s) / d), DataType.Float);
                var v = new float[n];
                for (int i = 0; i < n; i++) v[i] = s + i * d;
                return new[] { Tensor.FromFloats(v, n) };
            }
            case DataType.Double:
            {
                double s = start.Doubles[0], l = limit.Doubles[0], d = delta.Doubles[0];
                int n = Count(Math.Ceiling((l - s) / d), DataType.Double);
                var v = new double[n];
                for (int i = 0; i < n; i++) v[i] = s + i * d;
                return new[] { new Tensor(DataType.Double, new[] { n }, v) };
            }
            case DataType.Int16 or DataType.Int32 or DataType.Int64:
            {
                long s = start.ToInt64Array()[0], l = limit.ToInt64Array()[0], d = delta.ToInt64Array()[0];
                if (d == 0) throw Node.Error(DiagnosticCodes.InvalidInputValue, "delta may not be 0");
                int n = Count(Math.Ceiling(((double)l - s) / d), start.Type);
                var y = Tensor.Create(start.Type, new[] { n });
                for (int i = 0; i < n; i++)
                {
                    long v = s + i * d;
                    switch (y.Data)
                    {
                        case long[] a: a[i] = v; break;
                        case int[] a: a[i] = (int)v; break;
                        case short[] a: a[i] = (short)v; break;
                    }
                }
                return new[] { y };
            }
            default:
                throw Node.Error(DiagnosticCodes.UnsupportedDataType, $"Range of {DataTypes.Name(start.Type)} is not supported");
        }
    }

    private int Count(double n, DataType type)
    {
        if (double.IsNaN(n) || double.IsInfinity(n)) throw Node.Error(DiagnosticCodes.InvalidInputValue, "the range has no finite length");
        // Clamped before the cast: a double beyond the long range does not convert to a meaningful count.
        long count = (long)Math.Clamp(n, 0, (double)long.MaxValue / 2);
        return ShapeOpHelpers.CheckedOutputShape(type, [count])[0];
    }
}
