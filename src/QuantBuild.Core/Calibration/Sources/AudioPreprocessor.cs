using QuantBuild.Configuration;

namespace QuantBuild.Calibration.Sources;

/// <summary>
/// Turns a decoded clip into model samples by the sidecar's audio recipe (docs/calibration-data.md, "Audio"):
/// linear resampling to the recipe's rate, then fixed windows.
/// </summary>
public static class AudioPreprocessor
{
    /// <summary>
    /// Linear interpolation from <paramref name="fromRate"/> to <paramref name="toRate"/>. Output sample n sits at
    /// input position n·from/to, split exactly into an integer index and a remainder (64-bit integer arithmetic),
    /// so the positions never drift and every machine computes the same values. The last input sample is held
    /// past the end. No low-pass filter: downsampling folds content above the new Nyquist frequency back in.
    /// </summary>
    public static float[] Resample(float[] input, int fromRate, int toRate)
    {
        if (fromRate == toRate || input.Length == 0) return input;
        long length = input.Length * (long)toRate / fromRate;
        var output = new float[Math.Max(1, length)];
        for (long n = 0; n < output.Length; n++)
        {
            long numerator = n * fromRate;
            long i = numerator / toRate;
            double fraction = (double)(numerator % toRate) / toRate;
            double a = input[i], b = input[Math.Min(i + 1, input.Length - 1)];
            output[n] = (float)(a + (b - a) * fraction);
        }
        return output;
    }

    /// <summary>
    /// Window starts 0, hop, 2·hop, … while a whole window fits; a clip shorter than one window gives one window,
    /// zero-padded at the end. Samples after the last whole window are not used. Each value is multiplied by scale.
    /// </summary>
    public static List<float[]> Windows(float[] signal, AudioRecipe recipe)
    {
        long count = WindowCount(signal.Length, recipe);
        var windows = new List<float[]>((int)count);
        for (long w = 0; w < count; w++)
        {
            var values = new float[recipe.Window];
            long start = w * recipe.EffectiveHop;
            int available = (int)Math.Min(recipe.Window, signal.Length - start);
            for (int i = 0; i < available; i++) values[i] = (float)(signal[start + i] * recipe.Scale);
            windows.Add(values);
        }
        return windows;
    }

    /// <summary>How many windows a clip of <paramref name="samples"/> samples gives (at least 1).</summary>
    public static long WindowCount(long samples, AudioRecipe recipe) =>
        samples < recipe.Window ? 1 : (samples - recipe.Window) / recipe.EffectiveHop + 1;
}
