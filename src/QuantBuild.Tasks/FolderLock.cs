using System;
using System.IO;
using System.Threading;

namespace QuantBuild.Tasks
{
    /// <summary>
    /// An exclusive lock held as an open lock file (FileShare.None: a sharing lock on Windows, flock on Unix),
    /// released when disposed or when the process ends, so a killed build never leaves it held. The file itself
    /// stays: deleting it while another build waits on it would let a third one lock a new file beside it.
    /// </summary>
    internal sealed class FolderLock : IDisposable
    {
        private readonly FileStream _stream;

        private FolderLock(FileStream stream) => _stream = stream;

        /// <summary>Waits for the lock; null (with the reason) when <paramref name="cancelled"/> turns true or <paramref name="timeout"/> passes.</summary>
        public static FolderLock? Acquire(string path, Func<bool> cancelled, TimeSpan timeout, out string error)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                try
                {
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
                    error = "";
                    return new FolderLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
                }
                catch (IOException e) when (!(e is DirectoryNotFoundException))
                {
                    // Held by another build of the same project.
                    if (cancelled() || DateTime.UtcNow > deadline)
                    {
                        error = e.Message;
                        return null;
                    }
                }
                catch (Exception e) when (e is UnauthorizedAccessException || e is DirectoryNotFoundException)
                {
                    error = e.Message;
                    return null;
                }
                Thread.Sleep(100);
            }
        }

        public void Dispose() => _stream.Dispose();
    }
}
