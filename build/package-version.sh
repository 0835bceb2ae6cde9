#!/usr/bin/env bash
# Prints the version of the package build/pack.sh packed last into artifacts/packages (its <id>.version
# file; docs/msbuild.md, "Package version"). Usage: build/package-version.sh [QuantBuild|QuantBuild.Tool]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="$root/artifacts/packages/${1:-QuantBuild}.version"
[ -s "$file" ] || { echo "error: $file is missing: run bash build/pack.sh first" >&2; exit 1; }
tr -d '[:space:]' < "$file"; echo
