using System.Text;
using System.Text.RegularExpressions;
using QuantBuild.Configuration;

namespace QuantBuild.Fuzz;

/// <summary>Sidecar JSON → <see cref="SidecarParser"/>, mutated token by token so most inputs stay JSON and reach the setting checks.</summary>
public sealed partial class SidecarTarget(string repoRoot) : FuzzTarget
{
    private readonly string _directory = Path.GetTempPath();

    public override string Name => "sidecar";

    public override IReadOnlyList<byte[]> Seeds { get; } =
    [
        File.ReadAllBytes(Path.Combine(repoRoot, "samples", "MnistDigits", "Models", "mnist.quant.json")),
        Encoding.UTF8.GetBytes("""
            {
              // every section, so token mutations reach every reader
              "$schema": "../build/QuantBuild.sidecar.schema.json",
              "weights": { "method": "linear", "bits": 4, "perChannel": true, "symmetric": true, "range": "mse", "biasCorrection": false,
                           "multipoint": { "extraPoints": 0.5, "maxPoints": 2, "samples": 16 } },
              "activations": { "method": "percentile", "percentile": 99.9, "bits": 8, "symmetric": false, "levels": "log", "levelBits": 4 },
              "calibration": { "inputs": { "input": "calib/*.npy", "mask": "m.npy" }, "maxSamples": 10, "seed": -3 },
              "layers": { "conv*": { "weights": { "bits": 8 } }, "fc": { "skip": true } },
              "budget": { "averageBits": 6.5, "bits": [2, 4, 8], "sensitivitySamples": 4 },
              "outputs": { "onnx": true, "csharp": false, "report": true },
              "eptq": { "iterations": 10, "samples": 8, "batchSize": 4, "seed": 1, "hessian": "uniform", "hessianFloor": true,
                        "hessianSamples": 2, "hessianProbes": 1, "learningRate": 0.01, "parameterLearningRate": 0.001,
                        "regularization": 0.1, "learnScales": true, "learnBiases": false },
            }
            """),
        Encoding.UTF8.GetBytes("""{ "budget": { "weightBytes": 4096 }, "weights": { "method": "weq" } }"""),
        Encoding.UTF8.GetBytes("""
            { "calibration": { "inputs": {
                "image": { "images": "p/*.png", "resize": [128, 96], "fit": "letterbox", "pad": 114, "channelOrder": "bgr", "layout": "NHWC",
                           "scale": 0.5, "mean": [1, 2, 3], "std": [0.5] },
                "clip": { "audio": "w/*.wav", "sampleRate": 16000, "window": 400, "hop": 160, "scale": 32768, "fileSampleRate": 16000, "fileChannels": 1 },
                "state": { "tensors": "s/*.npy" } } } }
            """),
        Encoding.UTF8.GetBytes("{}"),
    ];

    /// <summary>Replacement tokens: every key and enum value the parser knows, boundary numbers, odd strings, structure.</summary>
    private static readonly string[] Tokens = BuildTokens();

    private static string[] BuildTokens()
    {
        var words = SidecarParser.KnownKeys.Values.SelectMany(k => k)
            .Concat(SidecarParser.WeightMethods).Concat(SidecarParser.WeightRanges).Concat(SidecarParser.ActivationMethods)
            .Concat(SidecarParser.ActivationLevels).Concat(SidecarParser.ImageFits).Concat(SidecarParser.ChannelOrders).Concat(SidecarParser.ImageLayouts)
            .Concat(["label-free", "uniform", "", "*", "calib/**/*.npy", "../x.npy", "/abs/*.npy"])
            .Distinct().Select(w => $"\"{w}\"");
        string[] others =
        [
            "0", "-0", "1", "-1", "2", "8", "9", "1.5", "1e3", "1e400", "-1e400", "2147483647", "2147483648", "-2147483649",
            "9223372036854775807", "9223372036854775808", "-9223372036854775809", "0.0000001", "100.0001",
            "true", "false", "null", "{", "}", "[", "]", ":", ",", "{}", "[]", "/* c */", "// c\n",
            "\"\\ud800\"", "\"\\udc00x\"", "\"\\u0000\"", "\"\\\"\"", "\"é\"", "\"\\uZZZZ\"", "\"\xff\"",
        ];
        return [.. words, .. others];
    }

    // Strings (with escapes), numbers, literals, comments, punctuation, and runs of anything else.
    [GeneratedRegex("""("(?:[^"\\]|\\.)*"?)|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|(//[^\n]*|/\*.*?\*/)|([{}\[\]:,])|(\s+)|(.)""", RegexOptions.Singleline)]
    private static partial Regex Token();

    public override byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus, FuzzRandom random)
    {
        if (random.Chance(5)) return ByteMutations.Mutate(input, corpus, random);
        var tokens = Token().Matches(Encoding.UTF8.GetString(input)).Select(m => m.Value).ToList();
        int edits = random.SmallCount(3);
        for (int e = 0; e < edits && tokens.Count > 0; e++)
        {
            int at = random.Next(tokens.Count);
            switch (random.Next(6))
            {
                case 0: tokens[at] = random.Pick(Tokens); break;
                case 1: tokens.RemoveAt(at); break;
                case 2: tokens.Insert(at, random.Pick(Tokens)); break;
                case 3: // duplicate a run of tokens (a member, an object, a key twice)
                {
                    int n = Math.Min(random.SmallCount(12), tokens.Count - at);
                    tokens.InsertRange(at, tokens.GetRange(at, n));
                    break;
                }
                case 4: // nest: wrap a token in an array or object many levels deep
                {
                    int depth = random.Chance(4) ? random.Next(60, 200) : random.Next(1, 4);
                    bool array = random.Chance(2);
                    tokens[at] = string.Concat(Enumerable.Repeat(array ? "[" : "{\"a\":", depth)) + tokens[at] + new string(array ? ']' : '}', depth);
                    break;
                }
                default: // splice another sidecar's tokens in
                {
                    var other = Token().Matches(Encoding.UTF8.GetString(random.Pick(corpus))).Select(m => m.Value).ToList();
                    if (other.Count == 0) break;
                    int from = random.Next(other.Count);
                    tokens.InsertRange(at, other.GetRange(from, Math.Min(random.SmallCount(16), other.Count - from)));
                    break;
                }
            }
        }
        return Encoding.UTF8.GetBytes(string.Concat(tokens));
    }

    public override void Execute(byte[] input) => SidecarParser.Parse(input, Path.Combine(_directory, "fuzz.quant.json"), _directory);
}
