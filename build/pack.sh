#!/usr/bin/env bash
# Packs into artifacts/packages/:
#   QuantBuild.<version>.nupkg       the build package: MSBuild props/targets, the netstandard2.0 task
#                                    assembly and the published quantbuild CLI (tools/net10.0/)
#   QuantBuild.Tool.<version>.nupkg  the same CLI as a .NET tool (`dotnet tool install QuantBuild.Tool`)
# and beside each <id>.version, the version just packed. Versions (docs/msbuild.md, "Package version"):
# QuantBuildVersion in Directory.Build.props plus -dev-<content hash> for a development tree, so a package
# whose contents changed never reuses a version a NuGet cache may hold; pass -p:QuantBuildRelease=true
# for the release version itself.
# Usage: build/pack.sh [Configuration] [extra dotnet pack arguments]   (default Release)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
configuration="${1:-Release}"
shift || true
out="$root/artifacts/packages"
for project in src/QuantBuild.Package/QuantBuild.Package.csproj src/QuantBuild.Cli/QuantBuild.Cli.csproj; do
  dotnet pack "$root/$project" -c "$configuration" -o "$out" --nologo -nr:false "$@"
done
for id in QuantBuild QuantBuild.Tool; do
  echo "$out/$id.$(cat "$out/$id.version").nupkg"
done
