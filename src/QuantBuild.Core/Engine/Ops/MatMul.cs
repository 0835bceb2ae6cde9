using QuantBuild.Diagnostics;
using QuantBuild.Engine.LinearAlgebra;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// MatMul with numpy semantics: the last two axes multiply, leading axes broadcast; a 1-D first
/// operand is a row vector and a 1-D second operand a column vector, and the promoted axis is
/// removed from the result.
/// </summary>
[OnnxOp("MatMul")]
public sealed class MatMulKernel : OpKernel
{
    public MatMulKernel(Node node, KernelContext context) : base(node, context) { }

    /// <summary>Shapes of one MatMul call, with the batch mapping from output to operand matrices.</summary>
    private sealed class Plan
    {
        public int M, N, K;
        public int[] OutputShape = [];
        public int[] ABatchIndex = [], BBatchIndex = [];
        /// <summary>B is one matrix shared by every batch, so A's batches fold into M (one big GEMM).</summary>
        public bool FoldBatchIntoM;
        public int ABatches, BBatches;
    }

    private Plan MakePlan(int[] aShape, int[] bShape)
    {
        if (aShape.Length == 0 || bShape.Length == 0)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, "MatMul operands must have rank >= 1");
        bool vecA = aShape.Length == 1, vecB = bShape.Length == 1;
        int m = vecA ? 1 : aShape[^2], k = aShape[^1];
        int kb = vecB ? bShape[0] : bShape[^2], n = vecB ? 1 : bShape[^1];
        if (k != kb)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"inner dimensions differ: [{string.Join(",", aShape)}] x [{string.Join(",", bShape)}]");
        var aBatch = vecA ? Array.Empty<int>() : aShape[..^2];
        var bBatch = vecB ? Array.Empty<int>() : bShape[..^2];
        var outBatch = BroadcastShapes(aBatch, bBatch);
        var outShape = new List<int>(outBatch);
        if (!vecA) outShape.Add(m);
        if (!vecB) outShape.Add(n);
        var plan = new Plan { M = m, N = n, K = k, OutputShape = outShape.ToArray() };
        // Before the batch maps below are sized from it.
        TensorLimits.CheckedElementCount(DataType.Float, plan.OutputShape, "output");
        TensorLimits.CheckedElementCount<int>(outBatch, "batch map");
        plan.ABatches = (int)Tensor.ElementCount(aBatch);
        plan.BBatches = (int)Tensor.ElementCount(bBatch);
        plan.FoldBatchIntoM = plan.BBatches == 1 && aBatch.Length == outBatch.Length;
        plan.ABatchIndex = BatchMap(aBatch, outBatch);
        plan.BBatchIndex = BatchMap(bBatch, outBatch);
        return plan;
    }

    private int[] BroadcastShapes(int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            int db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw Node.Error(DiagnosticCodes.ShapeMismatch, $"batch dimensions [{string.Join(",", a)}] and [{string.Join(",", b)}] do not broadcast");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>For each output batch (row-major), the index of the operand batch it reads.</summary>
    private static int[] BatchMap(int[] operand, int[] output)
    {
        int total = (int)Tensor.ElementCount(output);
        var map = new int[total];
        int offset = output.Length - operand.Length;
        var idx = new int[output.Length];
        for (int t = 0; t < total; t++)
        {
            int src = 0;
            for (int d = 0; d < operand.Length; d++)
                src = src * operand[d] + (operand[d] == 1 ? 0 : idx[d + offset]);
            map[t] = src;
            for (int d = output.Length - 1; d >= 0; d--)
            {
                if (++idx[d] < output[d]) break;
                idx[d] = 0;
            }
        }
        return map;
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var a = inputs[0]!;
        var b = inputs[1]!;
        var plan = MakePlan(a.Shape, b.Shape);
        var y = OutputBuffers.Floats(plan.OutputShape);
        var af = a.Floats;
        var bf = b.Floats;
        int m = plan.M, n = plan.N, k = plan.K;
        if (plan.FoldBatchIntoM)
        {
            Sgemm.Multiply(false, false, m * plan.ABatches, n, k, 1f, af, k, bf, n, 0f, y, n, Context.Parallel);
        }
        else
        {
            for (int t = 0; t < plan.ABatchIndex.Length; t++)
                Sgemm.Multiply(false, false, m, n, k, 1f,
                    af.AsSpan(plan.ABatchIndex[t] * m * k, m * k), k,
                    bf.AsSpan(plan.BBatchIndex[t] * k * n, k * n), n,
                    0f, y.AsSpan(t * m * n, m * n), n, Context.Parallel);
        }
        return [Tensor.FromFloats(y, plan.OutputShape)];
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var a = args.Inputs[0]!;
        var b = args.Inputs[1]!;
        var result = new Tensor?[args.Inputs.Length];
        var plan = MakePlan(a.Shape, b.Shape);
        var dy = args.OutputGrads[0]?.Floats ?? new float[(int)Tensor.ElementCount(plan.OutputShape)];
        int m = plan.M, n = plan.N, k = plan.K;
        var af = a.Floats;
        var bf = b.Floats;
        if (args.NeedInputGrad[0])
        {
            // dA = dY · Bᵀ, summed over the output batches that share one A matrix.
            var da = new float[a.Length];
            if (plan.FoldBatchIntoM)
                Sgemm.Multiply(false, true, m * plan.ABatches, k, n, 1f, dy, n, bf, n, 0f, da, k, Context.Parallel);
            else
            {
                var written = new bool[plan.ABatches];
                for (int t = 0; t < plan.ABatchIndex.Length; t++)
                {
                    int ai = plan.ABatchIndex[t];
                    Sgemm.Multiply(false, true, m, k, n, 1f, dy.AsSpan(t * m * n, m * n), n,
                        bf.AsSpan(plan.BBatchIndex[t] * k * n, k * n), n, written[ai] ? 1f : 0f, da.AsSpan(ai * m * k, m * k), k, Context.Parallel);
                    written[ai] = true;
                }
            }
            result[0] = Tensor.FromFloats(da, a.Shape);
        }
        if (args.NeedInputGrad[1])
        {
            // dB = Aᵀ · dY, summed over the output batches that share one B matrix.
            var db = new float[b.Length];
            if (plan.FoldBatchIntoM)
                Sgemm.Multiply(true, false, k, n, m * plan.ABatches, 1f, af, k, dy, n, 0f, db, n, Context.Parallel);
            else
            {
                var written = new bool[plan.BBatches];
                for (int t = 0; t < plan.BBatchIndex.Length; t++)
                {
                    int bi = plan.BBatchIndex[t];
                    Sgemm.Multiply(true, false, k, n, m, 1f, af.AsSpan(plan.ABatchIndex[t] * m * k, m * k), k,
                        dy.AsSpan(t * m * n, m * n), n, written[bi] ? 1f : 0f, db.AsSpan(bi * k * n, k * n), n, Context.Parallel);
                    written[bi] = true;
                }
            }
            result[1] = Tensor.FromFloats(db, b.Shape);
        }
        return result;
    }
}
