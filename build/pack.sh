#!/usr/bin/env bash
# Packs QuantBuild.<version>.nupkg (version: QuantBuildVersion in Directory.Build.props) into
# artifacts/packages/: MSBuild props/targets, the netstandard2.0 task assembly and the published
# quantbuild CLI. Usage: build/pack.sh [Configuration]   (default Release)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
configuration="${1:-Release}"
dotnet pack "$root/src/QuantBuild.Package/QuantBuild.Package.csproj" -c "$configuration" \
  -o "$root/artifacts/packages" --nologo -nr:false
ls -1 "$root/artifacts/packages"/QuantBuild.*.nupkg
