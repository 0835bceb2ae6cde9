using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;

namespace QuantBuild.Oracle;

/// <summary>
/// The CPU every benchmark figure is printed beside: its model name and the instruction sets that change
/// which kernels run, ours and ONNX Runtime's (AVX2 without VNNI is where ORT's fused u8s8 kernels saturate;
/// see docs/qdq-encoding.md). Read from /proc/cpuinfo on Linux (what the CPU offers, as ORT sees it), else
/// from what .NET reports.
/// </summary>
public static class CpuDescription
{
    private static readonly Lazy<string> Text = new(Describe);

    /// <summary>e.g. "AMD EPYC (x64: AVX2, no VNNI)".</summary>
    public static string Current => Text.Value;

    private static string Describe()
    {
        var (model, flags) = ReadCpuInfo();
        model ??= System.Runtime.InteropServices.RuntimeInformation.ProcessArchitecture.ToString();
        bool Has(string flag, bool fallback) => flags is null ? fallback : flags.Contains(flag);
        var isa = new List<string>();
        if (X86Base.IsSupported)
        {
            if (Has("avx512bw", Avx512BW.IsSupported)) isa.Add("AVX-512BW");
            else if (Has("avx2", Avx2.IsSupported)) isa.Add("AVX2");
            else isa.Add("SSE");
            bool vnni512 = Has("avx512_vnni", false), vnni = Has("avx_vnni", AvxVnni.IsSupported);
            if (vnni512) isa.Add("AVX512-VNNI");
            if (vnni) isa.Add("AVX-VNNI");
            if (!vnni512 && !vnni) isa.Add("no VNNI");
        }
        if (AdvSimd.IsSupported) isa.Add("AdvSIMD");
        if (Dp.IsSupported) isa.Add("dot product");
        string arch = X86Base.IsSupported ? "x64" : AdvSimd.IsSupported ? "arm64" : "other";
        return $"{model} ({arch}: {string.Join(", ", isa)})";
    }

    private static (string? Model, HashSet<string>? Flags) ReadCpuInfo()
    {
        string? model = null;
        HashSet<string>? flags = null;
        try
        {
            if (!File.Exists("/proc/cpuinfo")) return (null, null);
            foreach (var line in File.ReadLines("/proc/cpuinfo"))
            {
                int colon = line.IndexOf(':');
                if (colon <= 0) continue;
                var key = line[..colon].Trim();
                if (model is null && key == "model name") model = line[(colon + 1)..].Trim();
                else if (flags is null && key is "flags" or "Features")
                    flags = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
                if (model is not null && flags is not null) break;
            }
        }
        catch (IOException) { }
        return (model, flags);
    }
}
