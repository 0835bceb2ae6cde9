using System.Diagnostics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

/// <summary>
/// The int8 multiply-accumulate rate one core reaches with the instructions the conv tiles use, with nothing
/// but registers: eight independent accumulator chains, so throughput rather than latency limits it. The
/// ceiling for the "% of peak" figure of the largest conv layer.
/// </summary>
static class PeakProbe
{
    private static (double Rate, string Instructions)? measured;

    public static (double Rate, string Instructions) Int8MacRate()
    {
        measured ??= Measure();
        return measured.Value;
    }

    private static (double, string) Measure()
    {
        if (!Avx2.IsSupported) return (0, "");
        string name = AvxVnni.IsSupported ? "vpdpbusd (AVX-VNNI, 256-bit)" : "vpmaddubsw+vpmaddwd (AVX2, 256-bit)";
        Run(1000); // JIT and warm-up
        double best = 0;
        const int iterations = 2_000_000;
        for (int rep = 0; rep < 5; rep++)
        {
            long start = Stopwatch.GetTimestamp();
            Vector256<int> sink = Run(iterations);
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            if (sink == Vector256<int>.AllBitsSet) Console.Write(""); // keeps the result alive
            // 8 chains × 32 u8·s8 products per 256-bit step.
            best = Math.Max(best, iterations * 8.0 * 32 / seconds / 1e9);
        }

        return (best, name);
    }

    private static Vector256<int> Run(int iterations)
    {
        Vector256<byte> x = Vector256.Create((byte)3);
        // A different weight vector per chain, so no product is shared (the JIT would compute a shared one once).
        Vector256<sbyte> w0 = Vector256.Create((sbyte)1), w1 = Vector256.Create((sbyte)2), w2 = Vector256.Create((sbyte)3), w3 = Vector256.Create((sbyte)4);
        Vector256<sbyte> w4 = Vector256.Create((sbyte)5), w5 = Vector256.Create((sbyte)6), w6 = Vector256.Create((sbyte)7), w7 = Vector256.Create((sbyte)8);
        Vector256<short> ones = Vector256.Create((short)1);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i < iterations; i++)
        {
            if (AvxVnni.IsSupported)
            {
                a0 = AvxVnni.MultiplyWideningAndAdd(a0, x, w0); a1 = AvxVnni.MultiplyWideningAndAdd(a1, x, w1);
                a2 = AvxVnni.MultiplyWideningAndAdd(a2, x, w2); a3 = AvxVnni.MultiplyWideningAndAdd(a3, x, w3);
                a4 = AvxVnni.MultiplyWideningAndAdd(a4, x, w4); a5 = AvxVnni.MultiplyWideningAndAdd(a5, x, w5);
                a6 = AvxVnni.MultiplyWideningAndAdd(a6, x, w6); a7 = AvxVnni.MultiplyWideningAndAdd(a7, x, w7);
            }
            else
            {
                a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w0), ones));
                a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w1), ones));
                a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w2), ones));
                a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w3), ones));
                a4 = Avx2.Add(a4, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w4), ones));
                a5 = Avx2.Add(a5, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w5), ones));
                a6 = Avx2.Add(a6, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w6), ones));
                a7 = Avx2.Add(a7, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, w7), ones));
            }

            // A dependence on the loop counter so the products cannot be hoisted out of the loop.
            x = Avx2.Xor(x, Vector256.Create((byte)(i & 1)));
        }

        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;
    }
}
