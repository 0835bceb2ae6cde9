using System.Runtime.CompilerServices;

namespace QuantBuild.Runtime
{
    /// <summary>
    /// How the kernels' hot loops ask to be compiled. Tiered compilation with dynamic PGO first runs a method
    /// instrumented, then recompiles it from the profile it saw; for these loops that profile made the code slower
    /// (openWakeWord's embedding in a compiled app: 1.65 ms with PGO, 1.21 ms without, AMD EPYC Zen 3). Methods marked
    /// with <see cref="Optimize"/> (MethodImplOptions.AggressiveOptimization, spelled as its value because
    /// netstandard2.0 does not name it) are compiled once, fully optimized, on first call.
    /// </summary>
    internal static class KernelJit
    {
        public const MethodImplOptions Optimize = (MethodImplOptions)512;
    }
}
