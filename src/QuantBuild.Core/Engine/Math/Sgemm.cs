using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

// Not "QuantBuild.Engine.Math": a namespace called Math would shadow System.Math for every kernel
// under QuantBuild.Engine.*.
namespace QuantBuild.Engine.LinearAlgebra;

/// <summary>
/// Single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, row-major, with optional transposes.
/// </summary>
/// <remarks>
/// Layout follows the usual packed-panel scheme: A is copied into panels of <c>MR</c> rows and B into
/// panels of <c>NR</c> columns (k-major inside a panel, zero padded at the edges), so the micro-kernel
/// streams both operands contiguously and keeps an MR×NR block of C in registers. K is cut into
/// blocks of <see cref="KBlock"/> so one B panel slice stays in L1 while the A slices of a tile sit in L2.
/// Determinism: the K blocking and the in-kernel order are fixed constants, and every C element is
/// owned by exactly one tile (one thread), so the bits never depend on the thread count.
/// </remarks>
public static unsafe class Sgemm
{
    internal enum KernelKind { Scalar, Vector256, Vector512 }

    internal const int KBlock = 256;

    /// <summary>The fastest kernel this machine runs.</summary>
    internal static readonly KernelKind BestKernel =
        Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? KernelKind.Vector512
        : Vector256.IsHardwareAccelerated && Fma.IsSupported ? KernelKind.Vector256
        : KernelKind.Scalar;

    // Below this many multiply-adds a parallel loop costs more than it saves.
    private const long ParallelThreshold = 1L << 18;

    private static (int Mr, int Nr) Dims(KernelKind kind) => kind switch
    {
        KernelKind.Vector512 => (8, 32),
        KernelKind.Vector256 => (6, 16),
        _ => (4, 8),
    };

    /// <summary>
    /// C[m×n] = alpha·op(A)·op(B) + beta·C. op(A) is m×k (A stored m×k with leading dimension
    /// <paramref name="lda"/>, or k×m when <paramref name="transA"/>); op(B) is k×n likewise.
    /// When beta is 0, C's previous contents are ignored (NaNs in it do not propagate).
    /// </summary>
    public static void Multiply(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc,
        ParallelOptions? parallel = null) =>
        Multiply(BestKernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, parallel);

    internal static void Multiply(KernelKind kind, bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc,
        ParallelOptions? parallel)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), "matrix dimensions must be non-negative");
        if (m == 0 || n == 0) return;
        CheckOperand(a.Length, transA ? k : m, transA ? m : k, lda, nameof(a));
        CheckOperand(b.Length, transB ? n : k, transB ? k : n, ldb, nameof(b));
        CheckOperand(c.Length, m, n, ldc, nameof(c));
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            if (k == 0 || alpha == 0f)
            {
                ScaleC(pc, m, n, ldc, beta);
                return;
            }
            if (kind != KernelKind.Scalar && TryMatrixVector(transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc))
                return;
            Core(kind, transA, transB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, parallel);
        }
    }

    /// <summary>
    /// A single output row or column (Gemm/MatMul with one sample, squeeze-excite 1×1 convs on a
    /// 1×1 image): packing panels that are mostly zero padding would cost more than the product, so
    /// these run as dot products over contiguous rows, or as row updates, in a fixed order.
    /// </summary>
    private static bool TryMatrixVector(bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc)
    {
        if (n == 1 && !transA && (transB || ldb == 1))
        {
            // c[i] = A[i, :] · b, with b the single column of op(B) (contiguous: B^T's row, or a k×1 B).
            var column = new ReadOnlySpan<float>(b, k);
            for (int i = 0; i < m; i++)
            {
                float dot = System.Numerics.Tensors.TensorPrimitives.Dot(new ReadOnlySpan<float>(a + (long)i * lda, k), column);
                float* ci = c + (long)i * ldc;
                *ci = Merge(dot, *ci, alpha, beta);
            }
            return true;
        }
        if (m == 1 && (!transA || lda == 1))
        {
            // The single row of op(A) is contiguous either way.
            var row = new ReadOnlySpan<float>(a, k);
            if (transB)
            {
                for (int j = 0; j < n; j++)
                    c[j] = Merge(System.Numerics.Tensors.TensorPrimitives.Dot(row, new ReadOnlySpan<float>(b + (long)j * ldb, k)), c[j], alpha, beta);
                return true;
            }
            // c[0, :] += a[p] · B[p, :] for p in order, then merged: n floats of scratch, one pass over B.
            float[]? rented = n > 1024 ? System.Buffers.ArrayPool<float>.Shared.Rent(n) : null;
            Span<float> acc = rented is null ? stackalloc float[n] : rented.AsSpan(0, n);
            acc.Clear();
            for (int p = 0; p < k; p++)
                AddScaled(acc, new ReadOnlySpan<float>(b + (long)p * ldb, n), row[p]);
            for (int j = 0; j < n; j++) c[j] = Merge(acc[j], c[j], alpha, beta);
            if (rented is not null) System.Buffers.ArrayPool<float>.Shared.Return(rented);
            return true;
        }
        return false;
    }

    /// <summary>acc[j] = fma(s, x[j], acc[j]); the same rounding whatever the vector width.</summary>
    private static void AddScaled(Span<float> acc, ReadOnlySpan<float> x, float s)
    {
        fixed (float* pa = acc, px = x)
        {
            int j = 0, n = acc.Length;
            if (Vector512.IsHardwareAccelerated)
            {
                var sv = Vector512.Create(s);
                for (; j + 16 <= n; j += 16) Vector512.FusedMultiplyAdd(sv, Vector512.Load(px + j), Vector512.Load(pa + j)).Store(pa + j);
            }
            if (Vector256.IsHardwareAccelerated)
            {
                var sv = Vector256.Create(s);
                for (; j + 8 <= n; j += 8) Vector256.FusedMultiplyAdd(sv, Vector256.Load(px + j), Vector256.Load(pa + j)).Store(pa + j);
            }
            for (; j < n; j++) pa[j] = MathF.FusedMultiplyAdd(s, px[j], pa[j]);
        }
    }

    /// <summary>
    /// C[m×n] = alpha·A·B + beta·C where B is never materialized: <paramref name="packer"/> writes
    /// B's column panels straight into the packed layout (a convolution's im2col, for instance).
    /// The product is bit-identical to <see cref="Multiply(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int, ParallelOptions?)"/>
    /// on the materialized B.
    /// </summary>
    public static void Multiply(int m, int n, int k, float alpha, ReadOnlySpan<float> a, int lda, BPanelPacker packer,
        float beta, Span<float> c, int ldc, ParallelOptions? parallel = null)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentOutOfRangeException(nameof(m), "matrix dimensions must be non-negative");
        if (m == 0 || n == 0) return;
        CheckOperand(a.Length, m, k, lda, nameof(a));
        CheckOperand(c.Length, m, n, ldc, nameof(c));
        fixed (float* pa = a)
        fixed (float* pc = c)
        {
            if (k == 0 || alpha == 0f)
            {
                ScaleC(pc, m, n, ldc, beta);
                return;
            }
            Core(BestKernel, false, false, m, n, k, alpha, pa, lda, null, 0, beta, pc, ldc, parallel, packer);
        }
    }

    /// <summary>
    /// op(A) in the packed-panel layout, for an A that multiplies many B's (a layer's weights):
    /// packing it once saves that pass on every call. Products are bit-identical to the unpacked call.
    /// </summary>
    public sealed class PackedMatrix
    {
        internal PackedMatrix(KernelKind kind, int rows, int depth, float[] panels)
        {
            Kind = kind;
            Rows = rows;
            Depth = depth;
            Panels = panels;
        }

        internal KernelKind Kind { get; }
        public int Rows { get; }
        public int Depth { get; }
        internal float[] Panels { get; }
    }

    /// <summary>Packs op(A) (m×k) for <see cref="Multiply(PackedMatrix, ReadOnlySpan{float}, int, int, float, float, Span{float}, int, ParallelOptions?)"/>.</summary>
    public static PackedMatrix Pack(bool transA, int m, int k, ReadOnlySpan<float> a, int lda)
    {
        var kind = BestKernel;
        int mr = Dims(kind).Mr, mPanels = (m + mr - 1) / mr;
        CheckOperand(a.Length, transA ? k : m, transA ? m : k, lda, nameof(a));
        var panels = new float[(long)mPanels * mr * k];
        fixed (float* pa = a)
        fixed (float* dst = panels)
            for (int i = 0; i < mPanels; i++) PackA(transA, pa, lda, m, k, mr, i, dst);
        return new PackedMatrix(kind, m, k, panels);
    }

    /// <summary>C[m×n] = alpha·A·B + beta·C with A packed by <see cref="Pack"/>; B is k×n row-major.</summary>
    public static void Multiply(PackedMatrix a, ReadOnlySpan<float> b, int ldb, int n, float alpha, float beta, Span<float> c, int ldc,
        ParallelOptions? parallel = null)
    {
        int m = a.Rows, k = a.Depth;
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), "matrix dimensions must be non-negative");
        if (m == 0 || n == 0) return;
        CheckOperand(b.Length, k, n, ldb, nameof(b));
        CheckOperand(c.Length, m, n, ldc, nameof(c));
        fixed (float* pa = a.Panels)
        fixed (float* pb = b)
        fixed (float* pc = c)
        {
            if (k == 0 || alpha == 0f) { ScaleC(pc, m, n, ldc, beta); return; }
            Core(a.Kind, false, false, m, n, k, alpha, null, 0, pb, ldb, beta, pc, ldc, parallel, null, pa);
        }
    }

    /// <summary>C[m×n] = alpha·A·B + beta·C with A packed by <see cref="Pack"/> and B written by <paramref name="packer"/>.</summary>
    public static void Multiply(PackedMatrix a, int n, BPanelPacker packer, float alpha, float beta, Span<float> c, int ldc,
        ParallelOptions? parallel = null)
    {
        int m = a.Rows, k = a.Depth;
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), "matrix dimensions must be non-negative");
        if (m == 0 || n == 0) return;
        CheckOperand(c.Length, m, n, ldc, nameof(c));
        fixed (float* pa = a.Panels)
        fixed (float* pc = c)
        {
            if (k == 0 || alpha == 0f) { ScaleC(pc, m, n, ldc, beta); return; }
            Core(a.Kind, false, false, m, n, k, alpha, null, 0, null, 0, beta, pc, ldc, parallel, packer, pa);
        }
    }

    /// <summary>The panel width the packed-B layout uses on this machine.</summary>
    public static int PanelWidth => Dims(BestKernel).Nr;

    private static void CheckOperand(int length, int rows, int cols, int ld, string name)
    {
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new ArgumentException($"leading dimension {ld} is smaller than the row length {cols}", name);
        if ((long)(rows - 1) * ld + cols > length) throw new ArgumentException($"buffer of {length} floats is too small for a {rows}x{cols} matrix with leading dimension {ld}", name);
    }

    private static void ScaleC(float* c, int m, int n, int ldc, float beta)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0f) row.Clear();
            else if (beta != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    private static void Core(KernelKind kind, bool transA, bool transB, int m, int n, int k, float alpha,
        float* a, int lda, float* b, int ldb, float beta, float* c, int ldc, ParallelOptions? parallel, BPanelPacker? packer = null,
        float* prePackedA = null)
    {
        var (mr, nr) = Dims(kind);
        int mPanels = (m + mr - 1) / mr, nPanels = (n + nr - 1) / nr;
        long packASize = (long)mPanels * mr * k, packBSize = (long)nPanels * nr * k;
        float* packA = prePackedA is not null ? prePackedA : (float*)NativeMemory.AlignedAlloc((nuint)(packASize * sizeof(float)), 64);
        float* packB = (float*)NativeMemory.AlignedAlloc((nuint)(packBSize * sizeof(float)), 64);
        try
        {
            bool useParallel = parallel is not null && parallel.MaxDegreeOfParallelism != 1 && (long)m * n * k >= ParallelThreshold;

            // Tiles: a fixed number of panels each way; sized for cache, not for the thread count.
            int tileMPanels = Math.Max(1, 96 / mr), tileNPanels = Math.Max(1, 128 / nr);
            int tilesM = (mPanels + tileMPanels - 1) / tileMPanels, tilesN = (nPanels + tileNPanels - 1) / tileNPanels;

            if (useParallel)
            {
                if (prePackedA is null) Parallel.For(0, mPanels, parallel!, i => PackA(transA, a, lda, m, k, mr, i, packA));
                if (packer is not null)
                    Parallel.For(0, nPanels, parallel!, j => packer.Pack(packB + (long)j * nr * k, j * nr, Math.Min(nr, n - j * nr), nr, k));
                else
                    Parallel.For(0, nPanels, parallel!, j => PackB(transB, b, ldb, n, k, nr, j, packB));
                Parallel.For(0, tilesM * tilesN, parallel!, t =>
                    RunTile(kind, t / tilesN, t % tilesN, tileMPanels, tileNPanels, mPanels, nPanels, m, n, k, mr, nr, alpha, beta, packA, packB, c, ldc));
            }
            else
            {
                if (prePackedA is null)
                    for (int i = 0; i < mPanels; i++) PackA(transA, a, lda, m, k, mr, i, packA);
                if (packer is not null)
                    for (int j = 0; j < nPanels; j++) packer.Pack(packB + (long)j * nr * k, j * nr, Math.Min(nr, n - j * nr), nr, k);
                else
                    for (int j = 0; j < nPanels; j++) PackB(transB, b, ldb, n, k, nr, j, packB);
                for (int t = 0; t < tilesM * tilesN; t++)
                    RunTile(kind, t / tilesN, t % tilesN, tileMPanels, tileNPanels, mPanels, nPanels, m, n, k, mr, nr, alpha, beta, packA, packB, c, ldc);
            }
        }
        finally
        {
            if (prePackedA is null) NativeMemory.AlignedFree(packA);
            NativeMemory.AlignedFree(packB);
        }
    }

    /// <summary>Panel <paramref name="panel"/> of op(A): dst[p·MR + r] = op(A)[panel·MR + r, p], zero past the last row.</summary>
    private static void PackA(bool transA, float* a, int lda, int m, int k, int mr, int panel, float* packA)
    {
        float* dst = packA + (long)panel * mr * k;
        int row0 = panel * mr, rows = Math.Min(mr, m - row0);
        if (transA)
        {
            // op(A)[row, p] = A[p, row]: the panel's rows are contiguous in each stored row p.
            for (int p = 0; p < k; p++)
            {
                float* src = a + (long)p * lda + row0;
                float* d = dst + (long)p * mr;
                int r = 0;
                for (; r < rows; r++) d[r] = src[r];
                for (; r < mr; r++) d[r] = 0f;
            }
        }
        else
        {
            for (int r = 0; r < mr; r++)
            {
                float* d = dst + r;
                if (r >= rows)
                {
                    for (int p = 0; p < k; p++) d[(long)p * mr] = 0f;
                    continue;
                }
                float* src = a + (long)(row0 + r) * lda;
                for (int p = 0; p < k; p++) d[(long)p * mr] = src[p];
            }
        }
    }

    /// <summary>Panel <paramref name="panel"/> of op(B): dst[p·NR + j] = op(B)[p, panel·NR + j], zero past the last column.</summary>
    private static void PackB(bool transB, float* b, int ldb, int n, int k, int nr, int panel, float* packB)
    {
        float* dst = packB + (long)panel * nr * k;
        int col0 = panel * nr, cols = Math.Min(nr, n - col0);
        if (!transB)
        {
            nuint bytes = (nuint)(cols * sizeof(float));
            for (int p = 0; p < k; p++)
            {
                float* d = dst + (long)p * nr;
                Buffer.MemoryCopy(b + (long)p * ldb + col0, d, bytes, bytes);
                for (int j = cols; j < nr; j++) d[j] = 0f;
            }
        }
        else
        {
            for (int j = 0; j < nr; j++)
            {
                float* d = dst + j;
                if (j >= cols)
                {
                    for (int p = 0; p < k; p++) d[(long)p * nr] = 0f;
                    continue;
                }
                float* src = b + (long)(col0 + j) * ldb;
                for (int p = 0; p < k; p++) d[(long)p * nr] = src[p];
            }
        }
    }

    private static void RunTile(KernelKind kind, int tileM, int tileN, int tileMPanels, int tileNPanels, int mPanels, int nPanels,
        int m, int n, int k, int mr, int nr, float alpha, float beta, float* packA, float* packB, float* c, int ldc)
    {
        int i0 = tileM * tileMPanels, i1 = Math.Min(mPanels, i0 + tileMPanels);
        int j0 = tileN * tileNPanels, j1 = Math.Min(nPanels, j0 + tileNPanels);
        for (int p0 = 0; p0 < k; p0 += KBlock)
        {
            int kc = Math.Min(KBlock, k - p0);
            // Later K blocks add onto what the earlier ones stored.
            float blockBeta = p0 == 0 ? beta : 1f;
            for (int j = j0; j < j1; j++)
            {
                float* bp = packB + ((long)j * k + p0) * nr;
                int cols = Math.Min(nr, n - j * nr);
                for (int i = i0; i < i1; i++)
                {
                    float* ap = packA + ((long)i * k + p0) * mr;
                    int rows = Math.Min(mr, m - i * mr);
                    float* ct = c + (long)i * mr * ldc + (long)j * nr;
                    switch (kind)
                    {
                        case KernelKind.Vector512: Kernel8x32(kc, ap, bp, ct, ldc, rows, cols, alpha, blockBeta); break;
                        case KernelKind.Vector256: Kernel6x16(kc, ap, bp, ct, ldc, rows, cols, alpha, blockBeta); break;
                        default: KernelScalar4x8(kc, ap, bp, ct, ldc, rows, cols, alpha, blockBeta); break;
                    }
                }
            }
        }
    }

    /// <summary>c = alpha·acc + beta·c with one rounding of the product-sum (beta 0 ignores c).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Merge(float acc, float old, float alpha, float beta) =>
        MathF.FusedMultiplyAdd(alpha, acc, beta == 0f ? 0f : beta * old);

    /// <summary>Writes an MR×NR accumulator tile (held in <paramref name="tile"/>) into the valid part of C.</summary>
    private static void MergeTile(float* tile, int nr, float* c, int ldc, int rows, int cols, float alpha, float beta)
    {
        for (int r = 0; r < rows; r++)
        {
            float* cr = c + (long)r * ldc;
            float* tr = tile + r * nr;
            for (int j = 0; j < cols; j++) cr[j] = Merge(tr[j], cr[j], alpha, beta);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> acc, Vector512<float> alpha, float beta)
    {
        var old = beta == 0f ? Vector512<float>.Zero : Vector512.Load(c) * beta;
        Vector512.FusedMultiplyAdd(alpha, acc, old).Store(c);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store256(float* c, Vector256<float> acc, Vector256<float> alpha, float beta)
    {
        var old = beta == 0f ? Vector256<float>.Zero : Vector256.Load(c) * beta;
        Vector256.FusedMultiplyAdd(alpha, acc, old).Store(c);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel8x32(int kc, float* a, float* b, float* c, int ldc, int rows, int cols, float alpha, float beta)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b);
            var b1 = Vector512.LoadAligned(b + 16);
            Vector512<float> x;
            x = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(x, b0, c00); c01 = Vector512.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Vector512.FusedMultiplyAdd(x, b0, c10); c11 = Vector512.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Vector512.FusedMultiplyAdd(x, b0, c20); c21 = Vector512.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Vector512.FusedMultiplyAdd(x, b0, c30); c31 = Vector512.FusedMultiplyAdd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Vector512.FusedMultiplyAdd(x, b0, c40); c41 = Vector512.FusedMultiplyAdd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Vector512.FusedMultiplyAdd(x, b0, c50); c51 = Vector512.FusedMultiplyAdd(x, b1, c51);
            x = Vector512.Create(a[6]); c60 = Vector512.FusedMultiplyAdd(x, b0, c60); c61 = Vector512.FusedMultiplyAdd(x, b1, c61);
            x = Vector512.Create(a[7]); c70 = Vector512.FusedMultiplyAdd(x, b0, c70); c71 = Vector512.FusedMultiplyAdd(x, b1, c71);
            a += 8;
            b += 32;
        }
        var av = Vector512.Create(alpha);
        if (rows == 8 && cols == 32)
        {
            Store512(c, c00, av, beta); Store512(c + 16, c01, av, beta); c += ldc;
            Store512(c, c10, av, beta); Store512(c + 16, c11, av, beta); c += ldc;
            Store512(c, c20, av, beta); Store512(c + 16, c21, av, beta); c += ldc;
            Store512(c, c30, av, beta); Store512(c + 16, c31, av, beta); c += ldc;
            Store512(c, c40, av, beta); Store512(c + 16, c41, av, beta); c += ldc;
            Store512(c, c50, av, beta); Store512(c + 16, c51, av, beta); c += ldc;
            Store512(c, c60, av, beta); Store512(c + 16, c61, av, beta); c += ldc;
            Store512(c, c70, av, beta); Store512(c + 16, c71, av, beta);
            return;
        }
        float* t = stackalloc float[8 * 32];
        c00.Store(t); c01.Store(t + 16); c10.Store(t + 32); c11.Store(t + 48);
        c20.Store(t + 64); c21.Store(t + 80); c30.Store(t + 96); c31.Store(t + 112);
        c40.Store(t + 128); c41.Store(t + 144); c50.Store(t + 160); c51.Store(t + 176);
        c60.Store(t + 192); c61.Store(t + 208); c70.Store(t + 224); c71.Store(t + 240);
        MergeTile(t, 32, c, ldc, rows, cols, alpha, beta);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Kernel6x16(int kc, float* a, float* b, float* c, int ldc, int rows, int cols, float alpha, float beta)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.LoadAligned(b);
            var b1 = Vector256.LoadAligned(b + 8);
            Vector256<float> x;
            x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += 6;
            b += 16;
        }
        var av = Vector256.Create(alpha);
        if (rows == 6 && cols == 16)
        {
            Store256(c, c00, av, beta); Store256(c + 8, c01, av, beta); c += ldc;
            Store256(c, c10, av, beta); Store256(c + 8, c11, av, beta); c += ldc;
            Store256(c, c20, av, beta); Store256(c + 8, c21, av, beta); c += ldc;
            Store256(c, c30, av, beta); Store256(c + 8, c31, av, beta); c += ldc;
            Store256(c, c40, av, beta); Store256(c + 8, c41, av, beta); c += ldc;
            Store256(c, c50, av, beta); Store256(c + 8, c51, av, beta);
            return;
        }
        float* t = stackalloc float[6 * 16];
        c00.Store(t); c01.Store(t + 8); c10.Store(t + 16); c11.Store(t + 24);
        c20.Store(t + 32); c21.Store(t + 40); c30.Store(t + 48); c31.Store(t + 56);
        c40.Store(t + 64); c41.Store(t + 72); c50.Store(t + 80); c51.Store(t + 88);
        MergeTile(t, 16, c, ldc, rows, cols, alpha, beta);
    }

    /// <summary>Portable fallback with the same packing; FMA keeps its numbers close to the vector kernels.</summary>
    private static void KernelScalar4x8(int kc, float* a, float* b, float* c, int ldc, int rows, int cols, float alpha, float beta)
    {
        float* t = stackalloc float[4 * 8];
        new Span<float>(t, 32).Clear();
        for (int p = 0; p < kc; p++)
        {
            for (int r = 0; r < 4; r++)
            {
                float x = a[r];
                float* tr = t + r * 8;
                for (int j = 0; j < 8; j++) tr[j] += x * b[j];
            }
            a += 4;
            b += 8;
        }
        MergeTile(t, 8, c, ldc, rows, cols, alpha, beta);
    }
}

/// <summary>
/// Writes columns [col0, col0 + cols) of a k×n matrix B into packed layout:
/// dst[p·nr + j] = B[p, col0 + j], zero for j ≥ cols. Must be thread-safe (panels pack in parallel).
/// </summary>
public abstract unsafe class BPanelPacker
{
    public abstract void Pack(float* dst, int col0, int cols, int nr, int k);
}
