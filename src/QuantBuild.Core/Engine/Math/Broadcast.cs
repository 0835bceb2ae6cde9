using System.Numerics;
using QuantBuild.Diagnostics;

namespace QuantBuild.Engine;

/// <summary>
/// Numpy-style (ONNX "multidirectional") broadcasting: shapes are right-aligned, a dimension of 1
/// stretches to the other side's size. Every loop here runs over a <see cref="BroadcastPlan"/>
/// that merges neighbouring dimensions with the same broadcast pattern, so the common cases
/// (same shape, scalar, per-channel [C,1,1] against NCHW, trailing vector) all become
/// "outer loop × one contiguous row", and the row is handed to a vectorized span routine.
/// </summary>
public static class Broadcast
{
    /// <summary>Below this many output elements a loop stays on the calling thread: scheduling costs more than it saves.</summary>
    public const int ParallelThreshold = 1 << 15;

    /// <summary>The broadcast result shape of <paramref name="a"/> and <paramref name="b"/>; throws QB2003 when they are incompatible.</summary>
    public static int[] Shape(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = System.Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da == db || db == 1) result[i] = da;
            else if (da == 1) result[i] = db;
            else
                throw new QuantBuildException(DiagnosticCodes.ShapeMismatch,
                    $"shapes [{string.Join(",", a.ToArray())}] and [{string.Join(",", b.ToArray())}] cannot be broadcast together (dimension {i}: {da} vs {db})");
        }
        return result;
    }

    /// <summary>The broadcast shape of several tensors (variadic Max, Min, Sum, Mean).</summary>
    public static int[] Shape(IEnumerable<int[]> shapes)
    {
        int[]? result = null;
        foreach (var s in shapes) result = result is null ? s : Shape(result, s);
        return result ?? Array.Empty<int>();
    }

    /// <summary>True when <paramref name="source"/> broadcasts to <paramref name="target"/> without changing it (unidirectional, as PRelu's slope).</summary>
    public static bool CanBroadcastTo(ReadOnlySpan<int> source, ReadOnlySpan<int> target)
    {
        if (source.Length > target.Length) return false;
        int offset = target.Length - source.Length;
        for (int i = 0; i < source.Length; i++)
            if (source[i] != 1 && source[i] != target[i + offset]) return false;
        return true;
    }

    /// <summary>out = op(a, b) with broadcasting; <paramref name="outShape"/> must be the broadcast shape.</summary>
    public static T[] Apply<T, TOp>(T[] a, int[] aShape, T[] b, int[] bShape, int[] outShape, ParallelOptions? parallel = null)
        where TOp : IBinaryOp<T>
    {
        int length = TensorLimits.CheckedElementCount<T>(outShape, "output");
        // Every element is written below, so a recycled float buffer is as good as a fresh one.
        var result = typeof(T) == typeof(float) ? (T[])(object)OutputBuffers.Floats(length) : new T[length];
        ApplyInto<T, TOp>(a, aShape, b, bShape, result, outShape, parallel);
        return result;
    }

    public static void ApplyInto<T, TOp>(T[] a, int[] aShape, T[] b, int[] bShape, T[] result, int[] outShape, ParallelOptions? parallel)
        where TOp : IBinaryOp<T>
    {
        if (result.Length == 0) return;
        var plan = BroadcastPlan.Create(outShape, aShape, bShape);
        int inner = plan.Inner;
        bool aRow = plan.InnerFull[0], bRow = plan.InnerFull[1];

        // Work is cut into pieces of whole rows, or into pieces of the row when there is a single
        // long row (the same-shape case); each output element is written by exactly one piece.
        long outer = plan.OuterCount;
        int rowsPerPiece, piecesPerRow, pieceLength;
        if (outer == 1)
        {
            rowsPerPiece = 1;
            pieceLength = System.Math.Max(ParallelThreshold / 2, 1);
            piecesPerRow = (inner + pieceLength - 1) / pieceLength;
        }
        else
        {
            rowsPerPiece = System.Math.Max(1, ParallelThreshold / 2 / System.Math.Max(inner, 1));
            piecesPerRow = 1;
            pieceLength = inner;
        }
        long pieces = outer == 1 ? piecesPerRow : (outer + rowsPerPiece - 1) / rowsPerPiece;

        void RunPiece(long piece)
        {
            if (outer == 1)
            {
                int start = (int)piece * pieceLength;
                int len = System.Math.Min(pieceLength, inner - start);
                Row<T, TOp>(a, aRow ? start : 0, aRow, b, bRow ? start : 0, bRow, result.AsSpan(start, len));
                return;
            }
            long first = piece * rowsPerPiece;
            long last = System.Math.Min(outer, first + rowsPerPiece);
            Span<int> index = stackalloc int[plan.OuterSizes.Length];
            plan.Decompose(first, index);
            for (long r = first; r < last; r++)
            {
                plan.Offsets(index, out int ao, out int bo);
                Row<T, TOp>(a, ao, aRow, b, bo, bRow, result.AsSpan((int)(r * inner), inner));
                plan.Increment(index);
            }
        }

        if (parallel is not null && result.Length >= ParallelThreshold && pieces > 1 && parallel.MaxDegreeOfParallelism != 1)
            Parallel.For(0L, pieces, parallel, RunPiece);
        else
            for (long p = 0; p < pieces; p++) RunPiece(p);
    }

    private static void Row<T, TOp>(T[] a, int ao, bool aRow, T[] b, int bo, bool bRow, Span<T> dest) where TOp : IBinaryOp<T>
    {
        int n = dest.Length;
        if (aRow && bRow) TOp.Invoke(a.AsSpan(ao, n), b.AsSpan(bo, n), dest);
        else if (aRow) TOp.Invoke(a.AsSpan(ao, n), b[bo], dest);
        else if (bRow) TOp.Invoke(a[ao], b.AsSpan(bo, n), dest);
        else dest.Fill(TOp.Invoke(a[ao], b[bo]));
    }

    /// <summary>Materializes <paramref name="source"/> broadcast to <paramref name="outShape"/> (backward passes, index maps).</summary>
    public static T[] Expand<T>(T[] source, int[] sourceShape, int[] outShape)
    {
        var result = new T[TensorLimits.CheckedElementCount<T>(outShape, "output")];
        if (result.Length == 0) return result;
        if (Tensor.ElementCount(sourceShape) == result.Length) { Array.Copy(source, result, result.Length); return result; }
        var plan = BroadcastPlan.Create(outShape, sourceShape, sourceShape);
        int inner = plan.Inner;
        Span<int> index = stackalloc int[plan.OuterSizes.Length];
        for (long r = 0; r < plan.OuterCount; r++)
        {
            plan.Offsets(index, out int so, out _);
            var dest = result.AsSpan((int)(r * inner), inner);
            if (plan.InnerFull[0]) source.AsSpan(so, inner).CopyTo(dest);
            else dest.Fill(source[so]);
            plan.Increment(index);
        }
        return result;
    }

    /// <summary>
    /// The gradient of a broadcast input: sums <paramref name="grad"/> (shaped like the broadcast
    /// output) over every axis along which <paramref name="targetShape"/> was stretched. Each
    /// target element sums its contributions in increasing source order on one thread, so the
    /// result does not depend on the thread count.
    /// </summary>
    public static float[] ReduceTo(float[] grad, int[] gradShape, int[] targetShape)
    {
        var result = new float[TensorLimits.CheckedElementCount(DataType.Float, targetShape, "output")];
        if (result.Length == grad.Length) { Array.Copy(grad, result, result.Length); return result; }
        if (grad.Length == 0) return result;
        if (!CanBroadcastTo(targetShape, gradShape))
            throw new QuantBuildException(DiagnosticCodes.ShapeMismatch, $"cannot reduce a gradient of shape [{string.Join(",", gradShape)}] to [{string.Join(",", targetShape)}]");
        if (result.Length == 1) { result[0] = System.Numerics.Tensors.TensorPrimitives.Sum<float>(grad); return result; }
        var plan = BroadcastPlan.Create(gradShape, targetShape, targetShape);
        int inner = plan.Inner;
        Span<int> index = stackalloc int[plan.OuterSizes.Length];
        for (long r = 0; r < plan.OuterCount; r++)
        {
            plan.Offsets(index, out int to, out _);
            var row = grad.AsSpan((int)(r * inner), inner);
            if (plan.InnerFull[0])
            {
                var acc = result.AsSpan(to, inner);
                System.Numerics.Tensors.TensorPrimitives.Add(acc, row, acc);
            }
            else result[to] += System.Numerics.Tensors.TensorPrimitives.Sum<float>(row);
            plan.Increment(index);
        }
        return result;
    }

    /// <summary>Runs <paramref name="body"/>(start, length) over [0, length) in pieces, in parallel when long enough. For element-independent work only.</summary>
    public static void ForChunks(int length, ParallelOptions? parallel, Action<int, int> body)
    {
        int piece = ParallelThreshold / 2;
        int pieces = (length + piece - 1) / piece;
        if (parallel is null || pieces <= 1 || parallel.MaxDegreeOfParallelism == 1)
        {
            if (length > 0) body(0, length);
            return;
        }
        Parallel.For(0, pieces, parallel, p =>
        {
            int start = p * piece;
            body(start, System.Math.Min(piece, length - start));
        });
    }

    /// <summary>Normalizes a possibly negative axis against <paramref name="rank"/>; throws QB2002 when out of range.</summary>
    public static int NormalizeAxis(long axis, int rank, Graph.Node node)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= System.Math.Max(rank, 1) && !(rank == 0 && a == 0))
            throw node.Error(DiagnosticCodes.InvalidAttribute, $"axis {axis} is out of range for a tensor of rank {rank}");
        return (int)a;
    }
}

/// <summary>
/// The loop structure of a broadcast between an output shape and up to two inputs: size-1 output
/// dimensions are dropped and neighbouring dimensions with the same (input 0 full?, input 1 full?)
/// pattern are merged. The last merged dimension is the contiguous "row".
/// </summary>
internal sealed class BroadcastPlan
{
    public required int[] OuterSizes { get; init; }
    public required int[] StridesA { get; init; }
    public required int[] StridesB { get; init; }
    public required int Inner { get; init; }
    /// <summary>Whether input 0 / input 1 advance along the row (false: the row reads one repeated value).</summary>
    public required bool[] InnerFull { get; init; }
    public long OuterCount { get; init; }

    public static BroadcastPlan Create(int[] outShape, int[] aShape, int[] bShape)
    {
        int rank = outShape.Length;
        var sizes = new List<int>(rank);
        var fullA = new List<bool>(rank);
        var fullB = new List<bool>(rank);
        for (int d = 0; d < rank; d++)
        {
            int n = outShape[d];
            if (n == 1) continue;
            bool fa = DimOf(aShape, rank, d) != 1;
            bool fb = DimOf(bShape, rank, d) != 1;
            int last = sizes.Count - 1;
            if (last >= 0 && fullA[last] == fa && fullB[last] == fb) sizes[last] *= n;
            else { sizes.Add(n); fullA.Add(fa); fullB.Add(fb); }
        }
        if (sizes.Count == 0) { sizes.Add(1); fullA.Add(true); fullB.Add(true); }

        int m = sizes.Count;
        var stridesA = new int[m];
        var stridesB = new int[m];
        int accA = 1, accB = 1;
        for (int d = m - 1; d >= 0; d--)
        {
            if (fullA[d]) { stridesA[d] = accA; accA *= sizes[d]; }
            if (fullB[d]) { stridesB[d] = accB; accB *= sizes[d]; }
        }
        long outer = 1;
        for (int d = 0; d < m - 1; d++) outer *= sizes[d];
        return new BroadcastPlan
        {
            OuterSizes = sizes.Take(m - 1).ToArray(),
            StridesA = stridesA,
            StridesB = stridesB,
            Inner = sizes[m - 1],
            InnerFull = new[] { fullA[m - 1], fullB[m - 1] },
            OuterCount = outer,
        };
    }

    private static int DimOf(int[] shape, int rank, int d)
    {
        int k = d - (rank - shape.Length);
        return k < 0 ? 1 : shape[k];
    }

    public void Decompose(long flat, Span<int> index)
    {
        for (int d = OuterSizes.Length - 1; d >= 0; d--)
        {
            index[d] = (int)(flat % OuterSizes[d]);
            flat /= OuterSizes[d];
        }
    }

    public void Offsets(ReadOnlySpan<int> index, out int a, out int b)
    {
        a = 0; b = 0;
        for (int d = 0; d < index.Length; d++) { a += index[d] * StridesA[d]; b += index[d] * StridesB[d]; }
    }

    public void Increment(Span<int> index)
    {
        for (int d = index.Length - 1; d >= 0; d--)
        {
            if (++index[d] < OuterSizes[d]) return;
            index[d] = 0;
        }
    }
}
