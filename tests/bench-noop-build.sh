#!/usr/bin/env bash
# Benchmark: wall time of a no-op `dotnet build` of a project with one <QuantizedModel> (already
# quantized) against the same project without the item, alternating runs in one session.
# Needs the package (bash build/pack.sh) and the sample's calibration digits (bash samples/run-sample.sh
# creates both). Usage: tests/bench-noop-build.sh [runs]   (default 7)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
runs="${1:-7}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
version="$(bash "$root/build/package-version.sh")"
export NUGET_PACKAGES="$root/.assets/nuget-samples"
export MSBUILDDISABLENODEREUSE=1 DOTNET_CLI_TELEMETRY_OPTOUT=1
printf '<Project />\n' > "$work/Directory.Build.props"; printf '<Project />\n' > "$work/Directory.Build.targets"
sed "s#../artifacts/packages#$root/artifacts/packages#" "$root/samples/NuGet.config" > "$work/NuGet.config"
for variant in with without; do
  mkdir -p "$work/$variant/Models"
  cp "$root/samples/MnistDigits/Models/mnist.onnx" "$root/samples/MnistDigits/Models/mnist.quant.json" "$work/$variant/Models/"
  cp -r "$root/samples/MnistDigits/Models/calibration" "$work/$variant/Models/"
  item='<QuantizedModel Include="Models/mnist.onnx" />'
  [ "$variant" = without ] && item=''
  cat > "$work/$variant/App.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><OutputType>Exe</OutputType><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageReference Include="QuantBuild" Version="$version" />$item</ItemGroup>
</Project>
PROJ
  echo 'System.Console.WriteLine("hello");' > "$work/$variant/Program.cs"
  dotnet build "$work/$variant" -c Release --nologo -v q > "$work/$variant.first.log" || { cat "$work/$variant.first.log"; exit 1; }
done
# The measured project must really carry a quantized model: its first build generated the code.
generated=$(find "$work/with/obj" -name 'mnist.g.cs' | head -1)
[ -s "$generated" ] || { echo "error: the first build did not generate mnist.g.cs" >&2; exit 1; }
echo "generated: ${generated#$work/} ($(wc -c < "$generated") bytes)"
time_build() { local s e; s=$(date +%s%N); dotnet build "$1" -c Release --nologo --no-restore -v q > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
with=(); without=()
for ((i = 0; i < runs; i++)); do
  with+=("$(time_build "$work/with")"); without+=("$(time_build "$work/without")")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mw=$(median "${with[@]}"); mo=$(median "${without[@]}")
echo "| project | no-op build ms (median of $runs) |"
echo "|---|---:|"
echo "| with <QuantizedModel> (up to date) | $mw |"
echo "| same project without the item | $mo |"
awk -v a="$mw" -v b="$mo" 'BEGIN { printf "overhead: %+.1f%%\n", (a - b) * 100 / b }'
