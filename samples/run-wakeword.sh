#!/usr/bin/env bash
# The wake-word sample end to end, as a user's build runs it (samples/WakeWord, README "Samples"):
# prepares the models, WAV files and calibration data and packs QuantBuild (samples/WakeWord/prepare.sh), then
# `dotnet run`s the sample, whose build quantizes the models (<QuantizedModel Include=...>), and runs the same
# clips through the fp32 chain in ONNX Runtime (the same streaming code) for comparison; last, the 48 labelled
# evaluation clips through both, compared chunk by chunk.
# Usage: samples/run-wakeword.sh [FILE.wav ...]   (default: the three demo clips)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
sample=samples/WakeWord
bash "$sample/prepare.sh"
clips=("$@")
((${#clips[@]})) || clips=("$sample/clips/alexa.wav" "$sample/clips/negative.wav" "$sample/clips/stream.wav")
echo "== int8 embedding + head, generated at build time (melspectrogram in float kernels) =="
dotnet run -c Release --project "$sample" -- "${clips[@]}"
echo "== fp32 chain in ONNX Runtime (same streaming code) =="
dotnet run -c Release --project tests/QuantBuild.Benchmarks -- wakeword "${clips[@]}"
echo "== the 48 evaluation clips (16 say \"alexa\"): the sample against the fp32 chain =="
mkdir -p artifacts/wakeword
"$sample/bin/Release/net10.0/WakeWord" --scores "$sample"/clips/eval/*.wav >artifacts/wakeword/eval-scores.txt
dotnet run -c Release --project tests/QuantBuild.Benchmarks -- wakeword compare artifacts/wakeword/eval-scores.txt "$sample"/clips/eval/*.wav
