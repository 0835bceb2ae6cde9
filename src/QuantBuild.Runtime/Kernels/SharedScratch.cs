namespace QuantBuild.Runtime
{
    /// <summary>
    /// Scratch memory the convolution kernels use only during one Eval (packed input chunks, gathered lanes, a chunk's
    /// raw sums), shared by every kernel on a thread instead of held by each layer: a model's layers run one after
    /// another, so the largest layer's need is all a thread holds (about 80 KB), not the sum over its layers (1.8 MB for
    /// PaddleOCR cls). Buffers grow on first use on a thread and are then reused, so every later Run allocates nothing.
    /// Nothing in them survives from one Eval to the next; a kernel instance belongs to one model instance, which runs on
    /// one thread at a time.
    /// </summary>
    internal static class SharedScratch
    {
#pragma warning disable CS8618 // thread-static fields start null on every thread (C# 7.3 cannot annotate that)
        [System.ThreadStatic]
        private static byte[] bytes0;

        [System.ThreadStatic]
        private static byte[] bytes1;

        [System.ThreadStatic]
        private static int[] ints0;
#pragma warning restore CS8618

        /// <summary>A byte buffer of at least <paramref name="length"/> for slot 0 or 1 (two may be in use at once).</summary>
        public static byte[] Bytes(int slot, int length)
        {
            if (slot == 0)
            {
                if (bytes0 == null || bytes0.Length < length)
                {
                    bytes0 = new byte[length];
                }

                return bytes0;
            }

            if (bytes1 == null || bytes1.Length < length)
            {
                bytes1 = new byte[length];
            }

            return bytes1;
        }

        /// <summary>Bytes this thread's scratch holds now (diagnostics: the benchmarks report it).</summary>
        public static long HeldBytes
        {
            get
            {
                return (bytes0 == null ? 0 : bytes0.Length) + (bytes1 == null ? 0 : bytes1.Length) + (ints0 == null ? 0 : 4L * ints0.Length);
            }
        }

        /// <summary>An int buffer of at least <paramref name="length"/>.</summary>
        public static int[] Ints(int length)
        {
            if (ints0 == null || ints0.Length < length)
            {
                ints0 = new int[length];
            }

            return ints0;
        }
    }
}
