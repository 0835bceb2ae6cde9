#!/usr/bin/env bash
# The wake-word sample published the ways an edge app ships (docs/deployment.md), each build checked against the
# JIT build of the same sources: every score of the demo clips printed with round-trip formatting must be the
# same bytes. Every publish treats warnings as errors, so a trim or AOT warning (IL2xxx/IL3xxx) from the
# generated code or the runtime fails it.
#
#   samples/publish-wakeword.sh check     trimmed self-contained linux-arm64 (-p:PublishTrimmed=true), run under
#                                         qemu-aarch64-static; what tests/run-tests.sh runs (about 2-3 minutes)
#   samples/publish-wakeword.sh aot       NativeAOT linux-x64, default instruction set and IlcInstructionSet=x86-64-v3
#                                         (needs clang and zlib1g-dev; about a minute of native compilation each)
#   samples/publish-wakeword.sh measure   after `aot`: size, cold start to first inference and steady-state latency
#                                         of the AOT builds and the JIT build, with the CPU and the load average
# Publishes go to artifacts/wakeword/<name>/. The last line is "wakeword-publish: N passed, N failed".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
sample=samples/WakeWord
out="$root/artifacts/wakeword"
mode="${1:-check}"
clips=("$sample/clips/alexa.wav" "$sample/clips/negative.wav" "$sample/clips/stream.wav")
passed=0; failed=0

jit_scores() {
  dotnet build "$sample" -c Release --nologo -v:q -warnaserror >"$out/jit-build.log" 2>&1 || { cat "$out/jit-build.log"; return 1; }
  "$sample/bin/Release/net10.0/WakeWord" --scores "${clips[@]}" >"$out/jit.txt"
}

# publish NAME ARGS...: dotnet publish with warnings as errors into $out/NAME
publish() {
  local name="$1"; shift
  rm -rf "${out:?}/$name"
  local start=$SECONDS
  if dotnet publish "$sample" -c Release -o "$out/$name" -warnaserror --nologo "$@" >"$out/$name.log" 2>&1; then
    echo "$name: published in $((SECONDS - start)) s, no warnings"
  else
    grep -E "warning|error" "$out/$name.log" | sort -u | head -20
    echo "$name: publish failed (log: $out/$name.log)"
    return 1
  fi
}

# same NAME COMMAND...: runs the published app on the demo clips and compares with the JIT build's output
same() {
  local name="$1"; shift
  if "$@" --scores "${clips[@]}" >"$out/$name.txt" 2>"$out/$name.err" && cmp -s "$out/jit.txt" "$out/$name.txt"; then
    echo "$name: same output as the JIT build ($(grep -c '^score' "$out/$name.txt") scores, $(grep -c '^detected' "$out/$name.txt") detections, byte for byte)"
    passed=$((passed + 1))
  else
    cat "$out/$name.err"; diff "$out/jit.txt" "$out/$name.txt" | head -10 || true
    echo "$name: output differs from the JIT build"
    failed=$((failed + 1))
  fi
}

mkdir -p "$out"
bash "$sample/prepare.sh" >"$out/prepare.log" 2>&1 || { tail -20 "$out/prepare.log"; echo "wakeword-publish: 0 passed, 1 failed"; exit 1; }
jit_scores || { echo "wakeword-publish: 0 passed, 1 failed"; exit 1; }

case "$mode" in
  check)
    if publish trimmed-linux-arm64 -r linux-arm64 --self-contained -p:PublishTrimmed=true; then
      same trimmed-linux-arm64 env DOTNET_EnableWriteXorExecute=0 qemu-aarch64-static -L /usr/aarch64-linux-gnu "$out/trimmed-linux-arm64/WakeWord"
    else failed=$((failed + 1)); fi
    ;;
  aot)
    for name in aot-linux-x64 aot-linux-x64-v3; do
      extra=(); [[ "$name" == *-v3 ]] && extra=(-p:IlcInstructionSet=x86-64-v3)
      if publish "$name" -r linux-x64 -p:PublishAot=true "${extra[@]}"; then same "$name" "$out/$name/WakeWord"
      else failed=$((failed + 1)); fi
    done
    ;;
  measure)
    echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    cold() {  # median wall time of 9 runs that exit after the first inference
      local times=() i t0
      for i in 1 2 3 4 5 6 7 8 9; do
        t0=$(date +%s%N); "$@" --first "${clips[0]}" >/dev/null; times+=($(( ($(date +%s%N) - t0) / 1000000 )))
      done
      printf '%s\n' "${times[@]}" | sort -n | sed -n 5p
    }
    printf '| build | size on disk | cold start to first inference (median of 9) | one chunk, steady state |\n|---|---:|---:|---|\n'
    for name in jit aot-linux-x64 aot-linux-x64-v3; do
      if [[ $name == jit ]]; then app="$sample/bin/Release/net10.0/WakeWord"; size=$(du -cb "$sample/bin/Release/net10.0/"*.dll | tail -1 | cut -f1)" (dlls; needs the .NET runtime)"
      else app="$out/$name/WakeWord"; [[ -x $app ]] || { echo "$name: not published; run \`$0 aot\` first"; continue; }; size=$(stat -c %s "$app"); fi
      echo "| $name | $size | $(cold "$app") ms | $("$app" --bench 2000 "${clips[0]}") |"
    done
    passed=1
    ;;
  *) echo "usage: $0 check|aot|measure" >&2; exit 2 ;;
esac
echo "wakeword-publish: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
