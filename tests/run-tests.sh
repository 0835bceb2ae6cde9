#!/usr/bin/env bash
# README's test command. On a fresh machine it fetches and verifies every pinned asset (npm
# tarballs, Debian packages), builds, runs the whole test suite, and ends with one plain line
# "N passed, N failed[, N skipped]". Exit status is non-zero when anything failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash tests/fetch-assets.sh

results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"
# Build everything first, then test without building: 'dotnet test' on a solution otherwise builds
# and runs projects interleaved, and the packaging tests build src/ projects while other projects
# are still compiling them.
if ! dotnet build QuantBuild.sln -c Release --nologo -v:q; then
  echo "error: the solution did not build" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
status=0
dotnet test QuantBuild.sln -c Release --no-build --nologo \
  --logger "trx;LogFilePrefix=results" --logger "console;verbosity=minimal" \
  --results-directory "$results" || status=$?

# The integer runtime again with the vector paths other CPUs take: without AVX2 (SSE/Vector128 only, as
# on older x64 and where the JIT is told so) and with no hardware intrinsics at all (the scalar code an
# unaccelerated target runs). Kernels must give the same bytes on every path, so the same tests apply.
for isa in "DOTNET_EnableAVX512F=0" "DOTNET_EnableAVX2=0" "DOTNET_EnableHWIntrinsic=0"; do
  echo "runtime tests with $isa"
  env "$isa" dotnet test tests/QuantBuild.Runtime.Tests/QuantBuild.Runtime.Tests.csproj -c Release --no-build --nologo \
    --logger "trx;LogFilePrefix=runtime-${isa%%=*}" --logger "console;verbosity=minimal" \
    --results-directory "$results" || status=$?
done

passed=0; failed=0; skipped=0

# The same kernel tests on linux-arm64 under qemu, published as a self-contained executable (MSTest's own
# runner): with the dot-product extension (-cpu max) and without it (-cpu cortex-a53). Emulated timings
# mean nothing; the tests compare every optimized kernel with its reference, so this checks exactness on
# the AdvSimd paths. Published last: the RID-specific restore must not race the solution's test run.
arm64_dir="$root/artifacts/runtime-tests-linux-arm64"
rm -rf "$arm64_dir"
if dotnet publish tests/QuantBuild.Runtime.Tests/QuantBuild.Runtime.Tests.csproj -c Release -r linux-arm64 --self-contained \
    -p:QuantBuildTestExecutable=true -o "$arm64_dir" --nologo -v:q; then
  for cpu in max cortex-a53; do
    echo "runtime tests on linux-arm64 under qemu -cpu $cpu"
    log="$results/runtime-arm64-$cpu.log"
    DOTNET_EnableWriteXorExecute=0 qemu-aarch64-static -cpu "$cpu" -L /usr/aarch64-linux-gnu \
      "$arm64_dir/QuantBuild.Runtime.Tests" --no-ansi --results-directory "$results/arm64-$cpu" >"$log" 2>&1 || status=$?
    tail -n 6 "$log"
    # With CI=true the runner colours its summary unless told --no-ansi; codes are stripped here too in case.
    summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
    ok=$(echo "$summary" | sed -n 's/^ *succeeded: *\([0-9]*\).*/\1/p' | tail -1)
    bad=$(echo "$summary" | sed -n 's/^ *failed: *\([0-9]*\).*/\1/p' | tail -1)
    if [ -z "$ok" ]; then echo "error: the arm64 test run (-cpu $cpu) printed no summary" >&2; bad=$((${bad:-0} + 1)); fi
    passed=$((passed + ${ok:-0})); failed=$((failed + ${bad:-0}))
  done
else
  echo "error: the linux-arm64 runtime tests did not publish" >&2
  failed=$((failed + 1))
fi
# The wake-word sample as a device ships it (docs/deployment.md): built through the packed package, published
# trimmed and self-contained for linux-arm64 with warnings as errors, run under qemu, and compared byte for byte
# with the JIT build. The NativeAOT publishes are `bash samples/publish-wakeword.sh aot` (not run here: a
# minute of native compilation each).
echo "wake-word sample: trimmed linux-arm64 publish under qemu"
log="$results/wakeword-publish.log"
bash samples/publish-wakeword.sh check >"$log" 2>&1 || true
tail -n 4 "$log"
ok=$(sed -n 's/^wakeword-publish: \([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$log")
bad=$(sed -n 's/^wakeword-publish: \([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$log")
if [ -z "$ok" ]; then echo "error: the wake-word publish check printed no summary" >&2; bad=$((${bad:-0} + 1)); fi
passed=$((passed + ${ok:-0})); failed=$((failed + ${bad:-0}))
shopt -s nullglob
trx_files=("$results"/*.trx)
if [ ${#trx_files[@]} -eq 0 ]; then
  echo "error: no test results were written (build failure?)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi
for trx in "${trx_files[@]}"; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -1)
  get() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  total=$(get total); executed=$(get executed); p=$(get passed); f=$(get failed)
  e=$(get error); t=$(get timeout); a=$(get aborted)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0} + ${t:-0} + ${a:-0}))
  skipped=$((skipped + ${total:-0} - ${executed:-0}))
done
if [ "$passed" -eq 0 ]; then status=1; fi
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # dotnet test failed without a failing test: a test host crashed or a project wrote no results.
  echo "error: dotnet test exited with status $status although no test failed" >&2
  failed=1
fi
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
if [ "$failed" -gt 0 ]; then status=1; fi
exit $status
