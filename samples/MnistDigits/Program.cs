using System.Diagnostics;
using QuantBuild.TestData;

// The class Mnist was generated at build time from Models/mnist.onnx and Models/mnist.quant.json: int8
// weights compiled into the assembly, calling the integer-only runtime (the package's managed
// QuantBuild.Runtime.dll on .NET 10; <QuantBuildRuntime>Source</QuantBuildRuntime> compiles it in instead).
var data = args.Length > 0 ? MnistDataset.Load(args[0]) : MnistDataset.Load();
var model = new MnistDigits.Mnist();
Span<float> logits = stackalloc float[MnistDigits.Mnist.LogitsLength];

int correct = 0;
var clock = Stopwatch.StartNew();
foreach (int i in data.HeldOutIndices)
{
    model.Run(data.Image(i), logits);
    int best = 0;
    for (int c = 1; c < logits.Length; c++) if (logits[c] > logits[best]) best = c;
    if (best == data.Labels[i]) correct++;
}
clock.Stop();

int count = data.HeldOutIndices.Length;
Console.WriteLine($"int8 model (generated C#): {100.0 * correct / count:F2}% of {count} held-out digits correct, {clock.Elapsed.TotalMilliseconds * 1000 / count:F0} µs per digit");
Console.WriteLine($"weights: {MnistDigits.Mnist.WeightBytes:N0} bytes int8 vs {MnistDigits.Mnist.FloatWeightBytes:N0} bytes fp32; activation arena {MnistDigits.Mnist.ArenaBytes:N0} bytes");
