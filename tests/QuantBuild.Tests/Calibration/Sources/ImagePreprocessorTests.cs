using QuantBuild.Calibration.Sources;
using QuantBuild.Configuration;
using QuantBuild.Diagnostics;
using QuantBuild.TestData;
using QuantBuild.Tests.Infrastructure;

namespace QuantBuild.Tests.Calibration.Sources;

/// <summary>The image recipe's exact values on small hand-made images (docs/calibration-data.md, "Images").</summary>
[TestClass]
public sealed class ImagePreprocessorTests
{
    private static float[] Run(TempFolder temp, int width, int height, int channels, byte[] pixels, ImageRecipe recipe, out int[] shape)
    {
        var file = temp.File($"i{Guid.NewGuid():N}.png");
        PngWriter.Write(file, width, height, channels, pixels);
        var tensor = ImagePreprocessor.ToTensor(ImagePreprocessor.Decode(file, recipe.ChannelOrder), recipe);
        shape = tensor.Shape;
        return tensor.Floats;
    }

    [TestMethod]
    public void StretchSamplesBilinearlyAtHalfPixelCentresClampedAtTheEdges()
    {
        using var temp = new TempFolder();
        // 2×1 grey [0, 255] to 4 wide: source x = (x + 0.5)·2/4 − 0.5 = −0.25, 0.25, 0.75, 1.25 → clamped 0, 0.25, 0.75, 1.
        var v = Run(temp, 2, 1, 1, [0, 255], new ImageRecipe { ChannelOrder = ChannelOrder.Gray, Resize = [1, 4] }, out var shape);
        CollectionAssert.AreEqual(new[] { 1, 1, 1, 4 }, shape);
        CollectionAssert.AreEqual(new[] { 0f, 63.75f, 191.25f, 255f }, v);
        // Both axes: 2×2 [0 100; 200 40] to 3×3, centre samples (0.5, 0.5): mean of the four = 85.
        v = Run(temp, 2, 2, 1, [0, 100, 200, 40], new ImageRecipe { ChannelOrder = ChannelOrder.Gray, Resize = [3, 3] }, out _);
        Assert.AreEqual(85f, v[4]);
        Assert.AreEqual(0f, v[0]);
        Assert.AreEqual(40f, v[8]);
        Assert.AreEqual(50f, v[1], "top row, between 0 and 100");
    }

    [TestMethod]
    public void ChannelOrderLayoutScaleMeanAndStd()
    {
        using var temp = new TempFolder();
        // 2×1 RGB: (10,20,30) (40,50,60).
        byte[] rgb = [10, 20, 30, 40, 50, 60];
        var nchw = Run(temp, 2, 1, 3, rgb, new ImageRecipe(), out var shape);
        CollectionAssert.AreEqual(new[] { 1, 3, 1, 2 }, shape);
        CollectionAssert.AreEqual(new[] { 10f, 40f, 20f, 50f, 30f, 60f }, nchw);
        var nhwcBgr = Run(temp, 2, 1, 3, rgb, new ImageRecipe { Layout = ImageLayout.Nhwc, ChannelOrder = ChannelOrder.Bgr }, out shape);
        CollectionAssert.AreEqual(new[] { 1, 1, 2, 3 }, shape);
        CollectionAssert.AreEqual(new[] { 30f, 20f, 10f, 60f, 50f, 40f }, nhwcBgr);
        // value = (p·scale − mean[c]) / std[c], channel c in the tensor's order.
        var normalized = Run(temp, 2, 1, 3, rgb, new ImageRecipe { Layout = ImageLayout.Nhwc, Scale = 0.5, Mean = [1, 2, 3], Std = [2, 4, 0.5] }, out _);
        CollectionAssert.AreEqual(new[] { (float)((5 - 1) / 2.0), (float)((10 - 2) / 4.0), (float)((15 - 3) / 0.5), (float)((20 - 1) / 2.0), (float)((25 - 2) / 4.0), (float)((30 - 3) / 0.5) }, normalized);
        // Grey is stb_image's luma of RGB: (77·r + 150·g + 29·b) >> 8.
        var grey = Run(temp, 1, 1, 3, [200, 100, 50], new ImageRecipe { ChannelOrder = ChannelOrder.Gray }, out shape);
        CollectionAssert.AreEqual(new[] { 1, 1, 1, 1 }, shape);
        Assert.AreEqual((float)((77 * 200 + 150 * 100 + 29 * 50) >> 8), grey[0]);
    }

    [TestMethod]
    public void CropKeepsTheCentreAndLetterboxPadsAroundTheWholeImage()
    {
        using var temp = new TempFolder();
        // 4 wide, 2 high grey: rows [1 2 3 4; 5 6 7 8].
        byte[] pixels = [1, 2, 3, 4, 5, 6, 7, 8];
        var crop = Run(temp, 4, 2, 1, pixels, new ImageRecipe { ChannelOrder = ChannelOrder.Gray, Resize = [2, 2], Fit = ImageFit.Crop }, out _);
        CollectionAssert.AreEqual(new[] { 2f, 3f, 6f, 7f }, crop, "the centre two columns, unscaled");
        var box = Run(temp, 4, 2, 1, pixels, new ImageRecipe { ChannelOrder = ChannelOrder.Gray, Resize = [4, 4], Fit = ImageFit.Letterbox, Pad = 9 }, out _);
        CollectionAssert.AreEqual(new[] { 9f, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9 }, box, "content rows 1-2, padded above and below");
        var stretch = Run(temp, 4, 2, 1, pixels, new ImageRecipe { ChannelOrder = ChannelOrder.Gray, Resize = [2, 2] }, out _);
        CollectionAssert.AreEqual(new[] { 1.5f, 3.5f, 5.5f, 7.5f }, stretch, "source x = 0.5 and 2.5");
    }

    [TestMethod]
    public void BmpDecodesLikeThePngOfTheSamePixels()
    {
        using var temp = new TempFolder();
        // 2×2 24-bit BMP: bottom-up rows of BGR, each padded to 4 bytes.
        byte[] rgb = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
        using (var s = new MemoryStream())
        {
            var w = new BinaryWriter(s);
            w.Write("BM"u8); w.Write(54 + 16); w.Write(0); w.Write(54);
            w.Write(40); w.Write(2); w.Write(2); w.Write((short)1); w.Write((short)24); w.Write(0); w.Write(16); w.Write(2835); w.Write(2835); w.Write(0); w.Write(0);
            foreach (int y in new[] { 1, 0 })
            {
                for (int x = 0; x < 2; x++) { int p = (y * 2 + x) * 3; w.Write(rgb[p + 2]); w.Write(rgb[p + 1]); w.Write(rgb[p]); }
                w.Write((short)0);
            }
            File.WriteAllBytes(temp.File("a.bmp"), s.ToArray());
        }
        PngWriter.Write(temp.File("a.png"), 2, 2, 3, rgb);
        var recipe = new ImageRecipe();
        CollectionAssert.AreEqual(ImagePreprocessor.ToTensor(ImagePreprocessor.Decode(temp.File("a.png"), ChannelOrder.Rgb), recipe).Floats,
            ImagePreprocessor.ToTensor(ImagePreprocessor.Decode(temp.File("a.bmp"), ChannelOrder.Rgb), recipe).Floats);
        CollectionAssert.AreEqual(rgb, ImagePreprocessor.Decode(temp.File("a.bmp"), ChannelOrder.Rgb).Pixels);
    }

    [TestMethod]
    public void CorruptUnsupportedAndHugeImagesAreQB1011NamingTheFile()
    {
        using var temp = new TempFolder();
        var png = PngWriter.Encode(8, 8, 1, new byte[64]);
        var noise = PngWriter.Encode(64, 64, 3, Enumerable.Range(0, 64 * 64 * 3).Select(i => (byte)(i * 7919 % 251)).ToArray());
        File.WriteAllBytes(temp.File("truncated.png"), noise[..(noise.Length / 2)]);
        // The same length, its compressed pixels overwritten: the zlib stream does not decode.
        var garbled = (byte[])noise.Clone();
        garbled.AsSpan(60, 40).Fill(0xFF);
        File.WriteAllBytes(temp.File("garbled.png"), garbled);
        // The fuzzer's findings (tests/fuzz-regressions/image): an APP0 segment past the end hung stb_image;
        // a BMP declaring 3 × 2^24 pixels in 78 bytes decoded zeros for seconds.
        File.WriteAllBytes(temp.File("cut.jpg"), [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A]);
        var bmp = new byte[78];
        "BM"u8.CopyTo(bmp);
        foreach (var (at, value) in new[] { (2, 78), (10, 54), (14, 40), (18, 3), (22, 1 << 24) }) System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(at), value);
        bmp[26] = 1;
        bmp[28] = 24;
        File.WriteAllBytes(temp.File("tall.bmp"), bmp);
        File.WriteAllBytes(temp.File("anim.gif"), "GIF89a\u0001\0\u0001\0\0\0\0"u8.ToArray());
        // IHDR claims 20000 × 20000 pixels (stb does not check chunk CRCs): refused from the header alone.
        var huge = (byte[])png.Clone();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(huge.AsSpan(16), 20_000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32BigEndian(huge.AsSpan(20), 20_000);
        File.WriteAllBytes(temp.File("huge.png"), huge);
        foreach (var (name, expected) in new[]
        {
            ("truncated.png", "the PNG chunk 'IDAT' at byte 33 claims"), ("garbled.png", "the PNG data does not decode"), ("anim.gif", "not a PNG, JPEG or BMP"),
            ("huge.png", "checked before decoding"), ("cut.jpg", "the JPEG segment FFE0 at byte 2 claims 16 bytes, only 3 remain"),
            ("tall.bmp", "declares 3×16777216 pixels at 24 bits"),
        })
        {
            var e = Assert.ThrowsExactly<QuantBuildException>(() => ImagePreprocessor.Decode(temp.File(name), ChannelOrder.Rgb), name);
            Assert.AreEqual(DiagnosticCodes.InvalidImage, e.Code, name);
            Assert.AreEqual(temp.File(name), e.File);
            StringAssert.Contains(e.Message, expected, name);
        }
    }
}
