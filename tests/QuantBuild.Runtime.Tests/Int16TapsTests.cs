using QuantBuild.Runtime;

namespace QuantBuild.Runtime.Tests;

/// <summary><see cref="Int16Taps"/> against its definition, acc[ox] += w·row[ox·stride + offset] where the tap lies inside the row.</summary>
[TestClass]
public sealed class Int16TapsTests
{
    [TestMethod]
    public void AddMatchesTheDefinitionForEveryStrideOffsetAndTail()
    {
        var r = new Random(61);
        for (int stride = 1; stride <= 3; stride++)
            for (int offset = -4; offset <= 4; offset++)
                for (int width = 1; width <= 70; width += r.Next(1, 4))
                {
                    int outWidth = Math.Max(1, (width + stride - 1) / stride + r.Next(0, 3));
                    var row = new short[width];
                    for (int i = 0; i < width; i++) row[i] = (short)r.Next(short.MinValue, short.MaxValue + 1);
                    int w = r.Next(-128, 128);
                    var acc = new int[outWidth];
                    for (int i = 0; i < outWidth; i++) acc[i] = r.Next(-1000000, 1000000);
                    var expected = (int[])acc.Clone();
                    for (int ox = 0; ox < outWidth; ox++)
                    {
                        int ix = ox * stride + offset;
                        if (ix >= 0 && ix < width) expected[ox] += w * row[ix];
                    }

                    Int16Taps.Add(row, acc, w, offset, stride);
                    CollectionAssert.AreEqual(expected, acc, $"stride {stride}, offset {offset}, width {width}, out {outWidth}");
                }
    }
}
