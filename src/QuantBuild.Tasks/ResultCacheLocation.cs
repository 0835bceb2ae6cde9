using System;
using System.IO;
using System.Runtime.InteropServices;

namespace QuantBuild.Tasks
{
    /// <summary>
    /// Where the result cache lives (docs/msbuild.md, "Result cache"): <c>$(QuantBuildCacheDir)</c> when the project
    /// or the environment sets it, else the user's cache folder: <c>%LOCALAPPDATA%\QuantBuild\cache</c> on Windows,
    /// <c>$XDG_CACHE_HOME/quantbuild</c> or <c>~/.cache/quantbuild</c> elsewhere (the XDG convention, which macOS
    /// tools such as pip and NuGet's HTTP cache follow too). Per user, not per project: a second checkout or a
    /// clean clone of the same inputs finds the entries of the first.
    /// </summary>
    internal static class ResultCacheLocation
    {
        /// <summary>The folder to pass to the tool: <paramref name="configured"/> made absolute, or <see cref="Default"/>; empty when there is no home to put it in.</summary>
        public static string Resolve(string configured, Func<string, string?> environment)
        {
            if (configured.Trim().Length != 0)
            {
                // Without its trailing separator: "C:\cache\" quoted on a command line would escape the quote.
                var full = Path.GetFullPath(configured.Trim());
                var root = Path.GetPathRoot(full) ?? "";
                return full.Length > root.Length ? full.TrimEnd(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar) : full;
            }
            return Default(environment, RuntimeInformation.IsOSPlatform(OSPlatform.Windows));
        }

        internal static string Default(Func<string, string?> environment, bool windows)
        {
            if (windows)
            {
                var local = environment("LOCALAPPDATA");
                return IsAbsolute(local) ? Path.Combine(local!, "QuantBuild", "cache") : "";
            }
            // XDG: a relative XDG_CACHE_HOME is invalid and must be ignored.
            var xdg = environment("XDG_CACHE_HOME");
            if (IsAbsolute(xdg))
                return Path.Combine(xdg!, "quantbuild");
            var home = environment("HOME");
            return IsAbsolute(home) ? Path.Combine(home!, ".cache", "quantbuild") : "";
        }

        private static bool IsAbsolute(string? path) => !string.IsNullOrWhiteSpace(path) && Path.IsPathRooted(path);
    }
}
