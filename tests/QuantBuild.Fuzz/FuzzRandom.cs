namespace QuantBuild.Fuzz;

/// <summary>
/// SplitMix64: a tiny PRNG whose sequence for a seed is fixed by this file alone, so a seed printed by
/// one run (or fixed in a test) replays the same inputs on any runtime version (System.Random's seeded
/// sequence is an implementation detail).
/// </summary>
public sealed class FuzzRandom(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, max); max must be positive.</summary>
    public int Next(int max) => (int)(NextUInt64() % (ulong)max);

    public int Next(int min, int max) => min + Next(max - min);

    public bool Chance(int oneIn) => Next(oneIn) == 0;

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    /// <summary>Small sizes far more often than large ones: most interesting edits are a few bytes.</summary>
    public int SmallCount(int max) => Math.Min(max, 1 + Next(Chance(4) ? max : Math.Min(max, 8)));
}
