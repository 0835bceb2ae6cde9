using System;
using System.Collections.Generic;
using System.IO;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using QuantBuild.BuildContract;

namespace QuantBuild.Tasks
{
    /// <summary>
    /// Predicts, from the QuantizedModel items alone, every path the tool will write, and collects
    /// each model's up-to-date inputs (sidecar, stamp file, the files the last run listed in its
    /// dependency file). Every item it returns carries <c>Source</c> = the model's full path, the key
    /// the generation target batches on. It never reads a model or runs the tool, so it is cheap
    /// enough for every build, design-time builds included.
    /// </summary>
    public sealed class PredictQuantizedOutputs : Task
    {
        /// <summary>The QuantizedModel items (metadata: Settings, ClassName, Namespace, Access).</summary>
        [Required]
        public ITaskItem[] Models { get; set; } = Array.Empty<ITaskItem>();

        /// <summary>The consuming project's directory; relative paths are resolved against it.</summary>
        [Required]
        public string ProjectDirectory { get; set; } = "";

        /// <summary>Folder for generated files, usually $(IntermediateOutputPath)quantbuild/.</summary>
        [Required]
        public string IntermediateDirectory { get; set; } = "";

        /// <summary>The runtime source file the tool writes; an output of every model.</summary>
        public string RuntimeFile { get; set; } = "";

        /// <summary>
        /// When false (design-time builds, clean), a missing model file is a message, not an error:
        /// a failing design-time build poisons IntelliSense for every dependent project.
        /// </summary>
        public bool MissingModelIsError { get; set; } = true;

        /// <summary>The project's <c>$(LangVersion)</c> and <c>$(MaxSupportedLangVersion)</c> (what "default" means for its framework).</summary>
        public string LanguageVersion { get; set; } = "";

        public string MaxSupportedLanguageVersion { get; set; } = "";

        /// <summary>
        /// The compilation symbol this build defines so the generated runtime's <c>#nullable enable</c> is active:
        /// <see cref="CSharpLanguage.NullableDirectiveSymbol"/> when the project's C# is 8 or later, else empty
        /// (the generated files are the same for every target framework; see <see cref="CSharpLanguage.Any"/>).
        /// </summary>
        [Output]
        public string CompilationSymbols { get; private set; } = "";

        /// <summary>One item per distinct model: full path as identity, every predicted path as metadata.</summary>
        [Output]
        public ITaskItem[] PredictedModels { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>Up-to-date inputs besides the model itself, each with Source metadata.</summary>
        [Output]
        public ITaskItem[] Inputs { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>Every file the tool is expected to write, each with Source metadata.</summary>
        [Output]
        public ITaskItem[] ExpectedOutputs { get; private set; } = Array.Empty<ITaskItem>();

        /// <summary>The quantized .onnx files, with Link metadata for copying to the output directory.</summary>
        [Output]
        public ITaskItem[] QuantizedOnnxFiles { get; private set; } = Array.Empty<ITaskItem>();

        public override bool Execute()
        {
            var models = new List<ITaskItem>();
            var inputs = new List<ITaskItem>();
            var outputs = new List<ITaskItem>();
            var onnxFiles = new List<ITaskItem>();
            var seen = new HashSet<string>(PathComparer);
            var classOwners = new Dictionary<string, string>(StringComparer.Ordinal);
            var projectDirectory = Path.GetFullPath(ProjectDirectory);
            var intermediate = Path.GetFullPath(Path.Combine(projectDirectory, IntermediateDirectory));

            foreach (var item in Models)
            {
                var modelPath = Path.GetFullPath(Path.Combine(projectDirectory, item.ItemSpec));
                if (!seen.Add(modelPath))
                {
                    Log.LogMessage(MessageImportance.Low, "QuantBuild: {0} is listed more than once; using the first QuantizedModel item.", item.ItemSpec);
                    continue;
                }

                var prediction = Predict(item, modelPath, projectDirectory, intermediate);
                if (prediction == null)
                    continue;

                var key = Metadata(prediction, "Namespace") + "." + Metadata(prediction, "ClassName");
                if (classOwners.TryGetValue(key, out var owner))
                {
                    Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ClassNameCollision, null, item.ItemSpec, 0, 0, 0, 0,
                        "QuantizedModel '{0}' would generate class '{1}', already generated for '{2}'. Set ClassName (or Namespace) metadata on one of them.",
                        item.ItemSpec, key.TrimStart('.'), owner);
                    continue;
                }
                classOwners.Add(key, item.ItemSpec);

                models.Add(prediction);
                AddPerModelFiles(prediction, inputs, outputs, onnxFiles);
            }

            CompilationSymbols = CSharpLanguage.AllowsNullableDirective(CSharpLanguage.Effective(LanguageVersion, MaxSupportedLanguageVersion))
                ? CSharpLanguage.NullableDirectiveSymbol : "";
            PredictedModels = models.ToArray();
            Inputs = inputs.ToArray();
            ExpectedOutputs = outputs.ToArray();
            QuantizedOnnxFiles = onnxFiles.ToArray();
            return !Log.HasLoggedErrors;
        }

        /// <summary>The metadata naming the files the tool writes per model; the generation marker is written last.</summary>
        internal static readonly string[] GeneratedFileMetadata = { "GeneratedCode", "QuantizedOnnx", "Report", "DependencyFile", "GenerationFile" };

        private static StringComparer PathComparer =>
            Path.DirectorySeparatorChar == '\\' ? StringComparer.OrdinalIgnoreCase : StringComparer.Ordinal;

        private ITaskItem? Predict(ITaskItem item, string modelPath, string projectDirectory, string intermediate)
        {
            bool modelExists = File.Exists(modelPath);
            if (!modelExists)
            {
                if (MissingModelIsError)
                    Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ModelNotFound, null, item.ItemSpec, 0, 0, 0, 0, "Model file '{0}' does not exist.", modelPath);
                else
                    Log.LogMessage(MessageImportance.Low, "QuantBuild: model file '{0}' does not exist; it is not quantized in this build.", modelPath);
            }

            var stem = Path.GetFileNameWithoutExtension(modelPath);
            var relative = ModelNaming.RelativePathUnder(projectDirectory, modelPath);

            // Keywords are valid names: the generated code writes them with '@' (ClassName="event" is
            // the class @event), so a project named after a keyword still gets a working namespace.
            var className = item.GetMetadata("ClassName").Trim();
            if (className.Length == 0)
                className = ModelNaming.ToClassName(stem);
            else if (!ModelNaming.IsValidIdentifier(className))
            {
                Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.InvalidItemMetadata, null, item.ItemSpec, 0, 0, 0, 0,
                    "ClassName '{0}' is not a valid C# identifier (letters, digits and '_', not starting with a digit; write keywords without '@').", className);
                return null;
            }

            var ns = item.GetMetadata("Namespace").Trim();
            if (!ModelNaming.IsValidNamespace(ns))
            {
                Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.InvalidItemMetadata, null, item.ItemSpec, 0, 0, 0, 0, "Namespace '{0}' is not a valid C# namespace.", ns);
                return null;
            }

            var access = item.GetMetadata("Access").Trim().ToLowerInvariant();
            if (access.Length == 0)
                access = "internal";
            if (access != "internal" && access != "public")
            {
                Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.InvalidItemMetadata, null, item.ItemSpec, 0, 0, 0, 0, "Access '{0}' must be 'internal' or 'public'.", item.GetMetadata("Access"));
                return null;
            }

            var settings = item.GetMetadata("Settings").Trim();
            var sidecar = settings.Length == 0
                ? Path.Combine(Path.GetDirectoryName(modelPath)!, stem + ".quant.json")
                : Path.GetFullPath(Path.Combine(projectDirectory, settings));
            if (settings.Length != 0 && !File.Exists(sidecar))
            {
                // An explicitly named sidecar that is missing is a mistake; the default one is optional.
                if (MissingModelIsError)
                    Log.LogError(null, QuantBuild.Diagnostics.DiagnosticCodes.ModelNotFound, null, item.ItemSpec, 0, 0, 0, 0, "Settings file '{0}' does not exist.", sidecar);
            }

            // Models outside the project (../models/m.onnx) key on their full path instead; the
            // hash then differs between checkouts, which only costs a regeneration.
            var outputDir = Path.Combine(intermediate, ModelNaming.StableFolderName(relative ?? modelPath)) + Path.DirectorySeparatorChar;
            var result = new TaskItem(modelPath);
            result.SetMetadata("Source", modelPath);
            result.SetMetadata("ModelExists", modelExists ? "true" : "false");
            result.SetMetadata("Name", stem);
            result.SetMetadata("ClassName", className);
            result.SetMetadata("Namespace", ns);
            result.SetMetadata("Access", access);
            result.SetMetadata("Sidecar", sidecar);
            result.SetMetadata("SidecarExists", File.Exists(sidecar) ? "true" : "false");
            result.SetMetadata("OutputDir", outputDir);
            result.SetMetadata("GeneratedCode", outputDir + ModelOutputs.CSharp(stem));
            result.SetMetadata("QuantizedOnnx", outputDir + ModelOutputs.QuantizedOnnx(stem));
            result.SetMetadata("Report", outputDir + ModelOutputs.Report(stem));
            result.SetMetadata("DependencyFile", outputDir + ModelOutputs.Dependencies(stem));
            result.SetMetadata("GenerationFile", outputDir + ModelOutputs.Generation(stem));
            result.SetMetadata("StampFile", outputDir + ModelOutputs.Stamp(stem));
            var relativeFolder = relative == null ? "" : Path.GetDirectoryName(relative) ?? "";
            result.SetMetadata("OutputLink", Path.Combine(relativeFolder, ModelOutputs.QuantizedOnnx(stem)));
            result.SetMetadata("ProjectRelativePath", relative ?? modelPath);
            result.SetMetadata("CopyQuantizedModel", item.GetMetadata("CopyQuantizedModel"));
            return result;
        }

        private void AddPerModelFiles(ITaskItem model, List<ITaskItem> inputs, List<ITaskItem> outputs, List<ITaskItem> onnxFiles)
        {
            var source = model.ItemSpec;

            // Only inputs that exist: MSBuild treats a missing input as out of date, so an optional
            // sidecar that is absent would regenerate the model on every build. Its absence is
            // recorded in the stamp instead, so creating it still triggers a rebuild.
            if (Metadata(model, "SidecarExists") == "true")
                inputs.Add(WithSource(Metadata(model, "Sidecar"), source));
            inputs.Add(WithSource(Metadata(model, "StampFile"), source));
            // A listed file that no longer exists makes the model stale (MSBuild's rule for a missing
            // input); the run then lists what it reads now.
            foreach (var dependency in ReadDependencyFile(Metadata(model, "DependencyFile")))
                inputs.Add(WithSource(dependency, source));

            foreach (var name in GeneratedFileMetadata)
                outputs.Add(WithSource(Metadata(model, name), source));
            if (RuntimeFile.Length != 0)
                outputs.Add(WithSource(Path.GetFullPath(Path.Combine(ProjectDirectory, RuntimeFile)), source));

            // CopyQuantizedModel="false" keeps the .quant.onnx out of the output folder (C#-only consumers).
            if (string.Equals(Metadata(model, "CopyQuantizedModel"), "false", StringComparison.OrdinalIgnoreCase))
                return;
            var onnx = new TaskItem(Metadata(model, "QuantizedOnnx"));
            onnx.SetMetadata("Link", Metadata(model, "OutputLink"));
            onnx.SetMetadata("CopyToOutputDirectory", "PreserveNewest");
            onnx.SetMetadata("Visible", "false");
            onnxFiles.Add(onnx);
        }

        /// <summary>
        /// The inputs the tool reported reading last time (model, sidecar, calibration files), one
        /// absolute path per line. A missing or unreadable file just means "no extra inputs known":
        /// the model's outputs are then missing too, so it is regenerated anyway.
        /// </summary>
        internal static IEnumerable<string> ReadDependencyFile(string path)
        {
            string[] lines;
            try
            {
                if (!File.Exists(path))
                    return Array.Empty<string>();
                lines = File.ReadAllLines(path);
            }
            catch (IOException)
            {
                return Array.Empty<string>();
            }
            catch (UnauthorizedAccessException)
            {
                return Array.Empty<string>();
            }
            var result = new List<string>();
            foreach (var raw in lines)
            {
                var line = raw.Trim();
                if (line.Length != 0 && Path.IsPathRooted(line))
                    result.Add(line);
            }
            return result;
        }

        private static TaskItem WithSource(string path, string source)
        {
            var item = new TaskItem(path);
            item.SetMetadata("Source", source);
            return item;
        }

        private static string Metadata(ITaskItem item, string name) => item.GetMetadata(name);
    }
}
