using QuantBuild.Onnx.IO;
using System.Text.Json;
using QuantBuild.Tensors;

namespace QuantBuild.Oracle;

/// <summary>One set of real inputs for a real model: input name -> absolute .npy path.</summary>
public sealed record RealModelCase(string Name, IReadOnlyDictionary<string, string> InputFiles)
{
    public Dictionary<string, Tensor> LoadInputs() =>
        InputFiles.ToDictionary(kv => kv.Key, kv => NpyFile.Read(kv.Value), StringComparer.Ordinal);
}

/// <summary>A real model (pinned by tests/fetch-assets.sh) with its generated inputs; the first case is the benchmark's.</summary>
public sealed record RealModel(string Id, string ModelPath, IReadOnlyList<RealModelCase> Cases);

/// <summary>
/// Reads .assets/inputs/manifest.json, written by tests/oracle/make-inputs.py, which names each real
/// model's file and input files (so no C# code hard-codes model input names).
/// </summary>
public static class RealModelCatalog
{
    public const string ManifestRelativePath = "inputs/manifest.json";

    public static IReadOnlyList<RealModel> Load(string assetsDir)
    {
        var manifest = Path.Combine(assetsDir, ManifestRelativePath);
        if (!File.Exists(manifest))
            throw new FileNotFoundException($"{manifest} is missing: run tests/fetch-assets.sh", manifest);
        using var doc = JsonDocument.Parse(File.ReadAllText(manifest));
        var models = new List<RealModel>();
        foreach (var m in doc.RootElement.GetProperty("models").EnumerateArray())
        {
            var cases = m.GetProperty("cases").EnumerateArray().Select(c => new RealModelCase(
                c.GetProperty("name").GetString()!,
                c.GetProperty("inputs").EnumerateObject().ToDictionary(
                    p => p.Name, p => Existing(assetsDir, p.Value.GetString()!), StringComparer.Ordinal))).ToList();
            models.Add(new RealModel(m.GetProperty("id").GetString()!, Existing(assetsDir, m.GetProperty("model").GetString()!), cases));
        }
        return models;
    }

    private static string Existing(string assetsDir, string relative)
    {
        var path = Path.GetFullPath(Path.Combine(assetsDir, relative));
        return File.Exists(path) ? path : throw new FileNotFoundException($"{path} is missing: run tests/fetch-assets.sh", path);
    }
}

/// <summary>How far our output is from the reference: the numbers the agreement tests and the benchmark report.</summary>
public readonly record struct Agreement(double MaxAbsDiff, double MaxAbsRef)
{
    /// <summary>max|ours - ref| / max|ref| (0 when both are all zeros).</summary>
    public double Relative => MaxAbsDiff == 0 ? 0 : MaxAbsDiff / MaxAbsRef;

    public static Agreement Compare(Tensor ours, Tensor reference)
    {
        if (ours.Type != reference.Type)
            throw new OracleException($"type differs: ours {DataTypes.Name(ours.Type)}, reference {DataTypes.Name(reference.Type)}");
        if (!Tensor.SameShape(ours.Shape, reference.Shape))
            throw new OracleException($"shape differs: ours {ours.ShapeString}, reference {reference.ShapeString}");
        var a = ours.ToFloatArray();
        var b = reference.ToFloatArray();
        double maxDiff = 0, maxRef = 0;
        for (int i = 0; i < a.Length; i++)
        {
            double diff = Math.Abs((double)a[i] - b[i]);
            // NaN anywhere must not pass as agreement.
            if (double.IsNaN(diff) && !(float.IsNaN(a[i]) && float.IsNaN(b[i]))) diff = double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, double.IsNaN(diff) ? 0 : diff);
            maxRef = Math.Max(maxRef, Math.Abs((double)b[i]));
        }
        return new Agreement(maxDiff, maxRef);
    }
}
