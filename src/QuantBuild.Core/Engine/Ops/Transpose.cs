using QuantBuild.Tensors;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;

namespace QuantBuild.Engine.Ops;

/// <summary>
/// Transpose (perm; default reverses the axes). Input axes that stay adjacent in the output are merged
/// first, so NCHW→NHWC ([0,2,3,1]) and NHWC→NCHW ([0,3,1,2]) become batched 2-D transposes that run
/// tile by tile; other permutations use the separable gather. The gradient is the inverse permutation.
/// </summary>
[OnnxOp("Transpose")]
public sealed class TransposeKernel : OpKernel
{
    private const int Tile = 32;
    private readonly long[]? _perm;

    public TransposeKernel(Node node, KernelContext context) : base(node, context)
    {
        _perm = node.GetInts("perm");
        if (_perm is not null && _perm.Length > 0)
        {
            var seen = new bool[_perm.Length];
            foreach (var p in _perm)
            {
                if (p < 0 || p >= _perm.Length || seen[p])
                    throw node.Error(DiagnosticCodes.InvalidAttribute, $"perm [{string.Join(",", _perm)}] is not a permutation");
                seen[p] = true;
            }
        }
    }

    private int[] Permutation(int rank)
    {
        if (_perm is null || (_perm.Length == 0 && rank > 0))
            return Enumerable.Range(0, rank).Reverse().ToArray();
        if (_perm.Length != rank)
            throw Node.Error(DiagnosticCodes.ShapeMismatch, $"perm has {_perm.Length} entries but the input has rank {rank}");
        return Array.ConvertAll(_perm, p => (int)p);
    }

    public override Tensor[] Forward(Tensor?[] inputs)
    {
        var x = inputs[0]!;
        return new[] { Permute(x, Permutation(x.Rank), Context.Parallel) };
    }

    public override Tensor?[] Backward(in BackwardArgs args)
    {
        var result = new Tensor?[args.Inputs.Length];
        if (!args.NeedInputGrad[0]) return result;
        var perm = Permutation(args.Inputs[0]!.Rank);
        var inverse = new int[perm.Length];
        for (int d = 0; d < perm.Length; d++) inverse[perm[d]] = d;
        result[0] = Permute(ShapeOpHelpers.GradOrZero(args, 0, args.Outputs[0].Shape), inverse, Context.Parallel);
        return result;
    }

    /// <summary>Output axis d is input axis perm[d].</summary>
    public static Tensor Permute(Tensor x, int[] perm, ParallelOptions parallel)
    {
        var outShape = new int[perm.Length];
        for (int d = 0; d < perm.Length; d++) outShape[d] = x.Shape[perm[d]];

        // Ignore size-1 axes (they do not change the element order), then merge runs of input axes
        // that stay consecutive in the output: groups hold (ordinal of first input axis, element count).
        var ordinal = new int[x.Rank];
        for (int d = 0, k = 0; d < x.Rank; d++) ordinal[d] = x.Shape[d] == 1 ? -1 : k++;
        var groups = new List<(int First, int Last, int Size)>();
        foreach (var p in perm)
        {
            int o = ordinal[p];
            if (o < 0) continue;
            if (groups.Count > 0 && groups[^1].Last + 1 == o)
                groups[^1] = (groups[^1].First, o, groups[^1].Size * x.Shape[p]);
            else
                groups.Add((o, o, x.Shape[p]));
        }
        bool sorted = true;
        for (int i = 1; i < groups.Count; i++) sorted &= groups[i].First > groups[i - 1].First;
        if (sorted) return x.Reshape(outShape); // only size-1 axes move: same element order

        if (groups.Count == 2 || (groups.Count == 3 && groups[0].First < groups[1].First && groups[0].First < groups[2].First))
        {
            // [A, B] -> [B, A] or [N, A, B] -> [N, B, A]
            int batch = groups.Count == 3 ? groups[0].Size : 1;
            int rows = groups[^1].Size; // input rows = size of the group that comes last in the output
            int cols = groups[^2].Size;
            var y = OutputBuffers.Uninitialized(x.Type, outShape);
            switch (DataTypes.SizeInBytes(x.Type))
            {
                case 1: Transpose2D<byte>(x.Data, y.Data, batch, rows, cols, parallel); break;
                case 2: Transpose2D<ushort>(x.Data, y.Data, batch, rows, cols, parallel); break;
                case 4: Transpose2D<uint>(x.Data, y.Data, batch, rows, cols, parallel); break;
                default: Transpose2D<ulong>(x.Data, y.Data, batch, rows, cols, parallel); break;
            }
            return y;
        }
        return ShapeOpHelpers.SeparableGather(x, ShapeOpHelpers.PermutationOffsets(x.Shape, perm), outShape, parallel);
    }

    /// <summary>src is [batch, rows, cols]; dst is [batch, cols, rows]. Tiles keep both sides in cache.</summary>
    private static void Transpose2D<T>(Array srcArray, Array dstArray, int batch, int rows, int cols, ParallelOptions parallel) where T : unmanaged
    {
        int tilesR = (rows + Tile - 1) / Tile;
        int tilesC = (cols + Tile - 1) / Tile;
        int work = batch * tilesR;
        void Band(int w)
        {
            var src = ShapeOpHelpers.Raw<T>(srcArray);
            var dst = ShapeOpHelpers.Raw<T>(dstArray);
            int b = w / tilesR, r0 = (w % tilesR) * Tile;
            int r1 = Math.Min(rows, r0 + Tile);
            int plane = b * rows * cols;
            for (int tc = 0; tc < tilesC; tc++)
            {
                int c0 = tc * Tile, c1 = Math.Min(cols, c0 + Tile);
                for (int r = r0; r < r1; r++)
                {
                    int srcRow = plane + r * cols;
                    for (int c = c0; c < c1; c++)
                        dst[plane + c * rows + r] = src[srcRow + c];
                }
            }
        }
        if ((long)batch * rows * cols < (1 << 15)) { for (int w = 0; w < work; w++) Band(w); }
        else Parallel.For(0, work, parallel, Band);
    }
}
