using System.Runtime.CompilerServices;
using QuantBuild.Graph;
using QuantBuild.Tensors;

namespace QuantBuild.Engine;

/// <summary>
/// A run of consecutive float elementwise nodes (Add/Sub/Mul/Div/Clip/Relu/LeakyRelu) where each
/// node after the first reads the previous node's output, and that output has no other reader and
/// is not a graph output. <see cref="InferenceEngine.Run"/> executes such a chain as one pass over
/// cache-sized tiles of the output, calling per step the same <see cref="FloatKernels"/> loops the
/// unfused kernels call, so every element goes through exactly the same IEEE operations in the same
/// order: the result is bit-identical to running the nodes one by one. It saves the intermediate
/// arrays, a memory pass per node and the per-node dispatch. Hard-swish exported as
/// x·Clip(x + 3, 0, 6)/6 is the motivating case.
/// </summary>
internal sealed class FusedChain
{
    internal const int Chain = -2; // operand slot meaning "the value computed by the previous step"
    private const int Tile = 2048; // floats per tile: a multiple of 16, so tiles split vectors like a whole pass does

    internal enum StepKind { Add, Sub, Mul, Div, Clamp, LeakyRelu }

    /// <param name="Left">first operand slot (or <see cref="Chain"/>); the only one for unary steps</param>
    /// <param name="Right">second operand slot of a binary step; Clip's min slot otherwise (-1: none)</param>
    /// <param name="Third">Clip's max slot (-1: none)</param>
    internal readonly record struct Step(StepKind Kind, int Left, int Right, int Third, float Lo, float Hi);

    private FusedChain(int first, int last, Step[] steps, int[] intermediates, int outputSlot)
    {
        First = first;
        Last = last;
        Steps = steps;
        IntermediateSlots = intermediates;
        OutputSlot = outputSlot;
    }

    public int First { get; }
    public int Last { get; }
    public Step[] Steps { get; }
    /// <summary>Values the fused pass never materialises; a Run that asks for one of them runs unfused.</summary>
    public int[] IntermediateSlots { get; }
    public int OutputSlot { get; }
    /// <summary>The profiler has been told this chain's shapes (a benign race: both writers write the same text).</summary>
    public bool ProfileLabelled { get; set; }

    /// <summary>Finds the chains of a graph (node indices refer to <paramref name="nodes"/>).</summary>
    internal static FusedChain?[] Find(IReadOnlyList<Node> nodes, int opset, int[][] inputSlots, int[][] outputSlots, ISet<int> graphOutputSlots)
    {
        var readers = new Dictionary<int, int>();
        foreach (var slots in inputSlots)
            foreach (int s in slots.Distinct())
                if (s >= 0) readers[s] = readers.GetValueOrDefault(s) + 1;
        var steps = new Step?[nodes.Count];
        for (int i = 0; i < nodes.Count; i++) steps[i] = Describe(nodes[i], opset, inputSlots[i]);

        var chains = new FusedChain?[nodes.Count];
        for (int i = 0; i < nodes.Count;)
        {
            if (steps[i] is null || outputSlots[i].Length != 1) { i++; continue; }
            var list = new List<Step> { steps[i]!.Value };
            var intermediates = new List<int>();
            int end = i;
            while (end + 1 < nodes.Count && steps[end + 1] is Step next && outputSlots[end + 1].Length == 1)
            {
                int link = outputSlots[end][0];
                if (link < 0 || graphOutputSlots.Contains(link) || readers.GetValueOrDefault(link) != 1) break;
                // The link must be an operand of the next step (not a Clip bound: those stay scalars).
                var chained = next with
                {
                    Left = next.Left == link ? Chain : next.Left,
                    Right = next.Kind != StepKind.Clamp && next.Right == link ? Chain : next.Right,
                };
                if (chained.Left != Chain && chained.Right != Chain) break;
                if (chained.Left == Chain && chained.Right == Chain) break; // x op x of one value: keep it simple
                list.Add(chained);
                intermediates.Add(link);
                end++;
            }
            if (end > i && outputSlots[end][0] >= 0)
                chains[i] = new FusedChain(i, end, list.ToArray(), intermediates.ToArray(), outputSlots[end][0]);
            i = end + 1;
        }
        return chains;
    }

    private static Step? Describe(Node node, int opset, int[] slots)
    {
        int Slot(int k) => k < slots.Length ? slots[k] : -1;
        switch (node.OpType)
        {
            case "Add" or "Sub" or "Mul" or "Div" when slots.Length == 2 && slots[0] >= 0 && slots[1] >= 0:
                if (node.HasAttribute("broadcast") || node.HasAttribute("axis")) return null;
                var kind = node.OpType switch { "Add" => StepKind.Add, "Sub" => StepKind.Sub, "Mul" => StepKind.Mul, _ => StepKind.Div };
                return new Step(kind, slots[0], slots[1], -1, 0, 0);
            case "Relu" when Slot(0) >= 0:
                return new Step(StepKind.Clamp, slots[0], -1, -1, 0f, float.PositiveInfinity);
            case "LeakyRelu" when Slot(0) >= 0:
                return new Step(StepKind.LeakyRelu, slots[0], -1, -1, node.GetFloat("alpha", 0.01f), 0);
            case "Clip" when Slot(0) >= 0:
                if (opset >= 11)
                    return new Step(StepKind.Clamp, slots[0], Slot(1), Slot(2), float.NegativeInfinity, float.PositiveInfinity);
                return new Step(StepKind.Clamp, slots[0], -1, -1, node.GetFloat("min", float.NegativeInfinity), node.GetFloat("max", float.PositiveInfinity));
            default:
                return null;
        }
    }

    /// <summary>What one step reads at run time: a whole array, a broadcast scalar, or the chain value.</summary>
    private readonly record struct Operand(float[]? Array, float Scalar, bool IsChain);

    /// <summary>
    /// Runs the chain when every operand is float32 and every step keeps the chain's shape (operands
    /// of that shape, or single-element ones that broadcast); returns null otherwise, and the caller
    /// runs the nodes one by one (which also reports any error with the node's own message).
    /// </summary>
    public Tensor? TryExecute(Tensor?[] values, ParallelOptions parallel)
    {
        int count = Steps.Length;
        var lefts = new Operand[count];
        var rights = new Operand[count];
        var los = new float[count];
        var his = new float[count];
        int[]? shape = null;
        for (int s = 0; s < count; s++)
        {
            var step = Steps[s];
            if (step.Kind is StepKind.Clamp or StepKind.LeakyRelu)
            {
                if (step.Left == Chain) lefts[s] = new Operand(null, 0, true);
                else if (values[step.Left] is { Data: float[] xf } x) { lefts[s] = new Operand(xf, 0, false); shape = x.Shape; }
                else return null;
                los[s] = step.Lo;
                his[s] = step.Hi;
                if (step.Kind == StepKind.Clamp)
                {
                    if (step.Right >= 0) { if (ScalarOf(values[step.Right]) is float lo) los[s] = lo; else return null; }
                    if (step.Third >= 0) { if (ScalarOf(values[step.Third]) is float hi) his[s] = hi; else return null; }
                }
                continue;
            }
            Tensor? a = step.Left == Chain ? null : values[step.Left];
            Tensor? b = step.Right == Chain ? null : values[step.Right];
            if (a is not null && a.Data is not float[] || b is not null && b.Data is not float[]) return null;
            if (shape is null)
            {
                // First step: both operands are external values.
                if (a is null || b is null) return null;
                if (Tensor.SameShape(a.Shape, b.Shape) || b.Length == 1 && b.Rank <= a.Rank) shape = a.Shape;
                else if (a.Length == 1 && a.Rank <= b.Rank) shape = b.Shape;
                else return null;
            }
            if (!Fits(a, shape) || !Fits(b, shape)) return null;
            lefts[s] = OperandOf(a, shape);
            rights[s] = OperandOf(b, shape);
        }
        if (shape is null) return null;

        int n = TensorLimits.CheckedElementCount(DataType.Float, shape, "output");
        var y = OutputBuffers.Floats(n);
        Broadcast.ForChunks(n, parallel, (start, length) =>
        {
            for (int t = start; t < start + length; t += Tile)
                RunTile(y, t, Math.Min(Tile, start + length - t), lefts, rights, los, his);
        });
        return new Tensor(DataType.Float, shape, y);
    }

    private static bool Fits(Tensor? t, int[] shape) =>
        t is null || Tensor.SameShape(t.Shape, shape) || t.Length == 1 && t.Rank <= shape.Length;

    private static Operand OperandOf(Tensor? t, int[] shape) =>
        t is null ? new Operand(null, 0, true)
        : Tensor.SameShape(t.Shape, shape) ? new Operand(t.Floats, 0, false)
        : new Operand(null, t.Floats[0], false);

    private static float? ScalarOf(Tensor? t) => t is { Data: float[] { Length: 1 } f } ? f[0] : null;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void RunTile(float[] y, int start, int length, Operand[] lefts, Operand[] rights, float[] los, float[] his)
    {
        fixed (float* py = y)
        {
            float* d = py + start;
            for (int s = 0; s < Steps.Length; s++)
            {
                var kind = Steps[s].Kind;
                var left = lefts[s];
                if (kind is StepKind.Clamp or StepKind.LeakyRelu)
                {
                    fixed (float* px = left.Array)
                    {
                        float* x = left.IsChain ? d : px + start;
                        if (kind == StepKind.Clamp) FloatKernels.Clamp(x, los[s], his[s], d, length);
                        else FloatKernels.LeakyRelu(x, los[s], d, length);
                    }
                    continue;
                }
                var right = rights[s];
                switch (kind)
                {
                    case StepKind.Add: Binary<FloatAdd>(left, right, d, start, length); break;
                    case StepKind.Sub: Binary<FloatSub>(left, right, d, start, length); break;
                    case StepKind.Mul: Binary<FloatMul>(left, right, d, start, length); break;
                    default: Binary<FloatDiv>(left, right, d, start, length); break;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Binary<TOp>(Operand left, Operand right, float* d, int start, int length) where TOp : IFloatBinary
    {
        fixed (float* pa = left.Array, pb = right.Array)
        {
            float* a = left.IsChain ? d : pa is null ? null : pa + start;
            float* b = right.IsChain ? d : pb is null ? null : pb + start;
            if (a is not null && b is not null) FloatKernels.Apply<TOp>(a, b, d, length);
            else if (a is not null) FloatKernels.Apply<TOp>(a, right.Scalar, d, length);
            else if (b is not null) FloatKernels.Apply<TOp>(left.Scalar, b, d, length);
            else for (int i = 0; i < length; i++) d[i] = TOp.Scalar(left.Scalar, right.Scalar);
        }
    }
}
