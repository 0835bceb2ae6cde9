using System.Buffers.Binary;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.Onnx.IO;
using StbImageSharp;

namespace QuantBuild.Calibration.Sources;

/// <summary>An image decoded to 8 bits per channel, rows top to bottom, channels interleaved (1 = grey, 3 = RGB).</summary>
public sealed record DecodedImage(int Width, int Height, int Channels, byte[] Pixels);

/// <summary>
/// Decodes calibration images and applies the sidecar's image recipe (docs/calibration-data.md, "Images").
/// Decoding is StbImageSharp (a managed port of stb_image: no native library to ship per platform, the same
/// integer decoder on every machine). Only PNG, JPEG and BMP are accepted, recognised by their signature, and
/// the pixel count is bounded from the header before any pixel memory is allocated.
/// </summary>
public static class ImagePreprocessor
{
    /// <summary>64 megapixels: far beyond a camera photo used for calibration; 192 MB decoded as RGB.</summary>
    public const long MaxPixels = 64L << 20;
    /// <summary>A compressed image is smaller than its pixels; the limit refuses a wrong file before it is read.</summary>
    public const long MaxFileBytes = 256L << 20;

    public static DecodedImage Decode(string path, ChannelOrder order) => Decode(InputFile.ReadAllBytes(path, "image", MaxFileBytes), path, order);

    /// <param name="bytes">the whole file</param>
    /// <param name="path">file named in diagnostics</param>
    public static DecodedImage Decode(byte[] bytes, string path, ChannelOrder order)
    {
        QuantBuildException Invalid(string what) => new(DiagnosticCodes.InvalidImage, $"'{path}' is not a usable image: {what}", path);
        if (Format(bytes) is null)
            throw Invalid("not a PNG, JPEG or BMP file (checked by its first bytes)");
        var structureError = Format(bytes) switch { "JPEG" => JpegSegmentError(bytes), "PNG" => PngChunkError(bytes), _ => BmpSizeError(bytes) };
        if (structureError is not null) throw Invalid(structureError);
        ImageInfo? info;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            info = ImageInfo.FromStream(stream);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidImage, $"'{path}' is not a usable image: its header cannot be read ({e.Message})", path, inner: e);
        }
        if (info is not { } header || header.Width <= 0 || header.Height <= 0)
            throw Invalid($"its {Format(bytes)} header cannot be read");
        if ((long)header.Width * header.Height > MaxPixels)
            throw Invalid($"{header.Width}×{header.Height} pixels is more than the {MaxPixels} accepted (checked before decoding); shrink it first");
        int channels = order == ChannelOrder.Gray ? 1 : 3;
        ImageResult image;
        try
        {
            image = ImageResult.FromMemory(bytes, channels == 1 ? ColorComponents.Grey : ColorComponents.RedGreenBlue);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new QuantBuildException(DiagnosticCodes.InvalidImage, $"'{path}' is not a usable image: the {Format(bytes)} data does not decode ({e.Message})", path, inner: e);
        }
        if (image.Width != header.Width || image.Height != header.Height || image.Data.Length != (long)image.Width * image.Height * channels)
            throw Invalid("the decoded size differs from its header");
        return new DecodedImage(image.Width, image.Height, channels, image.Data);
    }

    private static string? Format(ReadOnlySpan<byte> b) =>
        b.StartsWith((ReadOnlySpan<byte>)[0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A]) ? "PNG"
        : b.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]) ? "JPEG"
        : b.StartsWith("BM"u8) ? "BMP"
        : null;

    /// <summary>
    /// Walks the JPEG's marker segments and reports one whose length runs past the end of the file. stb_image
    /// skips such a segment past the end and then never sees the end of the data (a 7-byte file hangs it), so
    /// this is checked first. Between segments and in entropy-coded data, bytes are skipped as stb_image does;
    /// a file cut inside its entropy-coded data is left to the decoder (it decodes what is there).
    /// </summary>
    private static string? JpegSegmentError(ReadOnlySpan<byte> b)
    {
        int position = 2;
        while (position + 1 < b.Length)
        {
            if (b[position] != 0xFF) { position++; continue; }
            byte marker = b[position + 1];
            // Fill bytes, stuffed zeros, restart markers, TEM and SOI stand alone; EOI ends the image.
            if (marker == 0xFF) { position++; continue; }
            if (marker is 0x00 or 0x01 or 0xD8 or (>= 0xD0 and <= 0xD7)) { position += 2; continue; }
            if (marker == 0xD9) return null;
            if (position + 4 > b.Length) return $"the JPEG marker FF{marker:X2} at byte {position} has no length (the file is cut short)";
            int length = (b[position + 2] << 8) | b[position + 3];
            if (length < 2 || position + 2 + length > b.Length)
                return $"the JPEG segment FF{marker:X2} at byte {position} claims {length} bytes, only {b.Length - position - 2} remain (the file is cut short or corrupt)";
            position += 2 + length;
        }
        return null;
    }

    /// <summary>
    /// Walks the PNG's chunks and reports one whose length runs past the end of the file: stb_image allocates a
    /// chunk's declared length before reading it (a 128-byte file asked for 1 GiB).
    /// </summary>
    private static string? PngChunkError(ReadOnlySpan<byte> b)
    {
        long position = 8;
        while (position + 8 <= b.Length)
        {
            long length = BinaryPrimitives.ReadUInt32BigEndian(b[(int)position..]);
            if (position + 12 + length > b.Length)
                return $"the PNG chunk '{System.Text.Encoding.ASCII.GetString(b.Slice((int)position + 4, 4))}' at byte {position} claims {length} bytes, only {Math.Max(0, b.Length - position - 12)} remain (the file is cut short or corrupt)";
            if (b.Slice((int)position + 4, 4).SequenceEqual("IEND"u8)) return null;
            position += 12 + length;
        }
        return null;
    }

    /// <summary>
    /// An uncompressed BMP must hold the rows its header declares: stb_image would otherwise decode a 78-byte
    /// file declaring 3 × 16,777,216 pixels for seconds, reading zeros past the end. (stb_image refuses RLE BMPs.)
    /// </summary>
    private static string? BmpSizeError(ReadOnlySpan<byte> b)
    {
        if (b.Length < 26) return "the BMP header is cut short";
        long offset = BinaryPrimitives.ReadUInt32LittleEndian(b[10..]);
        long headerSize = BinaryPrimitives.ReadUInt32LittleEndian(b[14..]);
        long width, height;
        int bits;
        if (headerSize == 12)
        {
            (width, height, bits) = (BinaryPrimitives.ReadUInt16LittleEndian(b[18..]), BinaryPrimitives.ReadUInt16LittleEndian(b[20..]), BinaryPrimitives.ReadUInt16LittleEndian(b[24..]));
        }
        else
        {
            if (b.Length < 34) return "the BMP header is cut short";
            width = BinaryPrimitives.ReadInt32LittleEndian(b[18..]);
            height = Math.Abs((long)BinaryPrimitives.ReadInt32LittleEndian(b[22..]));
            bits = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]);
            uint compression = BinaryPrimitives.ReadUInt32LittleEndian(b[30..]);
            if (compression is not (0 or 3 or 6)) return null;
        }
        // Widths and heights up to 2^31 and 16-bit depths: the row size fits 64 bits, the product is compared by division.
        long rowBytes = (Math.Max(0, width) * bits + 31) / 32 * 4;
        bool fits = offset <= b.Length && (height == 0 || rowBytes <= (b.Length - offset) / height);
        return fits ? null : $"the BMP header declares {width}×{height} pixels at {bits} bits from byte {offset}, more than the file's {b.Length} bytes hold";
    }

    /// <summary>Height and width the recipe produces from an image of the given size.</summary>
    public static (int Height, int Width) OutputSize(ImageRecipe recipe, int width, int height) =>
        recipe.Resize is { } r ? (r[0], r[1]) : (height, width);

    /// <summary>
    /// The model tensor of one image, [1, C, H, W] or [1, H, W, C] float32. Each output pixel samples the source
    /// bilinearly at its centre mapped into the source (half-pixel centres, clamped at the edges), in double;
    /// value = (pixel · scale − mean[c]) / std[c], rounded once to float32.
    /// </summary>
    public static Tensors.Tensor ToTensor(DecodedImage image, ImageRecipe recipe)
    {
        var (height, width) = OutputSize(recipe, image.Width, image.Height);
        var columns = AxisMap(image.Width, width, image.Height, height, recipe.Fit);
        var rows = AxisMap(image.Height, height, image.Width, width, recipe.Fit);
        int channels = image.Channels;
        var values = new float[(long)channels * height * width];
        bool nhwc = recipe.Layout == ImageLayout.Nhwc;
        var mean = Enumerable.Range(0, channels).Select(c => recipe.Mean[recipe.Mean.Length == 1 ? 0 : c]).ToArray();
        var std = Enumerable.Range(0, channels).Select(c => recipe.Std[recipe.Std.Length == 1 ? 0 : c]).ToArray();
        for (int y = 0; y < height; y++)
        {
            var row = rows[y];
            for (int x = 0; x < width; x++)
            {
                var column = columns[x];
                for (int c = 0; c < channels; c++)
                {
                    // BGR reads the decoder's RGB channels back to front.
                    int source = recipe.ChannelOrder == ChannelOrder.Bgr ? 2 - c : c;
                    double pixel = row.Inside && column.Inside ? Bilinear(image, row, column, source) : recipe.Pad;
                    long index = nhwc ? ((long)y * width + x) * channels + c : ((long)c * height + y) * width + x;
                    values[index] = (float)((pixel * recipe.Scale - mean[c]) / std[c]);
                }
            }
        }
        int[] shape = nhwc ? [1, height, width, channels] : [1, channels, height, width];
        return new Tensors.Tensor(Tensors.DataType.Float, shape, values);
    }

    private static double Bilinear(DecodedImage image, Sample row, Sample column, int channel)
    {
        byte P(int y, int x) => image.Pixels[((long)y * image.Width + x) * image.Channels + channel];
        double top = (1 - column.Fraction) * P(row.Low, column.Low) + column.Fraction * P(row.Low, column.High);
        double bottom = (1 - column.Fraction) * P(row.High, column.Low) + column.Fraction * P(row.High, column.High);
        return (1 - row.Fraction) * top + row.Fraction * bottom;
    }

    /// <summary>Where one output row or column samples the source: two neighbours and the weight of the second; Inside false = letterbox border.</summary>
    private readonly record struct Sample(bool Inside, int Low, int High, double Fraction);

    /// <summary>
    /// The source position of every output index along one axis. The fit decides which source span maps onto
    /// which output span: stretch maps the whole axis onto the whole axis; crop scales both axes by the larger
    /// ratio and takes the centred source span that fills the output; letterbox scales by the smaller ratio and
    /// centres the rounded content span in the output. Output index i samples source position
    /// sourceStart + (i − outputStart + 0.5) · sourceSpan / outputSpan − 0.5.
    /// </summary>
    private static Sample[] AxisMap(int sourceSize, int outputSize, int otherSource, int otherOutput, ImageFit fit)
    {
        double ratio = (double)outputSize / sourceSize, otherRatio = (double)otherOutput / otherSource;
        double sourceStart = 0, sourceSpan = sourceSize;
        int outputStart = 0, outputSpan = outputSize;
        if (fit == ImageFit.Crop && otherRatio > ratio)
        {
            sourceSpan = outputSize / otherRatio;
            sourceStart = (sourceSize - sourceSpan) / 2;
        }
        else if (fit == ImageFit.Letterbox && otherRatio < ratio)
        {
            outputSpan = Math.Max(1, (int)Math.Round(sourceSize * otherRatio, MidpointRounding.AwayFromZero));
            outputStart = (outputSize - outputSpan) / 2;
        }
        var map = new Sample[outputSize];
        for (int i = 0; i < outputSize; i++)
        {
            if (i < outputStart || i >= outputStart + outputSpan) { map[i] = new Sample(false, 0, 0, 0); continue; }
            double position = sourceStart + (i - outputStart + 0.5) * sourceSpan / outputSpan - 0.5;
            position = Math.Clamp(position, 0, sourceSize - 1);
            int low = (int)Math.Floor(position);
            map[i] = new Sample(true, low, Math.Min(low + 1, sourceSize - 1), position - low);
        }
        return map;
    }
}
