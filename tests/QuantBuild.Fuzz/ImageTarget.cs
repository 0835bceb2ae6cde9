using System.Buffers.Binary;
using QuantBuild.Calibration.Sources;
using QuantBuild.Configuration;
using QuantBuild.TestData;

namespace QuantBuild.Fuzz;

/// <summary>
/// Calibration image bytes → <see cref="ImagePreprocessor.Decode(byte[], string, ChannelOrder)"/> and the image recipe: PNG (grey, RGB),
/// BMP and JPEG (baseline, progressive) seeds, mutated in their bytes and in the width/height fields the pixel bound reads.
/// </summary>
public sealed class ImageTarget : FuzzTarget
{
    public override string Name => "image";

    public override IReadOnlyList<byte[]> Seeds { get; } =
    [
        PngWriter.Encode(8, 6, 1, Enumerable.Range(0, 48).Select(i => (byte)(i * 5)).ToArray()),
        PngWriter.Encode(5, 4, 3, Enumerable.Range(0, 60).Select(i => (byte)(i * 37)).ToArray()),
        Bmp(3, 2),
        // 16×12 RGB baseline and 12×8 grey progressive JPEGs, written by Pillow (tests cannot encode JPEG themselves).
        Convert.FromBase64String(
            "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRofHh0aHBwgJC4nICIsIxwcKDcpLDAxNDQ0Hyc5PT" +
            "gyPC4zNDL/2wBDAQkJCQwLDBgNDRgyIRwhMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjL/wAARCAAM" +
            "ABADASIAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhBy" +
            "JxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKT" +
            "lJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAA" +
            "AAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRom" +
            "JygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExc" +
            "bHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDz3TfDG7HyfpXXWHhNVUM6AD3rqdG0+3O35K6jSrC3mcO6ZJ/S" +
            "vOhiI+yg5RvKW19vn/XzM8hz2rdH/9k="),
        Convert.FromBase64String(
            "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAA0JCgsKCA0LCgsODg0PEyAVExISEyccHhcgLikxMC4pLSwzOko+MzZGNywtQFdBRkxOUlNSMj5aYV" +
            "pQYEpRUk//wgALCAAIAAwBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAABP/aAAgBAQAAAAE7/wD/xAAYEAACAwAAAAAAAAAAAAAAAAADBAABAv/a" +
            "AAgBAQABBQJUcO3S+//EABoQAAEFAQAAAAAAAAAAAAAAAAABAxITIVL/2gAIAQEABj8CEbrnnR//xAAZEAACAwEAAAAAAAAAAAAAAAABIQARMW" +
            "H/2gAIAQEAAT8hwUCgCYlK5k//2gAIAQEAAAAQf//EABgQAQEBAQEAAAAAAAAAAAAAAAERACFx/9oACAEBAAE/ENUkYmq1eiuwHxN//9k="),
    ];

    /// <summary>A 24-bit bottom-up BMP with rows padded to 4 bytes.</summary>
    private static byte[] Bmp(int width, int height)
    {
        int stride = (width * 3 + 3) / 4 * 4;
        var b = new byte[54 + stride * height];
        b[0] = (byte)'B'; b[1] = (byte)'M';
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(2), b.Length);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(10), 54);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(18), width);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(22), height);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(26), 1);
        BinaryPrimitives.WriteInt16LittleEndian(b.AsSpan(28), 24);
        for (int i = 54; i < b.Length; i++) b[i] = (byte)(i * 13);
        return b;
    }

    private static readonly int[] Sides = [0, 1, 2, 7, 255, 65535, 30000, 1 << 24, int.MaxValue, -1];

    public override byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random)
    {
        if (random.Chance(3) || input.Length < 26) return ByteMutations.Mutate(input, corpus, random);
        // The size fields: PNG IHDR (big-endian at 16 and 20), BMP header (little-endian at 18 and 22).
        var result = (byte[])input.Clone();
        int side = random.Pick(Sides), at = random.Chance(2) ? 0 : 4;
        if (result[0] == 0x89) BinaryPrimitives.WriteInt32BigEndian(result.AsSpan(16 + at), side);
        else if (result[0] == (byte)'B') BinaryPrimitives.WriteInt32LittleEndian(result.AsSpan(18 + at), side);
        else return ByteMutations.Mutate(input, corpus, random);
        return result;
    }

    private static readonly ImageRecipe Recipe = new() { Resize = [5, 7], Fit = ImageFit.Letterbox, Layout = ImageLayout.Nhwc };

    public override void Execute(byte[] input) =>
        ImagePreprocessor.ToTensor(ImagePreprocessor.Decode(input, "fuzz.img", ChannelOrder.Rgb), Recipe);
}
