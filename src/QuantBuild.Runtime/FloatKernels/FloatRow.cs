using System;
using System.Runtime.CompilerServices;
#if NET8_0_OR_GREATER
using System.Runtime.Intrinsics;
#endif

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Row operations the float kernels share. Each keeps the scalar loop's arithmetic per element (a float multiply,
    /// then a float add, never fused), so a kernel that uses them gives the same bits on every path.
    /// </summary>
    internal static class FloatRow
    {
#if NET8_0_OR_GREATER
        /// <summary>target[i] += w · source[i] over whole vectors of <paramref name="count"/>; returns how many it did (the rest is the caller's scalar tail).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static int MultiplyAdd(ref float source, ref float target, float w, int count)
        {
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> weight = Vector256.Create(w);
                for (; i <= count - 8; i += 8)
                {
                    (Vector256.LoadUnsafe(ref target, (nuint)i) + weight * Vector256.LoadUnsafe(ref source, (nuint)i)).StoreUnsafe(ref target, (nuint)i);
                }
            }

            if (Vector128.IsHardwareAccelerated)
            {
                Vector128<float> weight4 = Vector128.Create(w);
                for (; i <= count - 4; i += 4)
                {
                    (Vector128.LoadUnsafe(ref target, (nuint)i) + weight4 * Vector128.LoadUnsafe(ref source, (nuint)i)).StoreUnsafe(ref target, (nuint)i);
                }
            }

            return i;
        }

        /// <summary>values[i] *= w over whole vectors of <paramref name="count"/>; returns how many it did (the rest is the caller's scalar tail).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        internal static int Scale(ref float values, float w, int count)
        {
            int i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                Vector256<float> weight = Vector256.Create(w);
                for (; i <= count - 8; i += 8)
                {
                    (Vector256.LoadUnsafe(ref values, (nuint)i) * weight).StoreUnsafe(ref values, (nuint)i);
                }
            }

            if (Vector128.IsHardwareAccelerated)
            {
                Vector128<float> weight4 = Vector128.Create(w);
                for (; i <= count - 4; i += 4)
                {
                    (Vector128.LoadUnsafe(ref values, (nuint)i) * weight4).StoreUnsafe(ref values, (nuint)i);
                }
            }

            return i;
        }
#endif
    }
}
