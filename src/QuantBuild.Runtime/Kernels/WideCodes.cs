using System.Runtime.CompilerServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// Element access for kernels generic over their code width (docs/wide-activations.md, "Integer kernels"): T is
    /// sbyte (int8 codes) or short (16-bit codes). The JIT compiles one body per width and drops the other branch.
    /// </summary>
    internal static class WideCodes
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static int Read<T>(ref T origin, int index)
            where T : struct
        {
            return typeof(T) == typeof(short)
                ? Unsafe.Add(ref Unsafe.As<T, short>(ref origin), index)
                : Unsafe.Add(ref Unsafe.As<T, sbyte>(ref origin), index);
        }

        /// <summary>Stores <paramref name="code"/>, which the caller has clamped to T's range.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Write<T>(ref T origin, int index, int code)
            where T : struct
        {
            if (typeof(T) == typeof(short))
            {
                Unsafe.Add(ref Unsafe.As<T, short>(ref origin), index) = (short)code;
            }
            else
            {
                Unsafe.Add(ref Unsafe.As<T, sbyte>(ref origin), index) = (sbyte)code;
            }
        }
    }
}
