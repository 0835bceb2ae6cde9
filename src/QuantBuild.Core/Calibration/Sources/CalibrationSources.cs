using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Graph;
using QuantBuild.Onnx.IO;
using QuantBuild.Tensors;

namespace QuantBuild.Calibration.Sources;

/// <summary>
/// One calibration file → the model samples it holds, by the input's recipe (docs/calibration-data.md): a tensor
/// file (.npy, or .pb TensorProto) as it is, an image by the image recipe, a WAV file by the audio recipe. The one
/// place calibration, shape inference and the quality measurement read calibration files through.
/// </summary>
public static class CalibrationSources
{
    /// <summary>Most float values the windows of one WAV file may take (256 MB): a tiny hop on a long clip is refused, not allocated.</summary>
    public const long MaxWindowedValues = 64L << 20;

    /// <summary>
    /// The file's contents as one tensor before it is split into samples (shape inference reads the first file this
    /// way); for a WAV file, its first window.
    /// </summary>
    public static Tensor ReadTensor(CalibrationInput input, string file, ValueInfo declared, string? sidecar) => input.Recipe switch
    {
        ImageRecipe image => ReadImage(input, image, file, declared, sidecar),
        AudioRecipe audio => ReadAudio(input, audio, file, declared, sidecar)[0],
        _ => string.Equals(Path.GetExtension(file), ".pb", StringComparison.OrdinalIgnoreCase) ? TensorProtoFile.Read(file) : NpyFile.Read(file),
    };

    /// <summary>The samples of one file in order, each shaped as the model declares its input.</summary>
    public static List<Tensor> ReadSamples(CalibrationInput input, string file, ValueInfo declared, string? sidecar) => input.Recipe switch
    {
        AudioRecipe audio => ReadAudio(input, audio, file, declared, sidecar),
        _ => CalibrationRunner.SplitIntoSamples(ReadTensor(input, file, declared, sidecar), declared, file, sidecar),
    };

    /// <summary>
    /// Before any file is opened: the recipe's sample shape against the model's declared input (rank, channels,
    /// a fixed height/width or window), QB3104 at the input's line in the sidecar, saying what would fit.
    /// </summary>
    public static void CheckRecipeShape(CalibrationInput input, ValueInfo declared, string? sidecar)
    {
        if (input.Recipe is null || declared.Shape is null) return;
        if (declared.Type != DataType.Float && declared.Type != DataType.Undefined)
            throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
                $"calibration input '{input.Name}': the {input.Recipe.SourceKey} recipe produces float32, but the model declares {DataTypes.Name(declared.Type)}",
                sidecar, input.Line, input.Column);
        if (input.Recipe is AudioRecipe audio)
        {
            _ = AudioSampleShape(input, audio, declared, sidecar);
            return;
        }
        var image = (ImageRecipe)input.Recipe;
        long?[] produced = image.Layout == ImageLayout.Nhwc
            ? [1, image.Resize?[0], image.Resize?[1], image.Channels]
            : [1, image.Channels, image.Resize?[0], image.Resize?[1]];
        var shape = declared.Shape;
        bool fits = shape.Length == 4;
        for (int d = 1; fits && d < 4; d++) fits = shape[d] is not long size || produced[d] is not long made || size == made;
        if (fits) return;
        string Dims(long?[] dims) => "[" + string.Join(",", dims.Select(d => d?.ToString() ?? "?")) + "]";
        throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
            $"calibration input '{input.Name}': the images recipe gives {Dims(produced)} ({(image.Layout == ImageLayout.Nhwc ? "NHWC" : "NCHW")}, " +
            $"{image.Channels} channel{(image.Channels == 1 ? "" : "s")}{(image.Resize is null ? ", each image's own size" : "")}), but the model declares {declared.ShapeString}" +
            ImageHint(shape), sidecar, input.Line, input.Column);
    }

    private static string ImageHint(long?[] shape)
    {
        if (shape.Length != 4) return $"; an images recipe fits a rank-4 input only";
        bool nhwc = shape[3] is 1 or 3 && shape[1] is not (1 or 3);
        long? channels = nhwc ? shape[3] : shape[1], height = nhwc ? shape[1] : shape[2], width = nhwc ? shape[2] : shape[3];
        return $"; this looks like layout \"{(nhwc ? "NHWC" : "NCHW")}\"" +
            (channels is long c ? $", channelOrder \"{(c == 1 ? "gray" : "rgb")}\"" : "") +
            (height is long h && width is long w ? $", resize [{h}, {w}]" : "");
    }

    private static Tensor ReadImage(CalibrationInput input, ImageRecipe recipe, string file, ValueInfo declared, string? sidecar)
    {
        var image = ImagePreprocessor.Decode(file, recipe.ChannelOrder);
        if (recipe.Resize is null && declared.Shape is { Length: 4 } shape)
        {
            var (h, w) = recipe.Layout == ImageLayout.Nhwc ? (shape[1], shape[2]) : (shape[2], shape[3]);
            if (h is long needH && needH != image.Height || w is long needW && needW != image.Width)
                throw new QuantBuildException(DiagnosticCodes.CalibrationFileMismatch,
                    $"'{file}' is {image.Width}×{image.Height} pixels (width × height); input '{input.Name}' takes {w?.ToString() ?? "any"}×{h?.ToString() ?? "any"}. " +
                    $"Add \"resize\": [{h?.ToString() ?? "height"}, {w?.ToString() ?? "width"}] to its recipe in {sidecar ?? "the sidecar"}", file);
        }
        return ImagePreprocessor.ToTensor(image, recipe);
    }

    private static List<Tensor> ReadAudio(CalibrationInput input, AudioRecipe recipe, string file, ValueInfo declared, string? sidecar)
    {
        var sampleShape = AudioSampleShape(input, recipe, declared, sidecar);
        var clip = WavFile.Read(file);
        if (recipe.FileSampleRate is int rate && clip.SampleRate != rate)
            throw new QuantBuildException(DiagnosticCodes.CalibrationFileMismatch,
                $"'{file}' is sampled at {clip.SampleRate} Hz; the recipe of input '{input.Name}' declares fileSampleRate {rate} (drop fileSampleRate to resample it)", file);
        if (recipe.FileChannels is int channels && clip.Channels != channels)
            throw new QuantBuildException(DiagnosticCodes.CalibrationFileMismatch,
                $"'{file}' has {clip.Channels} channel{(clip.Channels == 1 ? "" : "s")}; the recipe of input '{input.Name}' declares fileChannels {channels}", file);
        long resampled = clip.Mono.LongLength * recipe.SampleRate / clip.SampleRate;
        long values = AudioPreprocessor.WindowCount(resampled, recipe) * recipe.Window;
        if (values > MaxWindowedValues)
            throw new QuantBuildException(DiagnosticCodes.CalibrationFileMismatch,
                $"'{file}' gives {AudioPreprocessor.WindowCount(resampled, recipe)} windows of {recipe.Window} samples ({values} values), more than the {MaxWindowedValues} accepted per file; use a larger hop or shorter clips", file);
        var signal = AudioPreprocessor.Resample(clip.Mono, clip.SampleRate, recipe.SampleRate);
        return AudioPreprocessor.Windows(signal, recipe).Select(w => Tensor.FromFloats(w, sampleShape)).ToList();
    }

    /// <summary>
    /// The model shape of one window: batch 1, and the window's samples across the other dimensions. Fixed
    /// dimensions must multiply into the window; one symbolic non-batch dimension takes what remains.
    /// </summary>
    private static int[] AudioSampleShape(CalibrationInput input, AudioRecipe recipe, ValueInfo declared, string? sidecar)
    {
        if (declared.Shape is null) return [1, recipe.Window];
        var shape = declared.Shape.Select((d, i) => i == 0 ? 1 : d).ToArray();
        long fixedProduct = shape.Where(d => d is not null).Aggregate(1L, (p, d) => p * d!.Value);
        int open = shape.Count(d => d is null);
        if (open == 0 && fixedProduct == recipe.Window || open == 1 && fixedProduct > 0 && recipe.Window % fixedProduct == 0)
            return shape.Select(d => (int)(d ?? recipe.Window / fixedProduct)).ToArray();
        string need = open == 0 ? $"window {fixedProduct}" : open == 1 ? $"a window that is a multiple of {fixedProduct}" : "at most one open dimension besides the batch";
        throw new QuantBuildException(DiagnosticCodes.CalibrationDataMismatch,
            $"calibration input '{input.Name}': the audio recipe gives windows of {recipe.Window} samples, but the model declares {declared.ShapeString} (needs {need})",
            sidecar, input.Line, input.Column);
    }

}
