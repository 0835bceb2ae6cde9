namespace QuantBuild.Tasks
{
    /// <summary>
    /// The QB5xxx codes (build integration) that the in-process tasks report themselves. They mirror
    /// the QB5xxx range of the catalogue in QuantBuild.Onnx's DiagnosticCodes; this assembly cannot
    /// reference that one (netstandard2.0, no dependencies), so the numbers are repeated here.
    /// </summary>
    internal static class BuildDiagnosticCodes
    {
        /// <summary>Two models would generate the same class (same namespace and class name).</summary>
        public const string ClassNameCollision = "QB5001";

        /// <summary>A QuantizedModel item names a file that does not exist.</summary>
        public const string ModelNotFound = "QB5002";

        /// <summary>Item metadata (Access, ClassName, a path) cannot be used as given.</summary>
        public const string InvalidItemMetadata = "QB5003";

        /// <summary>The quantbuild tool assembly or the dotnet host cannot be found.</summary>
        public const string ToolNotFound = "QB5004";

        /// <summary>The tool exited with a failure code without printing a QB diagnostic.</summary>
        public const string ToolFailed = "QB5005";
    }
}
