#!/usr/bin/env bash
# Benchmark: the generated C# class, compiled into a console app by the package exactly as a user's build does
# (Release, the package's default runtime), against Microsoft.ML.OnnxRuntime 1.32.0 in the same process: ORT
# on the fp32 model and ORT on the QDQ file the same build wrote. One thread each; min and median per engine
# over many runs, and the largest difference between our outputs and ORT's on the QDQ file.
# Needs the package (bash build/pack.sh) and the assets (bash tests/fetch-assets.sh).
# Usage: tests/bench-generated-code.sh [model ids, comma-separated] [weight bits, comma-separated]
#        (defaults: ppocr-cls,oww-embedding,oww-alexa,blazeface-front-128,ppocr-rec and 8,4; ppocr-rec is PP-OCRv4's
#        recognizer, the suite's model with a transformer block)
#        QB_PROFILE_STEPS=1: after each row, the same generated class with a timer around every step (kernel calls and
#        the float steps' conversions), run 300 times: ms per run by kernel type and the 15 slowest steps. The timers
#        add their own cost, so its total exceeds the row's time; compare steps with each other, not with ORT.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models="${1:-ppocr-cls,oww-embedding,oww-alexa,blazeface-front-128,ppocr-rec}"
bits_list="${2:-8,4}"
version="$(bash "$root/build/package-version.sh")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export NUGET_PACKAGES="$work/packages"
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
printf '<Project />\n' > "$work/Directory.Build.props"; printf '<Project />\n' > "$work/Directory.Build.targets"
# The samples' feed configuration (QuantBuild from the local package folder), pointed at this checkout.
sed "s#../artifacts/packages#$root/artifacts/packages#" "$root/samples/NuGet.config" > "$work/NuGet.config"
cpu="$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
isa="$(grep -o -w -E 'avx512_vnni|avx_vnni|avx512bw|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "CPU: $cpu ($isa), $(nproc) cores; one thread per engine; ONNX Runtime 1.32.0 in the same process"
echo
echo "| model | weights | ours min ms | ours median ms | ORT fp32 min ms | ORT QDQ min ms | ours/ORT-fp32 (min) | ours/ORT-QDQ (min) | max |ours − ORT QDQ| / max |ORT QDQ| |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
# The per-step profile (QB_PROFILE_STEPS=1): a copy of the app whose generated class times each step.
profile_steps() {
  local app="$1" id="$2" bits="$3" prof="$1-profile"
  mkdir -p "$prof"
  python3 - "$app" "$prof" <<'PY'
import os, re, sys
app, prof = sys.argv[1:]
def find(name):
    return next(os.path.join(r, f) for r, _, fs in os.walk(os.path.join(app, "obj")) for f in fs if f == name)
source = open(find("Model.g.cs")).read()
kinds = {m.group(2): m.group(1) + " " + m.group(3) for m in re.finditer(r"private readonly (\w+) (step\d+(?:_\d+)?); // (.*)", source)}
head, body = source.split("private void RunSteps()", 1)
names = []
def timed(indent, call, label):
    names.append(label)
    k = len(names) - 1
    return f"{indent}{{ long t0 = System.Diagnostics.Stopwatch.GetTimestamp(); {call}; StepTicks[{k}] += System.Diagnostics.Stopwatch.GetTimestamp() - t0; }}"
def step(m):
    return timed(m.group(1), m.group(2) + ".Eval(" + m.group(3) + ")", kinds.get(m.group(2), m.group(2)).replace('"', "'").replace("\\", "/"))
def conversion(m):
    return timed(m.group(1), m.group(2) + "(" + m.group(3) + ")", "Conversion " + m.group(2))
body = re.sub(r"^(\s*)(step\d+(?:_\d+)?)\.Eval\((.*)\);\s*$", step, body, flags=re.M)
body = re.sub(r"^(\s*)(QuantParams\.QuantizeLinear|QuantParams\.DequantizeLinear|WideActivationGrid\.Round)\((.*)\);\s*$", conversion, body, flags=re.M)
labels = ", ".join('"' + n + '"' for n in names)
head += f"public static readonly long[] StepTicks = new long[{len(names)}];\n        public static readonly string[] StepNames = {{ {labels} }};\n        "
open(os.path.join(prof, "Model.g.cs"), "w").write(head + "private void RunSteps()" + body)
open(os.path.join(prof, "QuantBuild.Runtime.g.cs"), "w").write(open(find("QuantBuild.Runtime.g.cs")).read())
program = open(os.path.join(app, "Program.cs")).read()
call = re.search(r"model\.Run\(([^)]*)\)", program).group(1)
program = program.split("var ours = Time")[0] + f"""
for (int i = 0; i < 300; i++) model.Run({call});
Array.Clear(Model.StepTicks);
const int runs = 300;
for (int i = 0; i < runs; i++) model.Run({call});
double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency / runs;
var steps = Model.StepNames.Select((n, k) => (Name: n, Ms: Ms(Model.StepTicks[k]))).ToList();
Console.WriteLine($"  per-step profile, ms per run (timers included: {{steps.Sum(s => s.Ms):0.000}} ms)");
foreach (var g in steps.GroupBy(s => s.Name.Split(' ')[0]).OrderByDescending(g => g.Sum(s => s.Ms)))
    Console.WriteLine($"  {{g.Sum(s => s.Ms),9:0.000}}  {{g.Count(),3}} x {{g.Key}}");
Console.WriteLine("  slowest steps:");
foreach (var s in steps.OrderByDescending(s => s.Ms).Take(15)) Console.WriteLine($"  {{s.Ms,9:0.000}}  {{s.Name}}");
"""
open(os.path.join(prof, "Program.cs"), "w").write(program)
project = open(os.path.join(app, "App.csproj")).read().replace('<QuantizedModel Include="Models/Model.onnx" />', "")
project = project.replace("<ImplicitUsings>enable</ImplicitUsings>", "<ImplicitUsings>enable</ImplicitUsings><AllowUnsafeBlocks>true</AllowUnsafeBlocks>")
open(os.path.join(prof, "App.csproj"), "w").write(project)
PY
  dotnet build "$prof" -c Release --nologo -v q > "$prof/build.log" 2>&1 || { tail -20 "$prof/build.log"; exit 1; }
  echo "  $id W${bits}A8:"
  dotnet "$prof/bin/Release/net10.0/App.dll" | grep '^  '
}

IFS=',' read -r -a ids <<< "$models"
IFS=',' read -r -a widths <<< "$bits_list"
for id in "${ids[@]}"; do
  for bits in "${widths[@]}"; do
    app="$work/$id-w$bits"
    mkdir -p "$app/Models"
    # Model path and inputs from the manifest; the sidecar names each input's calibration files by glob.
    python3 - "$root" "$id" "$bits" "$app" <<'PY'
import json, os, sys
root, model_id, bits, app = sys.argv[1:]
manifest = json.load(open(os.path.join(root, ".assets/inputs/manifest.json")))
entries = manifest if isinstance(manifest, list) else manifest["models"]
entry = next(e for e in entries if e["id"] == model_id)
os.symlink(os.path.join(root, ".assets", entry["model"]), os.path.join(app, "Models", "Model.onnx"))
case = entry["cases"][0]
calibration = {name: os.path.join(root, ".assets", os.path.dirname(os.path.dirname(path)), "*", os.path.basename(path))
               for name, path in case["inputs"].items()}
json.dump({"weights": {"bits": int(bits)}, "calibration": {"inputs": calibration}}, open(os.path.join(app, "Models", "Model.quant.json"), "w"))
json.dump({name: os.path.join(root, ".assets", path) for name, path in case["inputs"].items()}, open(os.path.join(app, "inputs.json"), "w"))
PY
    cat > "$app/App.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework><RootNamespace>Bench</RootNamespace><Nullable>disable</Nullable><ImplicitUsings>enable</ImplicitUsings></PropertyGroup>
  <ItemGroup>
    <PackageReference Include="QuantBuild" Version="$version" />
    <PackageReference Include="Microsoft.ML.OnnxRuntime" Version="1.32.0" />
    <QuantizedModel Include="Models/Model.onnx" />
  </ItemGroup>
</Project>
PROJ
    echo 'return;' > "$app/Program.cs"
    dotnet build "$app" -c Release --nologo -v q > "$app/first.log" 2>&1 || { tail -20 "$app/first.log"; exit 1; }
    generated=$(find "$app/obj" -name Model.g.cs | head -1)
    qdq=$(find "$app/obj" -name 'Model.quant.onnx' | head -1)
    # The benchmark program, written against the generated class's Run signature and its <Edge>Length constants.
    python3 - "$generated" "$app" "$qdq" <<'PY'
import json, os, re, sys
generated, app, qdq = sys.argv[1:]
source = open(generated).read()
signature = re.search(r"public void Run\(([^)]*ReadOnlySpan<float>[^)]*)\)", source).group(1)
params = [p.strip().split() for p in signature.split(",")]
inputs = [name for kind, name in params if kind.startswith("ReadOnlySpan")]
outputs = [name for kind, name in params if kind.startswith("Span")]
namespace = re.search(r"namespace ([\w.]+)", source).group(1)
onnx_inputs = json.load(open(os.path.join(app, "inputs.json")))
assert len(inputs) == len(onnx_inputs), "one generated input per ONNX input"
def length(name):
    return f"Model.{name[0].upper()}{name[1:]}Length"
lines = [f"using {namespace};", "using System.Diagnostics;", "using Microsoft.ML.OnnxRuntime;", "using Microsoft.ML.OnnxRuntime.Tensors;", ""]
lines.append(r'''
static (float[] Data, int[] Shape) Npy(string path)
{
    byte[] bytes = File.ReadAllBytes(path);
    int headerLength = bytes[6] == 1 ? BitConverter.ToUInt16(bytes, 8) : BitConverter.ToInt32(bytes, 8);
    int start = bytes[6] == 1 ? 10 : 12;
    string header = System.Text.Encoding.ASCII.GetString(bytes, start, headerLength);
    if (!header.Contains("<f4")) throw new InvalidDataException(path + ": float32 .npy expected");
    string shapeText = header.Substring(header.IndexOf("shape") ).Split('(', ')')[1];
    int[] shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(int.Parse).ToArray();
    var data = new float[(bytes.Length - start - headerLength) / 4];
    Buffer.BlockCopy(bytes, start + headerLength, data, 0, data.Length * 4);
    return (data, shape);
}
static (double Min, double Median) Time(Action run, int warmup, int iterations)
{
    // At least `warmup` runs and two seconds: tiered JIT promotes hot methods only after a delay, and timing
    // tier-0 vector code would measure the JIT rather than the kernels.
    var warming = Stopwatch.StartNew();
    for (int i = 0; i < warmup || warming.ElapsedMilliseconds < 2000; i++) run();
    var times = new double[iterations];
    for (int i = 0; i < iterations; i++) { long t = Stopwatch.GetTimestamp(); run(); times[i] = Stopwatch.GetElapsedTime(t).TotalMilliseconds; }
    Array.Sort(times);
    return (times[0], times[iterations / 2]);
}
''')
for i, (name, path) in enumerate(onnx_inputs.items()):
    lines.append(f"var in{i} = Npy({json.dumps(path)});")
lines.append("var model = new Model();")
for j, o in enumerate(outputs):
    lines.append(f"var out{j} = new float[{length(o)}];")
call_args = ", ".join([f"in{i}.Data" for i in range(len(inputs))] + [f"out{j}" for j in range(len(outputs))])
lines.append("var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };")
lines.append(f"using var fp32 = new InferenceSession({json.dumps(os.path.join(app, 'Models', 'Model.onnx'))}, options);")
lines.append(f"using var quantized = new InferenceSession({json.dumps(qdq)}, options);")
feeds = ", ".join([f"NamedOnnxValue.CreateFromTensor({json.dumps(name)}, new DenseTensor<float>(in{i}.Data, in{i}.Shape))" for i, name in enumerate(onnx_inputs)])
lines.append(f"var feeds = new List<NamedOnnxValue> {{ {feeds} }};")
lines.append(f"var ours = Time(() => model.Run({call_args}), 300, 500);")
lines.append("var ortFp32 = Time(() => { using var r = fp32.Run(feeds); }, 300, 500);")
lines.append("var ortQdq = Time(() => { using var r = quantized.Run(feeds); }, 300, 500);")
# Agreement with ORT on the QDQ file, output by output in the order the session lists them.
lines.append("double diff = 0, range = 0;")
lines.append(f"model.Run({call_args});")
lines.append("using (var results = quantized.Run(feeds))")
lines.append("{")
lines.append("    var values = results.ToList();")
for j in range(len(outputs)):
    lines.append(f"    {{ var t = values[{j}].AsEnumerable<float>().ToArray(); for (int k = 0; k < t.Length; k++) {{ diff = Math.Max(diff, Math.Abs(t[k] - out{j}[k])); range = Math.Max(range, Math.Abs(t[k])); }} }}")
lines.append("}")
lines.append('Console.WriteLine($"{ours.Min:0.000} {ours.Median:0.000} {ortFp32.Min:0.000} {ortQdq.Min:0.000} {diff:G3}/{range:G3}");')
open(os.path.join(app, "Program.cs"), "w").write("\n".join(lines) + "\n")
PY
    dotnet build "$app" -c Release --nologo -v q > "$app/build.log" 2>&1 || { tail -20 "$app/build.log"; exit 1; }
    read -r ours_min ours_median fp32_min qdq_min diff < <(dotnet "$app/bin/Release/net10.0/App.dll" | tail -1)
    python3 - "$id" "$bits" "$ours_min" "$ours_median" "$fp32_min" "$qdq_min" "$diff" <<'PY'
import sys
model, bits, ours, median, fp32, qdq, diff = sys.argv[1:]
ours, median, fp32, qdq = map(float, (ours, median, fp32, qdq))
print(f"| {model} | W{bits}A8 | {ours:.3f} | {median:.3f} | {fp32:.3f} | {qdq:.3f} | {ours / fp32:.2f}x | {ours / qdq:.2f}x | {diff} |")
PY
    if [ "${QB_PROFILE_STEPS:-}" = "1" ]; then profile_steps "$app" "$id" "$bits"; fi
  done
done
