using System;

namespace QuantBuild.BuildContract
{
    /// <summary>What <c>quantbuild build</c> does with one model of the manifest.</summary>
    public enum ModelAction
    {
        /// <summary>The quantizer runs.</summary>
        Quantizing,

        /// <summary>The outputs come from the result cache; the quantizer does not run.</summary>
        Restoring,

        /// <summary>A figure the build log shows at normal verbosity (the detail), such as a verify agreement line.</summary>
        Reporting,
    }

    /// <summary>
    /// The line <c>quantbuild build</c> prints on stdout before it handles each model of the manifest, so the
    /// MSBuild task can say per model whether the quantizer runs or the result cache serves it (only the tool
    /// knows: the cache key needs the sidecar's calibration globs resolved). Tab-separated:
    /// <c>quantbuild-model</c>, the action, the model's path as the manifest gives it, and a detail (the cache
    /// entry for <see cref="ModelAction.Restoring"/>, else empty). Shared source (see <see cref="ModelNaming"/>):
    /// the tool, the task and the test fake use this one format.
    /// </summary>
    public static class ToolProgress
    {
        private const string Prefix = "quantbuild-model\t";

        public static string Format(ModelAction action, string modelPath, string detail = "") =>
            Prefix + (action == ModelAction.Quantizing ? "quantizing" : action == ModelAction.Restoring ? "restoring" : "reporting") + "\t" + modelPath + "\t" + detail.Replace('\t', ' ');

        /// <summary>The action, model path and detail of a progress line; false for any other line.</summary>
        public static bool TryParse(string line, out ModelAction action, out string modelPath, out string detail)
        {
            action = ModelAction.Quantizing;
            modelPath = "";
            detail = "";
            if (!line.StartsWith(Prefix, StringComparison.Ordinal))
                return false;
            var fields = line.Substring(Prefix.Length).Split('\t');
            if (fields.Length != 3 || fields[1].Length == 0)
                return false;
            if (fields[0] == "quantizing")
                action = ModelAction.Quantizing;
            else if (fields[0] == "restoring")
                action = ModelAction.Restoring;
            else if (fields[0] == "reporting")
                action = ModelAction.Reporting;
            else
                return false;
            modelPath = fields[1];
            detail = fields[2];
            return true;
        }
    }
}
