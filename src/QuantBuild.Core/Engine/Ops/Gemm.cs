using QuantBuild.Diagnostics;
using QuantBuild.Engine.LinearAlgebra;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Gemm: Y = alpha·op(A)·op(B) + beta·C, A and B 2-D, C optional (from opset 11) and
/// unidirectionally broadcast to [M, N].
/// </summary>
[OnnxOp("Gemm")]
public sealed class GemmKernel : OpKernel
{
    private readonly bool _transA, _transB;
    private readonly float _alpha, _beta;

    public GemmKernel(Node node, KernelContext context) : base(node, context)
    {
        _transA = node.GetInt("transA", 0) != 0;
        _transB = node.GetInt("transB", 0) != 0;
        _alpha = node.GetFloat("alpha", 1f);
        _beta = node.GetFloat("beta", 1f);
    }

    private (int M, int N, int K) Dims(Tensor a, Tensor b)
    {
        if (a.Rank != 2 || b.Rank != 2)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"A and B must be 2-D, got {a.ShapeString} and {b.ShapeString}");
        int m = _transA ? a.Shape[1] : a.Shape[0], k = _transA ? a.Shape[0] : a.Shape[1];
        int kb = _transB ? b.Shape[1] : b.Shape[0], n = _transB ? b.Shape[0] : b.Shape[1];
        if (k != kb)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"inner dimensions differ: op(A) is {m}x{k}, op(B) is {kb}x{n}");
        return (m, n, k);
    }

    /// <summary>C's shape right-aligned onto [M, N]: whether each of C's axes spans M / N (else it is broadcast).</summary>
    private (bool RowsVary, bool ColsVary) CBroadcast(Tensor c, int m, int n)
    {
        if (c.Rank > 2) throw Node.Error(DiagnosticCodes.ShapeMismatch, $"C must have rank <= 2, got {c.ShapeString}");
        int cr = c.Rank == 2 ? c.Shape[0] : 1, cc = c.Rank >= 1 ? c.Shape[^1] : 1;
        if ((cr != 1 && cr != m) || (cc != 1 && cc != n))
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"C {c.ShapeString} does not broadcast to [{m},{n}]");
        return (cr != 1, cc != 1);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var a = inputs[0]!;
        var b = inputs[1]!;
        var c = inputs.Length > 2 ? inputs[2] : null;
        var (m, n, k) = Dims(a, b);
        // From the shape, not m * n: [65536,1] x [1,65536] wraps a 32-bit product to 0.
        var y = OutputBuffers.Floats([m, n]);
        float beta = 0f;
        if (c is not null && _beta != 0f)
        {
            var (rowsVary, colsVary) = CBroadcast(c, m, n);
            var cf = c.Floats;
            for (int i = 0; i < m; i++)
            {
                var row = y.AsSpan(i * n, n);
                int rowBase = rowsVary ? i * (colsVary ? n : 1) : 0;
                if (colsVary) cf.AsSpan(rowBase, n).CopyTo(row);
                else row.Fill(cf[rowBase]);
            }
            beta = _beta;
        }
        Sgemm.Multiply(_transA, _transB, m, n, k, _alpha, a.Floats, a.Shape[1], b.Floats, b.Shape[1], beta, y, n, Context.Parallel);
        return [Tensor.FromFloats(y, m, n)];
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var a = args.Inputs[0]!;
        var b = args.Inputs[1]!;
        var c = args.Inputs.Length > 2 ? args.Inputs[2] : null;
        var (m, n, k) = Dims(a, b);
        var result = new Tensor?[args.Inputs.Length];
        var dy = args.OutputGrads[0]?.Floats ?? new float[m * n];
        int lda = a.Shape[1], ldb = b.Shape[1];
        if (args.NeedInputGrad[0])
        {
            var da = new float[a.Length];
            if (!_transA) // dA [M,K] = alpha · dY · op(B)ᵀ
                Sgemm.Multiply(false, !_transB, m, k, n, _alpha, dy, n, b.Floats, ldb, 0f, da, k, Context.Parallel);
            else          // A is [K,M]: dA = alpha · op(B) · dYᵀ
                Sgemm.Multiply(_transB, true, k, m, n, _alpha, b.Floats, ldb, dy, n, 0f, da, m, Context.Parallel);
            result[0] = Tensor.FromFloats(da, a.Shape);
        }
        if (args.NeedInputGrad[1])
        {
            var db = new float[b.Length];
            if (!_transB) // dB [K,N] = alpha · op(A)ᵀ · dY
                Sgemm.Multiply(!_transA, false, k, n, m, _alpha, a.Floats, lda, dy, n, 0f, db, n, Context.Parallel);
            else          // B is [N,K]: dB = alpha · dYᵀ · op(A)
                Sgemm.Multiply(true, _transA, n, k, m, _alpha, dy, n, a.Floats, lda, 0f, db, k, Context.Parallel);
            result[1] = Tensor.FromFloats(db, b.Shape);
        }
        if (c is not null && args.NeedInputGrad.Length > 2 && args.NeedInputGrad[2])
        {
            // dC = beta · dY summed over the axes C was broadcast along (fixed order: rows then columns).
            var dc = new double[c.Length];
            var (rowsVary, colsVary) = CBroadcast(c, m, n);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                    dc[(rowsVary ? i * (colsVary ? n : 1) : 0) + (colsVary ? j : 0)] += dy[i * n + j];
            var dcf = new float[c.Length];
            for (int i = 0; i < dcf.Length; i++) dcf[i] = (float)(_beta * dc[i]);
            result[2] = Tensor.FromFloats(dcf, c.Shape);
        }
        return result;
    }
}
