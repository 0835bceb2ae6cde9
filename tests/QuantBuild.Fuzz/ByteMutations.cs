using System.Buffers.Binary;

namespace QuantBuild.Fuzz;

/// <summary>Format-blind mutations every target falls back on: bit flips, boundary values, truncation, splicing.</summary>
public static class ByteMutations
{
    private static readonly byte[] InterestingBytes = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x20, 0x22, 0x27, 0x5C];

    private static readonly long[] InterestingIntegers =
        [0, 1, -1, 2, 16, 64, 127, 128, 255, 256, 32767, 32768, 65535, 65536, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue];

    public static byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random)
    {
        var data = new List<byte>(input);
        int edits = random.SmallCount(4);
        for (int e = 0; e < edits; e++)
        {
            switch (random.Next(8))
            {
                case 0 when data.Count > 0: // flip one bit
                {
                    int at = random.Next(data.Count);
                    data[at] ^= (byte)(1 << random.Next(8));
                    break;
                }
                case 1 when data.Count > 0:
                    data[random.Next(data.Count)] = random.Pick(InterestingBytes);
                    break;
                case 2: // insert random bytes
                {
                    int at = random.Next(data.Count + 1);
                    int n = random.SmallCount(32);
                    for (int k = 0; k < n; k++) data.Insert(at, (byte)random.Next(256));
                    break;
                }
                case 3 when data.Count > 0: // delete a range
                {
                    int at = random.Next(data.Count);
                    data.RemoveRange(at, Math.Min(random.SmallCount(64), data.Count - at));
                    break;
                }
                case 4 when data.Count > 0: // duplicate a range in place
                {
                    int at = random.Next(data.Count);
                    int n = Math.Min(random.SmallCount(64), data.Count - at);
                    data.InsertRange(at, data.GetRange(at, n));
                    break;
                }
                case 5 when data.Count > 0: // truncate
                {
                    int keep = random.Next(data.Count);
                    data.RemoveRange(keep, data.Count - keep);
                    break;
                }
                case 6 when corpus.Count > 0: // splice: our head, another input's tail
                {
                    var other = random.Pick(corpus);
                    if (other.Length == 0) break;
                    int cut = random.Next(data.Count + 1), from = random.Next(other.Length);
                    data.RemoveRange(cut, data.Count - cut);
                    data.AddRange(other.AsSpan(from).ToArray());
                    break;
                }
                case 7 when data.Count >= 8: // a boundary integer over 2, 4 or 8 bytes
                {
                    int width = random.Pick(new[] { 2, 4, 8 });
                    int at = random.Next(data.Count - width + 1);
                    Span<byte> bytes = stackalloc byte[8];
                    BinaryPrimitives.WriteInt64LittleEndian(bytes, random.Pick(InterestingIntegers));
                    for (int k = 0; k < width; k++) data[at + k] = bytes[k];
                    break;
                }
            }
        }
        return data.ToArray();
    }
}
