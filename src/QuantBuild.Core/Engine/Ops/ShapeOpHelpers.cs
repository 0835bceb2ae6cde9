using QuantBuild.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Shared machinery of the layout operators (Transpose, Slice, Pad, Tile, Expand, nearest Resize...).
/// Most of them are a "separable gather": every output coordinate o_d maps, independently per axis,
/// to an offset contribution in the source, so dst[o] = src[Σ_d offsets[d][o_d]]. One routine then
/// serves every dtype (it moves bits, sized 1/2/4/8 bytes) and its transpose is a scatter-add for the
/// float gradient.
/// </summary>
internal static class ShapeOpHelpers
{
    /// <summary>Marks an output position that reads no source element (padding, extrapolation): it gets the fill value.</summary>
    public const int Outside = int.MinValue;

    /// <summary>Below this many output elements a parallel loop costs more than it saves.</summary>
    private const int ParallelThreshold = 1 << 15;

    public static int NormalizeAxis(Node node, long axis, int rank, bool allowEnd = false)
    {
        // allowEnd: axes that may name the position after the last axis (Flatten): still [-rank, rank].
        int limit = allowEnd ? rank + 1 : rank;
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= limit)
            throw node.Error(DiagnosticCodes.InvalidAttribute, $"axis {axis} is out of range for a rank-{rank} tensor");
        return (int)a;
    }

    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int s = 1;
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            strides[d] = s;
            s *= shape[d];
        }
        return strides;
    }

    public static int Product(ReadOnlySpan<int> shape, int from = 0, int to = -1)
    {
        if (to < 0) to = shape.Length;
        int p = 1;
        for (int d = from; d < to; d++) p *= shape[d];
        return p;
    }

    public static int CheckedDim(Node node, long value)
    {
        if (value < 0)
            throw node.Error(DiagnosticCodes.ShapeMismatch, $"dimension {value} is out of range");
        if (value > int.MaxValue)
            throw node.Error(DiagnosticCodes.TensorTooLarge, $"dimension {value} does not fit 32 bits");
        return (int)value;
    }

    /// <summary>
    /// The output shape of a layout operator from model-controlled sizes (pads, repeats, a target shape),
    /// refused (QB2009) when a dimension leaves 32 bits or the tensor exceeds <see cref="TensorLimits"/>.
    /// Called before the per-axis offset tables are built: they are as long as the dimensions.
    /// </summary>
    public static int[] CheckedOutputShape(DataType type, ReadOnlySpan<long> dims)
    {
        TensorLimits.CheckedElementCount(type, dims, "output");
        var shape = new int[dims.Length];
        for (int d = 0; d < shape.Length; d++) shape[d] = (int)dims[d];
        return shape;
    }

    /// <inheritdoc cref="CheckedOutputShape(DataType, ReadOnlySpan{long})"/>
    public static int[] CheckedOutputShape(DataType type, int[] shape)
    {
        TensorLimits.CheckedElementCount(type, shape, "output");
        return shape;
    }

    /// <summary>An integer vector from input <paramref name="index"/> (opset-new style) or attribute <paramref name="name"/> (old style).</summary>
    public static long[]? IntsFromInputOrAttribute(Node node, Tensor?[] inputs, int index, string name, bool fromInput)
    {
        if (!fromInput) return node.GetInts(name);
        return index < inputs.Length && inputs[index] is { } t ? t.ToInt64Array() : null;
    }

    /// <summary>Numpy-style (multidirectional) broadcast of several shapes.</summary>
    public static int[] BroadcastShape(Node node, params int[][] shapes)
    {
        int rank = shapes.Max(s => s.Length);
        var result = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            int dim = 1;
            foreach (var s in shapes)
            {
                int k = d - (rank - s.Length);
                if (k < 0) continue;
                int v = s[k];
                if (v == dim || v == 1) continue;
                if (dim == 1) { dim = v; continue; }
                throw node.Error(DiagnosticCodes.ShapeMismatch,
                    $"shapes {string.Join(" and ", shapes.Select(x => "[" + string.Join(",", x) + "]"))} cannot be broadcast together");
            }
            result[d] = dim;
        }
        return result;
    }

    /// <summary>A tensor materialized at a broadcast shape (itself when the shape already matches): elementwise ops on non-float types and Where.</summary>
    public static Tensor BroadcastTo(Tensor t, int[] shape, ParallelOptions parallel) =>
        Tensor.SameShape(t.Shape, shape) ? t : SeparableGather(t, BroadcastOffsets(t.Shape, shape), shape, parallel);

    /// <summary>Offset tables reading a tensor of <paramref name="inShape"/> broadcast to <paramref name="outShape"/> (right-aligned).</summary>
    public static int[][] BroadcastOffsets(int[] inShape, int[] outShape)
    {
        var strides = Strides(inShape);
        var tables = new int[outShape.Length][];
        int lead = outShape.Length - inShape.Length;
        for (int d = 0; d < outShape.Length; d++)
        {
            var t = new int[outShape[d]];
            int k = d - lead;
            if (k >= 0 && inShape[k] != 1)
                for (int i = 0; i < t.Length; i++) t[i] = i * strides[k];
            tables[d] = t;
        }
        return tables;
    }

    /// <summary>Offset tables of an axis permutation: output axis d walks input axis perm[d].</summary>
    public static int[][] PermutationOffsets(int[] inShape, int[] perm)
    {
        var strides = Strides(inShape);
        var tables = new int[perm.Length][];
        for (int d = 0; d < perm.Length; d++)
        {
            var t = new int[inShape[perm[d]]];
            for (int i = 0; i < t.Length; i++) t[i] = i * strides[perm[d]];
            tables[d] = t;
        }
        return tables;
    }

    /// <summary>Sums a gradient of the broadcast shape back down to the shape the input had before broadcasting.</summary>
    public static Tensor ReduceToShape(Tensor grad, int[] inShape)
    {
        if (Tensor.SameShape(grad.Shape, inShape)) return grad;
        var result = new float[Product(inShape)];
        SeparableScatterAdd(grad.Floats, BroadcastOffsets(inShape, grad.Shape), grad.Shape, result);
        return Tensor.FromFloats(result, inShape);
    }

    /// <summary>
    /// dst[o] = src[Σ_d offsets[d][o_d]], or <paramref name="fill"/> (a one-element array of the
    /// tensor's element type, or null for zero) where any table holds <see cref="Outside"/>.
    /// Runs of consecutive source offsets on the last axis move as block copies.
    /// </summary>
    public static Tensor SeparableGather(Tensor src, int[][] offsets, int[] outShape, ParallelOptions parallel, Array? fill = null)
    {
        var dst = Tensor.Create(src.Type, outShape);
        if (dst.Length == 0) return dst;
        switch (ElementSize(src))
        {
            case 1: GatherCore<byte>(src.Data, dst.Data, offsets, outShape, parallel, fill); break;
            case 2: GatherCore<ushort>(src.Data, dst.Data, offsets, outShape, parallel, fill); break;
            case 4: GatherCore<uint>(src.Data, dst.Data, offsets, outShape, parallel, fill); break;
            default: GatherCore<ulong>(src.Data, dst.Data, offsets, outShape, parallel, fill); break;
        }
        return dst;
    }

    /// <summary>The transpose of <see cref="SeparableGather"/> for float gradients: gradIn[Σ offsets] += gradOut[o]. Sequential, so sums are deterministic.</summary>
    public static void SeparableScatterAdd(float[] gradOut, int[][] offsets, int[] outShape, float[] gradIn)
    {
        int rank = outShape.Length;
        if (gradOut.Length == 0) return;
        if (rank == 0) { gradIn[0] += gradOut[0]; return; }
        int inner = outShape[rank - 1];
        int rows = gradOut.Length / Math.Max(1, inner);
        var index = new int[rank];
        var last = offsets[rank - 1];
        for (int r = 0; r < rows; r++)
        {
            int rem = r, baseOffset = 0;
            bool outside = false;
            for (int d = rank - 2; d >= 0; d--)
            {
                int i = rem % outShape[d];
                rem /= outShape[d];
                int o = offsets[d][i];
                if (o == Outside) { outside = true; break; }
                baseOffset += o;
            }
            if (outside) continue;
            int start = r * inner;
            for (int k = 0; k < inner; k++)
            {
                int o = last[k];
                if (o != Outside) gradIn[baseOffset + o] += gradOut[start + k];
            }
        }
    }

    private static int ElementSize(Tensor t) => t.Type switch
    {
        DataType.String => throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, "string tensors are not supported by layout operators"),
        _ => DataTypes.SizeInBytes(t.Type),
    };

    /// <summary>The buffer of any unmanaged-element array as elements of a same-sized type (bits moved, never converted).</summary>
    public static Span<T> Raw<T>(Array a) where T : unmanaged =>
        MemoryMarshal.CreateSpan(ref Unsafe.As<byte, T>(ref MemoryMarshal.GetArrayDataReference(a)), a.Length);

    private static void GatherCore<T>(Array srcArray, Array dstArray, int[][] offsets, int[] outShape, ParallelOptions parallel, Array? fillArray) where T : unmanaged
    {
        T fill = fillArray is null ? default : Raw<T>(fillArray)[0];
        int rank = outShape.Length;
        if (rank == 0)
        {
            Raw<T>(dstArray)[0] = Raw<T>(srcArray)[0];
            return;
        }
        int inner = outShape[rank - 1];
        int rows = dstArray.Length / inner;
        var last = offsets[rank - 1];
        bool contiguous = true;
        for (int k = 0; k < inner; k++)
            if (last[k] == Outside || last[k] != last[0] + k) { contiguous = false; break; }

        void Rows(int from, int to)
        {
            var src = Raw<T>(srcArray);
            var dst = Raw<T>(dstArray);
            for (int r = from; r < to; r++)
            {
                int rem = r, baseOffset = 0;
                bool outside = false;
                for (int d = rank - 2; d >= 0; d--)
                {
                    int i = rem % outShape[d];
                    rem /= outShape[d];
                    int o = offsets[d][i];
                    if (o == Outside) { outside = true; break; }
                    baseOffset += o;
                }
                var row = dst.Slice(r * inner, inner);
                if (outside) { row.Fill(fill); continue; }
                if (contiguous) { src.Slice(baseOffset + last[0], inner).CopyTo(row); continue; }
                for (int k = 0; k < inner; k++)
                {
                    int o = last[k];
                    row[k] = o == Outside ? fill : src[baseOffset + o];
                }
            }
        }

        if (dstArray.Length < ParallelThreshold || rows == 1)
        {
            Rows(0, rows);
            return;
        }
        int chunk = Math.Max(1, ParallelThreshold / Math.Max(1, inner));
        int chunks = (rows + chunk - 1) / chunk;
        Parallel.For(0, chunks, parallel, c => Rows(c * chunk, Math.Min(rows, (c + 1) * chunk)));
    }

    /// <summary>A one-element array of <paramref name="type"/> holding <paramref name="value"/> (pad and extrapolation fill).</summary>
    public static Array FillValue(DataType type, double value)
    {
        var a = Array.CreateInstance(DataTypes.ClrType(type), 1);
        object boxed = type switch
        {
            DataType.Float => (float)value,
            DataType.Double => value,
            DataType.Float16 => (Half)value,
            DataType.Int8 => (sbyte)value,
            DataType.UInt8 => (byte)value,
            DataType.Int16 => (short)value,
            DataType.UInt16 => (ushort)value,
            DataType.Int32 => (int)value,
            DataType.UInt32 => (uint)value,
            DataType.Int64 => (long)value,
            DataType.UInt64 => (ulong)value,
            DataType.Bool => value != 0,
            _ => throw new QuantBuildException(DiagnosticCodes.UnsupportedDataType, $"no fill value for {DataTypes.Name(type)}"),
        };
        a.SetValue(boxed, 0);
        return a;
    }

    /// <summary>The gradient for output <paramref name="k"/>, or zeros of <paramref name="shape"/> when it does not reach the loss.</summary>
    public static Tensor GradOrZero(in BackwardArgs args, int k, int[] shape) =>
        args.OutputGrads[k] ?? Tensor.Create(DataType.Float, shape);

    public static string ShapeText(ReadOnlySpan<int> shape) => "[" + string.Join(",", shape.ToArray()) + "]";
}
