#!/usr/bin/env bash
# README's main command: the real MNIST model (samples/MnistDigits/Models/mnist.onnx, trained by
# QuantBuild's own engine) scored on the 2,000 held-out digits by QuantBuild's float engine and by
# ONNX Runtime in the same run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tests/fetch-assets.sh
dotnet run -c Release --project tests/MnistTrainer -- --evaluate samples/MnistDigits/Models/mnist.onnx
