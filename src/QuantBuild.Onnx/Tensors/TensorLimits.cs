using System.Globalization;
using QuantBuild.Diagnostics;

namespace QuantBuild.Tensors;

/// <summary>
/// Memory ceilings for sizes a model controls (shapes from attributes, shape inputs, pads, repeats...).
/// Every such size is computed in checked 64-bit arithmetic and compared with these limits before
/// anything is allocated, so a 400 KB model that asks for 10 GB fails at once with QB2009 instead of
/// allocating until the machine gives up (or wrapping a 32-bit count to a small buffer).
/// <para>
/// The limits are ambient (<see cref="Use"/> installs them for the current async flow, which parallel
/// loops inherit): the hundreds of places that create tensors cannot all be handed an options object,
/// and concurrent runs (tests, a build quantizing several models) each keep their own.
/// </para>
/// </summary>
public sealed record TensorLimits
{
    /// <summary>2 GiB: a float tensor of 512 M elements, far above any activation of the models QuantBuild targets.</summary>
    public const long DefaultMaxTensorBytes = 2L << 30;

    /// <summary>8 GiB for every tensor alive at once (the float engine's live values, the integer plan's arena).</summary>
    public const long DefaultMaxTotalBytes = 8L << 30;

    /// <summary>Largest size of one tensor's data in bytes.</summary>
    public long MaxTensorBytes { get; init; } = DefaultMaxTensorBytes;

    /// <summary>Largest size of all tensors alive at once, in bytes.</summary>
    public long MaxTotalBytes { get; init; } = DefaultMaxTotalBytes;

    public static TensorLimits Default { get; } = new();

    private static readonly AsyncLocal<TensorLimits?> s_current = new();
    private static readonly AsyncLocal<LiveTensorMemory?> s_live = new();

    /// <summary>The limits of the current flow (<see cref="Default"/> unless <see cref="Use"/> installed others).</summary>
    public static TensorLimits Current => s_current.Value ?? Default;

    /// <summary>Installs <paramref name="limits"/> for the current flow until the returned scope is disposed.</summary>
    public static IDisposable Use(TensorLimits limits)
    {
        var previous = s_current.Value;
        s_current.Value = limits;
        return new Restore(() => s_current.Value = previous);
    }

    /// <summary>Makes <paramref name="live"/> the running total new tensors are added to (the engine installs one per run).</summary>
    public static IDisposable Track(LiveTensorMemory live)
    {
        var previous = s_live.Value;
        s_live.Value = live;
        return new Restore(() => s_live.Value = previous);
    }

    /// <summary>
    /// Element count of <paramref name="shape"/> in checked 64-bit arithmetic, refused (QB2009) when a
    /// dimension is negative or beyond 32 bits, when the count exceeds what one array holds, or when its
    /// bytes exceed <see cref="MaxTensorBytes"/> or (with the tensors alive now) <see cref="MaxTotalBytes"/>.
    /// </summary>
    /// <param name="what">names the tensor in the message ("output", "pads result"...)</param>
    public static int CheckedElementCount(DataType type, ReadOnlySpan<long> shape, string what = "tensor") =>
        CheckedElementCount(DataTypes.Name(type), ElementSize(type), shape, what);

    /// <summary>The same check for an array of <typeparamref name="T"/> that kernels allocate directly.</summary>
    public static int CheckedElementCount<T>(ReadOnlySpan<int> shape, string what = "tensor")
    {
        Span<long> wide = shape.Length <= 8 ? stackalloc long[shape.Length] : new long[shape.Length];
        for (int i = 0; i < shape.Length; i++) wide[i] = shape[i];
        return CheckedElementCount(typeof(T).Name.ToLowerInvariant(), System.Runtime.CompilerServices.Unsafe.SizeOf<T>(), wide, what);
    }

    private static int CheckedElementCount(string typeName, int elementSize, ReadOnlySpan<long> shape, string what)
    {
        var limits = Current;
        string Describe(ReadOnlySpan<long> dims) => $"{typeName}[{string.Join(",", dims.ToArray())}]";
        foreach (long d in shape)
            if (d < 0 || d > int.MaxValue)
                throw TooLarge($"{what} {Describe(shape)} has dimension {d}, outside 0..{int.MaxValue}");
        if (shape.IndexOf(0L) >= 0) return 0;
        long count = 1;
        foreach (long d in shape)
        {
            if (count > long.MaxValue / d)
                throw TooLarge($"{what} {Describe(shape)} has more elements than 64-bit arithmetic can count");
            count *= d;
        }
        // Saturated rather than wrapped: anything that large is refused by the limit anyway.
        long bytes = count > long.MaxValue / elementSize ? long.MaxValue : count * elementSize;
        if (bytes > limits.MaxTensorBytes)
            throw TooLarge($"{what} {Describe(shape)} would take {Bytes(bytes)}, more than the limit of {Bytes(limits.MaxTensorBytes)} per tensor (--max-tensor-bytes)");
        // Only reachable when the limit was raised above what one .NET array holds.
        if (count > Array.MaxLength)
            throw TooLarge($"{what} {Describe(shape)} has {count} elements; one array holds at most {Array.MaxLength}");
        if (s_live.Value is { } live && live.Bytes + bytes > limits.MaxTotalBytes)
            throw TooLarge($"{what} {Describe(shape)} would take {Bytes(bytes)} with {Bytes(live.Bytes)} of tensors alive, more than the limit of {Bytes(limits.MaxTotalBytes)} in all (--max-memory-bytes)");
        return (int)count;
    }

    /// <inheritdoc cref="CheckedElementCount(DataType, ReadOnlySpan{long}, string)"/>
    public static int CheckedElementCount(DataType type, ReadOnlySpan<int> shape, string what = "tensor")
    {
        Span<long> wide = shape.Length <= 8 ? stackalloc long[shape.Length] : new long[shape.Length];
        for (int i = 0; i < shape.Length; i++) wide[i] = shape[i];
        return CheckedElementCount(type, wide, what);
    }

    /// <summary>Refuses a whole plan (an integer arena, ...) of <paramref name="bytes"/> above <see cref="MaxTotalBytes"/>.</summary>
    public static void CheckTotal(long bytes, string what)
    {
        var limits = Current;
        if (bytes > limits.MaxTotalBytes)
            throw TooLarge($"{what} would take {Bytes(bytes)}, more than the limit of {Bytes(limits.MaxTotalBytes)} in all (--max-memory-bytes)");
    }

    /// <summary>"4294967296 bytes (4 GiB)": exact for scripts, readable for people.</summary>
    public static string Bytes(long bytes)
    {
        string[] units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
        double value = bytes;
        int unit = -1;
        while (value >= 1024 && unit < units.Length - 1) { value /= 1024; unit++; }
        return unit < 0
            ? string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes")
            : string.Create(CultureInfo.InvariantCulture, $"{bytes} bytes ({value:0.#} {units[unit]})");
    }

    // Types without a fixed size (strings) hold references: count them as one pointer each.
    private static int ElementSize(DataType type) => type == DataType.String ? IntPtr.Size : DataTypes.SizeInBytes(type);

    internal static long SizeOf(Tensor t) => (long)t.Length * ElementSize(t.Type);

    private static QuantBuildException TooLarge(string message) => new(DiagnosticCodes.TensorTooLarge, message);

    private sealed class Restore(Action restore) : IDisposable
    {
        private Action? _restore = restore;

        public void Dispose()
        {
            _restore?.Invoke();
            _restore = null;
        }
    }
}

/// <summary>
/// Bytes of the tensors a run holds at once. Values that share one array (Reshape and the other views)
/// count once; an array leaves the total when its last holder is released.
/// </summary>
public sealed class LiveTensorMemory
{
    private readonly Dictionary<Array, int> _holders = new(ReferenceEqualityComparer.Instance);

    public long Bytes { get; private set; }

    /// <summary>Highest <see cref="Bytes"/> seen.</summary>
    public long PeakBytes { get; private set; }

    public void Hold(Tensor t)
    {
        lock (_holders)
        {
            _holders[t.Data] = _holders.GetValueOrDefault(t.Data) + 1;
            if (_holders[t.Data] > 1) return;
            Bytes += TensorLimits.SizeOf(t);
            PeakBytes = Math.Max(PeakBytes, Bytes);
        }
    }

    public void Release(Tensor t)
    {
        lock (_holders)
        {
            if (!_holders.TryGetValue(t.Data, out int n)) return;
            if (n > 1) { _holders[t.Data] = n - 1; return; }
            _holders.Remove(t.Data);
            Bytes -= TensorLimits.SizeOf(t);
        }
    }
}
