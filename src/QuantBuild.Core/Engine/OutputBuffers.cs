using QuantBuild.Tensors;

namespace QuantBuild.Engine;

/// <summary>
/// Where kernels get the arrays of their float outputs. While <see cref="InferenceEngine.Run"/> is
/// executing on this thread, arrays of intermediate values the engine has released (no reader left)
/// are handed out again, so a run stops allocating (and stops triggering gen-2 collections for
/// large-object-heap arrays) after its first pass; anywhere else it is a plain allocation.
/// </summary>
public static class OutputBuffers
{
    [ThreadStatic] private static BufferArena? t_arena;

    /// <summary>
    /// An array of exactly <paramref name="length"/> floats with undefined contents: the caller must
    /// write every element before the array becomes visible in a tensor. Callers size float outputs from
    /// their own shape arithmetic, so the limits are checked here too.
    /// </summary>
    public static float[] Floats(int length) => Rent(TensorLimits.CheckedElementCount(DataType.Float, [length], "output"));

    /// <summary>An output of <paramref name="shape"/>: its size is checked (64-bit, against <see cref="TensorLimits"/>) before the array is taken.</summary>
    public static float[] Floats(ReadOnlySpan<int> shape) => Rent(TensorLimits.CheckedElementCount(DataType.Float, shape, "output"));

    private static float[] Rent(int length) => t_arena?.RentFloats(length) ?? GC.AllocateUninitializedArray<float>(length);

    /// <summary>A tensor of <paramref name="shape"/> whose contents are undefined (float ones may be recycled): the caller must write every element.</summary>
    public static Tensor Uninitialized(DataType type, int[] shape) =>
        type == DataType.Float ? new Tensor(type, shape, Floats(shape)) : Tensor.Create(type, shape);

    internal static BufferArena? Install(BufferArena? arena)
    {
        var previous = t_arena;
        t_arena = arena;
        return previous;
    }
}

/// <summary>
/// The recycling behind <see cref="OutputBuffers"/> for one run at a time. Only arrays this arena
/// handed out are ever taken back, and the engine gives one back only when no live value shares it
/// (Reshape and friends return views of their input's array), so user-visible tensors and
/// initializers are never overwritten.
/// </summary>
internal sealed class BufferArena
{
    // Small arrays are cheap gen-0 allocations; pooling them would cost more bookkeeping than it saves.
    private const int MinPooledLength = 256;
    // Upper bound of floats kept on free lists, so one huge model run does not pin memory forever.
    private const long MaxPooledFloats = 64L << 20;

    private readonly Dictionary<int, Stack<float[]>> _free = new();
    private readonly Dictionary<float[], int> _liveReferences = new(ReferenceEqualityComparer.Instance);
    private long _pooledFloats;

    public float[]? RentFloats(int length)
    {
        if (length < MinPooledLength) return null;
        float[] array;
        if (_free.TryGetValue(length, out var stack) && stack.Count > 0)
        {
            array = stack.Pop();
            _pooledFloats -= length;
        }
        else array = GC.AllocateUninitializedArray<float>(length);
        _liveReferences[array] = 0;
        return array;
    }

    /// <summary>A value slot now holds <paramref name="data"/>.</summary>
    public void Retain(Array data)
    {
        if (data is float[] f && _liveReferences.TryGetValue(f, out int n)) _liveReferences[f] = n + 1;
    }

    /// <summary>A value slot holding <paramref name="data"/> was cleared; the array is reused once no slot holds it.</summary>
    public void Release(Array data)
    {
        if (data is not float[] f || !_liveReferences.TryGetValue(f, out int n)) return;
        if (n > 1) { _liveReferences[f] = n - 1; return; }
        _liveReferences.Remove(f);
        if (_pooledFloats + f.Length > MaxPooledFloats) return;
        if (!_free.TryGetValue(f.Length, out var stack)) _free[f.Length] = stack = new Stack<float[]>();
        stack.Push(f);
        _pooledFloats += f.Length;
    }

    /// <summary>End of a run: whatever is still rented now belongs to the caller's outputs (or is garbage).</summary>
    public void EndRun() => _liveReferences.Clear();
}
