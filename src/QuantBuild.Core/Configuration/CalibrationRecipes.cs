namespace QuantBuild.Configuration;

/// <summary>How files of one calibration input become model input tensors (docs/calibration-data.md).</summary>
public abstract record CalibrationRecipe
{
    /// <summary>The sidecar key that names the files: "images" or "audio".</summary>
    public abstract string SourceKey { get; }
}

/// <summary>How an image is fitted to <see cref="ImageRecipe.Resize"/> when the aspect ratios differ.</summary>
public enum ImageFit
{
    /// <summary>Each axis scaled on its own: the whole image, distorted.</summary>
    Stretch,
    /// <summary>Scaled to cover the target, the overhang cut off equally on both sides.</summary>
    Crop,
    /// <summary>Scaled to fit inside the target, the rest filled with <see cref="ImageRecipe.Pad"/>.</summary>
    Letterbox,
}

public enum ChannelOrder { Rgb, Bgr, Gray }

public enum ImageLayout { Nchw, Nhwc }

/// <summary>
/// The sidecar's image recipe: decode (8 bits per channel), fit to <see cref="Resize"/> with bilinear sampling,
/// order the channels, then value = (pixel · <see cref="Scale"/> − mean[c]) / std[c] per channel c.
/// </summary>
public sealed record ImageRecipe : CalibrationRecipe
{
    public override string SourceKey => "images";
    /// <summary>Target [height, width]; null keeps each image's own size (which must then fit the model).</summary>
    public int[]? Resize { get; init; }
    public ImageFit Fit { get; init; } = ImageFit.Stretch;
    /// <summary>Pixel value (0..255, before scale/mean/std) of the letterbox border.</summary>
    public double Pad { get; init; }
    public ChannelOrder ChannelOrder { get; init; } = ChannelOrder.Rgb;
    public ImageLayout Layout { get; init; } = ImageLayout.Nchw;
    public double Scale { get; init; } = 1;
    /// <summary>One value per channel, or one for all.</summary>
    public double[] Mean { get; init; } = [0];
    public double[] Std { get; init; } = [1];

    public int Channels => ChannelOrder == ChannelOrder.Gray ? 1 : 3;
}

/// <summary>
/// The sidecar's audio recipe: WAV samples as floats in [−1, 1), channels averaged to mono, resampled to
/// <see cref="SampleRate"/>, cut into windows of <see cref="Window"/> samples every <see cref="Hop"/> samples
/// (one model sample per window), each value multiplied by <see cref="Scale"/>.
/// </summary>
public sealed record AudioRecipe : CalibrationRecipe
{
    public override string SourceKey => "audio";
    public required int SampleRate { get; init; }
    public required int Window { get; init; }
    /// <summary>Samples between window starts; 0 = <see cref="Window"/> (no overlap).</summary>
    public int Hop { get; init; }
    public double Scale { get; init; } = 1;
    /// <summary>When set, every file must have this rate (no resampling wanted).</summary>
    public int? FileSampleRate { get; init; }
    /// <summary>When set, every file must have this many channels.</summary>
    public int? FileChannels { get; init; }

    public int EffectiveHop => Hop > 0 ? Hop : Window;
}
